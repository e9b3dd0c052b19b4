//! Tokens: where master keys and token-resident keys live. One trait, two implementations:
//! a PKCS#11 module ([`Pkcs11Token`], e.g. SoftHSM2, Nitrokey, Luna) and the built-in soft
//! token ([`SoftToken`], a passphrase-sealed file: the embedded default for development).
//!
//! Keys on a token are named by a label chosen by the host. Token-resident keys never
//! leave the token: the trait has no call that returns their bytes.

mod pkcs11;
mod soft;

use kastell_proto::KeyUsage;

use crate::crypto::{CryptoError, GCM_NONCE_LEN, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

pub use pkcs11::{Pkcs11Config, Pkcs11Token};
pub use soft::{KdfCost, SoftToken};

/// Kinds of key a token holds for the key service itself (master, audit, record keys) and
/// the original specs' token-resident keys; the other specs' token-resident keys are made
/// by [`Token::generate_resident`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeyKind {
    /// AES-256: data encryption (GCM) and key wrapping (RFC 5649).
    Aes256,
    /// ECDSA P-384 key pair.
    EcP384,
    /// HMAC-SHA-384 secret.
    HmacSha384,
    /// P-384 key pair for key agreement (ECDH) only: the token backup key
    /// ([`crate::backup`]) that backups are sealed to with HPKE.
    EcdhP384,
}

