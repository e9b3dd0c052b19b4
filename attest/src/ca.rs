//! Issuing: the owner's self-signed EU root, a host attestation CA under it, short-lived
//! attestation certificates binding a guest's key to its claims, document-signing
//! certificates, and CRLs. ECDSA P-384 with SHA-384 throughout.

use std::time::Duration;

use const_oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME};
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_CRL_NUMBER, ID_CE_EXT_KEY_USAGE,
    ID_CE_KEY_USAGE, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_SERVER_AUTH,
};
use der::asn1::{Any, BitString, OctetString, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Decode as _, Encode as _};
use p384::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha384};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::claims::{Claims, claims_oid, document_signing_oid};
use crate::country;
use crate::signer::Signer;
use crate::x509::{Certificate, RawExtension, RawOid, TbsCertificate};

/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Default lifetime of an attestation certificate.
pub const ATTESTATION_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Why issuing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The subject is not acceptable (country, empty names).
    #[error("{0}")]
    Subject(String),
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] crate::signer::SignError),
    /// The claims do not encode.
    #[error(transparent)]
    Claims(#[from] crate::claims::ClaimsError),
    /// A value does not encode (a bug or an out-of-range time).
    #[error("encoding: {0}")]
    Encoding(String),
}

fn enc(err: der::Error) -> CaError {
    CaError::Encoding(err.to_string())
}

/// Who owns a trust chain: the subject of its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Common name of the root, e.g. `Example GmbH Kastell Root`.
    pub common_name: String,
    /// Organization (O).
    pub organization: String,
    /// Country (C): an EU/EEA member state's ISO 3166-1 alpha-2 code.
    pub country: String,
}

fn attribute(oid: ObjectIdentifier, value: Any) -> RelativeDistinguishedName {
    let mut set = SetOfVec::new();
    // One attribute per RDN: inserting into an empty set cannot fail.
    let _ = set.insert(AttributeTypeAndValue { oid, value });
    RelativeDistinguishedName(set)
}

/// `CN=…, O=…, C=…` with C as PrintableString (RFC 5280) and the rest as UTF8String.
///
/// # Errors
/// [`CaError::Subject`] for an empty name, a non-EU/EEA country, or unencodable text.
pub fn name(common_name: &str, organization: &str, country: &str) -> Result<Name, CaError> {
    if common_name.trim().is_empty() || organization.trim().is_empty() {
        return Err(CaError::Subject(
            "common name and organization must not be empty".into(),
        ));
    }
    if !country::is_eu_eea(country) {
        return Err(CaError::Subject(country::explain(country)));
    }
    let utf8 = |text: &str| -> Result<Any, CaError> {
        Any::encode_from(&Utf8StringRef::new(text).map_err(enc)?).map_err(enc)
    };
    let printable = Any::encode_from(
        &PrintableStringRef::new(country)
            .map_err(|_| CaError::Subject(country::explain(country)))?,
    )
    .map_err(enc)?;
    Ok(RdnSequence(vec![
        attribute(COUNTRY_NAME, printable),
        attribute(ORGANIZATION_NAME, utf8(organization)?),
        attribute(COMMON_NAME, utf8(common_name)?),
    ]))
}

/// Converts a time for a certificate: UTCTime before 2050, GeneralizedTime after.
///
/// # Errors
/// A time before 1970 or after 9999.
pub fn x509_time(at: OffsetDateTime) -> Result<Time, CaError> {
    let unix = u64::try_from(at.unix_timestamp())
        .map_err(|_| CaError::Encoding("time before 1970".into()))?;
    let date = der::DateTime::from_unix_duration(Duration::from_secs(unix)).map_err(enc)?;
    Ok(if date.year() < 2050 {
        Time::UtcTime(der::asn1::UtcTime::from_date_time(date).map_err(enc)?)
    } else {
        Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(date))
    })
}

fn spki(key: &p384::PublicKey) -> Result<SubjectPublicKeyInfoOwned, CaError> {
    let der = key
        .to_public_key_der()
        .map_err(|e| CaError::Encoding(e.to_string()))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(enc)
}

/// Key identifier: the leftmost 160 bits of SHA-384 of the public key bits (RFC 7093).
#[must_use]
pub fn key_id(key: &p384::PublicKey) -> Vec<u8> {
    let point = key.to_sec1_bytes();
    Sha384::digest(&point)[..20].to_vec()
}

pub(crate) fn extension<T: der::Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<RawExtension, CaError> {
    Ok(RawExtension {
        extn_id: RawOid::of(&oid),
        critical,
        extn_value: OctetString::new(value.to_der().map_err(enc)?).map_err(enc)?,
    })
}

fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40; // positive, 16 significant bytes
    SerialNumber::new(&bytes).map_err(enc)
}

fn algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA384,
        parameters: None,
    }
}

