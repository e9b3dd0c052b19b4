//! The key a document attests (`public_key`): a P-384 key, sealed to with HPKE by a key
//! release, or an RSA key of 2048 to 4096 bits, the key AWS KMS's `Recipient` encrypts to
//! (RSAES-OAEP SHA-256 in a CMS envelope). Both are SubjectPublicKeyInfo DER in the
//! document, as the NSM writes whatever key the enclave gave it.

use der::Tagged as _;
use p384::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use spki::SubjectPublicKeyInfoOwned;

/// Smallest RSA modulus a document may attest, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus a document may attest, in bits.
pub const MAX_RSA_BITS: usize = 4096;

/// An RSA public key of [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits, kept as the canonical
/// SubjectPublicKeyInfo DER it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaKey {
    spki: Vec<u8>,
    bits: usize,
}

impl RsaKey {
    /// Reads an `rsaEncryption` SubjectPublicKeyInfo (DER, canonical, NULL parameters)
    /// whose modulus has 2048 to 4096 bits and whose exponent is odd and above 1.
    ///
    /// # Errors
    /// One line naming what is wrong.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let info = crate::x509::decode_canonical::<SubjectPublicKeyInfoOwned>(der)
            .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
        Self::from_info(&info, der)
    }

    fn from_info(info: &SubjectPublicKeyInfoOwned, der: &[u8]) -> Result<Self, String> {
        if info.algorithm.oid != const_oid::db::rfc5912::RSA_ENCRYPTION {
            return Err(format!(
                "algorithm {} is not rsaEncryption",
                info.algorithm.oid
            ));
        }
        match &info.algorithm.parameters {
            Some(any) if any.tag() == der::Tag::Null => {}
            _ => return Err("rsaEncryption parameters must be NULL".into()),
        }
        let bits = info
            .subject_public_key
            .as_bytes()
            .ok_or("the key's BIT STRING has unused bits")?;
        let key = <pkcs1::RsaPublicKey<'_> as der::Decode<'_>>::from_der(bits)
            .map_err(|e| format!("not a PKCS#1 RSAPublicKey: {e}"))?;
        if der::Encode::to_der(&key).ok().as_deref() != Some(bits) {
            return Err("the PKCS#1 RSAPublicKey is not in canonical DER form".into());
        }
        let modulus = key.modulus.as_bytes();
        let size = modulus
            .first()
            .map_or(0, |top| modulus.len() * 8 - top.leading_zeros() as usize);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&size) {
            return Err(format!(
                "the RSA modulus has {size} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
            ));
        }
        let exponent = key.public_exponent.as_bytes();
        let odd = exponent.last().is_some_and(|low| low & 1 == 1);
        if !odd || exponent == [1] {
            return Err("the RSA public exponent must be odd and greater than 1".into());
        }
        Ok(Self {
            spki: der.to_vec(),
            bits: size,
        })
    }

    /// The SubjectPublicKeyInfo DER.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// The key in a document's `public_key`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocumentKey {
    /// A P-384 key (a key release seals to it with HPKE).
    P384(p384::PublicKey),
    /// An RSA key (AWS's `Recipient` encrypts to it with RSAES-OAEP SHA-256).
    Rsa(RsaKey),
}

impl From<p384::PublicKey> for DocumentKey {
    fn from(key: p384::PublicKey) -> Self {
        Self::P384(key)
    }
}

impl DocumentKey {
    /// Reads a P-384 or RSA SubjectPublicKeyInfo (DER).
    ///
    /// # Errors
    /// One line naming what is wrong.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let info = crate::x509::decode_canonical::<SubjectPublicKeyInfoOwned>(der)
            .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
        if info.algorithm.oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
            return RsaKey::from_info(&info, der).map(Self::Rsa);
        }
        p384::PublicKey::from_public_key_der(der)
            .map(Self::P384)
            .map_err(|_| {
                format!(
                    "algorithm {} is neither a P-384 key nor rsaEncryption",
                    info.algorithm.oid
                )
            })
    }

    /// The SubjectPublicKeyInfo DER.
    ///
    /// # Errors
    /// When the P-384 key does not encode (a bug).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::P384(key) => key
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string()),
            Self::Rsa(key) => Ok(key.spki.clone()),
        }
    }

    /// The P-384 key, if it is one.
    #[must_use]
    pub fn as_p384(&self) -> Option<&p384::PublicKey> {
        match self {
            Self::P384(key) => Some(key),
            Self::Rsa(_) => None,
        }
    }

    /// The RSA key, if it is one.
    #[must_use]
    pub fn as_rsa(&self) -> Option<&RsaKey> {
        match self {
            Self::Rsa(key) => Some(key),
            Self::P384(_) => None,
        }
    }

    /// `P-384` or `RSA-<bits>`.
    #[must_use]
    pub fn kind(&self) -> String {
        match self {
            Self::P384(_) => "P-384".to_owned(),
            Self::Rsa(key) => format!("RSA-{}", key.bits),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is a failed test")]
    use super::*;

    #[test]
    fn a_p384_key_reads_back_as_itself() {
        let key = crate::signer::Signer::public_key(&crate::signer::SoftSigner::generate());
        let der = DocumentKey::from(key).to_spki_der().unwrap();
        assert_eq!(
            DocumentKey::from_spki_der(&der).unwrap(),
            DocumentKey::P384(key)
        );
    }

    #[test]
    fn garbage_is_refused_by_name() {
        let err = DocumentKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap_err();
        assert!(err.starts_with("not a SubjectPublicKeyInfo"), "{err}");
    }
}
