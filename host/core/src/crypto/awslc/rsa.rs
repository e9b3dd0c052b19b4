//! RSA on aws-lc-rs: the prepared [`Rsa`] key (RSASSA-PSS and PKCS#1 v1.5 signatures,
//! RSAES-OAEP encryption), generation and verification with a public key.

use std::sync::OnceLock;

use aws_lc_rs::digest::Digest;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, RsaKeyPair};
use kastell_proto::algorithm::{EncryptionAlgorithm, MessageType, SigningAlgorithm};

use super::{debug_prepared, digest_algorithm, spki_algorithm};
use crate::crypto::encoding::RSA_ENCRYPTION;
use crate::crypto::prepared::check_message;
use crate::crypto::{CryptoError, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// The RSA signing algorithms in `SigningAlgorithm`'s order, with aws-lc-rs's signing
/// encoding and verification parameters (PSS: MGF1 with the same hash, salt = hash length).
const SCHEMES: [(
    SigningAlgorithm,
    &signature::RsaSignatureEncoding,
    &signature::RsaParameters,
); 6] = [
    (
        SigningAlgorithm::RsassaPssSha256,
        &signature::RSA_PSS_SHA256,
        &signature::RSA_PSS_2048_8192_SHA256,
    ),
    (
        SigningAlgorithm::RsassaPssSha384,
        &signature::RSA_PSS_SHA384,
        &signature::RSA_PSS_2048_8192_SHA384,
    ),
    (
        SigningAlgorithm::RsassaPssSha512,
        &signature::RSA_PSS_SHA512,
        &signature::RSA_PSS_2048_8192_SHA512,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        &signature::RSA_PKCS1_SHA256,
        &signature::RSA_PKCS1_2048_8192_SHA256,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        &signature::RSA_PKCS1_SHA384,
        &signature::RSA_PKCS1_2048_8192_SHA384,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha512,
        &signature::RSA_PKCS1_SHA512,
        &signature::RSA_PKCS1_2048_8192_SHA512,
    ),
];

/// The position of an RSA signing algorithm in [`SCHEMES`] (checked by `check_message`).
fn scheme(algorithm: SigningAlgorithm) -> Result<usize, CryptoError> {
    SCHEMES
        .iter()
        .position(|(known, _, _)| *known == algorithm)
        .ok_or(CryptoError::InvalidInput("not an RSA signing algorithm"))
}

fn oaep(algorithm: EncryptionAlgorithm) -> Result<&'static OaepAlgorithm, CryptoError> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        EncryptionAlgorithm::SymmetricDefault => {
            Err(CryptoError::InvalidInput("not an RSA-OAEP algorithm"))
        }
    }
}

/// The error for material or a public key whose modulus is not the kind's size.
fn wrong_size(kind: KeyKind) -> CryptoError {
    CryptoError::InvalidKey(match kind {
        KeyKind::Rsa2048 => "RSA_2048 needs a 2048-bit modulus",
        KeyKind::Rsa3072 => "RSA_3072 needs a 3072-bit modulus",
        KeyKind::Rsa4096 => "RSA_4096 needs a 4096-bit modulus",
        _ => "not an RSA kind",
    })
}

/// A new key of the kind's size, as PKCS#8 DER.
pub(super) fn generate(kind: KeyKind) -> Result<SecretBytes, CryptoError> {
    let size = match kind {
        KeyKind::Rsa2048 => KeySize::Rsa2048,
        KeyKind::Rsa3072 => KeySize::Rsa3072,
        KeyKind::Rsa4096 => KeySize::Rsa4096,
        _ => return Err(kind.misuse()),
    };
    let key = RsaKeyPair::generate(size).map_err(|_| CryptoError::Random)?;
    let der = key.as_der().map_err(|_| CryptoError::Random)?;
    Ok(SecretBytes::from_slice(der.as_ref()))
}

fn verify_parsed(
    key: &ParsedPublicKey,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    Ok(match (message_type, algorithm.hash()) {
        (MessageType::Raw, _) => key.verify_sig(input, signature).is_ok(),
        (MessageType::Digest, Some(hash)) => {
            let digest = Digest::import_less_safe(input, digest_algorithm(hash))
                .map_err(|_| CryptoError::InvalidInput("digest"))?;
            key.verify_digest_sig(&digest, signature).is_ok()
        }
        (MessageType::Digest, None) => return Err(CryptoError::InvalidInput("digest")),
    })
}

/// Verifies an RSA signature with a `kind` public key (SubjectPublicKeyInfo DER).
pub(super) fn verify_with_public_key(
    kind: KeyKind,
    spki: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check_message(kind, algorithm, message_type, input)?;
    if spki_algorithm(spki, "public key")?.0 != RSA_ENCRYPTION {
        return Err(CryptoError::InvalidKey("public key: not an RSA key"));
    }
    let bits = PublicEncryptingKey::from_der(spki)
        .map_err(|_| CryptoError::InvalidKey("public key: not a valid RSA key"))?
        .key_size_bits();
    if Some(bits) != kind.rsa_bits() {
        return Err(wrong_size(kind));
    }
    let key = ParsedPublicKey::new(SCHEMES[scheme(algorithm)?].2, spki)
        .map_err(|_| CryptoError::InvalidKey("public key: not a valid RSA key"))?;
    verify_parsed(&key, algorithm, message_type, input, signature)
}

