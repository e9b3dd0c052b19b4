//! Writes the seed corpus: real evidence issued by the fixed PKI (`kastell_attest_fuzz::pki`),
//! some of it wrong in one named way, and truncated copies. Run from anywhere:
//!
//! ```text
//! cargo run --manifest-path attest/fuzz/Cargo.toml --example seed-corpus
//! ```
//!
//! Serial numbers are random, so every run rewrites the files with new bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use der::Encode as _;
use der::asn1::{BitString, OctetString};
use kastell_attest::Measurement;
use kastell_attest::ca::{issue_attestation, issue_document_signer, sign_der};
use kastell_attest::claims::{Claims, claims_oid};
use kastell_attest::document::{DocumentContent, issue_document, verify_document};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::{Expectations, Trust, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use kastell_attest_fuzz::{DOCUMENT_SIGNER_SCALAR, GUEST_SCALAR, VERIFY_AT, at, key, pki, trust};
use x509_cert::serial_number::SerialNumber;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    certificates(&corpus.join("certificate"))?;
    documents(&corpus.join("document"))
}

/// One seed: its file name, bytes, and the verdict it must get (`"ok"`, a check's name, or
/// `"unparsed"`), so the corpus reaches every stage of verification.
struct Seed {
    name: &'static str,
    bytes: Vec<u8>,
    verdict: &'static str,
}

fn seed(name: &'static str, bytes: Vec<u8>, verdict: &'static str) -> Seed {
    Seed {
        name,
        bytes,
        verdict,
    }
}

fn claims() -> Claims {
    Claims {
        guest: Measurement::of(b"the guest component"),
        policy: Some(Measurement::of(b"the policy component")),
        nonce: vec![0xab; 32],
        user_data: b"session 7".to_vec(),
        host_id: "host-fuzz-1".into(),
        runtime_version: "kastell 0.1.0".into(),
    }
}

/// An attestation certificate from the fixed host CA, issued a minute before `VERIFY_AT`.
fn attestation(claims: &Claims) -> Result<Certificate> {
    let pki = pki();
    Ok(issue_attestation(
        &pki.host_ca_key,
        &pki.host_ca,
        &key(&GUEST_SCALAR).public_key(),
        claims,
        at(VERIFY_AT) - Duration::from_secs(60),
        Duration::from_secs(300),
    )?)
}

/// `cert` changed by `edit` and signed again by `signer`.
fn resign(
    cert: &Certificate,
    signer: &SoftSigner,
    edit: impl FnOnce(&mut Certificate),
) -> Result<Certificate> {
    let mut cert = cert.clone();
    edit(&mut cert);
    let signature = sign_der(signer, &cert.tbs_certificate.to_der()?)?;
    cert.signature = BitString::from_bytes(&signature)?;
    Ok(cert)
}

fn certificates(dir: &Path) -> Result<()> {
    let pki = pki();
    let leaf = attestation(&claims())?;
    let leaf_der = leaf.to_der_bytes()?;
    let bare = attestation(&Claims {
        policy: None,
        nonce: Vec::new(),
        user_data: Vec::new(),
        ..claims()
    })?;
    let largest = attestation(&Claims {
        nonce: vec![0x4e; 512],
        user_data: vec![0x55; 512],
        ..claims()
    })?;
    let expired = issue_attestation(
        &pki.host_ca_key,
        &pki.host_ca,
        &key(&GUEST_SCALAR).public_key(),
        &claims(),
        at(VERIFY_AT) - Duration::from_secs(86_400),
        Duration::from_secs(300),
    )?;
    // Same names as the host CA, another key: the chain is found, the signature fails.
    let forged = issue_attestation(
        &SoftSigner::from_bytes(&[0x46; 48])?,
        &pki.host_ca,
        &key(&GUEST_SCALAR).public_key(),
        &claims(),
        at(VERIFY_AT) - Duration::from_secs(60),
        Duration::from_secs(300),
    )?;
    // A valid chain whose claims say version 2.
    let claims_v2 = resign(&leaf, &pki.host_ca_key, |cert| {
        for ext in cert.tbs_certificate.extensions.iter_mut().flatten() {
            if ext.extn_id == claims_oid() {
                let mut der = ext.extn_value.as_bytes().to_vec();
                if let Some(at) = der.windows(3).position(|w| w == [0x02, 0x01, 0x01]) {
                    der[at + 2] = 0x02;
                }
                ext.extn_value = OctetString::new(der).unwrap_or_else(|_| ext.extn_value.clone());
            }
        }
    })?;
    // A valid chain whose leaf's serial the fixed CRL revokes.
    let revoked = resign(&leaf, &pki.host_ca_key, |cert| {
        if let Ok(serial) = SerialNumber::new(&[0x7e, 0x57]) {
            cert.tbs_certificate.serial_number = serial;
        }
    })?;
    let signer = issue_document_signer(
        &pki.host_ca_key,
        &pki.host_ca,
        &key(&GUEST_SCALAR).public_key(),
        "document signer fuzz-1",
        at(VERIFY_AT) - Duration::from_secs(60),
        Duration::from_secs(86_400),
    )?;
    let chain = [&leaf, &pki.host_ca, &pki.root]
        .iter()
        .map(|c| c.to_pem())
        .collect::<der::Result<String>>()?;

    let truncated = |len: usize| leaf_der[..len].to_vec();
    let seeds = vec![
        seed("attestation.der", leaf_der.clone(), "ok"),
        seed("attestation.pem", leaf.to_pem()?.into_bytes(), "ok"),
        seed("attestation-bare.der", bare.to_der_bytes()?, "ok"),
        seed("attestation-largest.der", largest.to_der_bytes()?, "ok"),
        seed("chain.pem", chain.clone().into_bytes(), "ok"),
        seed(
            "host-ca.der",
            pki.host_ca.to_der_bytes()?,
            "basic constraints",
        ),
        seed(
            "root.pem",
            pki.root.to_pem()?.into_bytes(),
            "basic constraints",
        ),
        seed("document-signer.der", signer.to_der_bytes()?, "claims"),
        seed("expired.der", expired.to_der_bytes()?, "validity"),
        seed("forged.der", forged.to_der_bytes()?, "signature"),
        seed("claims-version-2.der", claims_v2.to_der_bytes()?, "claims"),
        seed("revoked.der", revoked.to_der_bytes()?, "revoked"),
        seed(
            "attestation-truncated-half.der",
            truncated(leaf_der.len() / 2),
            "unparsed",
        ),
        seed(
            "attestation-truncated-1.der",
            truncated(leaf_der.len() - 1),
            "unparsed",
        ),
        seed(
            "chain-truncated.pem",
            chain.as_bytes()[..chain.len() * 2 / 5].to_vec(),
            "unparsed",
        ),
    ];
    write_all(dir, &seeds, certificate_verdict)
}

