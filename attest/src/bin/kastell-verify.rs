//! `kastell-verify`: verify Kastell attestation certificates offline against the root you
//! trust. Exit 0 valid, 1 invalid (the failed check is named), 2 usage or unreadable input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kastell_attest::Measurement;
use kastell_attest::verify::{Check, Expectations, Trust, VerifyError, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Verify Kastell attestation evidence offline.
///
/// Checks, in order: every certificate parses; the chain leads from the evidence to a root
/// given with --root (wrong root: "chain"); every signature is ECDSA P-384 with SHA-384
/// ("algorithm", "signature"); every certificate is valid at --at or now ("validity"); CAs
/// carry the CA flag and keyCertSign and respect their path length, the leaf is an end
/// entity ("basic constraints", "path length", "key usage"); no unknown critical extension;
/// the root names an EU/EEA country ("root country"); no certificate is revoked by a CRL
/// given with --crl ("revoked", "CRL"); the Kastell claims extension decodes ("claims");
/// and the claims meet --expect-guest, --expect-policy, --nonce and --max-age.
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

fn print_failure(err: &VerifyError, json: bool) {
    if json {
        let out =
            serde_json::json!({ "valid": false, "check": err.check, "error": err.to_string() });
        println!("{out}");
    } else {
        println!("INVALID: {err}");
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
            match verify_attestation(leaf_cert, &trust, &expect) {
                Ok(verified) => {
                    if common.json {
                        let mut value =
                            serde_json::to_value(&verified).map_err(|e| Usage(e.to_string()))?;
                        if let Some(object) = value.as_object_mut() {
                            object.insert("valid".into(), true.into());
                        }
                        println!("{value}");
                    } else {
                        println!("VALID attestation certificate");
                        println!("chain (leaf first):");
                        let last = verified.chain.chain.len();
                        for (i, link) in verified.chain.chain.iter().enumerate() {
                            println!(
                                "  {}. {}{}\n     serial {}, valid {} to {}",
                                i + 1,
                                link.subject,
                                if i + 1 == last {
                                    "  [trust anchor]"
                                } else {
                                    ""
                                },
                                link.serial,
                                link.not_before,
                                link.not_after
                            );
                        }
                        let c = &verified.claims;
                        println!("claims:");
                        println!("  guest           {}", c.guest);
                        println!(
                            "  policy          {}",
                            c.policy.map_or_else(|| "none".into(), |p| p.to_string())
                        );
                        println!("  nonce           {}", hex::encode(&c.nonce));
                        println!("  user data       {}", hex::encode(&c.user_data));
                        println!("  host id         {}", c.host_id);
                        println!("  runtime         {}", c.runtime_version);
                        println!("  issued          {}", verified.issued);
                        println!("  guest key       {}", verified.public_key);
                        println!("checks passed:");
                        for check in &verified.chain.checks {
                            println!("  ok  {check}");
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) if err.check == Check::Input => Err(Usage(err.to_string())),
                Err(err) => {
                    print_failure(&err, common.json);
                    Ok(ExitCode::from(1))
                }
            }
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
