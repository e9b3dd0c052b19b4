//! Cryptographic primitives behind a small provider trait (rustls-style), so that a
//! faster implementation can replace RustCrypto without touching the key layer.
//!
//! Only standard constructions: AES-256-GCM, AES key wrap with padding (RFC 5649), and for
//! every key kind of `docs/key-types.md` ([`KeyKind`]) its AWS KMS algorithms: RSA-OAEP,
//! RSASSA-PSS and PKCS#1 v1.5, ECDSA (P-256, P-384, P-521, secp256k1), ECDH on the NIST
//! curves, HMAC-SHA-2, ML-DSA (FIPS 204). [`AwsLc`] implements every kind; [`RustCrypto`]
//! keeps AES-256-GCM, ECDSA P-384 and HMAC-SHA-384 through the typed `p384_*` /
//! `hmac_sha384` operations and answers [`CryptoError::NotImplemented`] for the rest.

mod awslc;
mod checker;
pub(crate) mod encoding;
mod held;
pub mod hpke;
mod kind;
pub(crate) mod prepared;
mod rustcrypto;
pub mod sha384;

use kastell_proto::algorithm::{EncryptionAlgorithm, MessageType, SigningAlgorithm};

use crate::secret::SecretBytes;

pub use awslc::AwsLc;
pub use checker::AwsLcChecker;
pub use kind::{KeyFamily, KeyKind};
pub use prepared::PreparedKey;
pub use rustcrypto::RustCrypto;
pub use sha384::{SHA384_LEN, Sha384Message, sha384, sha384_concat};

/// Length of an AES-GCM nonce.
pub const GCM_NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const GCM_TAG_LEN: usize = 16;
/// Length of a fixed-size (r ‖ s) ECDSA P-384 signature.
pub const P384_SIGNATURE_LEN: usize = 96;

/// Why a primitive failed. Authentication failures are deliberately opaque.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Decryption (AES-GCM, RSA-OAEP), unwrapping or verification of authenticated data
    /// failed.
    #[error("authentication failed")]
    Authentication,
    /// The key's kind does not allow this algorithm or operation (caller misuse): e.g. an
    /// `ECC_NIST_P256` key asked for `RSASSA_PSS_SHA_256`, an ML-DSA key for a `DIGEST`.
    #[error("{kind} does not allow {what}")]
    Unsupported {
        /// The key's kind.
        kind: KeyKind,
        /// The algorithm, message type or operation asked for.
        what: &'static str,
    },
    /// The provider does not implement what the kind allows (use [`AwsLc`]).
    #[error("the {provider} provider does not implement {what} for {kind} keys")]
    NotImplemented {
        /// The provider's name.
        provider: &'static str,
        /// The key's kind.
        kind: KeyKind,
        /// The operation or algorithm.
        what: &'static str,
    },
    /// A `DIGEST` message whose length is not the algorithm's hash length.
    #[error("a DIGEST for {algorithm} is {expected} bytes, not {actual}")]
    DigestLength {
        /// The signing algorithm.
        algorithm: SigningAlgorithm,
        /// Its hash length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A plaintext longer than RSA-OAEP encrypts under this modulus and hash.
    #[error(
        "{algorithm} under an {kind} key encrypts at most {max} bytes of plaintext, not {actual}"
    )]
    PlaintextTooLong {
        /// The key's kind.
        kind: KeyKind,
        /// The encryption algorithm.
        algorithm: EncryptionAlgorithm,
        /// The longest plaintext.
        max: usize,
        /// The length given.
        actual: usize,
    },
    /// A peer public key (ECDH) on another curve than the key's.
    #[error("the peer public key is on {found}, not {expected}")]
    WrongCurve {
        /// The key's curve.
        expected: &'static str,
        /// The peer key's curve (or what it is instead).
        found: &'static str,
    },
    /// A key had the wrong length or encoding.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// An input other than a key was malformed.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// A token-resident key's operation failed on the token: the PKCS#11 function and its
    /// return value.
    #[error("token: {0}")]
    Token(String),
}

/// The primitives the host uses on key material it holds (wrapped keys, soft token).
pub trait CryptoProvider: Send + Sync + std::fmt::Debug {
    /// A short name for logs and benchmarks.
    fn name(&self) -> &'static str;

    /// Fills `out` from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`CryptoError::Random`].
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// AES-256-GCM encryption; returns ciphertext ‖ 16-byte tag.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a key that is not 32 bytes.
    fn aes256_gcm_seal(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// AES-256-GCM decryption of ciphertext ‖ tag.
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] for any tampering or wrong key/nonce/AAD.
    fn aes256_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError>;

    /// AES-256 key wrap with padding (RFC 5649) of `key` under `kek`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a KEK that is not 32 bytes.
    fn aes256_kwp_wrap(&self, kek: &SecretBytes, key: &SecretBytes)
    -> Result<Vec<u8>, CryptoError>;

    /// Reverses [`CryptoProvider::aes256_kwp_wrap`].
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] when the integrity check fails.
    fn aes256_kwp_unwrap(
        &self,
        kek: &SecretBytes,
        wrapped: &[u8],
    ) -> Result<SecretBytes, CryptoError>;

    /// A new P-384 private scalar (48 bytes, big-endian).
    ///
    /// # Errors
    /// [`CryptoError::Random`].
    fn p384_generate(&self) -> Result<SecretBytes, CryptoError>;

    /// The uncompressed SEC1 public key (97 bytes) of a P-384 private scalar.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`].
    fn p384_public_key(&self, private: &SecretBytes) -> Result<Vec<u8>, CryptoError>;

    /// ECDSA P-384 signature (r ‖ s, 96 bytes) over a SHA-384 digest.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`].
    fn p384_sign_digest(
        &self,
        private: &SecretBytes,
        digest: &[u8; 48],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Verifies an r ‖ s signature over a SHA-384 digest with an SEC1 public key.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a malformed public key; a wrong signature is
    /// `Ok(false)`.
    fn p384_verify_digest(
        &self,
        public_sec1: &[u8],
        digest: &[u8; 48],
        signature: &[u8],
    ) -> Result<bool, CryptoError>;

    /// HMAC-SHA-384 of `message` under `key`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for an empty key.
    fn hmac_sha384(&self, key: &SecretBytes, message: &[u8]) -> Result<[u8; 48], CryptoError>;

    /// New material for a `kind` key, in the kind's form ([`KeyKind`]).
    ///
    /// # Errors
    /// [`CryptoError::Random`]; [`CryptoError::NotImplemented`] for a kind the provider
    /// does not implement.
    fn generate(&self, kind: KeyKind) -> Result<SecretBytes, CryptoError>;

    /// Verifies `signature` over `input` with a `kind` public key given as
    /// SubjectPublicKeyInfo DER (ECDSA signatures are DER `ECDSA-Sig-Value`, as AWS KMS
    /// and OpenSSL write them).
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an algorithm or message type the kind does not
    /// allow, [`CryptoError::DigestLength`], [`CryptoError::InvalidKey`] for a public key
    /// that is not a valid `kind` key; a wrong signature is `Ok(false)`.
    fn verify_with_public_key(
        &self,
        kind: KeyKind,
        public_key_spki: &[u8],
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError>;

    /// `material` made ready for repeated use as a `kind` key (checked once here).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for material that is not a valid `kind` key;
    /// [`CryptoError::NotImplemented`] for a kind the provider does not implement.
    fn prepare(
        &self,
        kind: KeyKind,
        material: SecretBytes,
    ) -> Result<Box<dyn PreparedKey>, CryptoError>;
}
