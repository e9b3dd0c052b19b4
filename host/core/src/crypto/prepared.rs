//! Key material made ready for repeated use: what a provider would otherwise redo on
//! every operation (the AES key schedule, parsing a key and deriving its public key, the
//! HMAC pads, expanding an ML-DSA seed) is done once, when the key enters the key cache.
//! A token-resident key offers the same operations, performed by the token
//! ([`crate::token::Token::resident`]).

use kastell_proto::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm,
};

use super::{CryptoError, GCM_NONCE_LEN, KeyKind};
use crate::secret::SecretBytes;

/// A key prepared by a provider ([`super::CryptoProvider::prepare`]), one type per family,
/// or a token-resident key whose operations the token performs
/// ([`crate::token::Token::resident`]: no material on the host). Every
/// operation has a default that refuses: the typed legacy operations (`aes256_gcm_*`,
/// `p384_*`, `hmac_sha384`) with [`CryptoError::InvalidKey`] as before, the generic ones
/// with [`CryptoError::Unsupported`] naming the kind and the algorithm. Dropping it clears
/// the material; its `Debug` shows the kind only.
pub trait PreparedKey: Send + Sync + std::fmt::Debug {
    /// Its kind.
    fn kind(&self) -> KeyKind;

    /// The raw material, for the rare operations that hand it on (attested release).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a token-resident key: the host never holds it.
    fn material(&self) -> Result<&SecretBytes, CryptoError>;

    /// AES-256-GCM encryption; ciphertext ‖ tag.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not an AES key.
    fn aes256_gcm_seal(
        &self,
        _nonce: &[u8; GCM_NONCE_LEN],
        _aad: &[u8],
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(self.kind().misuse())
    }

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
    /// [`CryptoError::Authentication`] for any tampering or wrong nonce/AAD;
    /// [`CryptoError::InvalidKey`] when not an AES key.
    fn aes256_gcm_open(
        &self,
        _nonce: &[u8; GCM_NONCE_LEN],
        _aad: &[u8],
        _ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(self.kind().misuse())
    }

    /// ECDSA P-384 signature (fixed r ‖ s, 96 bytes) over a SHA-384 digest.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not a P-384 key.
    fn p384_sign_digest(&self, _digest: &[u8; 48]) -> Result<Vec<u8>, CryptoError> {
        Err(self.kind().misuse())
    }

    /// The uncompressed SEC1 public key, computed when the key was prepared.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not a P-384 key.
    fn p384_public_key(&self) -> Result<&[u8], CryptoError> {
        Err(self.kind().misuse())
    }

    /// HMAC-SHA-384 of `message`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when not an HMAC-SHA-384 key.
    fn hmac_sha384(&self, _message: &[u8]) -> Result<[u8; 48], CryptoError> {
        Err(self.kind().misuse())
    }

    /// The public key as SubjectPublicKeyInfo DER, computed when the key was prepared.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for a symmetric kind.
    fn public_key_spki(&self) -> Result<&[u8], CryptoError> {
        Err(self.kind().unsupported("GetPublicKey"))
    }

    /// The private key as PKCS#8 `PrivateKeyInfo` (DER), for data key pairs: RSA keys
    /// hold that form already; EC keys are encoded with their public key.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for kinds other than RSA and EC.
    fn private_key_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        Err(self.kind().unsupported("a PKCS#8 private key"))
    }

    /// A signature over `input` (a message, or its digest for [`MessageType::Digest`]).
    /// ECDSA signatures are DER `ECDSA-Sig-Value`; RSA signatures the modulus's length;
    /// ML-DSA signatures FIPS 204's encoding (pure mode, empty context).
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an algorithm or message type the kind does not
    /// allow; [`CryptoError::DigestLength`] for a digest of the wrong length.
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        _message_type: MessageType,
        _input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// Verifies `signature` over `input` with the key's public key.
    ///
    /// # Errors
    /// As [`PreparedKey::sign`]; a wrong signature is `Ok(false)`.
    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        _message_type: MessageType,
        _input: &[u8],
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// RSA-OAEP encryption with the key's public key (empty label).
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an algorithm the kind does not allow (AES-GCM goes
    /// through [`PreparedKey::aes256_gcm_seal`], which takes a nonce and AAD);
    /// [`CryptoError::PlaintextTooLong`].
    fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// RSA-OAEP decryption.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] as for [`PreparedKey::encrypt`];
    /// [`CryptoError::Authentication`] for any ciphertext that does not decrypt.
    fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        _ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// The MAC of `message` (full length, never truncated).
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an algorithm the kind does not allow.
    fn mac(&self, algorithm: MacAlgorithm, _message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// Whether `tag` is the MAC of `message`, compared in constant time; a tag of another
    /// length is `Ok(false)`.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an algorithm the kind does not allow.
    fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        _message: &[u8],
        _tag: &[u8],
    ) -> Result<bool, CryptoError> {
        Err(self.kind().unsupported(algorithm.as_str()))
    }

    /// ECDH with the peer's public key (SubjectPublicKeyInfo DER, validated: on the key's
    /// curve and a valid point); the shared secret is the x-coordinate, the curve's field
    /// length.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for a kind without ECDH; [`CryptoError::WrongCurve`]
    /// for a peer key on another curve; [`CryptoError::InvalidInput`] for a peer key that
    /// is not an EC SubjectPublicKeyInfo or not a valid point.
    fn derive_shared_secret(
        &self,
        _peer_public_key_spki: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        Err(self
            .kind()
            .unsupported(KeyAgreementAlgorithm::Ecdh.as_str()))
    }
}

/// Checks a sign or verify request against the kind and the algorithm: the algorithm
/// allowed, the message type accepted, a digest's length.
///
/// # Errors
/// [`CryptoError::Unsupported`] or [`CryptoError::DigestLength`].
pub(crate) fn check_message(
    kind: KeyKind,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &[u8],
) -> Result<(), CryptoError> {
    kind.check_signing(algorithm)?;
    match (message_type, algorithm.digest_len()) {
        (MessageType::Raw, _) => Ok(()),
        (MessageType::Digest, None) => Err(kind.unsupported(MessageType::Digest.as_str())),
        (MessageType::Digest, Some(expected)) if input.len() != expected => {
            Err(CryptoError::DigestLength {
                algorithm,
                expected,
                actual: input.len(),
            })
        }
        (MessageType::Digest, Some(_)) => Ok(()),
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
    use crate::crypto::{AwsLc, CryptoProvider, RustCrypto};

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
            assert_eq!(signer.material(), Ok(&scalar));

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
