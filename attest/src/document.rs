//! Nitro-format attestation documents: the evidence of an attestation certificate as an
//! untagged `COSE_Sign1` (RFC 9052) laid out as the AWS Nitro Enclaves NSM attestation
//! document, so relying parties that already verify Nitro documents keep their code and
//! swap the root.
//!
//! ```text
//! COSE_Sign1 = [ protected: bstr .cbor {1: -35},   ; ES384
//!                unprotected: {},
//!                payload: bstr .cbor AttestationDocument,
//!                signature: bstr .size 96 ]         ; r ‖ s over SHA-384 of Sig_structure
//! AttestationDocument = {
//!     module_id: tstr,                 ; the issuing host, non-empty
//!     digest: "SHA384",
//!     timestamp: uint,                 ; ms since the Unix epoch, > 0
//!     pcrs: { 0: bstr .size 48,        ; SHA-384 of the guest
//!             1: bstr .size 48,        ; SHA-384 measurement of the runtime
//!             2: bstr .size 48 },      ; SHA-384 of the policy, all zeros for none
//!     certificate: bstr,               ; the host's document-signing certificate (DER)
//!     cabundle: [+ bstr],              ; root first, then intermediates (DER)
//!     ? public_key: bstr,              ; the guest's P-384 or RSA (2048–4096 bits) key,
//!                                      ; SubjectPublicKeyInfo DER
//!     ? user_data: bstr .size (0..512),
//!     ? nonce: bstr .size (0..512) }
//! ```
//! Absent optional fields are omitted (the NSM specification forbids null); a verifier
//! reads null as absent, as the NSM itself writes it. The `cabundle`'s root is carried for
//! Nitro tooling only: the relying party's own roots decide what is trusted.

mod key;
mod payload;

pub use key::{DocumentKey, MAX_RSA_BITS, MIN_RSA_BITS, RsaKey};

use std::collections::BTreeMap;

use coset::cbor::value::Value;
use coset::iana::EnumI64 as _;
use coset::{CborSerializable as _, CoseSign1, CoseSign1Builder, HeaderBuilder, iana};
use der::Encode as _;
use sha2::{Digest as _, Sha384};
use time::OffsetDateTime;

use crate::Measurement;
use crate::claims::{Claims, MAX_NONCE, MAX_USER_DATA};
use crate::signer::{SignError, Signer};
use crate::verify::{
    Check, Expectations, RustCryptoChecker, SignatureChecker, Trust, VerifiedChain, VerifyError,
    check_claims, fail, fixed_signature_valid, public_key, rfc3339, time_of,
};
use crate::x509::{Certificate, RawOid};
use payload::{Payload, bad};

/// The digest the PCRs are computed with.
pub const DIGEST: &str = "SHA384";
/// Longest certificate in `certificate` and `cabundle` (NSM specification).
pub const MAX_CERTIFICATE: usize = 1024;
/// Longest `public_key` (NSM specification).
pub const MAX_PUBLIC_KEY: usize = 1024;
/// Longest payload (NSM specification).
pub const MAX_PAYLOAD: usize = 16_384;
/// The PCR holding the guest's SHA-384.
pub const PCR_GUEST: u8 = 0;
/// The PCR holding the runtime's measurement.
pub const PCR_RUNTIME: u8 = 1;
/// The PCR holding the policy's SHA-384 (zeros for none).
pub const PCR_POLICY: u8 = 2;
/// The fields of the payload, in the order the NSM writes them.
pub const FIELDS: [&str; 9] = [
    "module_id",
    "digest",
    "timestamp",
    "pcrs",
    "certificate",
    "cabundle",
    "public_key",
    "user_data",
    "nonce",
];

/// What a document asserts about the attested guest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DocumentContent {
    /// The issuing host (`module_id`).
    pub module_id: String,
    /// When the document was made, milliseconds since the Unix epoch (`timestamp`).
    pub timestamp_ms: u64,
    /// SHA-384 of the guest component (PCR0).
    pub guest: Measurement,
    /// Measurement of the Kastell runtime that ran the guest (PCR1).
    pub runtime: Measurement,
    /// SHA-384 of the guest's policy (PCR2; all zeros when there is none).
    pub policy: Option<Measurement>,
    /// The guest's ephemeral key (`public_key`, encoded as SubjectPublicKeyInfo DER): a
    /// P-384 key (for an HPKE key release) or an RSA key (for AWS's `Recipient`).
    #[serde(serialize_with = "spki_hex")]
    pub public_key: Option<DocumentKey>,
    /// Data the guest binds, ≤ 512 bytes.
    #[serde(serialize_with = "hex_option")]
    pub user_data: Option<Vec<u8>>,
    /// The relying party's nonce, ≤ 512 bytes.
    #[serde(serialize_with = "hex_option")]
    pub nonce: Option<Vec<u8>>,
}

