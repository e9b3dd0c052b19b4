//! The claims policy: an attestation's claims against the relying party's expectations.

use super::*;

/// A verified attestation certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedAttestation {
    /// The chain and the checks passed.
    #[serde(flatten)]
    pub chain: VerifiedChain,
    /// The claims, verified against the expectations.
    pub claims: Claims,
    /// The guest's public key (uncompressed SEC1, hex).
    pub public_key: String,
    /// When the certificate was issued (RFC 3339).
    pub issued: String,
}

/// Checks claims against expectations, appending what passed to `checks`.
///
/// # Errors
/// The first mismatch.
pub fn check_claims(
    claims: &Claims,
    expect: &Expectations,
    issued: OffsetDateTime,
    at: OffsetDateTime,
    checks: &mut Vec<String>,
) -> Result<(), VerifyError> {
    if !expect.guests.is_empty() {
        if !expect.guests.contains(&claims.guest) {
            let expected: Vec<String> = expect.guests.iter().map(ToString::to_string).collect();
            return fail(
                Check::GuestHash,
                format!("expected {}, got {}", expected.join(" or "), claims.guest),
            );
        }
        checks.push(format!("guest hash {} is expected", claims.guest));
    }
    if let Some(policy) = &expect.policy {
        if claims.policy.as_ref() != Some(policy) {
            return fail(
                Check::PolicyHash,
                format!(
                    "expected {policy}, got {}",
                    claims
                        .policy
                        .map_or_else(|| "no policy".into(), |p| p.to_string())
                ),
            );
        }
        checks.push(format!("policy hash {policy} is expected"));
    }
    if let Some(nonce) = &expect.nonce {
        if &claims.nonce != nonce {
            return fail(
                Check::Nonce,
                format!(
                    "expected {}, got {}",
                    hex::encode(nonce),
                    hex::encode(&claims.nonce)
                ),
            );
        }
        checks.push("nonce matches".into());
    }
    if let Some(max_age) = expect.max_age {
        let age = at - issued;
        if age.is_negative() {
            return fail(
                Check::Age,
                format!(
                    "issued at {}, {} s after the verification time {}: the clocks disagree",
                    rfc3339(issued),
                    -age.whole_seconds(),
                    rfc3339(at)
                ),
            );
        }
        if age > max_age {
            return fail(
                Check::Age,
                format!(
                    "issued at {}, {} s before {}, more than the allowed {} s",
                    rfc3339(issued),
                    age.whole_seconds(),
                    rfc3339(at),
                    max_age.as_secs()
                ),
            );
        }
        checks.push(format!(
            "issued {} s ago (≤ {} s)",
            age.whole_seconds(),
            max_age.as_secs()
        ));
    }
    Ok(())
}

/// Verifies an attestation certificate: chain, then claims against `expect`.
///
/// # Errors
/// The first failed check.
pub fn verify_attestation(
    leaf: &Certificate,
    trust: &Trust,
    expect: &Expectations,
) -> Result<VerifiedAttestation, VerifyError> {
    verify_attestation_with(leaf, trust, expect, &RustCryptoChecker)
}

/// [`verify_attestation`] with signatures checked by `checker`.
///
/// # Errors
/// As [`verify_attestation`].
pub fn verify_attestation_with(
    leaf: &Certificate,
    trust: &Trust,
    expect: &Expectations,
    checker: &dyn SignatureChecker,
) -> Result<VerifiedAttestation, VerifyError> {
    verify_attestation_at(leaf, trust, trust.at, expect, checker)
}

/// [`verify_attestation_with`] judged at `at` instead of [`Trust::at`] (one `Trust` kept
/// for many verifications: [`Trust::verify_chain_at`]).
///
/// # Errors
/// As [`verify_attestation`].
pub fn verify_attestation_at(
    leaf: &Certificate,
    trust: &Trust,
    at: OffsetDateTime,
    expect: &Expectations,
    checker: &dyn SignatureChecker,
) -> Result<VerifiedAttestation, VerifyError> {
    let mut chain = trust.verify_chain_at(leaf, checker, at)?;
    let Some(extension) = leaf.extension(&claims_oid()) else {
        return fail(
            Check::Claims,
            format!(
                "{} has no Kastell claims extension ({})",
                leaf.tbs_certificate.subject,
                crate::claims::CLAIMS_OID
            ),
        );
    };
    let claims = Claims::from_der(extension.extn_value.as_bytes()).map_err(|e| VerifyError {
        check: Check::Claims,
        detail: e.to_string(),
    })?;
    chain.checks.push(format!(
        "claims extension {} decoded (version 1)",
        crate::claims::CLAIMS_OID
    ));
    let issued = time_of(&leaf.tbs_certificate.validity.not_before);
    check_claims(&claims, expect, issued, at, &mut chain.checks)?;
    let key = public_key(leaf)?;
    Ok(VerifiedAttestation {
        chain,
        claims,
        public_key: hex::encode(key.to_sec1_bytes()),
        issued: rfc3339(issued),
    })
}
