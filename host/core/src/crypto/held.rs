//! The prepared key of providers with nothing to precompute but the public key
//! ([`RustCrypto`](super::RustCrypto)): the material, each typed operation delegated to the
//! provider, and the generic operations of the other kinds answered
//! [`CryptoError::NotImplemented`] (or [`CryptoError::Unsupported`] where the kind does not
//! allow them).

use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm};

use super::prepared::check_message;
use super::{CryptoError, CryptoProvider, GCM_NONCE_LEN, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// A prepared key for providers with nothing to precompute but the public key: the
/// material, and each operation delegated to the provider.
pub(super) struct Held<P> {
    provider: P,
    kind: KeyKind,
    material: SecretBytes,
    public: Option<Vec<u8>>,
}

impl<P: CryptoProvider> Held<P> {
    /// Checks the material by using it once (a P-384 key derives its public key).
    pub(super) fn new(
        provider: P,
        kind: KeyKind,
        material: SecretBytes,
    ) -> Result<Self, CryptoError> {
        let public = match kind {
            KeyKind::P384 if material.len() != 48 => {
                return Err(CryptoError::InvalidKey("P-384 private scalar"));
            }
            KeyKind::P384 => Some(provider.p384_public_key(&material)?),
            KeyKind::Aes256 if material.len() != 32 => {
                return Err(CryptoError::InvalidKey("AES-256 needs 32 bytes"));
            }
            KeyKind::HmacSha384 if material.is_empty() => {
                return Err(CryptoError::InvalidKey("empty HMAC key"));
            }
            KeyKind::Aes256 | KeyKind::HmacSha384 => None,
            _ => return Err(not_implemented(&provider, kind, "this key kind")),
        };
        Ok(Self {
            provider,
            kind,
            material,
            public,
        })
    }

    fn expect(&self, kind: KeyKind) -> Result<(), CryptoError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(self.kind.misuse())
        }
    }

    /// The answer to a generic operation: what the kind does not allow is
    /// [`CryptoError::Unsupported`], the rest [`CryptoError::NotImplemented`].
    fn refuse<T>(
        &self,
        allowed: Result<(), CryptoError>,
        what: &'static str,
    ) -> Result<T, CryptoError> {
        allowed?;
        Err(not_implemented(&self.provider, self.kind, what))
    }
}

/// [`CryptoError::NotImplemented`] for `provider`.
pub(super) fn not_implemented(
    provider: &dyn CryptoProvider,
    kind: KeyKind,
    what: &'static str,
) -> CryptoError {
    CryptoError::NotImplemented {
        provider: provider.name(),
        kind,
        what,
    }
}

impl<P> std::fmt::Debug for Held<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<P: CryptoProvider> PreparedKey for Held<P> {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Ok(&self.material)
    }

    fn aes256_gcm_seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.expect(KeyKind::Aes256)?;
        self.provider
            .aes256_gcm_seal(&self.material, nonce, aad, plaintext)
    }

    fn aes256_gcm_open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.expect(KeyKind::Aes256)?;
        self.provider
            .aes256_gcm_open(&self.material, nonce, aad, ciphertext)
    }

    fn p384_sign_digest(&self, digest: &[u8; 48]) -> Result<Vec<u8>, CryptoError> {
        self.expect(KeyKind::P384)?;
        self.provider.p384_sign_digest(&self.material, digest)
    }

    fn p384_public_key(&self) -> Result<&[u8], CryptoError> {
        self.public.as_deref().ok_or_else(|| self.kind.misuse())
    }

    fn hmac_sha384(&self, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        self.expect(KeyKind::HmacSha384)?;
        self.provider.hmac_sha384(&self.material, message)
    }

    fn public_key_spki(&self) -> Result<&[u8], CryptoError> {
        let allowed = if self.kind.is_asymmetric() {
            Ok(())
        } else {
            Err(self.kind.unsupported("GetPublicKey"))
        };
        self.refuse(allowed, "GetPublicKey")
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let allowed = check_message(self.kind, algorithm, message_type, input);
        self.refuse(allowed, algorithm.as_str())
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let allowed = check_message(self.kind, algorithm, message_type, input);
        self.refuse(allowed, algorithm.as_str())
    }

    fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.refuse(self.kind.check_encryption(algorithm), algorithm.as_str())
    }

    fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        _ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.refuse(self.kind.check_encryption(algorithm), algorithm.as_str())
    }

    fn mac(&self, algorithm: MacAlgorithm, _message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.refuse(self.kind.check_mac(algorithm), algorithm.as_str())
    }

    fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        _message: &[u8],
        _tag: &[u8],
    ) -> Result<bool, CryptoError> {
        self.refuse(self.kind.check_mac(algorithm), algorithm.as_str())
    }

    fn derive_shared_secret(
        &self,
        _peer_public_key_spki: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.refuse(self.kind.check_key_agreement(), "ECDH")
    }
}