/// A prepared RSA key: the signing key pair, the OAEP keys, the public key (SPKI) and, made
/// on first use, one parsed verification key per signing algorithm. AWS-LC cleanses its
/// key objects when freed; the material is a [`SecretBytes`].
pub(super) struct Rsa {
    kind: KeyKind,
    material: SecretBytes,
    signer: RsaKeyPair,
    decrypter: OaepPrivateDecryptingKey,
    encrypter: OaepPublicEncryptingKey,
    spki: Vec<u8>,
    verifiers: [OnceLock<ParsedPublicKey>; 6],
}

impl Rsa {
    /// Parses the PKCS#8 material (AWS-LC checks the key's consistency) and checks the
    /// modulus's size.
    pub(super) fn new(kind: KeyKind, material: SecretBytes) -> Result<Self, CryptoError> {
        let not_pkcs8 = |_| CryptoError::InvalidKey("RSA private key: not valid PKCS#8 DER");
        let private = PrivateDecryptingKey::from_pkcs8(material.expose()).map_err(not_pkcs8)?;
        if Some(private.key_size_bits()) != kind.rsa_bits() {
            return Err(wrong_size(kind));
        }
        let signer = RsaKeyPair::from_pkcs8(material.expose()).map_err(not_pkcs8)?;
        let spki = signer
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("RSA public key"))?
            .as_ref()
            .to_vec();
        let encrypter = OaepPublicEncryptingKey::new(private.public_key())
            .map_err(|_| CryptoError::InvalidKey("RSA public key"))?;
        let decrypter = OaepPrivateDecryptingKey::new(private)
            .map_err(|_| CryptoError::InvalidKey("RSA private key"))?;
        Ok(Self {
            kind,
            material,
            signer,
            decrypter,
            encrypter,
            spki,
            verifiers: Default::default(),
        })
    }

    fn verifier(&self, index: usize) -> Result<&ParsedPublicKey, CryptoError> {
        let slot = self
            .verifiers
            .get(index)
            .ok_or(CryptoError::InvalidInput("not an RSA signing algorithm"))?;
        if let Some(key) = slot.get() {
            return Ok(key);
        }
        let key = ParsedPublicKey::new(SCHEMES[index].2, &self.spki)
            .map_err(|_| CryptoError::InvalidKey("RSA public key"))?;
        Ok(slot.get_or_init(|| key))
    }
}

impl std::fmt::Debug for Rsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_prepared(f, self.kind)
    }
}

impl PreparedKey for Rsa {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Ok(&self.material)
    }

    fn private_key_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        Ok(SecretBytes::from_slice(self.material.expose()))
    }

    fn public_key_spki(&self) -> Result<&[u8], CryptoError> {
        Ok(&self.spki)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        let encoding = SCHEMES[scheme(algorithm)?].1;
        let mut signature = vec![0; self.signer.public_modulus_len()];
        let signed = match (message_type, algorithm.hash()) {
            (MessageType::Raw, _) => {
                self.signer
                    .sign(encoding, &SystemRandom::new(), input, &mut signature)
            }
            (MessageType::Digest, Some(hash)) => {
                let digest = Digest::import_less_safe(input, digest_algorithm(hash))
                    .map_err(|_| CryptoError::InvalidInput("digest"))?;
                self.signer.sign_digest(encoding, &digest, &mut signature)
            }
            (MessageType::Digest, None) => return Err(CryptoError::InvalidInput("digest")),
        };
        signed.map_err(|_| CryptoError::InvalidInput("RSA signing failed"))?;
        Ok(signature)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        let key = self.verifier(scheme(algorithm)?)?;
        verify_parsed(key, algorithm, message_type, input, signature)
    }

    fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.kind.check_encryption(algorithm)?;
        let oaep = oaep(algorithm)?;
        let max = self.encrypter.max_plaintext_size(oaep);
        if plaintext.len() > max {
            return Err(CryptoError::PlaintextTooLong {
                kind: self.kind,
                algorithm,
                max,
                actual: plaintext.len(),
            });
        }
        let mut out = vec![0; self.encrypter.ciphertext_size()];
        let len = self
            .encrypter
            .encrypt(oaep, plaintext, &mut out, None)
            .map_err(|_| CryptoError::InvalidInput("RSA-OAEP encryption failed"))?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.kind.check_encryption(algorithm)?;
        let oaep = oaep(algorithm)?;
        let mut out = zeroize::Zeroizing::new(vec![0; self.decrypter.min_output_size()]);
        // One opaque error for every failure (length, range, padding): no padding oracle.
        let plaintext = self
            .decrypter
            .decrypt(oaep, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(SecretBytes::from_slice(plaintext))
    }
}
