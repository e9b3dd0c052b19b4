//! The certificate structure Kastell issues and verifies (RFC 5280), with one difference
//! from `x509-cert`'s: extension identifiers are kept as raw DER, because the claims
//! extension lives under the `2.25.<uuid>` arc (ITU-T X.667), whose 128-bit arc `const-oid`
//! deliberately does not represent. Everything else reuses `x509-cert`, `spki` and `der`.

use der::asn1::{BitString, OctetString};
use der::{
    DecodeValue, Encode as _, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer,
};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

/// An OBJECT IDENTIFIER as its DER content octets, of any arc size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawOid(pub Vec<u8>);

impl RawOid {
    /// The raw form of an identifier `const-oid` can hold.
    #[must_use]
    pub fn of(oid: &ObjectIdentifier) -> Self {
        Self(oid.as_bytes().to_vec())
    }

    /// Dotted decimal, for messages (arcs of any size).
    #[must_use]
    pub fn dotted(&self) -> String {
        let mut arcs: Vec<u128> = Vec::new();
        let mut value: u128 = 0;
        for &byte in &self.0 {
            value = (value << 7) | u128::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = if value < 80 { value / 40 } else { 2 };
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            }
        }
        arcs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl FixedTag for RawOid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl<'a> DecodeValue<'a> for RawOid {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        // Well-formed base-128: non-empty, no leading 0x80 in an arc, last byte ends an arc.
        let well_formed = !bytes.is_empty()
            && bytes.last().is_some_and(|b| b & 0x80 == 0)
            && bytes
                .iter()
                .enumerate()
                .all(|(i, &b)| b != 0x80 || (i > 0 && bytes[i - 1] & 0x80 != 0));
        if !well_formed {
            return Err(Tag::ObjectIdentifier.value_error());
        }
        Ok(Self(bytes))
    }
}

impl EncodeValue for RawOid {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

/// One extension, its identifier raw.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RawExtension {
    /// The identifier.
    pub extn_id: RawOid,
    /// Whether a verifier that does not understand it must reject the certificate.
    #[asn1(default = "Default::default")]
    pub critical: bool,
    /// The DER value.
    pub extn_value: OctetString,
}

/// `TBSCertificate` with raw extension identifiers.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TbsCertificate {
    /// Always v3 here.
    #[asn1(context_specific = "0", default = "Default::default")]
    pub version: Version,
    /// Positive, at most 20 octets.
    pub serial_number: SerialNumber,
    /// Must equal the outer signature algorithm.
    pub signature: AlgorithmIdentifierOwned,
    /// Issuer name.
    pub issuer: Name,
    /// Validity period.
    pub validity: Validity,
    /// Subject name.
    pub subject: Name,
    /// Subject public key.
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    /// Unused by Kastell.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub issuer_unique_id: Option<BitString>,
    /// Unused by Kastell.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub subject_unique_id: Option<BitString>,
    /// Extensions.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub extensions: Option<Vec<RawExtension>>,
}

/// A certificate.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Certificate {
    /// What was signed.
    pub tbs_certificate: TbsCertificate,
    /// The signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The signature (DER ECDSA-Sig-Value for ECDSA).
    pub signature: BitString,
}

impl Certificate {
    /// The extension with identifier `oid`, if present once.
    #[must_use]
    pub fn extension(&self, oid: &RawOid) -> Option<&RawExtension> {
        self.tbs_certificate
            .extensions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|e| &e.extn_id == oid)
    }

    /// The extension `T` (a type `const-oid` names), decoded.
    ///
    /// # Errors
    /// The extension's value does not decode as `T`.
    pub fn decoded<T>(&self) -> der::Result<Option<(bool, T)>>
    where
        T: for<'a> der::Decode<'a> + const_oid::AssociatedOid,
    {
        self.extension(&RawOid::of(&T::OID))
            .map(|e| Ok((e.critical, T::from_der(e.extn_value.as_bytes())?)))
            .transpose()
    }

    /// DER.
    ///
    /// # Errors
    /// Only for values too large to encode.
    pub fn to_der_bytes(&self) -> der::Result<Vec<u8>> {
        self.to_der()
    }

    /// PEM (`CERTIFICATE`).
    ///
    /// # Errors
    /// Only for values too large to encode.
    pub fn to_pem(&self) -> der::Result<String> {
        der::EncodePem::to_pem(self, der::pem::LineEnding::LF)
    }
}

