//! The aws-lc-rs implementation of [`CryptoProvider`]: AWS-LC's assembly-optimised AES-GCM,
//! key wrap, RSA, ECDSA, ECDH, HMAC and ML-DSA (the same library rustls already uses for the
//! server's TLS). One prepared-key type per family, in the files beside this one.

mod ec;
mod hmac;
mod mldsa;
mod rsa;
mod symmetric;

use super::encoding::spki_algorithm;
use super::prepared::check_message;
use super::{CryptoError, CryptoProvider, GCM_NONCE_LEN, KeyFamily, KeyKind, PreparedKey};
use crate::secret::SecretBytes;
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_256, AesBlockCipher, KeyEncryptionKey, KeyWrapPadded as _};
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey};
use kastell_proto::algorithm::{HashAlgorithm, MessageType, SigningAlgorithm};

/// AWS-LC through aws-lc-rs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

impl AwsLc {
    /// ECDH on P-384 with a private scalar (48 bytes, big-endian) and a peer's
    /// uncompressed SEC1 point: the shared secret Z (the x-coordinate, 48 bytes). The soft
    /// token's key agreement ([`crate::token::TokenKeyKind::EcdhP384`]).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a scalar that is not a P-384 key,
    /// [`CryptoError::InvalidInput`] for a peer point that is not on the curve.
    pub fn p384_ecdh(private: &SecretBytes, peer_sec1: &[u8]) -> Result<SecretBytes, CryptoError> {
        ec::p384_ecdh(private, peer_sec1)
    }
}

/// The `Debug` of every prepared key: its kind, never its material.
fn debug_prepared(f: &mut std::fmt::Formatter<'_>, kind: KeyKind) -> std::fmt::Result {
    f.debug_struct("PreparedKey")
        .field("kind", &kind)
        .finish_non_exhaustive()
}

/// The aws-lc-rs digest algorithm of a hash.
fn digest_algorithm(hash: HashAlgorithm) -> &'static digest::Algorithm {
    match hash {
        HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha224 => &digest::SHA224,
        HashAlgorithm::Sha256 => &digest::SHA256,
        HashAlgorithm::Sha384 => &digest::SHA384,
        HashAlgorithm::Sha512 => &digest::SHA512,
    }
}

fn kek(key: &SecretBytes) -> Result<KeyEncryptionKey<AesBlockCipher>, CryptoError> {
    if key.len() != 32 {
        return Err(CryptoError::InvalidKey("AES-256 KEK needs 32 bytes"));
    }
    KeyEncryptionKey::new(&AES_256, key.expose())
        .map_err(|_| CryptoError::InvalidKey("AES-256 KEK needs 32 bytes"))
}

/// `len` random bytes.
fn random(len: usize) -> Result<SecretBytes, CryptoError> {
    let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(SecretBytes::from_slice(&bytes))
}

impl CryptoProvider for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc-rs"
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Random)
    }

    fn aes256_gcm_seal(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        symmetric::gcm_seal(&symmetric::gcm_key(key)?, nonce, aad, plaintext)
    }

    fn aes256_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        symmetric::gcm_open(&symmetric::gcm_key(key)?, nonce, aad, ciphertext)
    }

    fn aes256_kwp_wrap(
        &self,
        kek_bytes: &SecretBytes,
        key: &SecretBytes,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![0u8; key.len().div_ceil(8) * 8 + 8];
        let len = kek(kek_bytes)?
            .wrap_with_padding(key.expose(), &mut out)
            .map_err(|_| CryptoError::InvalidInput("key to wrap"))?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn aes256_kwp_unwrap(
        &self,
        kek_bytes: &SecretBytes,
        wrapped: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let mut out = zeroize::Zeroizing::new(vec![0u8; wrapped.len()]);
        let plaintext = kek(kek_bytes)?
            .unwrap_with_padding(wrapped, &mut out)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(SecretBytes::from_slice(plaintext))
    }

    fn p384_generate(&self) -> Result<SecretBytes, CryptoError> {
        ec::generate(ec::p384())
    }

    fn p384_public_key(&self, private: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
        let key = ec::key_pair(
            ec::p384(),
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            private,
        )?;
        Ok(key.public_key().as_ref().to_vec())
    }

    fn p384_sign_digest(
        &self,
        private: &SecretBytes,
        digest_bytes: &[u8; 48],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = ec::key_pair(
            ec::p384(),
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            private,
        )?;
        let digest = digest::Digest::import_less_safe(digest_bytes, &digest::SHA384)
            .map_err(|_| CryptoError::InvalidInput("digest"))?;
        key.sign_digest(&digest)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidInput("digest"))
    }

    fn p384_verify_digest(
        &self,
        public_sec1: &[u8],
        digest_bytes: &[u8; 48],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        // Parse first, so that a malformed key is an error and not a failed signature.
        let key = ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED, public_sec1)
            .map_err(|_| CryptoError::InvalidKey("P-384 SEC1 public key"))?;
        let digest = digest::Digest::import_less_safe(digest_bytes, &digest::SHA384)
            .map_err(|_| CryptoError::InvalidInput("digest"))?;
        Ok(key.verify_digest_sig(&digest, signature).is_ok())
    }

    fn hmac_sha384(&self, key: &SecretBytes, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        if key.is_empty() {
            return Err(CryptoError::InvalidKey("empty HMAC key"));
        }
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA384, key.expose());
        aws_lc_rs::hmac::sign(&key, message)
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("HMAC key"))
    }

    fn generate(&self, kind: KeyKind) -> Result<SecretBytes, CryptoError> {
        match kind.family() {
            KeyFamily::Symmetric | KeyFamily::Hmac => random(kind.material_len().unwrap_or(48)),
            KeyFamily::Rsa => rsa::generate(kind),
            KeyFamily::Ec => ec::generate(ec::curve(kind).ok_or_else(|| kind.misuse())?),
            KeyFamily::MlDsa => random(mldsa::SEED_LEN),
        }
    }

    fn verify_with_public_key(
        &self,
        kind: KeyKind,
        public_key_spki: &[u8],
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let verify = match kind.family() {
            KeyFamily::Rsa => rsa::verify_with_public_key,
            KeyFamily::Ec => ec::verify_with_public_key,
            KeyFamily::MlDsa => mldsa::verify_with_public_key,
            KeyFamily::Symmetric | KeyFamily::Hmac => {
                check_message(kind, algorithm, message_type, input)?;
                return Err(kind.unsupported(algorithm.as_str()));
            }
        };
        verify(
            kind,
            public_key_spki,
            algorithm,
            message_type,
            input,
            signature,
        )
    }

    fn prepare(
        &self,
        kind: KeyKind,
        material: SecretBytes,
    ) -> Result<Box<dyn PreparedKey>, CryptoError> {
        Ok(match kind.family() {
            KeyFamily::Symmetric => Box::new(symmetric::Symmetric::new(material)?),
            KeyFamily::Rsa => Box::new(rsa::Rsa::new(kind, material)?),
            KeyFamily::Ec => Box::new(ec::Ec::new(kind, material)?),
            KeyFamily::Hmac => Box::new(hmac::Hmac::new(kind, material)?),
            KeyFamily::MlDsa => Box::new(mldsa::MlDsa::new(kind, material)?),
        })
    }
}

#[cfg(test)]
mod tests;
