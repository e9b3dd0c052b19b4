//! The RustCrypto implementation of [`CryptoProvider`]: AES-256-GCM, AES key wrap, ECDSA
//! P-384 and HMAC-SHA-384 through the typed operations, what guests and the attestation
//! verifier need. The other key kinds of `docs/key-types.md` and the generic operations
//! (`sign`, `encrypt`, `mac`, `derive_shared_secret`, SPKI public keys) are aws-lc-rs's
//! ([`AwsLc`](super::AwsLc)): here they answer [`CryptoError::NotImplemented`] (or
//! [`CryptoError::Unsupported`] where the kind does not allow them anyway).

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac as _};
use p384::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use sha2::Sha384;

use kastell_proto::algorithm::{MessageType, SigningAlgorithm};

use super::held::{Held, not_implemented};
use super::prepared::check_message;
use super::{CryptoError, CryptoProvider, GCM_NONCE_LEN, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// Pure-Rust primitives from the RustCrypto project.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

fn aes256(key: &SecretBytes) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key.expose())
        .map_err(|_| CryptoError::InvalidKey("AES-256 needs 32 bytes"))
}

fn kek(key: &SecretBytes) -> Result<aes_kw::KekAes256, CryptoError> {
    let bytes: [u8; 32] = key
        .expose()
        .try_into()
        .map_err(|_| CryptoError::InvalidKey("AES-256 KEK needs 32 bytes"))?;
    Ok(aes_kw::KekAes256::from(bytes))
}

