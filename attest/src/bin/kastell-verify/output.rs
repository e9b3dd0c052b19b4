//! What `kastell-verify` prints: the verified evidence as text or one JSON object, or the
//! failed check.

use kastell_attest::document::{PCR_GUEST, PCR_POLICY, PCR_RUNTIME, VerifiedDocument};
use kastell_attest::verify::{VerifiedAttestation, VerifiedChain, VerifyError};

/// Prints `verified` as one JSON object with `"valid": true`.
///
/// # Errors
/// The value does not serialise (a bug).
pub fn json<T: serde::Serialize>(verified: &T) -> Result<(), String> {
    let mut value = serde_json::to_value(verified).map_err(|e| e.to_string())?;
    if let Some(object) = value.as_object_mut() {
        object.insert("valid".into(), true.into());
    }
    println!("{value}");
    Ok(())
}

/// Prints the failed check, as text or JSON.
pub fn failure(err: &VerifyError, json: bool) {
    if json {
        let out =
            serde_json::json!({ "valid": false, "check": err.check, "error": err.to_string() });
        println!("{out}");
    } else {
        println!("INVALID: {err}");
    }
}

fn chain_and_checks(chain: &VerifiedChain, before_checks: impl FnOnce()) {
    println!("chain (leaf first):");
    let last = chain.chain.len();
    for (i, link) in chain.chain.iter().enumerate() {
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
    before_checks();
    println!("checks passed:");
    for check in &chain.checks {
        println!("  ok  {check}");
    }
}

fn hex_or_none(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "none".into(), hex::encode)
}

/// Prints a verified attestation certificate.
pub fn certificate(verified: &VerifiedAttestation) {
    println!("VALID attestation certificate");
    chain_and_checks(&verified.chain, || {
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
    });
}

/// Prints a verified attestation document.
pub fn document(verified: &VerifiedDocument) {
    let d = &verified.document;
    println!("VALID attestation document");
    println!("document:");
    println!("  module id       {}", d.module_id);
    println!(
        "  timestamp       {} ({} ms)",
        verified.issued, d.timestamp_ms
    );
    for (index, value) in &verified.pcrs {
        let role = match *index {
            PCR_GUEST => "  (guest)",
            PCR_RUNTIME => "  (runtime)",
            PCR_POLICY if d.policy.is_none() => "  (policy: none)",
            PCR_POLICY => "  (policy)",
            _ => "",
        };
        println!("  PCR{index:<2}           {value}{role}");
    }
    let key = d.public_key.as_ref().and_then(|k| k.to_spki_der().ok());
    let kind = d
        .public_key
        .as_ref()
        .map_or_else(String::new, |k| format!("  ({})", k.kind()));
    println!("  public key      {}{kind}", hex_or_none(key.as_deref()));
    println!("  user data       {}", hex_or_none(d.user_data.as_deref()));
    println!("  nonce           {}", hex_or_none(d.nonce.as_deref()));
    chain_and_checks(&verified.chain, || {});
}
