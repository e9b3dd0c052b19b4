//! AES-256-GCM on aws-lc-rs: the raw-key operations and the prepared [`Symmetric`] key
//! (the key schedule computed once).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::debug_prepared;
use crate::crypto::{CryptoError, GCM_NONCE_LEN, GCM_TAG_LEN, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

pub(super) fn gcm_key(key: &SecretBytes) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey("AES-256 needs 32 bytes"))
}

pub(super) fn gcm_seal(
    key: &LessSafeKey,
    nonce: &[u8; GCM_NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + GCM_TAG_LEN);
    out.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        &mut out,
    )
    .map_err(|_| CryptoError::InvalidInput("plaintext too long for AES-GCM"))?;
    Ok(out)
}

pub(super) fn gcm_open(
    key: &LessSafeKey,
    nonce: &[u8; GCM_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let mut buffer = zeroize::Zeroizing::new(ciphertext.to_vec());
    let plaintext = key
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| CryptoError::Authentication)?;
    Ok(SecretBytes::from_slice(plaintext))
}

/// A prepared AES-256 key. AWS-LC clears its key objects when they are freed
/// (`OPENSSL_free` cleanses every allocation); the material is a [`SecretBytes`].
pub(super) struct Symmetric {
    material: SecretBytes,
    key: LessSafeKey,
}

impl Symmetric {
    pub(super) fn new(material: SecretBytes) -> Result<Self, CryptoError> {
        Ok(Self {
            key: gcm_key(&material)?,
            material,
        })
    }
}

impl std::fmt::Debug for Symmetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_prepared(f, KeyKind::Aes256)
    }
}

impl PreparedKey for Symmetric {
    fn kind(&self) -> KeyKind {
        KeyKind::Aes256
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
        gcm_seal(&self.key, nonce, aad, plaintext)
    }

    fn aes256_gcm_seal_append(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let start = out.len();
        out.reserve(plaintext.len() + GCM_TAG_LEN);
        out.extend_from_slice(plaintext);
        let sealed = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut out[start..],
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(CryptoError::InvalidInput("plaintext too long for AES-GCM"))
            }
        }
    }

    fn aes256_gcm_open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        gcm_open(&self.key, nonce, aad, ciphertext)
    }

    fn encrypt(
        &self,
        _algorithm: kastell_proto::algorithm::EncryptionAlgorithm,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(KeyKind::Aes256.unsupported(GENERIC_AES))
    }

    fn decrypt(
        &self,
        _algorithm: kastell_proto::algorithm::EncryptionAlgorithm,
        _ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(KeyKind::Aes256.unsupported(GENERIC_AES))
    }
}

/// Why AES keys refuse the generic `encrypt`/`decrypt`.
const GENERIC_AES: &str =
    "the generic encrypt/decrypt (AES-256-GCM takes a nonce and AAD: aes256_gcm_seal/open)";