fn signing_key(private: &SecretBytes) -> Result<SigningKey, CryptoError> {
    SigningKey::from_slice(private.expose())
        .map_err(|_| CryptoError::InvalidKey("P-384 private scalar"))
}

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        OsRng.try_fill_bytes(out).map_err(|_| CryptoError::Random)
    }

    fn aes256_gcm_seal(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aes256(key)?
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::InvalidInput("plaintext too long for AES-GCM"))
    }

    fn aes256_gcm_open(
        &self,
        key: &SecretBytes,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        aes256(key)?
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::Authentication)
    }

    fn aes256_kwp_wrap(
        &self,
        kek_bytes: &SecretBytes,
        key: &SecretBytes,
    ) -> Result<Vec<u8>, CryptoError> {
        kek(kek_bytes)?
            .wrap_with_padding_vec(key.expose())
            .map_err(|_| CryptoError::InvalidInput("key to wrap"))
    }

    fn aes256_kwp_unwrap(
        &self,
        kek_bytes: &SecretBytes,
        wrapped: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        kek(kek_bytes)?
            .unwrap_with_padding_vec(wrapped)
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::Authentication)
    }

    fn p384_generate(&self) -> Result<SecretBytes, CryptoError> {
        let key = SigningKey::random(&mut OsRng);
        Ok(SecretBytes::new(key.to_bytes().to_vec()))
    }

    fn p384_public_key(&self, private: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
        let key = signing_key(private)?;
        Ok(key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec())
    }

    fn p384_sign_digest(
        &self,
        private: &SecretBytes,
        digest: &[u8; 48],
    ) -> Result<Vec<u8>, CryptoError> {
        let signature: Signature = signing_key(private)?
            .sign_prehash(digest)
            .map_err(|_| CryptoError::InvalidInput("digest"))?;
        Ok(signature.to_bytes().to_vec())
    }

    fn p384_verify_digest(
        &self,
        public_sec1: &[u8],
        digest: &[u8; 48],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let key = VerifyingKey::from_sec1_bytes(public_sec1)
            .map_err(|_| CryptoError::InvalidKey("P-384 SEC1 public key"))?;
        let Ok(signature) = Signature::from_slice(signature) else {
            return Ok(false);
        };
        Ok(key.verify_prehash(digest, &signature).is_ok())
    }

    fn hmac_sha384(&self, key: &SecretBytes, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        if key.is_empty() {
            return Err(CryptoError::InvalidKey("empty HMAC key"));
        }
        let mut mac = <Hmac<Sha384> as hmac::Mac>::new_from_slice(key.expose())
            .map_err(|_| CryptoError::InvalidKey("HMAC key"))?;
        mac.update(message);
        Ok(mac.finalize().into_bytes().into())
    }

    fn generate(&self, kind: KeyKind) -> Result<SecretBytes, CryptoError> {
        let len = match kind {
            KeyKind::P384 => return self.p384_generate(),
            KeyKind::Aes256 => 32,
            KeyKind::HmacSha384 => 48,
            _ => return Err(not_implemented(self, kind, "this key kind")),
        };
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
        self.fill_random(&mut bytes)?;
        Ok(SecretBytes::from_slice(&bytes))
    }

    fn verify_with_public_key(
        &self,
        kind: KeyKind,
        _public_key_spki: &[u8],
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_message(kind, algorithm, message_type, input)?;
        Err(not_implemented(self, kind, algorithm.as_str()))
    }

    fn prepare(
        &self,
        kind: KeyKind,
        material: SecretBytes,
    ) -> Result<Box<dyn PreparedKey>, CryptoError> {
        Ok(Box::new(Held::new(*self, kind, material)?))
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text.replace([' ', '\n'], "")).expect("hex")
    }

    /// NIST GCM specification (McGrew & Viega), test case 16: AES-256 with AAD.
    #[test]
    fn aes256_gcm_known_answer() {
        let key = SecretBytes::new(hex(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        ));
        let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().expect("12");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let expected = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
        let sealed = RustCrypto
            .aes256_gcm_seal(&key, &nonce, &aad, &plaintext)
            .expect("seal");
        assert_eq!(sealed, expected);
        let opened = RustCrypto
            .aes256_gcm_open(&key, &nonce, &aad, &sealed)
            .expect("open");
        assert_eq!(opened.expose(), plaintext.as_slice());

        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(
            RustCrypto.aes256_gcm_open(&key, &nonce, &aad, &tampered),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            RustCrypto.aes256_gcm_open(&key, &nonce, b"other aad", &sealed),
            Err(CryptoError::Authentication)
        );
    }

    /// RFC 6979 appendix A.2.6: P-384, SHA-384, message "sample" (deterministic nonce).
    #[test]
    fn ecdsa_p384_rfc6979_known_answer() {
        let private = SecretBytes::new(hex(
            "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d8
             96d5724e4c70a825f872c9ea60d2edf5",
        ));
        let public = RustCrypto.p384_public_key(&private).expect("public");
        let mut expected_public = vec![0x04];
        expected_public.extend(hex(
            "ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64
             def8f0ea9055866064a254515480bc13
             8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1
             288b231c3ae0d4fe7344fd2533264720",
        ));
        assert_eq!(public, expected_public);

        let digest: [u8; 48] = Sha384::digest(b"sample").into();
        let signature = RustCrypto
            .p384_sign_digest(&private, &digest)
            .expect("sign");
        let expected = hex(
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c
             81a648152e44acf96e36dd1e80fabe46
             99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94f
             a329c145786e679e7b82c71a38628ac8",
        );
        assert_eq!(signature, expected);
        assert_eq!(
            RustCrypto.p384_verify_digest(&public, &digest, &signature),
            Ok(true)
        );
        let other: [u8; 48] = Sha384::digest(b"test").into();
        assert_eq!(
            RustCrypto.p384_verify_digest(&public, &other, &signature),
            Ok(false)
        );
        assert_eq!(
            RustCrypto.p384_verify_digest(&public, &digest, b"short"),
            Ok(false)
        );
    }

    /// RFC 4231 test case 2: HMAC-SHA-384, key "Jefe".
    #[test]
    fn hmac_sha384_rfc4231_known_answer() {
        let mac = RustCrypto
            .hmac_sha384(
                &SecretBytes::from_slice(b"Jefe"),
                b"what do ya want for nothing?",
            )
            .expect("mac");
        assert_eq!(
            mac.to_vec(),
            hex(
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e
                 8e2240ca5e69e2c78b3239ecfab21649"
            )
        );
    }

    #[test]
    fn key_wrap_with_padding_round_trips_and_detects_tampering() {
        let kek = SecretBytes::new(vec![7; 32]);
        for len in [1, 20, 32, 48] {
            let key = SecretBytes::new(vec![0xa5; len]);
            let wrapped = RustCrypto.aes256_kwp_wrap(&kek, &key).expect("wrap");
            assert_eq!(wrapped.len(), len.div_ceil(8) * 8 + 8);
            assert_eq!(
                RustCrypto
                    .aes256_kwp_unwrap(&kek, &wrapped)
                    .expect("unwrap"),
                key
            );
            let mut tampered = wrapped.clone();
            tampered[3] ^= 1;
            assert_eq!(
                RustCrypto.aes256_kwp_unwrap(&kek, &tampered),
                Err(CryptoError::Authentication)
            );
        }
        assert!(matches!(
            RustCrypto.aes256_kwp_wrap(&SecretBytes::new(vec![1; 16]), &kek),
            Err(CryptoError::InvalidKey(_))
        ));
    }
}