fn hex_option<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_some(&hex::encode(b)),
        None => s.serialize_none(),
    }
}

fn spki_hex<S: serde::Serializer>(key: &Option<DocumentKey>, s: S) -> Result<S::Ok, S::Error> {
    hex_option(&key.as_ref().and_then(|k| spki(k).ok()), s)
}

fn spki(key: &DocumentKey) -> Result<Vec<u8>, DocumentError> {
    key.to_spki_der().map_err(DocumentError::Encoding)
}

/// Why a document was not issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The content or certificates break the format's limits, or the signing certificate
    /// is not the signer's (caller misuse).
    #[error("attestation document: {0}")]
    Content(String),
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A value does not encode (a bug).
    #[error("attestation document encoding: {0}")]
    Encoding(String),
}

fn content_error<T>(detail: impl Into<String>) -> Result<T, DocumentError> {
    Err(DocumentError::Content(detail.into()))
}

fn certificate_der(cert: &Certificate, what: &str) -> Result<Vec<u8>, DocumentError> {
    let der = cert
        .to_der()
        .map_err(|e| DocumentError::Encoding(e.to_string()))?;
    if der.len() > MAX_CERTIFICATE {
        return content_error(format!(
            "{what} {} has {} bytes DER, more than the {MAX_CERTIFICATE} a Nitro document allows",
            cert.tbs_certificate.subject,
            der.len()
        ));
    }
    Ok(der)
}

/// Issues a document: `content` signed by `signer`, whose certificate is `signing_cert`
/// (the host's document-signing leaf); `cabundle` is the chain above it, root first.
/// Returns the untagged `COSE_Sign1` bytes.
///
/// # Errors
/// [`DocumentError::Content`] for an empty module id, a zero timestamp, an all-zero policy
/// hash, nonce or user data over 512 bytes, an empty CA bundle, a certificate over 1024
/// bytes, or a signing certificate for another key; the signer's failure.
pub fn issue_document(
    signer: &dyn Signer,
    signing_cert: &Certificate,
    cabundle: &[Certificate],
    content: &DocumentContent,
) -> Result<Vec<u8>, DocumentError> {
    if content.module_id.is_empty() {
        return content_error("the module id must not be empty");
    }
    if content.timestamp_ms == 0 {
        return content_error("the timestamp must be after the Unix epoch");
    }
    if content.policy.is_some_and(|p| p.as_bytes() == &[0; 48]) {
        return content_error("an all-zero policy hash means \"no policy\"; use None");
    }
    for (what, value, max) in [
        ("nonce", &content.nonce, MAX_NONCE),
        ("user data", &content.user_data, MAX_USER_DATA),
    ] {
        if let Some(value) = value.as_ref().filter(|v| v.len() > max) {
            return content_error(format!(
                "the {what} has {} bytes, more than {max}",
                value.len()
            ));
        }
    }
    match public_key(signing_cert) {
        Ok(key) if key == signer.public_key() => {}
        _ => {
            return content_error(format!(
                "the signing certificate {} is not for the signer's key",
                signing_cert.tbs_certificate.subject
            ));
        }
    }
    if cabundle.is_empty() {
        return content_error("the CA bundle must hold at least the root");
    }
    let mut pcrs = BTreeMap::from([
        (PCR_GUEST, *content.guest.as_bytes()),
        (PCR_RUNTIME, *content.runtime.as_bytes()),
    ]);
    pcrs.insert(
        PCR_POLICY,
        content.policy.map_or([0; 48], |p| *p.as_bytes()),
    );
    let payload = Payload {
        module_id: content.module_id.clone(),
        timestamp_ms: content.timestamp_ms,
        pcrs,
        certificate: certificate_der(signing_cert, "signing certificate")?,
        cabundle: cabundle
            .iter()
            .map(|c| certificate_der(c, "CA bundle certificate"))
            .collect::<Result<_, _>>()?,
        public_key: content.public_key.as_ref().map(spki).transpose()?,
        user_data: content.user_data.clone(),
        nonce: content.nonce.clone(),
    }
    .encode()
    .map_err(DocumentError::Encoding)?;
    if payload.len() > MAX_PAYLOAD {
        return content_error(format!(
            "the payload has {} bytes, more than {MAX_PAYLOAD}",
            payload.len()
        ));
    }
    CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES384)
                .build(),
        )
        .payload(payload)
        .try_create_signature(&[], |tbs| {
            let digest: [u8; 48] = Sha384::digest(tbs).into();
            signer.sign_digest(&digest).map(|s| s.to_vec())
        })?
        .build()
        .to_vec()
        .map_err(|e| DocumentError::Encoding(e.to_string()))
}

