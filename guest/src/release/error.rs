//! Why a key release could not be opened.

pub use kastell_proto::release::PointError;

/// Why a recipient key could not be made, a release could not be opened or a record could
/// not be decrypted with the released key.
///
/// Caller misuse: [`PrivateKeyLength`](Self::PrivateKeyLength),
/// [`MalformedPrivateKey`](Self::MalformedPrivateKey) (the secret bytes it supplied) and
/// [`KeyLength`](Self::KeyLength) (the key it decrypts records with). Bad input: what the
/// key service or the caller's caller sent, or the binding expected, from
/// [`NonceTooLong`](Self::NonceTooLong) to [`MalformedSha384`](Self::MalformedSha384);
/// among them [`DecryptionFailed`](Self::DecryptionFailed) says nothing of why.
/// [`Internal`](Self::Internal) is a failure inside the `hpke` crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The secret bytes for a private key are not 48 bytes long.
    #[error("a P-384 private key is made of 48 secret bytes, found {found}")]
    PrivateKeyLength {
        /// The length found.
        found: usize,
    },
    /// The secret bytes are zero or not below the P-384 group order.
    #[error("malformed private key: not a P-384 scalar in [1, n - 1]")]
    MalformedPrivateKey,
    /// The nonce is longer than [`MAX_NONCE_LEN`](super::MAX_NONCE_LEN).
    #[error("the release nonce is {len} bytes, over the limit of 512")]
    NonceTooLong {
        /// The nonce's length.
        len: usize,
    },
    /// The encapsulated key of the release is not an uncompressed P-384 point.
    #[error("malformed encapsulated key: {0}")]
    MalformedEncapsulatedKey(#[source] PointError),
    /// The ciphertext is shorter than the 16-byte tag, so it cannot be a sealed release.
    #[error("the ciphertext is {len} bytes, shorter than the 16-byte AES-GCM tag")]
    CiphertextTooShort {
        /// The ciphertext's length.
        len: usize,
    },
    /// A release sealed to another key, bound to another key id, guest or nonce, under
    /// another `aad`, or altered; a record encrypted under another key version or context,
    /// or altered: deliberately not told apart.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The key a record is decrypted with is not 32 bytes (AES-256) long.
    #[error("an AES-256 key is 32 bytes, found {found}")]
    KeyLength {
        /// The length found.
        found: usize,
    },
    /// Shorter than a record's 33-byte header and 16-byte tag.
    #[error("the record is {len} bytes, shorter than its 33-byte header and 16-byte tag")]
    RecordTooShort {
        /// The record's length.
        len: usize,
    },
    /// The record's first byte is not a format this build reads (only `0x01`).
    #[error("unknown record format {format:#04x}, expected 0x01")]
    UnknownRecordFormat {
        /// The first byte found.
        format: u8,
    },
    /// The record's header names another key than the one whose material was released.
    #[error("the record was encrypted under key {}, not the released key", super::uuid_text(.found))]
    RecordKeyMismatch {
        /// The key id the record's header names.
        found: [u8; 16],
    },
    /// The encryption context names an entry twice (the key service's context is a map).
    #[error("the encryption context names {name:?} more than once")]
    DuplicateContextName {
        /// The repeated name.
        name: String,
    },
    /// Not a key id in the UUID text form (8-4-4-4-12 hex digits, hyphenated).
    #[error("malformed key id: expected a hyphenated UUID (8-4-4-4-12 hex digits)")]
    MalformedKeyId,
    /// Not a SHA-384 digest as `sha384:<96 hex digits>` or 96 hex digits.
    #[error("malformed SHA-384: expected `sha384:` and 96 hex digits, or 96 hex digits")]
    MalformedSha384,
    /// The `hpke` crate refused for a reason the checks above do not cover.
    #[error("HPKE failed: {0}")]
    Internal(hpke::HpkeError),
}
