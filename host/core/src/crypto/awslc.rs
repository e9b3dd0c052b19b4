//! The aws-lc-rs implementation of [`CryptoProvider`]: AWS-LC's assembly-optimised
//! AES-GCM, key wrap, P-384 and HMAC (the same library rustls already uses for the server's
//! TLS).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{ECDH_P384, PrivateKey};
use aws_lc_rs::digest::{Digest, SHA384};
use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{AES_256, AesBlockCipher, KeyEncryptionKey, KeyWrapPadded as _};
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};

use super::{CryptoError, CryptoProvider, GCM_NONCE_LEN, GCM_TAG_LEN, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// AWS-LC through aws-lc-rs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

/// Length of a P-384 private scalar.
const SCALAR_LEN: usize = 48;

fn gcm_key(key: &SecretBytes) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey("AES-256 needs 32 bytes"))
}

fn kek(key: &SecretBytes) -> Result<KeyEncryptionKey<AesBlockCipher>, CryptoError> {
    if key.len() != 32 {
        return Err(CryptoError::InvalidKey("AES-256 KEK needs 32 bytes"));
    }
    KeyEncryptionKey::new(&AES_256, key.expose())
        .map_err(|_| CryptoError::InvalidKey("AES-256 KEK needs 32 bytes"))
}

/// The scalar as an RFC 5915 `ECPrivateKey` (version 1, the key, the P-384 curve), the
/// form AWS-LC reads without the public key: it signs without deriving the public point.
fn rfc5915(private: &SecretBytes) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    // SEQUENCE { INTEGER 1, OCTET STRING (48), [0] { OID 1.3.132.0.34 } }
    const HEAD: [u8; 7] = [0x30, 0x3e, 0x02, 0x01, 0x01, 0x04, 0x30];
    const CURVE: [u8; 9] = [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    if private.len() != SCALAR_LEN {
        return Err(CryptoError::InvalidKey("P-384 private scalar"));
    }
    let mut der =
        zeroize::Zeroizing::new(Vec::with_capacity(HEAD.len() + SCALAR_LEN + CURVE.len()));
    der.extend_from_slice(&HEAD);
    der.extend_from_slice(private.expose());
    der.extend_from_slice(&CURVE);
    Ok(der)
}

fn signing_key(private: &SecretBytes) -> Result<EcdsaKeyPair, CryptoError> {
    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, &rfc5915(private)?)
        .map_err(|_| CryptoError::InvalidKey("P-384 private scalar"))
}

fn digest(bytes: &[u8; 48]) -> Result<Digest, CryptoError> {
    Digest::import_less_safe(bytes, &SHA384).map_err(|_| CryptoError::InvalidInput("digest"))
}

