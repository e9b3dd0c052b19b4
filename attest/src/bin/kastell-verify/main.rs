//! `kastell-verify`: verify Kastell attestation certificates and Nitro-format attestation
//! documents offline against the root you trust. Exit 0 valid, 1 invalid (the failed check
//! is named), 2 usage or unreadable input.

mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kastell_attest::Measurement;
use kastell_attest::document::verify_document;
use kastell_attest::verify::{Check, Expectations, Trust, VerifyError, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Verify Kastell attestation evidence offline.
///
/// Checks, in order: the evidence parses (a document: COSE_Sign1 with ES384, "algorithm",
/// and the Nitro payload fields, "document"); the chain leads from the evidence to a root
/// given with --root (wrong root: "chain"); every signature is ECDSA P-384 with SHA-384
/// ("algorithm", "signature"); every certificate is valid at --at or now ("validity"); CAs
/// carry the CA flag and keyCertSign and respect their path length, the leaf is an end
/// entity ("basic constraints", "path length", "key usage"); no unknown critical extension;
/// the root names an EU/EEA country ("root country"); no certificate is revoked by a CRL
/// given with --crl ("revoked", "CRL"); the Kastell claims extension decodes ("claims") or
/// the document's signature verifies with its certificate's key ("signature"); and the
/// claims meet --expect-guest, --expect-policy, --nonce and --max-age.
#[derive(Debug, Parser)]
#[command(name = "kastell-verify", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify an attestation certificate (PEM or DER).
    Cert {
        /// The attestation certificate.
        leaf: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Verify a Nitro-format attestation document (COSE_Sign1, CBOR).
    ///
    /// The document's `cabundle` supplies the intermediates; its root is not trusted for
    /// being there: the chain must end at a root given with --root. PCR0 is the guest hash,
    /// PCR2 the policy hash (zeros for none), `timestamp` the time of issue.
    Doc {
        /// The document (the raw COSE_Sign1 bytes).
        document: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// A trusted root certificate (PEM or DER; repeatable).
    #[arg(long, required = true)]
    root: Vec<PathBuf>,
    /// Intermediate certificates (PEM, one or more per file; repeatable).
    #[arg(long)]
    chain: Vec<PathBuf>,
    /// Accept only this guest hash, `sha384:<hex>` (repeatable: any of them).
    #[arg(long = "expect-guest")]
    expect_guest: Vec<String>,
    /// Require this policy hash, `sha384:<hex>`.
    #[arg(long = "expect-policy")]
    expect_policy: Option<String>,
    /// Require this nonce (hex).
    #[arg(long)]
    nonce: Option<String>,
    /// Reject evidence issued more than this many seconds before --at.
    #[arg(long = "max-age")]
    max_age: Option<u64>,
    /// A CRL (PEM or DER) to check the chain against (repeatable).
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Judge validity at this time (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A usage or input problem (exit 2).
struct Usage(String);

fn read(path: &PathBuf) -> Result<Vec<u8>, Usage> {
    std::fs::read(path).map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))
}

fn certificates(path: &PathBuf) -> Result<Vec<Certificate>, Usage> {
    parse_certificates(&read(path)?).map_err(|e| Usage(format!("{}: {e}", path.display())))
}

fn crl_der(path: &PathBuf) -> Result<Vec<u8>, Usage> {
    let bytes = read(path)?;
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let (label, der) = der::pem::decode_vec(bytes.trim_ascii())
            .map_err(|e| Usage(format!("{}: bad PEM: {e}", path.display())))?;
        if label != "X509 CRL" {
            return Err(Usage(format!(
                "{}: a PEM `{label}`, not an `X509 CRL`",
                path.display()
            )));
        }
        return Ok(der);
    }
    Ok(bytes)
}

fn measurement(text: &str, flag: &str) -> Result<Measurement, Usage> {
    text.parse()
        .map_err(|e| Usage(format!("{flag} {text}: {e}")))
}

fn trust_and_expectations(common: &Common) -> Result<(Trust, Expectations), Usage> {
    let mut anchors = Vec::new();
    for path in &common.root {
        anchors.extend(certificates(path)?);
    }
    let mut intermediates = Vec::new();
    for path in &common.chain {
        intermediates.extend(certificates(path)?);
    }
    let crls = common.crl.iter().map(crl_der).collect::<Result<_, _>>()?;
    let at = match &common.at {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| Usage(format!("--at {text}: not RFC 3339: {e}")))?,
        None => OffsetDateTime::now_utc(),
    };
    let expect = Expectations {
        guests: common
            .expect_guest
            .iter()
            .map(|g| measurement(g, "--expect-guest"))
            .collect::<Result<_, _>>()?,
        policy: common
            .expect_policy
            .as_deref()
            .map(|p| measurement(p, "--expect-policy"))
            .transpose()?,
        nonce: common
            .nonce
            .as_deref()
            .map(|n| hex::decode(n).map_err(|e| Usage(format!("--nonce {n}: not hex: {e}"))))
            .transpose()?,
        max_age: common.max_age.map(Duration::from_secs),
    };
    Ok((
        Trust {
            anchors,
            intermediates,
            crls,
            at,
        },
        expect,
    ))
}

fn outcome<T: serde::Serialize>(
    result: Result<T, VerifyError>,
    json: bool,
    text: fn(&T),
    input: &Path,
) -> Result<ExitCode, Usage> {
    match result {
        Ok(verified) => {
            if json {
                output::json(&verified).map_err(Usage)?;
            } else {
                text(&verified);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) if err.check == Check::Input => Err(Usage(format!("{}: {err}", input.display()))),
        Err(err) => {
            output::failure(&err, json);
            Ok(ExitCode::from(1))
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Usage> {
    match cli.command {
        Command::Cert { leaf, common } => {
            let (trust, expect) = trust_and_expectations(&common)?;
            let leaves = certificates(&leaf)?;
            let Some(leaf_cert) = leaves.first() else {
                return Err(Usage(format!("{}: no certificate", leaf.display())));
            };
            let result = verify_attestation(leaf_cert, &trust, &expect);
            outcome(result, common.json, output::certificate, &leaf)
        }
        Command::Doc { document, common } => {
            let (trust, expect) = trust_and_expectations(&common)?;
            let result = verify_document(&read(&document)?, &trust, &expect);
            outcome(result, common.json, output::document, &document)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(Usage(message)) => {
            eprintln!("kastell-verify: {message}");
            ExitCode::from(2)
        }
    }
}
