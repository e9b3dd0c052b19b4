//! The checks of one certificate: algorithm, signature, validity, critical extensions, CA
//! and end-entity constraints, and what a verified chain shows of it.

use super::*;

pub(crate) fn time_of(time: &Time) -> OffsetDateTime {
    let secs = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The end of a certificate's validity.
#[must_use]
pub fn not_after(cert: &Certificate) -> OffsetDateTime {
    time_of(&cert.tbs_certificate.validity.not_after)
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub(super) fn country_of(name: &Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        (atv.oid == COUNTRY_NAME).then(|| {
            der::asn1::PrintableStringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    der::asn1::Utf8StringRef::try_from(&atv.value).map(|s| s.as_str().to_owned())
                })
                .unwrap_or_default()
        })
    })
}

pub(super) fn link(cert: &Certificate) -> Link {
    let tbs = &cert.tbs_certificate;
    Link {
        subject: name_text(&tbs.subject),
        country: country_of(&tbs.subject),
        serial: hex::encode(tbs.serial_number.as_bytes()),
        not_before: rfc3339(time_of(&tbs.validity.not_before)),
        not_after: rfc3339(time_of(&tbs.validity.not_after)),
    }
}

/// The P-384 public key of a certificate.
///
/// # Errors
/// [`Check::Algorithm`] for any other key type or curve, [`Check::Input`] for a bad point.
pub fn public_key(cert: &Certificate) -> Result<p384::PublicKey, VerifyError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return fail(
            Check::Algorithm,
            format!(
                "{} has a {} key{}; only ECDSA P-384 keys are accepted",
                cert.tbs_certificate.subject,
                spki.algorithm.oid,
                curve.map(|c| format!(" on {c}")).unwrap_or_default()
            ),
        );
    }
    p384::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(|_| VerifyError {
        check: Check::Input,
        detail: format!(
            "{}: the public key is not a valid P-384 point",
            cert.tbs_certificate.subject
        ),
    })
}

/// Checks the ECDSA P-384 / SHA-384 signatures of certificates, CRLs and documents for the
/// verifier. [`RustCryptoChecker`] is the default; a relying party that verifies many
/// attestations may plug in a faster library, or one that remembers the signatures it has
/// already checked (the same intermediate and root arrive with every attestation).
pub trait SignatureChecker: Sync {
    /// Whether the fixed-size (r ‖ s) `signature` over `message` (hashed with SHA-384)
    /// verifies with `public_key`, an uncompressed SEC1 point already checked to be on
    /// P-384.
    fn p384_sha384(&self, public_key: &[u8], message: &[u8], signature: &[u8; 96]) -> bool;
}

/// The pure-Rust [`SignatureChecker`] (RustCrypto `p384`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoChecker;