/// What the `certificate` target sees for the first certificate of `bytes`.
fn certificate_verdict(bytes: &[u8]) -> String {
    let Ok(certificates) = parse_certificates(bytes) else {
        return "unparsed".into();
    };
    let trust = trust(&certificates[1..]);
    match verify_attestation(&certificates[0], &trust, &Expectations::default()) {
        Ok(_) => "ok".into(),
        Err(e) => e.check.to_string(),
    }
}

fn documents(dir: &Path) -> Result<()> {
    let pki = pki();
    let signer_key = key(&DOCUMENT_SIGNER_SCALAR);
    let signing_cert = issue_document_signer(
        &pki.host_ca_key,
        &pki.host_ca,
        &signer_key.public_key(),
        "Kastell document signer fuzz-1",
        at(VERIFY_AT) - Duration::from_secs(3600),
        Duration::from_secs(86_400),
    )?;
    let bundle = [pki.root.clone(), pki.host_ca.clone()];
    let timestamp_ms = u64::try_from(VERIFY_AT - 5)? * 1000;
    let content = DocumentContent {
        module_id: "host-fuzz-1".into(),
        timestamp_ms,
        guest: Measurement::of(b"the guest component"),
        runtime: Measurement::of(b"kastell 0.1.0"),
        policy: Some(Measurement::of(b"the policy component")),
        public_key: Some(key(&GUEST_SCALAR).public_key().into()),
        user_data: Some(b"session 7".to_vec()),
        nonce: Some(vec![0xab; 32]),
    };
    let issue =
        |content: &DocumentContent| issue_document(&signer_key, &signing_cert, &bundle, content);
    let document = issue(&content)?;
    let minimal = issue(&DocumentContent {
        policy: None,
        public_key: None,
        user_data: None,
        nonce: None,
        ..content.clone()
    })?;
    let largest = issue(&DocumentContent {
        nonce: Some(vec![0x4e; 512]),
        user_data: Some(vec![0x55; 512]),
        ..content.clone()
    })?;
    let outside = issue(&DocumentContent {
        timestamp_ms: timestamp_ms - 7_200_000,
        ..content.clone()
    })?;
    // Same names as the fixed signing chain, another host CA key.
    let forger = SoftSigner::from_bytes(&[0x46; 48])?;
    let forged_cert = issue_document_signer(
        &forger,
        &pki.host_ca,
        &forger.public_key(),
        "Kastell document signer fuzz-1",
        at(VERIFY_AT) - Duration::from_secs(3600),
        Duration::from_secs(86_400),
    )?;
    let forged = issue_document(&forger, &forged_cert, &bundle, &content)?;
    // The same document with COSE_Sign1's tag 18 in front.
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(&document);
    let seeds = vec![
        seed("document.cbor", document.clone(), "ok"),
        seed("document-tagged.cbor", tagged, "ok"),
        seed("document-minimal.cbor", minimal, "ok"),
        seed("document-largest.cbor", largest, "ok"),
        seed("document-timestamp-outside.cbor", outside, "validity"),
        seed("document-forged.cbor", forged, "signature"),
        seed(
            "document-truncated-half.cbor",
            document[..document.len() / 2].to_vec(),
            "input",
        ),
        seed(
            "document-truncated-1.cbor",
            document[..document.len() - 1].to_vec(),
            "input",
        ),
    ];
    write_all(dir, &seeds, document_verdict)
}

/// What the `document` target sees.
fn document_verdict(bytes: &[u8]) -> String {
    let trust = Trust {
        intermediates: Vec::new(),
        ..trust(&[])
    };
    match verify_document(bytes, &trust, &Expectations::default()) {
        Ok(_) => "ok".into(),
        Err(e) => e.check.to_string(),
    }
}

fn write_all(dir: &Path, seeds: &[Seed], verdict: fn(&[u8]) -> String) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for seed in seeds {
        let got = verdict(&seed.bytes);
        if got != seed.verdict {
            return Err(format!("{}: expected {}, got {got}", seed.name, seed.verdict).into());
        }
        let path: PathBuf = dir.join(seed.name);
        std::fs::write(&path, &seed.bytes)?;
        println!("{} ({} bytes): {got}", path.display(), seed.bytes.len());
    }
    Ok(())
}