/// Whether `cert` is a document-signing certificate: its extended key usage names
/// [`DOCUMENT_SIGNING_OID`](crate::claims::DOCUMENT_SIGNING_OID) and it carries no
/// attestation claims. (Its chain is checked separately.)
#[must_use]
pub fn is_document_signer(cert: &Certificate) -> bool {
    let eku = RawOid::of(&const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE);
    let marked = cert.extension(&eku).is_some_and(|ext| {
        crate::x509::decode_canonical::<Vec<RawOid>>(ext.extn_value.as_bytes())
            .is_ok_and(|usages| usages.contains(&crate::claims::document_signing_oid()))
    });
    marked && cert.extension(&crate::claims::claims_oid()).is_none()
}

/// Whether `cert` is a document signer that webpki-based Nitro verifiers also accept: a
/// [document signer](is_document_signer) whose extended key usage names serverAuth too.
/// Signers issued before serverAuth was added name only the private usage; the host
/// replaces such a certificate before it signs its next document.
#[must_use]
pub fn is_interoperable_document_signer(cert: &Certificate) -> bool {
    let eku = RawOid::of(&const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE);
    let server_auth = RawOid::of(&const_oid::db::rfc5280::ID_KP_SERVER_AUTH);
    is_document_signer(cert)
        && cert.extension(&eku).is_some_and(|ext| {
            crate::x509::decode_canonical::<Vec<RawOid>>(ext.extn_value.as_bytes())
                .is_ok_and(|usages| usages.contains(&server_auth))
        })
}

/// A verified document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedDocument {
    /// The signing certificate's chain and the checks passed.
    #[serde(flatten)]
    pub chain: VerifiedChain,
    /// What the document asserts, verified against the expectations.
    pub document: DocumentContent,
    /// Every PCR in the document, hex.
    pub pcrs: BTreeMap<u8, String>,
    /// The document's timestamp (RFC 3339).
    pub issued: String,
}

/// Reads the `COSE_Sign1` (untagged, or with tag 18) and checks its protected header.
fn decode_cose(bytes: &[u8]) -> Result<CoseSign1, VerifyError> {
    let input = |detail: String| VerifyError {
        check: Check::Input,
        detail,
    };
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| input(format!("not a CBOR document: {}", payload::cbor_error(&e))))?;
    if !rest.is_empty() {
        return Err(input(format!("{} bytes follow the COSE_Sign1", rest.len())));
    }
    let value = match value {
        Value::Tag(18, inner) => *inner,
        Value::Tag(tag, _) => return Err(input(format!("CBOR tag {tag}, not a COSE_Sign1"))),
        value => value,
    };
    let sign1 = <CoseSign1 as coset::AsCborValue>::from_cbor_value(value)
        .map_err(|e| input(format!("not a COSE_Sign1 structure: {e}")))?;
    let header = &sign1.protected.header;
    match &header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::ES384)) => {}
        Some(other) => {
            let name = match other {
                coset::Algorithm::Assigned(a) => format!("{a:?} ({})", a.to_i64()),
                other => format!("{other:?}"),
            };
            return fail(
                Check::Algorithm,
                format!("the document is signed with {name}; only ES384 (-35) is accepted"),
            );
        }
        None => {
            return fail(
                Check::Algorithm,
                "the protected header names no algorithm; ES384 (-35) is required",
            );
        }
    }
    if !header.crit.is_empty() {
        return bad(format!(
            "the protected header marks {:?} critical, which this verifier does not understand",
            header.crit
        ));
    }
    Ok(sign1)
}

fn parse_certificate(der: &[u8], what: &str) -> Result<Certificate, VerifyError> {
    crate::x509::decode_canonical::<Certificate>(der).map_err(|e| VerifyError {
        check: Check::Document,
        detail: format!("{what} is not an X.509 certificate: {e}"),
    })
}

/// Verifies a document: its `COSE_Sign1` structure and ES384 header, the payload's fields,
/// the signing certificate's chain to one of `trust.anchors` (through the `cabundle`'s
/// intermediates and any in `trust.intermediates`; the `cabundle`'s root is not trusted for
/// being there), the signature with the signing certificate's key, the timestamp within
/// that certificate's validity, then PCR0, PCR2, the nonce and the timestamp against
/// `expect`.
///
/// # Errors
/// The first failed check: [`Check::Input`] for bytes that are not a `COSE_Sign1`,
/// [`Check::Algorithm`] for another algorithm, [`Check::Document`] for a malformed payload,
/// and the chain, signature and claims checks as for an attestation certificate.
pub fn verify_document(
    bytes: &[u8],
    trust: &Trust,
    expect: &Expectations,
) -> Result<VerifiedDocument, VerifyError> {
    verify_document_with(bytes, trust, expect, &RustCryptoChecker)
}

