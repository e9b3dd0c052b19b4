//! Why a key release could not be opened.

/// What is wrong with bytes that should be a SEC1 uncompressed P-384 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PointError {
    /// Not 97 bytes long.
    #[error("expected a 97-byte uncompressed P-384 point, found {found} bytes")]
    Length {
        /// The length found.
        found: usize,
    },
    /// Does not start with `0x04` (only the uncompressed form is accepted).
    #[error("starts with {tag:#04x}, not 0x04: only the uncompressed form is accepted")]
    NotUncompressed {
        /// The first byte found.
        tag: u8,
    },
    /// The coordinates are not a point on P-384.
    #[error("not a point on P-384")]
    NotOnCurve,
}

/// Why a recipient key could not be made or a release could not be opened.
///
/// The first two variants are the caller's misuse (the secret bytes it supplied), the next
/// four bad input (what the key service sent, or the binding the caller expects), and
/// [`Internal`](Self::Internal) a failure inside the `hpke` crate.
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
    /// Sealed to another key, bound to another key id, guest or nonce, under another `aad`,
    /// or altered: deliberately not told apart.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The `hpke` crate refused for a reason the checks above do not cover.
    #[error("HPKE failed: {0}")]
    Internal(hpke::HpkeError),
}