impl der::pem::PemLabel for Certificate {
    const PEM_LABEL: &'static str = "CERTIFICATE";
}

/// Decodes a DER value and insists that it is the value's one DER encoding. Signatures are
/// checked over re-encoded bytes, so any other accepted encoding of the same value (an
/// explicit default such as `critical FALSE` or version `[0] 0`) would let bytes that were
/// never signed pass as signed.
///
/// # Errors
/// Malformed DER, or an encoding that differs from the value's DER form.
pub fn decode_canonical<T>(bytes: &[u8]) -> Result<T, String>
where
    T: for<'a> der::Decode<'a> + der::Encode,
{
    let value = T::from_der(bytes).map_err(|e| e.to_string())?;
    match value.to_der() {
        Ok(canonical) if canonical == bytes => Ok(value),
        _ => Err(
            "not in canonical DER form (e.g. a default value written out); a signature \
                  cannot vouch for it"
                .into(),
        ),
    }
}

/// Reads one or more certificates from PEM (any number of `CERTIFICATE` blocks) or DER.
///
/// # Errors
/// A message naming what is wrong: no certificate, bad PEM, bad DER.
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>, String> {
    if input.is_empty() {
        return Err("empty input".into());
    }
    if input.starts_with(b"-----BEGIN") || input.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(input).map_err(|_| "PEM is not UTF-8 text".to_owned())?;
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            let end_marker = block
                .find("-----END ")
                .ok_or_else(|| "PEM block without an END line".to_owned())?;
            let end = block[end_marker..]
                .find('\n')
                .map_or(block.len(), |n| end_marker + n + 1)
                .min(block.len());
            let (label, der) = der::pem::decode_vec(&block.as_bytes()[..end])
                .map_err(|e| format!("bad PEM: {e}"))?;
            if label == "CERTIFICATE" {
                out.push(
                    decode_canonical::<Certificate>(&der)
                        .map_err(|e| format!("not an X.509 certificate: {e}"))?,
                );
            }
            rest = &block[end..];
        }
        if out.is_empty() {
            return Err("no CERTIFICATE block in the PEM input".into());
        }
        return Ok(out);
    }
    decode_canonical::<Certificate>(input)
        .map(|c| vec![c])
        .map_err(|e| format!("not an X.509 certificate (DER): {e}"))
}

/// Names formatted so far (RFC 4514 text), a few hundred at most.
static NAME_TEXTS: std::sync::Mutex<std::collections::BTreeMap<Vec<u8>, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Most names [`name_text`] remembers; past it, it starts over.
const NAME_TEXTS_MAX: usize = 256;

/// `name` as RFC 4514 text, exactly as its `Display` writes it, remembered: formatting
/// looks every attribute's short name up in `const-oid`'s whole database, which cost a
/// verifier about 5 % of a release, while the same few names (roots, host CAs) come back
/// on every verification.
#[must_use]
pub fn name_text(name: &Name) -> String {
    // Keyed by the name's DER (a name that will not encode is formatted each time).
    let Ok(der) = name.to_der() else {
        return name.to_string();
    };
    let mut texts = NAME_TEXTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(text) = texts.get(&der) {
        return text.clone();
    }
    let text = name.to_string();
    if texts.len() >= NAME_TEXTS_MAX {
        texts.clear();
    }
    texts.insert(der, text.clone());
    text
}

#[cfg(test)]
mod name_tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is a failed test")]

    use std::str::FromStr as _;

    use super::*;

    #[test]
    fn a_remembered_name_reads_as_its_display_and_distinct_names_stay_distinct() {
        let a = Name::from_str("CN=Kastell root,O=Acme \\+ Co,C=DE").unwrap();
        let b = Name::from_str("CN=Kastell host CA,O=Acme,C=FR").unwrap();
        for _ in 0..3 {
            assert_eq!(name_text(&a), a.to_string());
            assert_eq!(name_text(&b), b.to_string());
        }
        assert_ne!(name_text(&a), name_text(&b));
    }

    #[test]
    fn the_memory_stays_bounded() {
        for i in 0..(NAME_TEXTS_MAX * 2 + 3) {
            let name = Name::from_str(&format!("CN=n{i},C=DE")).unwrap();
            assert_eq!(name_text(&name), name.to_string());
        }
        assert!(NAME_TEXTS.lock().unwrap().len() <= NAME_TEXTS_MAX);
    }
}