/// Signs DER `tbs` with `signer`: ECDSA P-384 over SHA-384, DER-encoded signature.
///
/// # Errors
/// The signer's failure.
pub fn sign_der(signer: &dyn Signer, tbs: &[u8]) -> Result<Vec<u8>, CaError> {
    let digest: [u8; 48] = Sha384::digest(tbs).into();
    let raw = signer.sign_digest(&digest)?;
    let signature = p384::ecdsa::Signature::from_slice(&raw)
        .map_err(|_| CaError::Encoding("the signer returned a malformed signature".into()))?;
    Ok(signature.to_der().as_bytes().to_vec())
}

/// Everything that differs between the certificates Kastell issues.
struct Template<'a> {
    issuer: &'a Name,
    issuer_key: &'a p384::PublicKey,
    subject: Name,
    subject_key: &'a p384::PublicKey,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    extensions: Vec<RawExtension>,
}

fn issue(signer: &dyn Signer, template: Template<'_>) -> Result<Certificate, CaError> {
    let mut extensions = vec![
        extension(
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &SubjectKeyIdentifier(OctetString::new(key_id(template.subject_key)).map_err(enc)?),
        )?,
        extension(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(key_id(template.issuer_key)).map_err(enc)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?,
    ];
    extensions.extend(template.extensions);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: random_serial()?,
        signature: algorithm(),
        issuer: template.issuer.clone(),
        validity: Validity {
            not_before: x509_time(template.not_before)?,
            not_after: x509_time(template.not_after)?,
        },
        subject: template.subject,
        subject_public_key_info: spki(template.subject_key)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = sign_der(signer, &tbs.to_der().map_err(enc)?)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm(),
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    })
}

fn ca_extensions(path_len: Option<u8>) -> Result<Vec<RawExtension>, CaError> {
    Ok(vec![
        extension(
            ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
        )?,
        extension(
            ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        )?,
    ])
}

fn leaf_extensions() -> Result<Vec<RawExtension>, CaError> {
    Ok(vec![
        extension(
            ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        )?,
        extension(
            ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::DigitalSignature.into()),
        )?,
    ])
}

/// The owner's self-signed root: `CN, O, C` (C an EU/EEA state), CA without a path length
/// limit, keyCertSign and cRLSign, valid from `not_before` for `lifetime`.
///
/// # Errors
/// [`CaError::Subject`] (e.g. a non-EU country), or the signer's failure.
pub fn issue_root(
    signer: &dyn Signer,
    owner: &Owner,
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    let subject = name(&owner.common_name, &owner.organization, &owner.country)?;
    let key = signer.public_key();
    issue(
        signer,
        Template {
            issuer: &subject.clone(),
            issuer_key: &key,
            subject,
            subject_key: &key,
            not_before,
            not_after: not_before + lifetime,
            extensions: ca_extensions(None)?,
        },
    )
}

/// A host attestation CA under `issuer` (the root): CA with path length 0 (it issues only
/// end-entity certificates), keyCertSign and cRLSign, its key `host_key` (in the host's
/// token). The subject keeps the root's O and C with `common_name`.
///
/// # Errors
/// As [`issue_root`].
pub fn issue_host_ca(
    issuer_signer: &dyn Signer,
    issuer: &Certificate,
    host_key: &p384::PublicKey,
    common_name: &str,
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    issue_under(
        issuer_signer,
        issuer,
        host_key,
        common_name,
        not_before,
        lifetime,
        ca_extensions(Some(0))?,
    )
}

/// The issuer's O and C with a new CN.
fn subordinate_name(issuer: &Certificate, common_name: &str) -> Result<Name, CaError> {
    let mut rdns: Vec<RelativeDistinguishedName> = issuer
        .tbs_certificate
        .subject
        .0
        .iter()
        .filter(|rdn| rdn.0.iter().all(|atv| atv.oid != COMMON_NAME))
        .cloned()
        .collect();
    if common_name.trim().is_empty() {
        return Err(CaError::Subject("common name must not be empty".into()));
    }
    rdns.push(attribute(
        COMMON_NAME,
        Any::encode_from(&Utf8StringRef::new(common_name).map_err(enc)?).map_err(enc)?,
    ));
    Ok(RdnSequence(rdns))
}

/// An attestation certificate: subject key = the guest's ephemeral P-384 key, the claims in
/// a non-critical extension, end entity, digitalSignature, extended key usage serverAuth (so
/// TLS stacks accept it as a server certificate, RA-TLS style), valid from `not_before`
/// for `lifetime` (default [`ATTESTATION_LIFETIME`]).
///
/// # Errors
/// Oversized claims, or the signer's failure.
pub fn issue_attestation(
    ca_signer: &dyn Signer,
    ca: &Certificate,
    guest_key: &p384::PublicKey,
    claims: &Claims,
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    let extensions = vec![
        extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![ID_KP_SERVER_AUTH]),
        )?,
        RawExtension {
            extn_id: claims_oid(),
            critical: false,
            extn_value: OctetString::new(claims.to_der()?).map_err(enc)?,
        },
    ];
    let guest = claims.guest.to_hex();
    let common_name = format!("attested guest {}", guest.get(..16).unwrap_or_default());
    issue_end_entity(
        ca_signer,
        ca,
        guest_key,
        &common_name,
        not_before,
        lifetime,
        extensions,
    )
}

