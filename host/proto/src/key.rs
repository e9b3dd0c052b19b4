//! Keys: their ids, specs, usages and origins.

use core::fmt;
use core::str::FromStr;

use crate::names::vocabulary;

/// A key's identifier: a random UUID, lower-case hyphenated in text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    /// A new random id (a v4 UUID).
    #[cfg(feature = "random")]
    #[must_use]
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The id's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id with these 16 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A text that is not a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKeyId(pub alloc::string::String);

impl fmt::Display for InvalidKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a key id (a UUID such as 0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c)",
            self.0
        )
    }
}

impl core::error::Error for InvalidKeyId {}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    /// The hyphenated form (`8-4-4-4-12` hex digits, either case); no braces, no
    /// `urn:uuid:`, no hyphen-less form.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hyphenated = text.len() == 36;
        match uuid::Uuid::try_parse(text) {
            Ok(id) if hyphenated => Ok(Self(id)),
            _ => Err(InvalidKeyId(text.into())),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <alloc::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

vocabulary! {
    /// Key material kind, named as AWS KMS names them (`docs/key-types.md`). `HMAC_384`
    /// is also read under its older name `HMAC_SHA384` (keys created before issue 17).
    pub enum KeySpec as "key spec" {
        /// AES-256-GCM encryption key.
        Aes256 = "AES_256",
        /// RSA, 2048-bit modulus: RSA-OAEP encryption or PSS / PKCS#1 v1.5 signatures.
        Rsa2048 = "RSA_2048",
        /// RSA, 3072-bit modulus.
        Rsa3072 = "RSA_3072",
        /// RSA, 4096-bit modulus.
        Rsa4096 = "RSA_4096",
        /// NIST P-256: ECDSA with SHA-256, or ECDH.
        EccNistP256 = "ECC_NIST_P256",
        /// NIST P-384: ECDSA with SHA-384, or ECDH.
        EccNistP384 = "ECC_NIST_P384",
        /// NIST P-521: ECDSA with SHA-512, or ECDH.
        EccNistP521 = "ECC_NIST_P521",
        /// SECG secp256k1: ECDSA with SHA-256.
        EccSecgP256k1 = "ECC_SECG_P256K1",
        /// HMAC-SHA-224 key.
        Hmac224 = "HMAC_224",
        /// HMAC-SHA-256 key.
        Hmac256 = "HMAC_256",
        /// HMAC-SHA-384 key (`HMAC_SHA384` before issue 17, still read).
        HmacSha384 = "HMAC_384" | "HMAC_SHA384",
        /// HMAC-SHA-512 key.
        Hmac512 = "HMAC_512",
        /// ML-DSA-44 (FIPS 204) signing key.
        MlDsa44 = "ML_DSA_44",
        /// ML-DSA-65 (FIPS 204) signing key.
        MlDsa65 = "ML_DSA_65",
        /// ML-DSA-87 (FIPS 204) signing key.
        MlDsa87 = "ML_DSA_87",
    }
}

vocabulary! {
    /// What a key may be used for; chosen at creation among those its spec allows
    /// ([`KeySpec::usages`]), fixed after.
    pub enum KeyUsage as "key usage" {
        /// Encrypt and decrypt (AES-256, RSA).
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        /// Sign and verify (RSA, ECC, ML-DSA).
        SignVerify = "SIGN_VERIFY",
        /// Generate and verify MACs (HMAC).
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        /// Derive shared secrets (ECDH on the NIST curves).
        KeyAgreement = "KEY_AGREEMENT",
    }
}

impl KeySpec {
    /// The usages the spec allows; the first is the default.
    #[must_use]
    pub const fn usages(self) -> &'static [KeyUsage] {
        use KeyUsage as U;
        match self {
            Self::Aes256 => &[U::EncryptDecrypt],
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[U::EncryptDecrypt, U::SignVerify],
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 => {
                &[U::SignVerify, U::KeyAgreement]
            }
            Self::EccSecgP256k1 | Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => &[U::SignVerify],
            Self::Hmac224 | Self::Hmac256 | Self::HmacSha384 | Self::Hmac512 => {
                &[U::GenerateVerifyMac]
            }
        }
    }

    /// Whether the spec allows `usage`.
    #[must_use]
    pub fn allows(self, usage: KeyUsage) -> bool {
        self.usages().contains(&usage)
    }

    /// Whether the spec has a public key (RSA, ECC, ML-DSA).
    #[must_use]
    pub const fn is_asymmetric(self) -> bool {
        !matches!(
            self,
            Self::Aes256 | Self::Hmac224 | Self::Hmac256 | Self::HmacSha384 | Self::Hmac512
        )
    }

    /// Whether the spec is one Kastell held before issue 17 (AES-256, P-384, HMAC-384):
    /// the specs a PKCS#11 token holds today (`origin = token`).
    #[must_use]
    pub const fn is_original(self) -> bool {
        matches!(self, Self::Aes256 | Self::EccNistP384 | Self::HmacSha384)
    }
}

