//! Sign, verify and get-public-key for every asymmetric spec: the algorithm chosen per
//! request (the spec's only one by default), DER ECDSA signatures, SPKI public keys.
//! P-384 keys (token-resident or wrapped) keep their typed path; the other specs use the
//! provider's generic operations.

use kastell_proto::Operation;
use kastell_proto::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MessageType, SigningAlgorithm,
};
use kastell_proto::{KeyId, KeySpec, KeyUsage};
use p384::ecdsa::Signature;
use p384::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha384};

use super::algorithms::{Algorithm, kind_of, signing};
use super::audited::Record;
use super::gate::Source;
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord, KeyVersion, Material};
use crate::audit::Outcome;
use crate::token::TokenError;

/// What is signed: a message (`RAW`, hashed by the host with the algorithm's hash) or
/// its digest (`DIGEST`, the hash's length).
#[derive(Debug, Clone, Copy)]
pub enum SignInput<'a> {
    /// The message itself.
    Message(&'a [u8]),
    /// Its digest.
    Digest(&'a [u8]),
}

impl<'a> SignInput<'a> {
    /// `RAW` or `DIGEST`.
    #[must_use]
    pub const fn message_type(self) -> MessageType {
        match self {
            Self::Message(_) => MessageType::Raw,
            Self::Digest(_) => MessageType::Digest,
        }
    }

    /// The bytes given.
    #[must_use]
    pub const fn bytes(self) -> &'a [u8] {
        match self {
            Self::Message(bytes) | Self::Digest(bytes) => bytes,
        }
    }
}

/// A signature and the key version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOut {
    /// The key.
    pub key: KeyId,
    /// The version used (the current one).
    pub version: u32,
    /// The signature: DER `ECDSA-Sig-Value` for ECDSA, raw for RSA and ML-DSA.
    pub der: Vec<u8>,
    /// The algorithm that made it.
    pub algorithm: SigningAlgorithm,
}

/// A public key in the forms tools expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyOut {
    /// The key.
    pub key: KeyId,
    /// SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// SubjectPublicKeyInfo, PEM.
    pub spki_pem: String,
    /// The key's spec.
    pub spec: KeySpec,
    /// The key's usage.
    pub usage: KeyUsage,
    /// The signing algorithms it allows (SIGN_VERIFY keys).
    pub signing_algorithms: Vec<SigningAlgorithm>,
    /// The encryption algorithms it allows (ENCRYPT_DECRYPT keys).
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// The key agreement algorithms it allows (KEY_AGREEMENT keys).
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithm>,
}

/// The SHA-384 digest a P-384 key signs (the typed path).
fn digest_of(algorithm: SigningAlgorithm, input: SignInput<'_>) -> Result<[u8; 48], KeyError> {
    match input {
        SignInput::Message(message) => Ok(Sha384::digest(message).into()),
        SignInput::Digest(digest) => digest.try_into().map_err(|_| {
            KeyError::InvalidInput(format!(
                "a DIGEST for {algorithm} is 48 bytes, not {}",
                digest.len()
            ))
        }),
    }
}

/// A fixed-size (r ‖ s) signature in DER, as the API returns it.
fn der_signature(raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    Ok(Signature::from_slice(raw)
        .map_err(|_| TokenError::Malformed("ECDSA signature"))?
        .to_der()
        .as_bytes()
        .to_vec())
}

impl KeyService {
    /// The crypto path of [`KeyService::sign`] on the current version of a wrapped key,
    /// without lookup, policy and audit: hashing, the key cache, the provider and the DER
    /// encoding. For benchmarks of the layers' cost against the bare library.
    ///
    /// # Errors
    /// [`KeyError::InvalidState`] for a key that is not wrapped, or the token's failure.
    #[doc(hidden)]
    pub fn bench_sign(&self, key: &KeyRecord, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = digest_of(SigningAlgorithm::EcdsaSha384, SignInput::Message(message))?;
        let version = Self::current_version(key)?;
        let Material::Wrapped { wrapped, .. } = &version.material else {
            return Err(KeyError::InvalidState("not a wrapped key".into()));
        };
        let raw = self
            .prepared(key, version.number, wrapped)?
            .p384_sign_digest(&digest)
            .map_err(TokenError::from)?;
        der_signature(&raw)
    }

    /// The SEC1 public key of one version of a P-384 key, for the operation `record`
    /// describes.
    fn version_public_key(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &KeyVersion,
    ) -> Result<Vec<u8>, KeyError> {
        Ok(match self.material(record, key, version)? {
            Source::Token(label) => self.token.public_key(&label)?,
            Source::Wrapped(wrapped) => self
                .prepared(key, version.number, wrapped)?
                .p384_public_key()
                .map_err(TokenError::from)?
                .to_vec(),
        })
    }

