//! The record-vault workload's attestation evidence: saved to files a user can hand to
//! any verifier, and checked offline with `kastell-verify` against the deployment's root
//! (or in-process with the same library when `kastell-verify` is not installed beside
//! `kastell`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell_attest::Measurement;
use kastell_attest::document::verify_document;
use kastell_attest::verify::{Expectations, Trust, VerifiedChain, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};

use super::super::CliError;
use super::runner::{Demo, shell_words, stopped};
use super::vault::Attested;

/// The evidence files of one `attest` step.
pub(super) struct Evidence {
    /// The attestation certificate (PEM).
    pub certificate: String,
    /// Its chain as the workload gave it, host CA first (PEM; the root in it is not
    /// trusted for being there).
    pub chain: String,
    /// The Nitro-format attestation document (raw `COSE_Sign1`).
    pub document: String,
}

fn decoded(text: &str, field: &str) -> Result<Vec<u8>, CliError> {
    BASE64
        .decode(text)
        .map_err(|_| stopped(format_args!("the attest step gave no base64 `{field}`")))
}

fn certificate(der: &[u8], what: &str) -> Result<Certificate, CliError> {
    parse_certificates(der)
        .ok()
        .and_then(|mut certs| (certs.len() == 1).then(|| certs.remove(0)))
        .ok_or_else(|| {
            stopped(format_args!(
                "the attest step's {what} is not a certificate"
            ))
        })
}

fn pem(cert: &Certificate) -> Result<String, CliError> {
    cert.to_pem().map_err(|e| CliError::internal(e.to_string()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::internal(format!("cannot write {}: {e}", path.display())))
}

/// Saves the `attest` step's `output` as `DIR/NAME.pem` (the certificate),
/// `DIR/NAME-chain.pem` and `DIR/NAME.cbor` (the document).
pub(super) fn save(dir: &Path, name: &str, output: &Attested) -> Result<Evidence, CliError> {
    let leaf = certificate(&decoded(&output.certificate, "certificate")?, "certificate")?;
    if output.chain.is_empty() {
        return Err(stopped("the attest step gave no `chain`"));
    }
    let chain = output
        .chain
        .iter()
        .map(|entry| {
            let der = BASE64
                .decode(entry)
                .map_err(|_| stopped("the attest step's `chain` holds a non-base64 entry"))?;
            pem(&certificate(&der, "chain")?)
        })
        .collect::<Result<String, _>>()?;
    let files = Evidence {
        certificate: path_text(&dir.join(format!("{name}.pem"))),
        chain: path_text(&dir.join(format!("{name}-chain.pem"))),
        document: path_text(&dir.join(format!("{name}.cbor"))),
    };
    write(Path::new(&files.certificate), pem(&leaf)?.as_bytes())?;
    write(Path::new(&files.chain), chain.as_bytes())?;
    write(
        Path::new(&files.document),
        &decoded(&output.document, "document")?,
    )?;
    println!(
        "  saved {} (the guest's public key and claims, signed by the host CA),\n  \
         {} (host CA, root) and {} (the same evidence as a Nitro-format document)",
        files.certificate, files.chain, files.document
    );
    Ok(files)
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `kastell-verify` beside this `kastell`, if it is there.
pub(super) fn verifier(exe: &Path) -> Option<PathBuf> {
    let path = exe
        .parent()?
        .join(format!("kastell-verify{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}

/// Verifies the certificate and the document of `evidence` against `root` (PEM), expecting
/// `nonce` (base64, as the challenge gave it) and `guest`: with `kastell-verify`, or
/// in-process when it is not installed. Fails the demo unless both are valid.
pub(super) fn verify(
    demo: &Demo,
    evidence: &Evidence,
    root: &str,
    nonce: &str,
    guest: &str,
) -> Result<(), CliError> {
    let nonce_hex = hex::encode(
        BASE64
            .decode(nonce)
            .map_err(|e| stopped(format_args!("the challenge's nonce is not base64: {e}")))?,
    );
    let expect = [
        "--root",
        root,
        "--nonce",
        &nonce_hex,
        "--expect-guest",
        guest,
    ];
    let cert_args: Vec<&str> = ["cert", &evidence.certificate, "--chain", &evidence.chain]
        .into_iter()
        .chain(expect)
        .collect();
    let doc_args: Vec<&str> = ["doc", evidence.document.as_str()]
        .into_iter()
        .chain(expect)
        .collect();
    match verifier(&demo.exe) {
        Some(program) => {
            for (args, valid) in [
                (cert_args, "VALID attestation certificate"),
                (doc_args, "VALID attestation document"),
            ] {
                let answer = demo.run_program(&program, "kastell-verify", &args, None)?;
                if !answer.ok || !answer.stdout.starts_with(valid) {
                    return Err(stopped(format_args!(
                        "`kastell-verify {}` did not answer {valid}",
                        shell_words(&args)
                    )));
                }
            }
            Ok(())
        }
        None => in_process(evidence, root, &nonce_hex, guest, [&cert_args, &doc_args]),
    }
}

fn read(path: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::internal(format!("cannot read {path}: {e}")))
}

fn certificates(path: &str) -> Result<Vec<Certificate>, CliError> {
    parse_certificates(&read(path)?).map_err(|e| stopped(format_args!("{path}: {e}")))
}

/// The checks `kastell-verify` makes, run here with the same library; prints the command a
/// user would run and what it would say.
fn in_process(
    evidence: &Evidence,
    root: &str,
    nonce_hex: &str,
    guest: &str,
    commands: [&[&str]; 2],
) -> Result<(), CliError> {
    let guest: Measurement = guest
        .parse()
        .map_err(|e| stopped(format_args!("the workload's measurement {guest}: {e}")))?;
    let trust = Trust {
        anchors: certificates(root)?,
        intermediates: certificates(&evidence.chain)?,
        crls: Vec::new(),
        at: time::OffsetDateTime::now_utc(),
    };
    let expect = Expectations {
        guests: vec![guest],
        policy: None,
        nonce: Some(hex::decode(nonce_hex).map_err(|e| CliError::internal(e.to_string()))?),
        max_age: None,
    };
    let [cert_args, doc_args] = commands;
    let leaf = certificates(&evidence.certificate)?
        .into_iter()
        .next()
        .ok_or_else(|| stopped(format_args!("{}: no certificate", evidence.certificate)))?;
    let cert = verify_attestation(&leaf, &trust, &expect).map(|v| v.chain);
    show(cert_args, "attestation certificate", cert)?;
    let doc = verify_document(&read(&evidence.document)?, &trust, &expect).map(|v| v.chain);
    show(doc_args, "attestation document", doc)
}

fn show(
    args: &[&str],
    what: &str,
    result: Result<VerifiedChain, kastell_attest::verify::VerifyError>,
) -> Result<(), CliError> {
    println!("$ kastell-verify {}", shell_words(args));
    println!("  (kastell-verify is not installed beside kastell: the same checks, in-process)");
    match result {
        Ok(chain) => {
            println!("  VALID {what}");
            for check in &chain.checks {
                println!("    ok  {check}");
            }
            Ok(())
        }
        Err(err) => {
            println!("  INVALID: {err}");
            Err(stopped(format_args!("the {what} did not verify: {err}")))
        }
    }
}
