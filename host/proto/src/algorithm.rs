//! Algorithms: how a key is used in one request (AWS KMS's names), and the hash functions
//! behind them. Which algorithms a key spec allows is the key model's business
//! (`docs/key-types.md`); these are the names and their fixed properties.

use crate::names::vocabulary;

vocabulary! {
    /// A hash function behind a signing, encryption or MAC algorithm.
    pub enum HashAlgorithm as "hash algorithm" {
        /// SHA-1 (RSA-OAEP only, as AWS KMS allows it).
        Sha1 = "SHA_1",
        /// SHA-224.
        Sha224 = "SHA_224",
        /// SHA-256.
        Sha256 = "SHA_256",
        /// SHA-384.
        Sha384 = "SHA_384",
        /// SHA-512.
        Sha512 = "SHA_512",
    }
}

impl HashAlgorithm {
    /// The digest's length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

vocabulary! {
    /// How data is encrypted: AES-256-GCM for symmetric keys, RSA-OAEP for RSA keys.
    pub enum EncryptionAlgorithm as "encryption algorithm" {
        /// AES-256-GCM (symmetric keys).
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSAES-OAEP with SHA-1 and MGF1 with SHA-1, empty label.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSAES-OAEP with SHA-256 and MGF1 with SHA-256, empty label.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
    }
}

impl EncryptionAlgorithm {
    /// The OAEP hash (also MGF1's), or `None` for the symmetric default.
    #[must_use]
    pub const fn oaep_hash(self) -> Option<HashAlgorithm> {
        match self {
            Self::SymmetricDefault => None,
            Self::RsaesOaepSha1 => Some(HashAlgorithm::Sha1),
            Self::RsaesOaepSha256 => Some(HashAlgorithm::Sha256),
        }
    }

    /// The longest plaintext RSA-OAEP with this algorithm encrypts under a modulus of
    /// `modulus_len` bytes (RFC 8017, 7.1.1: k − 2·hLen − 2), or `None` for the symmetric
    /// default or a modulus too small for any plaintext.
    #[must_use]
    pub const fn max_oaep_plaintext(self, modulus_len: usize) -> Option<usize> {
        match self.oaep_hash() {
            Some(hash) => modulus_len.checked_sub(2 * hash.output_len() + 2),
            None => None,
        }
    }
}

vocabulary! {
    /// How a signature is made.
    pub enum SigningAlgorithm as "signing algorithm" {
        /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, a 32-byte salt.
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, a 48-byte salt.
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, a 64-byte salt.
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256 (P-256, secp256k1).
        EcdsaSha256 = "ECDSA_SHA_256",
        /// ECDSA with SHA-384 (P-384).
        EcdsaSha384 = "ECDSA_SHA_384",
        /// ECDSA with SHA-512 (P-521).
        EcdsaSha512 = "ECDSA_SHA_512",
        /// ML-DSA (FIPS 204), pure mode, empty context; SHAKE-256 inside.
        MlDsaShake256 = "ML_DSA_SHAKE_256",
    }
}

/// The families of signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PSS.
    RsaPss,
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1V15,
    /// ECDSA.
    Ecdsa,
    /// ML-DSA.
    MlDsa,
}

impl SigningAlgorithm {
    /// The algorithm's family.
    #[must_use]
    pub const fn scheme(self) -> SignatureScheme {
        match self {
            Self::RsassaPssSha256 | Self::RsassaPssSha384 | Self::RsassaPssSha512 => {
                SignatureScheme::RsaPss
            }
            Self::RsassaPkcs1V15Sha256
            | Self::RsassaPkcs1V15Sha384
            | Self::RsassaPkcs1V15Sha512 => SignatureScheme::RsaPkcs1V15,
            Self::EcdsaSha256 | Self::EcdsaSha384 | Self::EcdsaSha512 => SignatureScheme::Ecdsa,
            Self::MlDsaShake256 => SignatureScheme::MlDsa,
        }
    }

    /// The hash a `RAW` message goes through (and a `DIGEST` came from), or `None` for
    /// ML-DSA, which hashes inside and signs `RAW` messages only.
    #[must_use]
    pub const fn hash(self) -> Option<HashAlgorithm> {
        match self {
            Self::RsassaPssSha256 | Self::RsassaPkcs1V15Sha256 | Self::EcdsaSha256 => {
                Some(HashAlgorithm::Sha256)
            }
            Self::RsassaPssSha384 | Self::RsassaPkcs1V15Sha384 | Self::EcdsaSha384 => {
                Some(HashAlgorithm::Sha384)
            }
            Self::RsassaPssSha512 | Self::RsassaPkcs1V15Sha512 | Self::EcdsaSha512 => {
                Some(HashAlgorithm::Sha512)
            }
            Self::MlDsaShake256 => None,
        }
    }

    /// The length a `DIGEST` message must have, or `None` when `DIGEST` is not allowed.
    #[must_use]
    pub const fn digest_len(self) -> Option<usize> {
        match self.hash() {
            Some(hash) => Some(hash.output_len()),
            None => None,
        }
    }

    /// Whether the algorithm takes messages of this type.
    #[must_use]
    pub const fn accepts(self, message_type: MessageType) -> bool {
        match message_type {
            MessageType::Raw => true,
            MessageType::Digest => self.hash().is_some(),
        }
    }
}

