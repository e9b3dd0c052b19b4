//! Who signs certificates, CRLs and documents: anything that can sign a SHA-384 digest with a
//! P-384 key. The host implements [`Signer`] over its token (PKCS#11 or the soft token); a
//! [`SoftSigner`] holds a key in memory (tests, tools, relying parties' own CAs).

use p384::ecdsa::signature::hazmat::PrehashSigner as _;
use p384::ecdsa::{Signature, SigningKey};

/// Why signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// A P-384 key that signs SHA-384 digests.
pub trait Signer {
    /// The public key.
    fn public_key(&self) -> p384::PublicKey;

    /// ECDSA signature (r ‖ s) over a SHA-384 digest.
    ///
    /// # Errors
    /// The key's holder failed.
    fn sign_digest(&self, digest: &[u8; 48]) -> Result<[u8; 96], SignError>;
}

/// A P-384 key held in memory (zeroized on drop by `p384`).
pub struct SoftSigner(SigningKey);

impl std::fmt::Debug for SoftSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftSigner").finish_non_exhaustive()
    }
}

impl SoftSigner {
    /// A new random key.
    #[must_use]
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut rand_core::OsRng))
    }

    /// A key from its 48-byte scalar.
    ///
    /// # Errors
    /// The scalar is zero or not below the group order.
    pub fn from_bytes(scalar: &[u8; 48]) -> Result<Self, SignError> {
        SigningKey::from_bytes(scalar.into())
            .map(Self)
            .map_err(|_| SignError("not a valid P-384 private key".into()))
    }
}

impl Signer for SoftSigner {
    fn public_key(&self) -> p384::PublicKey {
        self.0.verifying_key().into()
    }

    fn sign_digest(&self, digest: &[u8; 48]) -> Result<[u8; 96], SignError> {
        let signature: Signature = self
            .0
            .sign_prehash(digest)
            .map_err(|e| SignError(e.to_string()))?;
        let mut out = [0u8; 96];
        out.copy_from_slice(&signature.to_bytes());
        Ok(out)
    }
}
