//! Key material made ready for repeated use: what a provider would otherwise redo on
//! every operation (the AES key schedule, parsing a P-384 key and deriving its public
//! point, the HMAC pads) is done once, when the key enters the key cache.

use super::{CryptoError, CryptoProvider, GCM_NONCE_LEN};
use crate::secret::SecretBytes;

/// What a key's material is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// AES-256-GCM.
    Aes256,
    /// ECDSA P-384 (a 48-byte private scalar).
    P384,
    /// HMAC-SHA-384.
    HmacSha384,
}

impl KeyKind {
    /// The error for using a key as something it is not.
    pub(super) fn misuse(self) -> CryptoError {
        CryptoError::InvalidKey(match self {
            Self::Aes256 => "an AES-256 key cannot do this",
            Self::P384 => "a P-384 key cannot do this",
            Self::HmacSha384 => "an HMAC key cannot do this",
        })
    }
}

/// A key prepared by a provider ([`CryptoProvider::prepare`]). The operations its kind does
/// not support fail with [`CryptoError::InvalidKey`]. Dropping it clears the material.
pub trait PreparedKey: Send + Sync + std::fmt::Debug {
    /// Its kind.
    fn kind(&self) -> KeyKind;

    /// The raw material, for the rare operations that hand it on (attested release).
    fn material(&self) -> &SecretBytes;

    /// AES-256-GCM encryption; ciphertext ‖ tag.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not an AES key.
    fn aes256_gcm_seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// AES-256-GCM encryption appending ciphertext ‖ tag to `out` (after a header the
    /// caller wrote), without an intermediate copy where the provider allows it.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not an AES key.
    fn aes256_gcm_seal_append(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        out.extend_from_slice(&self.aes256_gcm_seal(nonce, aad, plaintext)?);
        Ok(())
    }

    /// AES-256-GCM decryption of ciphertext ‖ tag.
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] for any tampering or wrong nonce/AAD.
    fn aes256_gcm_open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError>;

    /// ECDSA P-384 signature (r ‖ s) over a SHA-384 digest.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not a P-384 key.
    fn p384_sign_digest(&self, digest: &[u8; 48]) -> Result<Vec<u8>, CryptoError>;

    /// The uncompressed SEC1 public key, computed when the key was prepared.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not a P-384 key.
    fn p384_public_key(&self) -> Result<&[u8], CryptoError>;

    /// HMAC-SHA-384 of `message`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not an HMAC key.
    fn hmac_sha384(&self, message: &[u8]) -> Result<[u8; 48], CryptoError>;
}

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

    fn material(&self) -> &SecretBytes {
        &self.material
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
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;
    use crate::crypto::{AwsLc, RustCrypto};

    fn providers() -> [&'static dyn CryptoProvider; 2] {
        [&AwsLc, &RustCrypto]
    }

    /// A prepared key gives what its provider gives on the raw material, and each
    /// provider reads what the other's prepared key wrote.
    #[test]
    fn prepared_keys_match_the_raw_operations_across_providers() {
        for (writer, reader) in [
            (providers()[0], providers()[1]),
            (providers()[1], providers()[0]),
        ] {
            let aes = SecretBytes::new(vec![0x42; 32]);
            let prepared = writer
                .prepare(KeyKind::Aes256, SecretBytes::new(vec![0x42; 32]))
                .expect("prepare");
            assert_eq!(prepared.kind(), KeyKind::Aes256);
            let sealed = prepared
                .aes256_gcm_seal(&[9; 12], b"aad", b"plaintext")
                .expect("seal");
            assert_eq!(
                reader
                    .aes256_gcm_open(&aes, &[9; 12], b"aad", &sealed)
                    .expect("open")
                    .expose(),
                b"plaintext"
            );
            let back = reader
                .aes256_gcm_seal(&aes, &[9; 12], b"aad", b"other")
                .expect("seal");
            assert_eq!(
                prepared
                    .aes256_gcm_open(&[9; 12], b"aad", &back)
                    .expect("open")
                    .expose(),
                b"other"
            );
            assert_eq!(
                prepared.aes256_gcm_open(&[9; 12], b"AAD", &back),
                Err(CryptoError::Authentication)
            );

            let scalar = writer.p384_generate().expect("generate");
            let public = reader.p384_public_key(&scalar).expect("public");
            let signer = writer
                .prepare(KeyKind::P384, SecretBytes::from_slice(scalar.expose()))
                .expect("prepare");
            assert_eq!(signer.p384_public_key().expect("public"), public.as_slice());
            let signature = signer.p384_sign_digest(&[0x5a; 48]).expect("sign");
            assert_eq!(
                reader.p384_verify_digest(&public, &[0x5a; 48], &signature),
                Ok(true)
            );
            assert_eq!(signer.material(), &scalar);

            let mac_key = SecretBytes::new(vec![0x0b; 48]);
            let mac = writer
                .prepare(KeyKind::HmacSha384, SecretBytes::new(vec![0x0b; 48]))
                .expect("prepare");
            assert_eq!(
                mac.hmac_sha384(b"message").expect("mac"),
                reader.hmac_sha384(&mac_key, b"message").expect("mac")
            );
        }
    }

    #[test]
    fn misuse_and_bad_material_are_named_and_debug_shows_no_material() {
        for provider in providers() {
            let aes = provider
                .prepare(KeyKind::Aes256, SecretBytes::new(vec![0x42; 32]))
                .expect("prepare");
            assert!(matches!(
                aes.p384_sign_digest(&[1; 48]),
                Err(CryptoError::InvalidKey(_))
            ));
            assert!(matches!(
                aes.hmac_sha384(b"m"),
                Err(CryptoError::InvalidKey(_))
            ));
            assert!(matches!(
                aes.p384_public_key(),
                Err(CryptoError::InvalidKey(_))
            ));
            let debug = format!("{aes:?}");
            assert!(!debug.contains("42") && !debug.contains("66"), "{debug}");
            let mac = provider
                .prepare(KeyKind::HmacSha384, SecretBytes::new(vec![1; 48]))
                .expect("prepare");
            assert!(matches!(
                mac.aes256_gcm_seal(&[0; 12], b"", b"x"),
                Err(CryptoError::InvalidKey(_))
            ));
            for (kind, bad) in [
                (KeyKind::Aes256, vec![1u8; 16]),
                (KeyKind::P384, vec![0u8; 48]),
                (KeyKind::P384, vec![0xff; 48]),
                (KeyKind::P384, vec![1; 47]),
                (KeyKind::HmacSha384, Vec::new()),
            ] {
                assert!(
                    matches!(
                        provider.prepare(kind, SecretBytes::new(bad)),
                        Err(CryptoError::InvalidKey(_))
                    ),
                    "{} {kind:?}",
                    provider.name()
                );
            }
        }
    }
}