impl SignatureChecker for RustCryptoChecker {
    fn p384_sha384(&self, public_key: &[u8], message: &[u8], signature: &[u8; 96]) -> bool {
        let (Ok(key), Ok(signature)) = (
            p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key),
            p384::ecdsa::Signature::from_slice(signature),
        ) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// Verifies a fixed-size (r ‖ s) ECDSA P-384/SHA-384 `signature` over `message` with `key`.
pub(crate) fn fixed_signature_valid(
    checker: &dyn SignatureChecker,
    key: &p384::PublicKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(signature) = <&[u8; 96]>::try_from(signature) else {
        return false;
    };
    let point = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(key, false);
    checker.p384_sha384(point.as_bytes(), message, signature)
}

/// Verifies a DER ECDSA P-384/SHA-384 `signature` over `message` with `key`.
pub(crate) fn signature_valid(
    checker: &dyn SignatureChecker,
    key: &p384::PublicKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(signature) = p384::ecdsa::Signature::from_der(signature) else {
        return false;
    };
    fixed_signature_valid(checker, key, message, &signature.to_bytes())
}

pub(super) fn check_algorithm(cert: &Certificate) -> Result<(), VerifyError> {
    let outer = &cert.signature_algorithm;
    let inner = &cert.tbs_certificate.signature;
    if outer.oid != ECDSA_WITH_SHA384 || inner.oid != ECDSA_WITH_SHA384 || outer != inner {
        return fail(
            Check::Algorithm,
            format!(
                "{} is signed with {}; only ecdsa-with-SHA384 (P-384) is accepted",
                cert.tbs_certificate.subject, outer.oid
            ),
        );
    }
    Ok(())
}

pub(super) fn check_signed_by(
    checker: &dyn SignatureChecker,
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(), VerifyError> {
    check_algorithm(cert)?;
    let key = public_key(issuer)?;
    let tbs = cert.tbs_certificate.to_der().map_err(|e| VerifyError {
        check: Check::Input,
        detail: e.to_string(),
    })?;
    let signature = cert.signature.as_bytes().unwrap_or_default();
    if !signature_valid(checker, &key, &tbs, signature) {
        return fail(
            Check::Signature,
            format!(
                "the signature on {} does not verify with the key of {}",
                cert.tbs_certificate.subject, issuer.tbs_certificate.subject
            ),
        );
    }
    Ok(())
}

pub(super) fn check_validity(cert: &Certificate, at: OffsetDateTime) -> Result<(), VerifyError> {
    let validity = &cert.tbs_certificate.validity;
    let (from, until) = (time_of(&validity.not_before), time_of(&validity.not_after));
    if at < from {
        return fail(
            Check::Validity,
            format!(
                "{} is not valid before {} (checked at {})",
                cert.tbs_certificate.subject,
                rfc3339(from),
                rfc3339(at)
            ),
        );
    }
    if at > until {
        return fail(
            Check::Validity,
            format!(
                "{} expired at {} (checked at {})",
                cert.tbs_certificate.subject,
                rfc3339(until),
                rfc3339(at)
            ),
        );
    }
    Ok(())
}

pub(super) fn check_critical(cert: &Certificate) -> Result<(), VerifyError> {
    let known = [
        RawOid::of(&ID_CE_BASIC_CONSTRAINTS),
        RawOid::of(&ID_CE_KEY_USAGE),
        RawOid::of(&ID_CE_EXT_KEY_USAGE),
        claims_oid(),
    ];
    for ext in cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default()
    {
        if ext.critical && !known.contains(&ext.extn_id) {
            return fail(
                Check::CriticalExtension,
                format!(
                    "{} carries the critical extension {}, which this verifier does not understand",
                    cert.tbs_certificate.subject,
                    ext.extn_id.dotted()
                ),
            );
        }
    }
    Ok(())
}

pub(super) fn decode_error(cert: &Certificate, what: &str, err: &der::Error) -> VerifyError {
    VerifyError {
        check: Check::Input,
        detail: format!("{}: malformed {what}: {err}", cert.tbs_certificate.subject),
    }
}

/// `cas_below`: how many CA certificates sit between this CA and the leaf.
pub(super) fn check_ca(cert: &Certificate, cas_below: usize) -> Result<(), VerifyError> {
    let subject = &cert.tbs_certificate.subject;
    let constraints = cert
        .decoded::<BasicConstraints>()
        .map_err(|e| decode_error(cert, "basic constraints", &e))?;
    let Some((_, constraints)) = constraints.filter(|(_, c)| c.ca) else {
        return fail(
            Check::BasicConstraints,
            format!("{subject} issued a certificate but is not a CA (no cA flag)"),
        );
    };
    if let Some(limit) = constraints.path_len_constraint
        && cas_below > usize::from(limit)
    {
        return fail(
            Check::PathLength,
            format!(
                "{subject} allows {limit} CA certificate(s) below it, the chain has {cas_below}"
            ),
        );
    }
    match cert
        .decoded::<KeyUsage>()
        .map_err(|e| decode_error(cert, "key usage", &e))?
    {
        Some((_, usage)) if usage.0.contains(KeyUsages::KeyCertSign) => Ok(()),
        _ => fail(
            Check::KeyUsage,
            format!("{subject} signs certificates but its key usage lacks keyCertSign"),
        ),
    }
}

pub(super) fn check_end_entity(cert: &Certificate) -> Result<(), VerifyError> {
    let subject = &cert.tbs_certificate.subject;
    if let Some((_, constraints)) = cert
        .decoded::<BasicConstraints>()
        .map_err(|e| decode_error(cert, "basic constraints", &e))?
        && constraints.ca
    {
        return fail(
            Check::BasicConstraints,
            format!("{subject} is a CA certificate, not an end entity"),
        );
    }
    match cert
        .decoded::<KeyUsage>()
        .map_err(|e| decode_error(cert, "key usage", &e))?
    {
        Some((_, usage)) if !usage.0.contains(KeyUsages::DigitalSignature) => fail(
            Check::KeyUsage,
            format!("{subject}: key usage lacks digitalSignature"),
        ),
        _ => Ok(()),
    }
}

pub(super) fn same(a: &Certificate, b: &Certificate) -> bool {
    a == b
}