/// AES-GCM output of a token: the nonce it used (some HSMs choose it themselves) and the
/// ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcmSealed {
    /// The 96-bit nonce.
    pub nonce: [u8; GCM_NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A PKCS#11 call failed; the error names the C function and the return value.
    #[error("PKCS#11: {0}")]
    Pkcs11(#[from] cryptoki::error::Error),
    /// No token with this label is present.
    #[error("no PKCS#11 token labelled `{0}` (slots are renumbered; tokens are found by label)")]
    TokenNotFound(String),
    /// No key with this label on the token.
    #[error("no key `{0}` on the token")]
    KeyNotFound(String),
    /// A key with this label already exists.
    #[error("a key `{0}` already exists on the token")]
    KeyExists(String),
    /// The key exists but is of another kind than the operation needs.
    #[error("key `{label}` is not a {expected:?} key")]
    WrongKind {
        /// The key's label.
        label: String,
        /// The kind the operation needs.
        expected: TokenKeyKind,
    },
    /// The token cannot hold `kind` keys for `usage` token-resident (the key service says
    /// to create the key wrapped instead).
    #[error("the token cannot hold {kind} keys for {usage}: {why}")]
    CannotHold {
        /// The key's kind.
        kind: KeyKind,
        /// The usage asked for.
        usage: KeyUsage,
        /// What the token lacks.
        why: String,
    },
    /// The soft token could not be unlocked: wrong passphrase or a damaged file.
    #[error("cannot unlock the soft token {0}: wrong passphrase or damaged file")]
    Locked(String),
    /// The soft token file is not in a format this version reads.
    #[error("soft token {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A cryptographic operation failed (authentication failures stay opaque).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The token returned something malformed.
    #[error("token returned a malformed {0}")]
    Malformed(&'static str),
    /// Configuration is missing or wrong (module path, PIN source).
    #[error("token configuration: {0}")]
    Config(String),
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A store of keys that performs operations with them.
pub trait Token: Send + Sync + std::fmt::Debug {
    /// What this token is, for logs and `kastell` output.
    fn description(&self) -> String;

    /// Whether key operations (encrypt, decrypt, sign, verify, MAC, unwrap) answer from
    /// memory without waiting on a device, a file or another process. The server then
    /// runs key operations on its async workers instead of its blocking pool. `false`
    /// unless the token knows better (a PKCS#11 module may sit in front of a network HSM).
    fn operates_in_memory(&self) -> bool {
        false
    }

    /// Generates a key labelled `label` inside the token (non-extractable).
    ///
    /// # Errors
    /// [`TokenError::KeyExists`], or the token's failure.
    fn generate(&self, label: &str, kind: TokenKeyKind) -> Result<(), TokenError>;

    /// Whether this token can hold `kind` keys for `usage` token-resident through
    /// [`Token::generate_resident`], as the token answers it: a PKCS#11 token is asked for
    /// the mechanisms the kind and usage need (`C_GetMechanismInfo`) and, for a curve, to
    /// generate a key pair on it (destroyed at once). A token that holds only the kinds of
    /// [`Token::generate`] (the soft token) answers no.
    ///
    /// # Errors
    /// [`TokenError::CannotHold`] naming what the token lacks, or the token's failure.
    fn can_hold(&self, kind: KeyKind, usage: KeyUsage) -> Result<(), TokenError> {
        Err(TokenError::CannotHold {
            kind,
            usage,
            why: "it holds token-resident AES_256, ECC_NIST_P384 signing and HMAC_384 keys \
                  only"
                .into(),
        })
    }

    /// Generates a `kind` key for `usage` labelled `label` inside the token: sensitive,
    /// never extractable, allowed only `usage`'s operations. Its operations are
    /// [`Token::resident`]'s.
    ///
    /// # Errors
    /// [`TokenError::CannotHold`] (as [`Token::can_hold`]), [`TokenError::KeyExists`], or
    /// the token's failure.
    fn generate_resident(
        &self,
        label: &str,
        kind: KeyKind,
        usage: KeyUsage,
    ) -> Result<(), TokenError> {
        self.can_hold(kind, usage)?;
        Err(TokenError::KeyNotFound(label.to_owned()))
    }

    /// The token-resident `kind` key labelled `label` (made by
    /// [`Token::generate_resident`]): its operations (the generic ones of [`PreparedKey`])
    /// are performed by the token, with the same checks, refusals and output forms as a
    /// host-held key's; it has no material ([`PreparedKey::material`] refuses). Nothing is
    /// asked of the token until an operation runs.
    ///
    /// # Errors
    /// [`TokenError::KeyNotFound`] on a token without such keys.
    fn resident(&self, label: &str, kind: KeyKind) -> Result<Box<dyn PreparedKey>, TokenError> {
        let _ = kind;
        Err(TokenError::KeyNotFound(label.to_owned()))
    }

    /// Whether a key labelled `label` exists.
    ///
    /// # Errors
    /// The token's failure.
    fn contains(&self, label: &str) -> Result<bool, TokenError>;

    /// Destroys the key labelled `label` (and its public half).
    ///
    /// # Errors
    /// [`TokenError::KeyNotFound`], or the token's failure.
    fn destroy(&self, label: &str) -> Result<(), TokenError>;

    /// Wraps `key` under the AES master key `master` (RFC 5649).
    ///
    /// # Errors
    /// [`TokenError::KeyNotFound`], [`TokenError::WrongKind`], or the token's failure.
    fn wrap(&self, master: &str, key: &SecretBytes) -> Result<Vec<u8>, TokenError>;

    /// Unwraps a key wrapped by [`Token::wrap`].
    ///
    /// # Errors
    /// [`TokenError::Crypto`] with [`CryptoError::Authentication`] when the wrapped bytes
    /// are damaged or were wrapped under another master key.
    fn unwrap(&self, master: &str, wrapped: &[u8]) -> Result<SecretBytes, TokenError>;

    /// AES-256-GCM encryption with a token-resident key.
    ///
    /// # Errors
    /// As [`Token::wrap`].
    fn encrypt(&self, label: &str, aad: &[u8], plaintext: &[u8]) -> Result<GcmSealed, TokenError>;

    /// AES-256-GCM decryption with a token-resident key.
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] (inside [`TokenError::Crypto`]) for any tampering.
    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, TokenError>;

    /// ECDSA P-384 signature (r ‖ s) over a SHA-384 digest.
    ///
    /// # Errors
    /// As [`Token::wrap`].
    fn sign_digest(&self, label: &str, digest: &[u8; 48]) -> Result<Vec<u8>, TokenError>;

    /// The uncompressed SEC1 public key of a P-384 key pair.
    ///
    /// # Errors
    /// As [`Token::wrap`].
    fn public_key(&self, label: &str) -> Result<Vec<u8>, TokenError>;

    /// HMAC-SHA-384 with a token-resident secret.
    ///
    /// # Errors
    /// As [`Token::wrap`].
    fn mac(&self, label: &str, message: &[u8]) -> Result<[u8; 48], TokenError>;

    /// ECDH with the token's [`TokenKeyKind::EcdhP384`] key `label` and a peer's
    /// uncompressed SEC1 P-384 point, computed inside the token: the shared secret Z (the
    /// x-coordinate, 48 bytes). The private key never leaves the token.
    ///
    /// # Errors
    /// [`TokenError::Crypto`] with [`CryptoError::InvalidInput`] for a peer point that is
    /// not on the curve; otherwise as [`Token::wrap`].
    fn ecdh_p384(&self, label: &str, peer_sec1: &[u8]) -> Result<SecretBytes, TokenError>;

    /// The token's whole key table, for a sealed backup ([`crate::backup`]) and nothing
    /// else: the one call through which key material leaves a token, into content that
    /// is encrypted before it is written anywhere. Only a token whose keys are host memory
    /// (the soft token) answers it; a PKCS#11 token's keys never leave it: `None`.
    ///
    /// # Errors
    /// The token's failure.
    fn export_for_backup(&self) -> Result<Option<SecretBytes>, TokenError> {
        Ok(None)
    }

    /// Random bytes from the token's generator.
    ///
    /// # Errors
    /// The token's failure.
    fn random(&self, out: &mut [u8]) -> Result<(), TokenError>;
}