    /// The SubjectPublicKeyInfo (DER) of one version of an asymmetric key.
    pub(super) fn version_spki(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &KeyVersion,
    ) -> Result<Vec<u8>, KeyError> {
        if key.spec == KeySpec::EccNistP384 {
            let sec1 = self.version_public_key(record, key, version)?;
            let public = p384::PublicKey::from_sec1_bytes(&sec1)
                .map_err(|_| TokenError::Malformed("EC point"))?;
            return Ok(public
                .to_public_key_der()
                .map_err(|_| TokenError::Malformed("EC point"))?
                .as_bytes()
                .to_vec());
        }
        let prepared = self.generic_source(record, key, version)?;
        let spki = prepared.public_key_spki().map_err(TokenError::from)?;
        Ok(spki.to_vec())
    }

    /// Signs with the key's current version and its spec's only signing algorithm
    /// (ECDSA_SHA_384 for P-384 keys).
    ///
    /// # Errors
    /// As [`KeyService::sign_with`].
    pub fn sign(
        &self,
        caller: &Caller,
        key: &str,
        input: SignInput<'_>,
    ) -> Result<SignatureOut, KeyError> {
        self.sign_with(caller, key, input, None)
    }

    /// Signs with the key's current version and `algorithm` (default: the spec's only
    /// one). ECDSA signatures are DER `ECDSA-Sig-Value`, RSA signatures the modulus's
    /// length, ML-DSA signatures FIPS 204's encoding.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`] for an algorithm or message type the spec does
    /// not allow (or none named where the spec has several), [`KeyError::InvalidInput`]
    /// for a digest of the wrong length (each audited), and the gate errors of
    /// [`KeyService::encrypt`].
    pub fn sign_with(
        &self,
        caller: &Caller,
        key: &str,
        input: SignInput<'_>,
        algorithm: Option<SigningAlgorithm>,
    ) -> Result<SignatureOut, KeyError> {
        let key = self.resolve_for(caller, Operation::Sign, key)?;
        let version = Self::current_version(&key)?;
        let mut record = Record {
            caller,
            operation: Operation::Sign,
            key: Some(&key),
            version: Some(version.number),
            context: None,
            algorithm: None,
            label: None,
        };
        let message_type = input.message_type();
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::SignVerify,
            signing(key.spec, algorithm),
            |a| Algorithm::Signing(a, message_type),
        )?;
        let signed = if key.spec == KeySpec::EccNistP384 {
            match digest_of(algorithm, input) {
                Ok(digest) => match self.material(&record, &key, version)? {
                    Source::Token(label) => self.token.sign_digest(&label, &digest),
                    Source::Wrapped(wrapped) => self
                        .prepared(&key, version.number, wrapped)?
                        .p384_sign_digest(&digest)
                        .map_err(TokenError::from),
                }
                .map_err(KeyError::from)
                .and_then(|raw| der_signature(&raw)),
                Err(err) => Err(err),
            }
        } else {
            self.generic_source(&record, &key, version)
                .and_then(|prepared| {
                    prepared
                        .sign(algorithm, message_type, input.bytes())
                        .map_err(|err| crypto_error(&err))
                })
        };
        let der = self.settle(&record, signed)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(SignatureOut {
            key: key.id,
            version: version.number,
            der,
            algorithm,
        })
    }

    /// The key of a version of a key served by the generic operations (every spec but the
    /// typed paths of AES-256, P-384 signing and HMAC-SHA-384): wrapped material prepared
    /// through the key cache, or a token-resident key whose operations the token performs.
    pub(super) fn generic_source(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &KeyVersion,
    ) -> Result<std::sync::Arc<dyn crate::crypto::PreparedKey>, KeyError> {
        match self.material(record, key, version)? {
            Source::Wrapped(wrapped) => self.prepared(key, version.number, wrapped),
            Source::Token(label) => Ok(self.token.resident(&label, kind_of(key.spec))?.into()),
        }
    }

    /// Audits a refusal of bad input the crypto layer found ([`KeyError::InvalidInput`],
    /// [`KeyError::UnsupportedAlgorithm`]) and returns it; other results pass through.
    pub(super) fn settle<T>(
        &self,
        record: &Record<'_>,
        result: Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        match result {
            Err(err @ (KeyError::InvalidInput(_) | KeyError::UnsupportedAlgorithm(_))) => {
                let why = err.message();
                self.refuse(record, err, why)
            }
            other => other,
        }
    }

    /// Verifies a signature against every version from the minimum decryption version
    /// to the current one, with the spec's only signing algorithm. A malformed or wrong
    /// signature is `Ok(false)` (and audited).
    ///
    /// # Errors
    /// As [`KeyService::sign`].
    pub fn verify(
        &self,
        caller: &Caller,
        key: &str,
        input: SignInput<'_>,
        der: &[u8],
    ) -> Result<bool, KeyError> {
        self.verify_with(caller, key, input, None, der)
    }

    /// Verifies `signature` made with `algorithm` (default: the spec's only one) by any
    /// version from the minimum decryption version to the current one. A malformed or
    /// wrong signature is `Ok(false)` (and audited).
    ///
    /// # Errors
    /// As [`KeyService::sign_with`].
    pub fn verify_with(
        &self,
        caller: &Caller,
        key: &str,
        input: SignInput<'_>,
        algorithm: Option<SigningAlgorithm>,
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        let key = self.resolve_for(caller, Operation::Verify, key)?;
        let mut record = Record::on(caller, Operation::Verify, Some(&key));
        let message_type = input.message_type();
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::SignVerify,
            signing(key.spec, algorithm),
            |a| Algorithm::Signing(a, message_type),
        )?;
        let p384 = key.spec == KeySpec::EccNistP384;
        let digest = if p384 {
            Some(self.settle(&record, digest_of(algorithm, input))?)
        } else {
            None
        };
        let raw = match (p384, Signature::from_der(signature)) {
            (true, Ok(parsed)) => Some(parsed.to_bytes()),
            (true, Err(_)) => {
                self.audit(
                    &record,
                    Outcome::Allowed,
                    "signature is not DER ECDSA: invalid".into(),
                )?;
                return Ok(false);
            }
            (false, _) => None,
        };
        for version in key
            .versions
            .iter()
            .rev()
            .filter(|v| v.number >= key.min_decrypt_version)
        {
            let valid = match (&digest, &raw) {
                (Some(digest), Some(raw)) => {
                    let public = self.version_public_key(&record, &key, version)?;
                    self.crypto
                        .p384_verify_digest(&public, digest, raw)
                        .map_err(TokenError::from)?
                }
                _ => {
                    let checked =
                        self.generic_source(&record, &key, version)
                            .and_then(|prepared| {
                                prepared
                                    .verify(algorithm, message_type, input.bytes(), signature)
                                    .map_err(|err| crypto_error(&err))
                            });
                    self.settle(&record, checked)?
                }
            };
            if valid {
                let record = Record {
                    version: Some(version.number),
                    ..record
                };
                self.audit(&record, Outcome::Allowed, "signature valid".into())?;
                return Ok(true);
            }
        }
        self.audit(&record, Outcome::Allowed, "signature invalid".into())?;
        Ok(false)
    }

    /// The public key of the current version, as SPKI DER and PEM, with what the key
    /// may do.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedSpec`] for a symmetric key, and the gate errors of
    /// [`KeyService::encrypt`].
    pub fn public_key(&self, caller: &Caller, key: &str) -> Result<PublicKeyOut, KeyError> {
        let key = self.resolve_for(caller, Operation::GetPublicKey, key)?;
        let version = Self::current_version(&key)?;
        let record = Record {
            caller,
            operation: Operation::GetPublicKey,
            key: Some(&key),
            version: Some(version.number),
            context: None,
            algorithm: None,
            label: None,
        };
        // A symmetric key is refused as before: by its usage (after the role and state).
        let usage = if key.spec.is_asymmetric() {
            key.usage
        } else {
            KeyUsage::SignVerify
        };
        self.authorize(&record, &key, usage)?;
        let spki_der = self.version_spki(&record, &key, version)?;
        let spki_pem = spki_pem(&spki_der)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        let kind = kind_of(key.spec);
        let (signing_algorithms, encryption_algorithms, key_agreement_algorithms) = match key.usage
        {
            KeyUsage::SignVerify => (kind.signing_algorithms().to_vec(), vec![], vec![]),
            KeyUsage::EncryptDecrypt => (vec![], kind.encryption_algorithms().to_vec(), vec![]),
            KeyUsage::KeyAgreement => (vec![], vec![], kind.key_agreement().into_iter().collect()),
            KeyUsage::GenerateVerifyMac => (vec![], vec![], vec![]),
        };
        Ok(PublicKeyOut {
            key: key.id,
            spki_der,
            spki_pem,
            spec: key.spec,
            usage: key.usage,
            signing_algorithms,
            encryption_algorithms,
            key_agreement_algorithms,
        })
    }
}

/// SubjectPublicKeyInfo DER as PEM (`PUBLIC KEY`).
///
/// # Errors
/// [`KeyError::Token`] when the encoding fails (it does not for a DER input).
pub fn spki_pem(der: &[u8]) -> Result<String, KeyError> {
    p384::pkcs8::der::pem::encode_string("PUBLIC KEY", p384::pkcs8::LineEnding::LF, der)
        .map_err(|_| KeyError::Token(TokenError::Malformed("public key")))
}

/// A crypto failure as the key error it is: bad input refused by name, the rest internal.
pub(super) fn crypto_error(err: &crate::crypto::CryptoError) -> KeyError {
    super::algorithms::refusal(err)
        .unwrap_or_else(|| KeyError::Token(TokenError::Crypto(err.clone())))
}
