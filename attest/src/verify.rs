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

mod cert;
mod chain;
mod claims;

use cert::*;
pub use cert::{RustCryptoChecker, SignatureChecker, not_after, public_key};
pub(crate) use cert::{fixed_signature_valid, rfc3339, time_of};
pub use claims::{
    VerifiedAttestation, check_claims, verify_attestation, verify_attestation_at,
    verify_attestation_with,
};

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