fn gcm_seal(
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

fn gcm_open(
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

fn ecdsa_sign(key: &EcdsaKeyPair, digest_bytes: &[u8; 48]) -> Result<Vec<u8>, CryptoError> {
    key.sign_digest(&digest(digest_bytes)?)
        .map(|signature| signature.as_ref().to_vec())
        .map_err(|_| CryptoError::InvalidInput("digest"))
}

/// An AWS-LC key object next to the material it was made from. AWS-LC clears its key
/// objects when they are freed (`OPENSSL_free` cleanses every allocation, the HMAC context
/// is cleansed on drop); the material is a [`SecretBytes`].
enum Ready {
    Aes(LessSafeKey),
    P384 { key: EcdsaKeyPair, public: Vec<u8> },
    Hmac(Box<hmac::Key>),
}

struct Prepared {
    material: SecretBytes,
    ready: Ready,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl PreparedKey for Prepared {
    fn kind(&self) -> KeyKind {
        match self.ready {
            Ready::Aes(_) => KeyKind::Aes256,
            Ready::P384 { .. } => KeyKind::P384,
            Ready::Hmac(_) => KeyKind::HmacSha384,
        }
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
        match &self.ready {
            Ready::Aes(key) => gcm_seal(key, nonce, aad, plaintext),
            _ => Err(self.kind().misuse()),
        }
    }

    fn aes256_gcm_seal_append(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let Ready::Aes(key) = &self.ready else {
            return Err(self.kind().misuse());
        };
        let start = out.len();
        out.reserve(plaintext.len() + GCM_TAG_LEN);
        out.extend_from_slice(plaintext);
        let sealed = key.seal_in_place_separate_tag(
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
        match &self.ready {
            Ready::Aes(key) => gcm_open(key, nonce, aad, ciphertext),
            _ => Err(self.kind().misuse()),
        }
    }

    fn p384_sign_digest(&self, digest_bytes: &[u8; 48]) -> Result<Vec<u8>, CryptoError> {
        match &self.ready {
            Ready::P384 { key, .. } => ecdsa_sign(key, digest_bytes),
            _ => Err(self.kind().misuse()),
        }
    }

    fn p384_public_key(&self) -> Result<&[u8], CryptoError> {
        match &self.ready {
            Ready::P384 { public, .. } => Ok(public),
            _ => Err(self.kind().misuse()),
        }
    }

    fn hmac_sha384(&self, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        match &self.ready {
            Ready::Hmac(key) => hmac::sign(key, message)
                .as_ref()
                .try_into()
                .map_err(|_| CryptoError::InvalidKey("HMAC key")),
            _ => Err(self.kind().misuse()),
        }
    }
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
        gcm_seal(&gcm_key(key)?, nonce, aad, plaintext)
    }

    fn aes256_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        gcm_open(&gcm_key(key)?, nonce, aad, ciphertext)
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
        let key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|_| CryptoError::Random)?;
        let scalar = key
            .private_key()
            .as_be_bytes()
            .map_err(|_| CryptoError::Random)?;
        Ok(SecretBytes::from_slice(scalar.as_ref()))
    }

    fn p384_public_key(&self, private: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
        if private.len() != SCALAR_LEN {
            return Err(CryptoError::InvalidKey("P-384 private scalar"));
        }
        let invalid = |_| CryptoError::InvalidKey("P-384 private scalar");
        let key = PrivateKey::from_private_key(&ECDH_P384, private.expose()).map_err(invalid)?;
        key.compute_public_key()
            .map(|public| public.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidKey("P-384 private scalar"))
    }

    fn p384_sign_digest(
        &self,
        private: &SecretBytes,
        digest_bytes: &[u8; 48],
    ) -> Result<Vec<u8>, CryptoError> {
        ecdsa_sign(&signing_key(private)?, digest_bytes)
    }

    fn p384_verify_digest(
        &self,
        public_sec1: &[u8],
        digest_bytes: &[u8; 48],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        // Parse first, so that a malformed key is an error and not a failed signature.
        let key = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_sec1)
            .parse()
            .map_err(|_| CryptoError::InvalidKey("P-384 SEC1 public key"))?;
        Ok(key
            .verify_digest_sig(&digest(digest_bytes)?, signature)
            .is_ok())
    }

    fn hmac_sha384(&self, key: &SecretBytes, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        if key.is_empty() {
            return Err(CryptoError::InvalidKey("empty HMAC key"));
        }
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, key.expose()), message);
        tag.as_ref()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("HMAC key"))
    }

    fn prepare(
        &self,
        kind: KeyKind,
        material: SecretBytes,
    ) -> Result<Box<dyn PreparedKey>, CryptoError> {
        let ready = match kind {
            KeyKind::Aes256 => Ready::Aes(gcm_key(&material)?),
            KeyKind::P384 => {
                let key = signing_key(&material)?;
                let public = key.public_key().as_ref().to_vec();
                Ready::P384 { key, public }
            }
            KeyKind::HmacSha384 => {
                if material.is_empty() {
                    return Err(CryptoError::InvalidKey("empty HMAC key"));
                }
                Ready::Hmac(Box::new(hmac::Key::new(
                    hmac::HMAC_SHA384,
                    material.expose(),
                )))
            }
        };
        Ok(Box::new(Prepared { material, ready }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::RustCrypto;
    use super::*;

    /// Each provider opens, unwraps and verifies what the other produced.
    #[test]
    fn each_provider_reads_what_the_other_wrote() {
        let providers: [&dyn CryptoProvider; 2] = [&AwsLc, &RustCrypto];
        for (writer, reader) in [(providers[0], providers[1]), (providers[1], providers[0])] {
            let key = SecretBytes::new(vec![0x42; 32]);
            let nonce = [7u8; 12];
            let sealed = writer
                .aes256_gcm_seal(&key, &nonce, b"aad", b"sixteen KiB or a few bytes")
                .expect("seal");
            assert_eq!(
                reader
                    .aes256_gcm_open(&key, &nonce, b"aad", &sealed)
                    .expect("open")
                    .expose(),
                b"sixteen KiB or a few bytes"
            );
            for len in [1, 20, 32, 48] {
                let material = SecretBytes::new(vec![0xa5; len]);
                let wrapped = writer.aes256_kwp_wrap(&key, &material).expect("wrap");
                assert_eq!(wrapped.len(), len.div_ceil(8) * 8 + 8);
                assert_eq!(
                    reader.aes256_kwp_unwrap(&key, &wrapped).expect("unwrap"),
                    material
                );
                let mut tampered = wrapped.clone();
                tampered[3] ^= 1;
                assert_eq!(
                    reader.aes256_kwp_unwrap(&key, &tampered),
                    Err(CryptoError::Authentication)
                );
            }
            let private = writer.p384_generate().expect("generate");
            assert_eq!(private.len(), 48);
            let public = writer.p384_public_key(&private).expect("public");
            assert_eq!(public, reader.p384_public_key(&private).expect("public"));
            let digest = [0x5a; 48];
            let signature = writer.p384_sign_digest(&private, &digest).expect("sign");
            assert_eq!(signature.len(), 96);
            assert_eq!(
                reader.p384_verify_digest(&public, &digest, &signature),
                Ok(true)
            );
            let mac_key = SecretBytes::new(vec![0x0b; 48]);
            assert_eq!(
                writer.hmac_sha384(&mac_key, b"message").expect("mac"),
                reader.hmac_sha384(&mac_key, b"message").expect("mac")
            );
        }
    }

    /// (The Wycheproof and RFC known answers run through both providers in
    /// `tests/tests/known_answers.rs`.)
    #[test]
    fn malformed_keys_are_named_not_panics() {
        assert!(matches!(
            AwsLc.p384_verify_digest(b"not a point", &[1; 48], &[0; 96]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            AwsLc.hmac_sha384(&SecretBytes::new(Vec::new()), b"x"),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            AwsLc.aes256_gcm_seal(&SecretBytes::new(vec![1; 16]), &[0; 12], b"", b"x"),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            AwsLc.aes256_kwp_wrap(
                &SecretBytes::new(vec![1; 16]),
                &SecretBytes::new(vec![1; 32])
            ),
            Err(CryptoError::InvalidKey(_))
        ));
        for bad in [vec![0u8; 48], vec![0xff; 48], vec![1; 47]] {
            let bad = SecretBytes::new(bad);
            assert!(matches!(
                AwsLc.p384_sign_digest(&bad, &[1; 48]),
                Err(CryptoError::InvalidKey(_))
            ));
            assert!(matches!(
                AwsLc.p384_public_key(&bad),
                Err(CryptoError::InvalidKey(_))
            ));
        }
    }
}