vocabulary! {
    /// How a MAC is computed.
    pub enum MacAlgorithm as "MAC algorithm" {
        /// HMAC with SHA-224.
        HmacSha224 = "HMAC_SHA_224",
        /// HMAC with SHA-256.
        HmacSha256 = "HMAC_SHA_256",
        /// HMAC with SHA-384.
        HmacSha384 = "HMAC_SHA_384",
        /// HMAC with SHA-512.
        HmacSha512 = "HMAC_SHA_512",
    }
}

impl MacAlgorithm {
    /// The hash inside the HMAC.
    #[must_use]
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Self::HmacSha224 => HashAlgorithm::Sha224,
            Self::HmacSha256 => HashAlgorithm::Sha256,
            Self::HmacSha384 => HashAlgorithm::Sha384,
            Self::HmacSha512 => HashAlgorithm::Sha512,
        }
    }

    /// The tag's length in bytes (never truncated).
    #[must_use]
    pub const fn tag_len(self) -> usize {
        self.hash().output_len()
    }
}

vocabulary! {
    /// How two parties agree on a shared secret.
    pub enum KeyAgreementAlgorithm as "key agreement algorithm" {
        /// Elliptic-curve Diffie–Hellman (SP 800-56A, the raw x-coordinate).
        Ecdh = "ECDH",
    }
}

vocabulary! {
    /// What a sign or verify request carries.
    pub enum MessageType as "message type" {
        /// The message itself; Kastell hashes it with the algorithm's hash.
        Raw = "RAW",
        /// The message's digest, computed by the caller with the algorithm's hash.
        Digest = "DIGEST",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_algorithm_name_has_one_spelling_both_ways() {
        for &algorithm in EncryptionAlgorithm::ALL {
            assert_eq!(algorithm.as_str().parse(), Ok(algorithm));
        }
        for &algorithm in SigningAlgorithm::ALL {
            assert_eq!(algorithm.as_str().parse(), Ok(algorithm));
        }
        for &algorithm in MacAlgorithm::ALL {
            assert_eq!(algorithm.as_str().parse(), Ok(algorithm));
        }
        for &algorithm in KeyAgreementAlgorithm::ALL {
            assert_eq!(algorithm.as_str().parse(), Ok(algorithm));
        }
        for &message_type in MessageType::ALL {
            assert_eq!(message_type.as_str().parse(), Ok(message_type));
        }
        for &hash in HashAlgorithm::ALL {
            assert_eq!(hash.as_str().parse(), Ok(hash));
        }
        assert_eq!(SigningAlgorithm::ALL.len(), 10);
        let err = "RSASSA_PSS_SHA_1"
            .parse::<SigningAlgorithm>()
            .expect_err("unknown");
        assert!(
            alloc::format!("{err}").starts_with(
                "unknown signing algorithm `RSASSA_PSS_SHA_1`: one of RSASSA_PSS_SHA_256, "
            ),
            "{err}"
        );
        let err = "raw"
            .parse::<MessageType>()
            .expect_err("names are upper case");
        assert_eq!(
            alloc::format!("{err}"),
            "unknown message type `raw`: one of RAW, DIGEST"
        );
    }

    #[test]
    fn digest_lengths_follow_the_hash_and_ml_dsa_takes_raw_messages_only() {
        use SigningAlgorithm as S;
        for (algorithm, len) in [
            (S::RsassaPssSha256, 32),
            (S::RsassaPssSha384, 48),
            (S::RsassaPssSha512, 64),
            (S::RsassaPkcs1V15Sha256, 32),
            (S::RsassaPkcs1V15Sha384, 48),
            (S::RsassaPkcs1V15Sha512, 64),
            (S::EcdsaSha256, 32),
            (S::EcdsaSha384, 48),
            (S::EcdsaSha512, 64),
        ] {
            assert_eq!(algorithm.digest_len(), Some(len), "{algorithm}");
            assert!(algorithm.accepts(MessageType::Digest), "{algorithm}");
        }
        assert_eq!(S::MlDsaShake256.digest_len(), None);
        assert!(S::MlDsaShake256.accepts(MessageType::Raw));
        assert!(!S::MlDsaShake256.accepts(MessageType::Digest));
        assert_eq!(S::MlDsaShake256.scheme(), SignatureScheme::MlDsa);
        assert_eq!(
            S::RsassaPkcs1V15Sha384.scheme(),
            SignatureScheme::RsaPkcs1V15
        );
        for (algorithm, len) in [
            (MacAlgorithm::HmacSha224, 28),
            (MacAlgorithm::HmacSha256, 32),
            (MacAlgorithm::HmacSha384, 48),
            (MacAlgorithm::HmacSha512, 64),
        ] {
            assert_eq!(algorithm.tag_len(), len, "{algorithm}");
        }
    }

    /// RFC 8017, 7.1.1, with the bounds docs/key-types.md quotes for RSA_2048.
    #[test]
    fn oaep_plaintext_bounds_follow_the_modulus_and_hash() {
        use EncryptionAlgorithm as E;
        assert_eq!(E::RsaesOaepSha256.max_oaep_plaintext(256), Some(190));
        assert_eq!(E::RsaesOaepSha1.max_oaep_plaintext(256), Some(214));
        assert_eq!(E::RsaesOaepSha256.max_oaep_plaintext(512), Some(446));
        assert_eq!(E::RsaesOaepSha256.max_oaep_plaintext(60), None);
        assert_eq!(E::SymmetricDefault.max_oaep_plaintext(256), None);
    }
}
