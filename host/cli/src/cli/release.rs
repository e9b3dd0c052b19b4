//! `kastell release … --profile P`: attested key release from a Kastell server, for a
//! program acting for an attested workload.
//!
//! ```text
//! kastell release challenge KEY        ─► nonce (single use, short-lived)
//! the workload attests(nonce, its public key) ─► certificate + chain, or a document
//! kastell release key KEY --nonce … --certificate … ─► the material, sealed (HPKE) to
//!                                                      the attested key, as JSON
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{ArgGroup, Subcommand};
use kastell_proto::EncryptionContext;
use kastell_proto::api::ReleaseBody;
use kastell_proto::release::ReleaseKind;
use kastell_server::release::NONCE_LEN;

use super::CliError;
use super::io::{parse_pair, print_answer, read_input};
use super::remote::{connect, remote_error};

/// Release commands, sent to a server as a crypto-user.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Ask for a single-use nonce to release a key; prints it (base64).
    ///
    /// How long it stays usable goes to standard error. The workload puts the nonce in its
    /// attestation; `release key` sends both back.
    Challenge {
        /// Key id or alias.
        key: String,
        /// Client profile of a crypto-user.
        #[arg(long, env = "KASTELL_PROFILE")]
        profile: PathBuf,
        /// Print the server's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Release a key to an attested workload; prints the material sealed to the attested
    /// public key, as JSON.
    ///
    /// Sends the challenge nonce and the workload's attestation: a certificate with its
    /// chain, or a document. Refused unless the key was created releasable and its policy
    /// allows `release` for the attested guest (exit 1).
    #[command(group(ArgGroup::new("attestation").required(true).args(["certificate", "document"])))]
    Key {
        /// Key id or alias.
        key: String,
        /// Client profile of a crypto-user.
        #[arg(long, env = "KASTELL_PROFILE")]
        profile: PathBuf,
        /// The nonce from `kastell release challenge` (base64).
        #[arg(long)]
        nonce: String,
        /// The attestation certificate, PEM or DER; further certificates in the same file
        /// are taken as its chain.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// Intermediate certificates, PEM or DER, e.g. the issuing host CA (repeatable; a
        /// file may hold several).
        #[arg(long, conflicts_with = "document")]
        chain: Vec<PathBuf>,
        /// A Nitro-format attestation document (raw COSE_Sign1 bytes) carrying a public key.
        #[arg(long)]
        document: Option<PathBuf>,
        /// `key`: a key version's material; `data-key`: a fresh AES-256 data key, also
        /// returned encrypted under the key.
        #[arg(long, default_value = "key", value_parser = parse_kind)]
        kind: ReleaseKind,
        /// The version to release (`--kind key` only; default: the current one).
        #[arg(long)]
        version: Option<u32>,
        /// An encryption context entry `name=value` for the data key's ciphertext
        /// (`--kind data-key` only; repeatable).
        #[arg(long = "context", value_parser = parse_pair)]
        context: Vec<(String, String)>,
        /// Print the server's answer on one line instead of indented.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a release command.
pub(super) fn run(command: ReleaseCommand) -> Result<(), CliError> {
    match command {
        ReleaseCommand::Challenge { key, profile, json } => {
            let answer = connect(&profile)?
                .release_challenge(&key)
                .map_err(remote_error)?;
            if json {
                return print_answer(&answer, true);
            }
            println!("{}", answer.nonce);
            eprintln!("expires in {} s", answer.expires_in);
            Ok(())
        }
        ReleaseCommand::Key {
            key,
            profile,
            nonce,
            certificate,
            chain,
            document,
            kind,
            version,
            context,
            json,
        } => {
            let attestation = match (certificate, document) {
                (Some(certificate), None) => {
                    let chain_files = chain
                        .iter()
                        .map(|path| read_certificates(path))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut certificates = read_certificates(&certificate)?.into_iter();
                    let leaf = certificates.next().ok_or_else(|| {
                        CliError::usage(format!("{}: no certificate", certificate.display()))
                    })?;
                    Attestation::Certificate {
                        leaf,
                        chain: certificates
                            .chain(chain_files.into_iter().flatten())
                            .collect(),
                    }
                }
                (None, Some(document)) => Attestation::Document(read_input(&document)?),
                _ => {
                    return Err(CliError::usage(
                        "give either --certificate (with --chain) or --document",
                    ));
                }
            };
            let body = release_body(&nonce, &attestation, kind, version, context)?;
            let answer = connect(&profile)?
                .release(&key, &body)
                .map_err(remote_error)?;
            print_answer(&answer, json)
        }
    }
}

/// The attestation a release carries, as DER or COSE bytes.
#[derive(Debug, PartialEq, Eq)]
enum Attestation {
    /// The attestation certificate and its intermediates.
    Certificate { leaf: Vec<u8>, chain: Vec<Vec<u8>> },
    /// A COSE_Sign1 attestation document.
    Document(Vec<u8>),
}

/// The request body of `POST /v1/keys/{key}/release`.
fn release_body(
    nonce: &str,
    attestation: &Attestation,
    kind: ReleaseKind,
    version: Option<u32>,
    context: Vec<(String, String)>,
) -> Result<ReleaseBody, CliError> {
    let nonce = BASE64
        .decode(nonce.trim())
        .map_err(|e| CliError::usage(format!("--nonce: not base64: {e}")))?;
    if nonce.len() != NONCE_LEN {
        return Err(CliError::usage(format!(
            "--nonce: {} bytes; a release challenge's nonce is {NONCE_LEN}",
            nonce.len()
        )));
    }
    if version.is_some() && kind != ReleaseKind::Key {
        return Err(CliError::usage(
            "--version: a data key is always made under the current version",
        ));
    }
    if !context.is_empty() && kind != ReleaseKind::DataKey {
        return Err(CliError::usage(
            "--context: only a data key's ciphertext carries an encryption context",
        ));
    }
    let (certificate, chain, document) = match attestation {
        Attestation::Certificate { leaf, chain } => (
            Some(BASE64.encode(leaf)),
            chain.iter().map(|c| BASE64.encode(c)).collect(),
            None,
        ),
        Attestation::Document(document) => (None, Vec::new(), Some(BASE64.encode(document))),
    };
    let context = if kind == ReleaseKind::DataKey {
        Some(EncryptionContext(context_map(context)?))
    } else {
        None
    };
    Ok(ReleaseBody {
        nonce: BASE64.encode(&nonce),
        certificate,
        chain,
        document,
        kind: Some(kind),
        version,
        context,
    })
}

/// The certificates in a PEM or DER file, each as DER, in file order (at least one).
fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let bytes = read_input(path)?;
    let invalid = |e: String| CliError::usage(format!("{}: {e}", path.display()));
    kastell_attest::x509::parse_certificates(&bytes)
        .map_err(invalid)?
        .iter()
        .map(|certificate| {
            certificate
                .to_der_bytes()
                .map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

/// The encryption context from `--context` entries; a name given twice is refused rather
/// than one of its values dropped.
fn context_map(entries: Vec<(String, String)>) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for (name, value) in entries {
        if map.contains_key(&name) {
            return Err(CliError::usage(format!("--context: `{name}` given twice")));
        }
        map.insert(name, value);
    }
    Ok(map)
}

fn parse_kind(text: &str) -> Result<ReleaseKind, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("`{text}` is not `key` or `data-key`"))
}

#[cfg(test)]
mod tests {
    use kastell_attest::ca::{Owner, issue_root};
    use kastell_attest::signer::SoftSigner;
    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;

    const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn root(common_name: &str) -> kastell_attest::x509::Certificate {
        let owner = Owner {
            common_name: common_name.into(),
            organization: "Example GmbH".into(),
            country: "DE".into(),
        };
        let lifetime = std::time::Duration::from_secs(86_400);
        issue_root(
            &SoftSigner::generate(),
            &owner,
            OffsetDateTime::now_utc(),
            lifetime,
        )
        .expect("root")
    }

    fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_context_entry_splits_at_the_first_equals_sign() {
        assert_eq!(
            parse_pair("tenant=acme"),
            Ok(("tenant".into(), "acme".into()))
        );
        assert_eq!(parse_pair("q=a=b"), Ok(("q".into(), "a=b".into())));
        assert_eq!(parse_pair("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_pair("=value").is_err());
        assert!(parse_pair("no-equals").is_err());
    }

    #[test]
    fn a_context_name_given_twice_is_refused() {
        let map = context_map(pairs(&[("b", "2"), ("a", "1")])).expect("context");
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            pairs(&[("a", "1"), ("b", "2")])
        );
        let err = context_map(pairs(&[("a", "1"), ("a", "2")])).expect_err("duplicate");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("`a` given twice"), "{err}");
    }

    #[test]
    fn kinds_are_named_as_on_the_wire() {
        assert_eq!(parse_kind("key"), Ok(ReleaseKind::Key));
        assert_eq!(parse_kind("data-key"), Ok(ReleaseKind::DataKey));
        assert!(parse_kind("DataKey").is_err());
    }

    #[test]
    fn certificate_files_are_read_as_pem_or_der() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, second) = (root("First"), root("Second"));
        let der = first.to_der_bytes().expect("der");

        let der_file = dir.path().join("leaf.der");
        std::fs::write(&der_file, &der).expect("write");
        assert_eq!(
            read_certificates(&der_file).expect("DER"),
            std::slice::from_ref(&der)
        );

        let pem = first.to_pem().expect("pem") + &second.to_pem().expect("pem");
        let pem_file = dir.path().join("chain.pem");
        std::fs::write(&pem_file, pem).expect("write");
        assert_eq!(
            read_certificates(&pem_file).expect("PEM"),
            [der, second.to_der_bytes().expect("der")]
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, b"not a certificate").expect("write");
        let err = read_certificates(&junk).expect_err("junk");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().starts_with(&junk.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_certificate_release_carries_the_chain_in_base64() {
        let attestation = Attestation::Certificate {
            leaf: vec![0x30, 1],
            chain: vec![vec![0x30, 2], vec![0x30, 3]],
        };
        let body =
            release_body(NONCE, &attestation, ReleaseKind::Key, Some(3), Vec::new()).expect("body");
        assert_eq!(
            serde_json::to_value(body).expect("json"),
            json!({
                "nonce": NONCE,
                "kind": "key",
                "certificate": "MAE=",
                "chain": ["MAI=", "MAM="],
                "version": 3,
            })
        );
    }

    #[test]
    fn a_data_key_release_carries_its_context() {
        let attestation = Attestation::Document(vec![0xd2, 0x84]);
        let context = pairs(&[("tenant", "acme")]);
        let body =
            release_body(NONCE, &attestation, ReleaseKind::DataKey, None, context).expect("body");
        assert_eq!(
            serde_json::to_value(body).expect("json"),
            json!({
                "nonce": NONCE,
                "kind": "data-key",
                "document": "0oQ=",
                "context": { "tenant": "acme" },
            })
        );
    }

    #[test]
    fn options_that_would_be_ignored_are_refused() {
        let document = Attestation::Document(vec![0xd2]);
        let context = pairs(&[("tenant", "acme")]);
        let refused = [
            release_body(NONCE, &document, ReleaseKind::DataKey, Some(1), Vec::new()),
            release_body(NONCE, &document, ReleaseKind::Key, None, context),
            release_body("not base64!", &document, ReleaseKind::Key, None, Vec::new()),
            release_body("AAEC", &document, ReleaseKind::Key, None, Vec::new()),
        ];
        for result in refused {
            assert_eq!(result.expect_err("refused").exit_code(), 2);
        }
    }
}
