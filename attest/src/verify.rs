//! Verification, as a relying party does it: the chain from an attestation certificate (or a
//! document-signing certificate) to a trust anchor the relying party chose, each link's
//! signature, algorithm, validity, basic constraints, path length and key usage, no unknown
//! critical extension, an EU/EEA root, revocation by CRL, and the claims against the
//! relying party's expectations. The first failed check is reported by name.

use std::fmt;
use std::time::Duration;

use const_oid::db::rfc4519::COUNTRY_NAME;
use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE};
use der::Encode as _;
use p384::ecdsa::signature::Verifier as _;
use spki::ObjectIdentifier;
use time::OffsetDateTime;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::Measurement;
use crate::ca::ECDSA_WITH_SHA384;
use crate::claims::{Claims, claims_oid};
use crate::country;
use crate::x509::{Certificate, RawOid, name_text};

/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp384r1`.
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// Longest chain accepted (leaf, intermediates, root).
const MAX_CHAIN: usize = 5;

/// The checks, named as they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Check {
    /// The input is not a certificate, CRL or document.
    Input,
    /// No path to a trust anchor (wrong root, missing intermediate).
    Chain,
    /// A signature does not verify.
    Signature,
    /// An algorithm other than ECDSA P-384 with SHA-384.
    Algorithm,
    /// Outside a validity period.
    Validity,
    /// A CA certificate without the CA flag, or an end entity with it.
    BasicConstraints,
    /// More CAs below a CA than its path length allows.
    PathLength,
    /// A key used for what its key usage does not allow.
    KeyUsage,
    /// A critical extension this verifier does not understand.
    CriticalExtension,
    /// The root's country is not an EU/EEA member state.
    RootCountry,
    /// The claims are missing or malformed.
    Claims,
    /// The guest hash is not one of those expected.
    GuestHash,
    /// The policy hash is not the one expected.
    PolicyHash,
    /// The nonce is not the one expected.
    Nonce,
    /// The evidence is older than allowed.
    Age,
    /// A certificate in the chain is revoked.
    Revoked,
    /// A CRL is malformed, not from the chain, badly signed or out of date.
    Crl,
    /// The document's structure or fields are wrong.
    Document,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Chain => "chain",
            Self::Signature => "signature",
            Self::Algorithm => "algorithm",
            Self::Validity => "validity",
            Self::BasicConstraints => "basic constraints",
            Self::PathLength => "path length",
            Self::KeyUsage => "key usage",
            Self::CriticalExtension => "critical extension",
            Self::RootCountry => "root country",
            Self::Claims => "claims",
            Self::GuestHash => "guest hash mismatch",
            Self::PolicyHash => "policy hash mismatch",
            Self::Nonce => "nonce mismatch",
            Self::Age => "too old",
            Self::Revoked => "revoked",
            Self::Crl => "CRL",
            Self::Document => "document",
        })
    }
}

/// The failed check and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {detail}")]
pub struct VerifyError {
    /// Which check failed.
    pub check: Check,
    /// What was found.
    pub detail: String,
}

pub(crate) fn fail<T>(check: Check, detail: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError {
        check,
        detail: detail.into(),
    })
}

/// What the relying party requires beyond a valid chain.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Accept only these guest hashes (any when empty).
    pub guests: Vec<Measurement>,
    /// Require this policy hash.
    pub policy: Option<Measurement>,
    /// Require this nonce.
    pub nonce: Option<Vec<u8>>,
    /// Reject evidence issued longer ago than this.
    pub max_age: Option<Duration>,
}

/// One certificate of a verified chain, for display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// Subject, RFC 4514.
    pub subject: String,
    /// Its country (C), if any.
    pub country: Option<String>,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
}

/// A verified chain: leaf first, trust anchor last, and the checks passed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedChain {
    /// Leaf first, anchor last.
    pub chain: Vec<Link>,
    /// The checks passed, in order, as sentences.
    pub checks: Vec<String>,
}

/// Trust anchors, intermediates, CRLs and the time of verification.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Roots the relying party trusts.
    pub anchors: Vec<Certificate>,
    /// Intermediates that may be used to build the path.
    pub intermediates: Vec<Certificate>,
    /// CRLs (DER) to check the chain against.
    pub crls: Vec<Vec<u8>>,
    /// The time at which validity is judged.
    pub at: OffsetDateTime,
}

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

fn country_of(name: &Name) -> Option<String> {
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

fn link(cert: &Certificate) -> Link {
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

fn check_algorithm(cert: &Certificate) -> Result<(), VerifyError> {
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

fn check_signed_by(
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

fn check_validity(cert: &Certificate, at: OffsetDateTime) -> Result<(), VerifyError> {
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

fn check_critical(cert: &Certificate) -> Result<(), VerifyError> {
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

fn decode_error(cert: &Certificate, what: &str, err: &der::Error) -> VerifyError {
    VerifyError {
        check: Check::Input,
        detail: format!("{}: malformed {what}: {err}", cert.tbs_certificate.subject),
    }
}

/// `cas_below`: how many CA certificates sit between this CA and the leaf.
fn check_ca(cert: &Certificate, cas_below: usize) -> Result<(), VerifyError> {
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

fn check_end_entity(cert: &Certificate) -> Result<(), VerifyError> {
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

fn same(a: &Certificate, b: &Certificate) -> bool {
    a == b
}

impl Trust {
    /// Builds and checks the path from `leaf` (an end entity) to one of the anchors.
    ///
    /// # Errors
    /// The first failed check.
    pub fn verify_chain(&self, leaf: &Certificate) -> Result<VerifiedChain, VerifyError> {
        self.verify_chain_with(leaf, &RustCryptoChecker)
    }

    /// [`Trust::verify_chain`] with signatures checked by `checker`.
    ///
    /// # Errors
    /// The first failed check.
    pub fn verify_chain_with(
        &self,
        leaf: &Certificate,
        checker: &dyn SignatureChecker,
    ) -> Result<VerifiedChain, VerifyError> {
        let mut checks = Vec::new();
        check_end_entity(leaf)?;
        if self.anchors.iter().any(|a| same(a, leaf)) {
            return fail(
                Check::Chain,
                format!(
                    "{} is itself given as a trusted root: pass the owner's root certificate",
                    leaf.tbs_certificate.subject
                ),
            );
        }
        let mut path: Vec<&Certificate> = vec![leaf];
        loop {
            let current = path.last().copied().unwrap_or(leaf);
            check_validity(current, self.at)?;
            check_critical(current)?;
            if path.len() > 1 {
                check_ca(current, path.len() - 2)?;
            }
            if self.anchors.iter().any(|a| same(a, current)) {
                check_signed_by(checker, current, current)?;
                let country = country_of(&current.tbs_certificate.subject).unwrap_or_default();
                if !country::is_eu_eea(&country) {
                    return fail(Check::RootCountry, country::explain(&country));
                }
                checks.push(format!(
                    "root {} is a trust anchor, self-signed, country {country} (EU/EEA)",
                    name_text(&current.tbs_certificate.subject)
                ));
                break;
            }
            if path.len() >= MAX_CHAIN {
                return fail(
                    Check::Chain,
                    format!("no trust anchor within {MAX_CHAIN} certificates"),
                );
            }
            let issuer_name = &current.tbs_certificate.issuer;
            if issuer_name == &current.tbs_certificate.subject
                && check_signed_by(checker, current, current).is_ok()
            {
                return fail(
                    Check::Chain,
                    format!(
                        "the chain ends at the self-signed {} (serial {}), which is not one of \
                         the trusted roots: wrong root, or a root this relying party does not \
                         trust",
                        current.tbs_certificate.subject,
                        hex::encode(current.tbs_certificate.serial_number.as_bytes())
                    ),
                );
            }
            let candidates: Vec<&Certificate> = self
                .anchors
                .iter()
                .chain(self.intermediates.iter())
                .filter(|c| &c.tbs_certificate.subject == issuer_name && !same(c, current))
                .collect();
            let Some(first) = candidates.first() else {
                return fail(
                    Check::Chain,
                    format!(
                        "no certificate named {issuer_name} (the issuer of {}) among the given \
                         roots and intermediates: wrong root or missing intermediate",
                        current.tbs_certificate.subject
                    ),
                );
            };
            let issuer = candidates
                .iter()
                .find(|c| check_signed_by(checker, current, c).is_ok())
                .copied();
            let Some(issuer) = issuer else {
                // Report why the first candidate failed (algorithm or signature).
                check_signed_by(checker, current, first)?;
                return fail(
                    Check::Signature,
                    format!(
                        "no issuer's key verifies {}",
                        current.tbs_certificate.subject
                    ),
                );
            };
            checks.push(format!(
                "{} is signed by {} (ECDSA P-384, SHA-384) and valid at {}",
                name_text(&current.tbs_certificate.subject),
                name_text(&issuer.tbs_certificate.subject),
                rfc3339(self.at)
            ));
            path.push(issuer);
        }
        self.check_crls(checker, &path, &mut checks)?;
        Ok(VerifiedChain {
            chain: path.iter().map(|c| link(c)).collect(),
            checks,
        })
    }

    fn check_crls(
        &self,
        checker: &dyn SignatureChecker,
        path: &[&Certificate],
        checks: &mut Vec<String>,
    ) -> Result<(), VerifyError> {
        for der in &self.crls {
            let crl = crate::x509::decode_canonical::<x509_cert::crl::CertificateList>(der)
                .map_err(|e| VerifyError {
                    check: Check::Crl,
                    detail: format!("not a CRL: {e}"),
                })?;
            let tbs = &crl.tbs_cert_list;
            let Some(position) = path
                .iter()
                .position(|c| c.tbs_certificate.subject == tbs.issuer)
            else {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL is issued by {}, which is not in the chain",
                        tbs.issuer
                    ),
                );
            };
            let issuer = path[position];
            if crl.signature_algorithm.oid != ECDSA_WITH_SHA384 {
                return fail(
                    Check::Algorithm,
                    "the CRL is not signed with ecdsa-with-SHA384",
                );
            }
            let tbs_der = tbs.to_der().map_err(|e| VerifyError {
                check: Check::Crl,
                detail: e.to_string(),
            })?;
            if !signature_valid(
                checker,
                &public_key(issuer)?,
                &tbs_der,
                crl.signature.as_bytes().unwrap_or_default(),
            ) {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL's signature does not verify with {}'s key",
                        tbs.issuer
                    ),
                );
            }
            let this_update = time_of(&tbs.this_update);
            let next_update = tbs.next_update.as_ref().map(time_of);
            if self.at < this_update || next_update.is_some_and(|n| self.at > n) {
                return fail(
                    Check::Crl,
                    format!(
                        "the CRL of {} is valid from {} to {}, not at {}",
                        tbs.issuer,
                        rfc3339(this_update),
                        next_update.map_or_else(|| "(open)".into(), rfc3339),
                        rfc3339(self.at)
                    ),
                );
            }
            // The certificates this CRL speaks for: those its issuer signed.
            if let Some(subject) = position.checked_sub(1).map(|i| path[i]) {
                let serial = subject.tbs_certificate.serial_number.as_bytes();
                if let Some(entry) = tbs
                    .revoked_certificates
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|r| r.serial_number.as_bytes() == serial)
                {
                    return fail(
                        Check::Revoked,
                        format!(
                            "{} (serial {}) was revoked at {}",
                            subject.tbs_certificate.subject,
                            hex::encode(serial),
                            rfc3339(time_of(&entry.revocation_date))
                        ),
                    );
                }
                checks.push(format!(
                    "{} is not revoked (CRL of {}, valid until {})",
                    name_text(&subject.tbs_certificate.subject),
                    name_text(&tbs.issuer),
                    next_update.map_or_else(|| "(open)".into(), rfc3339)
                ));
            }
        }
        Ok(())
    }
}

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
    let mut chain = trust.verify_chain_with(leaf, checker)?;
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
    check_claims(&claims, expect, issued, trust.at, &mut chain.checks)?;
    let key = public_key(leaf)?;
    Ok(VerifiedAttestation {
        chain,
        claims,
        public_key: hex::encode(key.to_sec1_bytes()),
        issued: rfc3339(issued),
    })
}
