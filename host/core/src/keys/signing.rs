//! Sign, verify and get-public-key: ECDSA P-384 with SHA-384, DER signatures, SPKI keys.

use kastell_proto::Operation;
use kastell_proto::{KeyId, KeyUsage};
use p384::ecdsa::Signature;
use p384::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha384};

use super::audited::Record;
use super::gate::Source;
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord, KeyVersion, Material};
use crate::audit::Outcome;
use crate::token::TokenError;

/// What is signed: a message (hashed with SHA-384 by the host) or a SHA-384 digest.
#[derive(Debug, Clone, Copy)]
pub enum SignInput<'a> {
    /// The message itself.
    Message(&'a [u8]),
    /// Its SHA-384 digest (48 bytes).
    Digest(&'a [u8]),
}

/// A signature and the key version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOut {
    /// The key.
    pub key: KeyId,
    /// The version used (the current one).
    pub version: u32,
    /// DER-encoded ECDSA signature.
    pub der: Vec<u8>,
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
}

fn digest_of(input: SignInput<'_>) -> Result<[u8; 48], KeyError> {
    match input {
        SignInput::Message(message) => Ok(Sha384::digest(message).into()),
        SignInput::Digest(digest) => digest.try_into().map_err(|_| {
            KeyError::InvalidInput(format!(
                "a SHA-384 digest has 48 bytes, not {}",
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
        let digest = digest_of(SignInput::Message(message))?;
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

    /// The SEC1 public key of one version of a signing key, for the operation `record`
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

    /// Signs with the key's current version.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a digest that is not 48 bytes, and the gate errors of
    /// [`KeyService::encrypt`].
    pub fn sign(
        &self,
        caller: &Caller,
        key: &str,
        input: SignInput<'_>,
    ) -> Result<SignatureOut, KeyError> {
        let digest = digest_of(input)?;
        let key = self.resolve_for(caller, Operation::Sign, key)?;
        let version = Self::current_version(&key)?;
        let record = Record {
            caller,
            operation: Operation::Sign,
            key: Some(&key),
            version: Some(version.number),
            context: None,
        };
        self.authorize(&record, &key, KeyUsage::SignVerify)?;
        let raw = match self.material(&record, &key, version)? {
            Source::Token(label) => self.token.sign_digest(&label, &digest)?,
            Source::Wrapped(wrapped) => self
                .prepared(&key, version.number, wrapped)?
                .p384_sign_digest(&digest)
                .map_err(TokenError::from)?,
        };
        let der = der_signature(&raw)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(SignatureOut {
            key: key.id,
            version: version.number,
            der,
        })
    }

    /// Verifies a DER signature against every version from the minimum decryption version
    /// to the current one. A malformed or wrong signature is `Ok(false)` (and audited).
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
        let digest = digest_of(input)?;
        let key = self.resolve_for(caller, Operation::Verify, key)?;
        let record = Record::on(caller, Operation::Verify, Some(&key));
        self.authorize(&record, &key, KeyUsage::SignVerify)?;
        let Ok(signature) = Signature::from_der(der) else {
            self.audit(
                &record,
                Outcome::Allowed,
                "signature is not DER ECDSA: invalid".into(),
            )?;
            return Ok(false);
        };
        let raw = signature.to_bytes();
        for version in key
            .versions
            .iter()
            .rev()
            .filter(|v| v.number >= key.min_decrypt_version)
        {
            let public = self.version_public_key(&record, &key, version)?;
            if self
                .crypto
                .p384_verify_digest(&public, &digest, &raw)
                .map_err(TokenError::from)?
            {
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

    /// The public key of the current version, as SPKI DER and PEM.
    ///
    /// # Errors
    /// As [`KeyService::sign`].
    pub fn public_key(&self, caller: &Caller, key: &str) -> Result<PublicKeyOut, KeyError> {
        let key = self.resolve_for(caller, Operation::GetPublicKey, key)?;
        let version = Self::current_version(&key)?;
        let record = Record {
            caller,
            operation: Operation::GetPublicKey,
            key: Some(&key),
            version: Some(version.number),
            context: None,
        };
        self.authorize(&record, &key, KeyUsage::SignVerify)?;
        let sec1 = self.version_public_key(&record, &key, version)?;
        let public = p384::PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| TokenError::Malformed("EC point"))?;
        let spki_der = public
            .to_public_key_der()
            .map_err(|_| TokenError::Malformed("EC point"))?
            .as_bytes()
            .to_vec();
        let spki_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| TokenError::Malformed("EC point"))?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(PublicKeyOut {
            key: key.id,
            spki_der,
            spki_pem,
        })
    }
}