/// An end-entity certificate (digitalSignature) for `key` under `ca`, with subject
/// `common_name` and the CA's O and C, and `extra` extensions.
pub(crate) fn issue_end_entity(
    ca_signer: &dyn Signer,
    ca: &Certificate,
    key: &p384::PublicKey,
    common_name: &str,
    not_before: OffsetDateTime,
    lifetime: Duration,
    extra: Vec<RawExtension>,
) -> Result<Certificate, CaError> {
    let mut extensions = leaf_extensions()?;
    extensions.extend(extra);
    issue_under(
        ca_signer,
        ca,
        key,
        common_name,
        not_before,
        lifetime,
        extensions,
    )
}

/// A certificate for `key` under `ca`: subject `common_name` with the CA's O and C.
fn issue_under(
    ca_signer: &dyn Signer,
    ca: &Certificate,
    key: &p384::PublicKey,
    common_name: &str,
    not_before: OffsetDateTime,
    lifetime: Duration,
    extensions: Vec<RawExtension>,
) -> Result<Certificate, CaError> {
    issue(
        ca_signer,
        Template {
            issuer: &ca.tbs_certificate.subject,
            issuer_key: &ca_signer.public_key(),
            subject: subordinate_name(ca, common_name)?,
            subject_key: key,
            not_before,
            not_after: not_before + lifetime,
            extensions,
        },
    )
}

/// A document-signing certificate for the host's attestation documents (end entity,
/// digitalSignature, extended key usage
/// [`DOCUMENT_SIGNING_OID`](crate::claims::DOCUMENT_SIGNING_OID) and serverAuth), under the
/// host CA. serverAuth is there for interop: webpki-based Nitro verifiers validate the
/// signer's path for TLS server authentication and refuse a certificate without it
/// (`RequiredEkuNotFound`); it carries no subject alternative name, so no TLS client takes
/// it for a server. Kastell's own verifier tells a document signer by the private usage
/// ([`is_document_signer`](crate::document::is_document_signer)).
///
/// # Errors
/// The signer's failure.
pub fn issue_document_signer(
    ca_signer: &dyn Signer,
    ca: &Certificate,
    key: &p384::PublicKey,
    common_name: &str,
    not_before: OffsetDateTime,
    lifetime: Duration,
) -> Result<Certificate, CaError> {
    let usage = RawExtension {
        extn_id: RawOid::of(&ID_CE_EXT_KEY_USAGE),
        critical: false,
        extn_value: OctetString::new(
            vec![RawOid::of(&ID_KP_SERVER_AUTH), document_signing_oid()]
                .to_der()
                .map_err(enc)?,
        )
        .map_err(enc)?,
    };
    issue_end_entity(
        ca_signer,
        ca,
        key,
        common_name,
        not_before,
        lifetime,
        vec![usage],
    )
}

/// A revoked certificate: its serial number and when it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number (big-endian bytes as in the certificate).
    pub serial: Vec<u8>,
    /// Revocation time.
    pub at: OffsetDateTime,
}

/// A CRL (v2) signed by the CA `ca`, numbered `number`, listing `revoked`, valid from
/// `this_update` to `next_update`. Returns DER.
///
/// # Errors
/// The signer's failure or an unencodable serial.
pub fn issue_crl(
    ca_signer: &dyn Signer,
    ca: &Certificate,
    number: u32,
    revoked: &[Revoked],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, CaError> {
    use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
    use x509_cert::ext::Extension;
    let entries = revoked
        .iter()
        .map(|r| {
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&r.serial).map_err(enc)?,
                revocation_date: x509_time(r.at)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id(&ca_signer.public_key())).map_err(enc)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_number =
        x509_cert::ext::pkix::CrlNumber(der::asn1::Uint::new(&number.to_be_bytes()).map_err(enc)?);
    let tbs = TbsCertList {
        version: Version::V2,
        signature: algorithm(),
        issuer: ca.tbs_certificate.subject.clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            Extension {
                extn_id: ID_CE_AUTHORITY_KEY_IDENTIFIER,
                critical: false,
                extn_value: OctetString::new(aki.to_der().map_err(enc)?).map_err(enc)?,
            },
            Extension {
                extn_id: ID_CE_CRL_NUMBER,
                critical: false,
                extn_value: OctetString::new(crl_number.to_der().map_err(enc)?).map_err(enc)?,
            },
        ]),
    };
    let signature = sign_der(ca_signer, &tbs.to_der().map_err(enc)?)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm(),
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}