impl KeyUsage {
    /// The default usage of a spec (the first it allows).
    #[must_use]
    pub const fn of(spec: KeySpec) -> Self {
        spec.usages()[0]
    }
}

vocabulary! {
    /// Where a key's material lives.
    pub enum Origin as "key origin" {
        /// Generated in the token and never leaving it.
        Token = "token",
        /// Generated by the host, stored wrapped (RFC 5649) under a token-resident master key.
        Wrapped = "wrapped",
        /// Imported by its owner (AWS KMS's `Origin=EXTERNAL`, bring your own key): created
        /// without material, pending import; the material imported is stored wrapped under
        /// the master key, like a `wrapped` key's.
        External = "external",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_hyphenated_uuids_only() {
        let id: KeyId = "0B7F4A2E-5D1C-4D7E-9A57-3C2B1F0E9D8C"
            .parse()
            .expect("either case");
        assert_eq!(
            alloc::format!("{id}"),
            "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c"
        );
        assert_eq!(KeyId::from_bytes(*id.as_bytes()), id);
        for bad in [
            "0b7f4a2e5d1c4d7e9a573c2b1f0e9d8c",
            "{0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c}",
            "urn:uuid:0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c",
            "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8g",
            "",
        ] {
            let err = bad.parse::<KeyId>().expect_err(bad);
            assert!(alloc::format!("{err}").contains("is not a key id"), "{bad}");
        }
    }

    #[test]
    fn each_name_has_one_spelling_both_ways() {
        for &spec in KeySpec::ALL {
            assert_eq!(spec.as_str().parse::<KeySpec>(), Ok(spec));
        }
        for &usage in KeyUsage::ALL {
            assert_eq!(usage.as_str().parse::<KeyUsage>(), Ok(usage));
        }
        assert_eq!("wrapped".parse::<Origin>(), Ok(Origin::Wrapped));
        let err = "AES_128".parse::<KeySpec>().expect_err("unknown");
        assert!(
            alloc::format!("{err}")
                .starts_with("unknown key spec `AES_128`: one of AES_256, RSA_2048, "),
            "{err}"
        );
        assert_eq!(KeySpec::ALL.len(), 15);
    }

    #[test]
    fn hmac_sha384_is_read_as_hmac_384_and_written_as_hmac_384() {
        assert_eq!("HMAC_SHA384".parse::<KeySpec>(), Ok(KeySpec::HmacSha384));
        assert_eq!(KeySpec::HmacSha384.as_str(), "HMAC_384");
        assert!(!KeySpec::NAMES.contains(&"HMAC_SHA384"));
    }

    #[test]
    fn each_spec_has_its_usages_with_the_first_as_default() {
        assert_eq!(KeyUsage::of(KeySpec::Rsa2048), KeyUsage::EncryptDecrypt);
        assert!(KeySpec::Rsa4096.allows(KeyUsage::SignVerify));
        assert_eq!(KeyUsage::of(KeySpec::EccNistP256), KeyUsage::SignVerify);
        assert!(KeySpec::EccNistP521.allows(KeyUsage::KeyAgreement));
        assert!(!KeySpec::EccSecgP256k1.allows(KeyUsage::KeyAgreement));
        assert!(!KeySpec::MlDsa65.allows(KeyUsage::EncryptDecrypt));
        assert_eq!(KeyUsage::of(KeySpec::Hmac224), KeyUsage::GenerateVerifyMac);
        for &spec in KeySpec::ALL {
            assert!(!spec.usages().is_empty(), "{spec}");
        }
    }
}