/// [`verify_document`] with signatures checked by `checker`.
///
/// # Errors
/// As [`verify_document`].
pub fn verify_document_with(
    bytes: &[u8],
    trust: &Trust,
    expect: &Expectations,
    checker: &dyn SignatureChecker,
) -> Result<VerifiedDocument, VerifyError> {
    let sign1 = decode_cose(bytes)?;
    let Some(payload) = sign1.payload.as_deref() else {
        return bad("the payload is detached; a Nitro document carries it");
    };
    if payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return bad(format!(
            "the payload has {} bytes, not 1 to {MAX_PAYLOAD}",
            payload.len()
        ));
    }
    let doc = Payload::decode(payload)?;
    let guest_key = doc
        .public_key
        .as_deref()
        .map(DocumentKey::from_spki_der)
        .transpose()
        .map_err(|why| VerifyError {
            check: Check::Document,
            detail: format!(
                "`public_key` is not a P-384 or RSA ({MIN_RSA_BITS}–{MAX_RSA_BITS} bits) \
                 SubjectPublicKeyInfo: {why}"
            ),
        })?;
    let mut checks = vec![format!(
        "COSE_Sign1 with ES384 over a Nitro attestation document (digest {DIGEST}, {} PCRs)",
        doc.pcrs.len()
    )];
    let signing_cert = parse_certificate(&doc.certificate, "`certificate`")?;
    let mut bundle = Vec::with_capacity(doc.cabundle.len());
    for (i, der) in doc.cabundle.iter().enumerate() {
        bundle.push(parse_certificate(der, &format!("`cabundle[{i}]`"))?);
    }
    let path = Trust {
        intermediates: bundle
            .into_iter()
            .skip(1)
            .chain(trust.intermediates.iter().cloned())
            .collect(),
        ..trust.clone()
    };
    let mut chain = path.verify_chain_with(&signing_cert, checker)?;
    checks.append(&mut chain.checks);
    let subject = &signing_cert.tbs_certificate.subject;
    if !is_document_signer(&signing_cert) {
        return fail(
            Check::KeyUsage,
            format!(
                "{subject} is not a document-signing certificate (no extended key usage {}, or \
                 it carries attestation claims): only a host's document signer may sign documents",
                crate::claims::DOCUMENT_SIGNING_OID
            ),
        );
    }
    let subject_text = crate::x509::name_text(subject);
    checks.push(format!("{subject_text} is a document signer"));
    let key = public_key(&signing_cert)?;
    let valid = fixed_signature_valid(checker, &key, &sign1.tbs_data(&[]), &sign1.signature);
    if !valid {
        return fail(
            Check::Signature,
            format!("document signature does not verify with the key of {subject}"),
        );
    }
    checks.push(format!(
        "document signature verifies with the key of {subject_text}"
    ));
    let issued = i128::from(doc.timestamp_ms)
        .checked_mul(1_000_000)
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok());
    let Some(issued) = issued else {
        return bad(format!(
            "`timestamp` {} ms is out of range",
            doc.timestamp_ms
        ));
    };
    let validity = &signing_cert.tbs_certificate.validity;
    let (from, until) = (time_of(&validity.not_before), time_of(&validity.not_after));
    if issued < from || issued > until {
        return fail(
            Check::Validity,
            format!(
                "the document's timestamp {} is outside the validity of {subject} ({} to {})",
                rfc3339(issued),
                rfc3339(from),
                rfc3339(until)
            ),
        );
    }
    let pcr = |i| doc.pcrs.get(&i).copied().unwrap_or([0; 48]);
    let policy = Some(pcr(PCR_POLICY))
        .filter(|p| p != &[0; 48])
        .map(Measurement::from_bytes);
    let claims = Claims {
        guest: Measurement::from_bytes(pcr(PCR_GUEST)),
        policy,
        nonce: doc.nonce.clone().unwrap_or_default(),
        user_data: doc.user_data.clone().unwrap_or_default(),
        host_id: doc.module_id.clone(),
        runtime_version: String::new(),
    };
    check_claims(&claims, expect, issued, trust.at, &mut checks)?;
    chain.checks = checks;
    Ok(VerifiedDocument {
        chain,
        pcrs: doc.pcrs.iter().map(|(i, p)| (*i, hex::encode(p))).collect(),
        document: DocumentContent {
            module_id: doc.module_id,
            timestamp_ms: doc.timestamp_ms,
            guest: claims.guest,
            runtime: Measurement::from_bytes(pcr(PCR_RUNTIME)),
            policy,
            public_key: guest_key,
            user_data: doc.user_data,
            nonce: doc.nonce,
        },
        issued: rfc3339(issued),
    })
}
