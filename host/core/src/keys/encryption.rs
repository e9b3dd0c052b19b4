//! Encrypt and decrypt (and the shared sealing/opening that data keys and re-encrypt use).

use super::algorithms::Algorithm;
use super::audited::Record;
use super::gate::Source;
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord, KeyVersion, Material};
use crate::audit::Outcome;
use crate::crypto::{GCM_NONCE_LEN, GCM_TAG_LEN, PreparedKey};
use kastell_proto::algorithm::EncryptionAlgorithm;
use kastell_proto::ciphertext::{self, Header};
use kastell_proto::{EncryptionContext, Operation};
use kastell_proto::{KeyId, KeyUsage};

use crate::secret::SecretBytes;
use crate::token::TokenError;

/// The algorithm of Kastell ciphertexts (AES-256-GCM).
const SYMMETRIC: Algorithm = Algorithm::Encryption(EncryptionAlgorithm::SymmetricDefault);

/// A ciphertext whose key was found and whose decryption the gate allowed; nothing is
/// decrypted yet.
pub(super) struct Opening<'c> {
    pub(super) key: KeyRecord,
    pub(super) header: Header,
    sealed: &'c [u8],
}

/// A key whose current version the gate allowed to encrypt; nothing is encrypted yet.
pub(super) struct Sealing {
    pub(super) key: KeyRecord,
    pub(super) version: KeyVersion,
}

impl KeyService {
    /// Encrypts `plaintext` under the current version of `key` with `context` as AAD.
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::AccessDenied`], [`KeyError::Disabled`],
    /// [`KeyError::InvalidKeyUsage`], [`KeyError::InvalidState`], or internal failures.
    pub fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KeyError> {
        self.seal(caller, Operation::Encrypt, key, plaintext, context)
    }

    /// Encryption under the current version of `key`, gated and audited as `operation`
    /// (encrypt, generate-data-key, …).
    pub(super) fn seal(
        &self,
        caller: &Caller,
        operation: Operation,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KeyError> {
        let key = self.resolve_for(caller, operation, key)?;
        let sealing = self.authorize_seal(caller, operation, key, context, None)?;
        self.finish_seal(caller, operation, &sealing, plaintext, context)
    }

    /// The gate of an encryption under the current version of `key` (whose policy's
    /// request names `other`, for re-encrypt); a refusal is audited.
    pub(super) fn authorize_seal(
        &self,
        caller: &Caller,
        operation: Operation,
        key: KeyRecord,
        context: &EncryptionContext,
        other: Option<&KeyRecord>,
    ) -> Result<Sealing, KeyError> {
        let version = Self::current_version(&key)?.clone();
        let record = Record {
            caller,
            operation,
            key: Some(&key),
            version: Some(version.number),
            context: Some(context),
            algorithm: Some(SYMMETRIC),
            label: None,
        };
        self.authorize_with(&record, &key, KeyUsage::EncryptDecrypt, other)?;
        Ok(Sealing { key, version })
    }

    /// Encrypts `plaintext` as `sealing` allows, and audits it.
    pub(super) fn finish_seal(
        &self,
        caller: &Caller,
        operation: Operation,
        sealing: &Sealing,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KeyError> {
        let Sealing { key, version } = sealing;
        let record = Record {
            caller,
            operation,
            key: Some(key),
            version: Some(version.number),
            context: Some(context),
            algorithm: None,
            label: None,
        };
        let aad = ciphertext::aad(&key.id, version.number, context);
        let out = match self.material(&record, key, version)? {
            Source::Token(label) => {
                let sealed = self.token.encrypt(&label, &aad, plaintext)?;
                Header {
                    key: key.id,
                    version: version.number,
                    nonce: sealed.nonce,
                }
                .with_sealed(&sealed.ciphertext)
            }
            Source::Wrapped(wrapped) => {
                let prepared = self.prepared(key, version.number, wrapped)?;
                self.seal_wrapped(&*prepared, &key.id, version.number, &aad, plaintext)?
            }
        };
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(out)
    }

    /// The crypto path of [`KeyService::encrypt`] on the current version of a wrapped key,
    /// without lookup, policy and audit: the AAD, the key cache, the nonce, the provider
    /// and the ciphertext format. For benchmarks of the layers' cost against the bare
    /// library.
    ///
    /// # Errors
    /// [`KeyError::InvalidState`] for a key that is not wrapped, or the token's failure.
    #[doc(hidden)]
    pub fn bench_encrypt(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KeyError> {
        let version = Self::current_version(key)?;
        let Material::Wrapped { wrapped, .. } = &version.material else {
            return Err(KeyError::InvalidState("not a wrapped key".into()));
        };
        let aad = ciphertext::aad(&key.id, version.number, context);
        let prepared = self.prepared(key, version.number, wrapped)?;
        self.seal_wrapped(&*prepared, &key.id, version.number, &aad, plaintext)
    }

    /// The Kastell ciphertext of `plaintext` under unwrapped material of version `version`
    /// of `key_id`: AES-256-GCM under a fresh random nonce, sealed straight after the
    /// header (no intermediate copy).
    pub(super) fn seal_wrapped(
        &self,
        prepared: &dyn PreparedKey,
        key_id: &KeyId,
        version: u32,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; GCM_NONCE_LEN];
        self.crypto
            .fill_random(&mut nonce)
            .map_err(TokenError::from)?;
        let header = Header {
            key: *key_id,
            version,
            nonce,
        };
        let mut out = Vec::with_capacity(ciphertext::HEADER_LEN + plaintext.len() + GCM_TAG_LEN);
        out.extend_from_slice(&header.to_bytes());
        prepared
            .aes256_gcm_seal_append(&nonce, aad, plaintext, &mut out)
            .map_err(TokenError::from)?;
        Ok(out)
    }

    /// Decrypts a Kastell ciphertext with `context`. When `expected_key` is given, the
    /// ciphertext must name that key.
    ///
    /// # Errors
    /// [`KeyError::InvalidCiphertext`] (any tampering, wrong context), [`KeyError::IncorrectKey`],
    /// [`KeyError::InvalidState`] (a version below the minimum), and the errors of
    /// [`KeyService::encrypt`].
    pub fn decrypt(
        &self,
        caller: &Caller,
        expected_key: Option<&str>,
        ciphertext_bytes: &[u8],
        context: &EncryptionContext,
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        self.open(
            caller,
            Operation::Decrypt,
            expected_key,
            ciphertext_bytes,
            context,
        )
    }

    /// Decryption gated and audited as `operation` (decrypt, generate-data-key's …).
    pub(super) fn open(
        &self,
        caller: &Caller,
        operation: Operation,
        expected_key: Option<&str>,
        ciphertext_bytes: &[u8],
        context: &EncryptionContext,
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        let opening = self.authorize_open(
            caller,
            operation,
            expected_key,
            ciphertext_bytes,
            context,
            None,
        )?;
        self.finish_open(caller, operation, opening, context)
    }

    /// The gate of a decryption: the ciphertext's header parsed, its key found (and, when
    /// `expected_key` is given, compared), the key's policy asked (its request naming
    /// `other`, for re-encrypt) and the version checked; a refusal is audited.
    pub(super) fn authorize_open<'c>(
        &self,
        caller: &Caller,
        operation: Operation,
        expected_key: Option<&str>,
        ciphertext_bytes: &'c [u8],
        context: &EncryptionContext,
        other: Option<&KeyRecord>,
    ) -> Result<Opening<'c>, KeyError> {
        let (header, sealed) = match Header::parse(ciphertext_bytes) {
            Ok(parsed) => parsed,
            Err(err) => {
                let record = Record {
                    caller,
                    operation,
                    key: None,
                    version: None,
                    context: Some(context),
                    algorithm: None,
                    label: None,
                };
                return self.refuse(&record, KeyError::InvalidCiphertext, err.to_string());
            }
        };
        let Some(key) = self.stored_key(&header.key)? else {
            let record = Record {
                caller,
                operation,
                key: None,
                version: None,
                context: Some(context),
                algorithm: None,
                label: None,
            };
            return self.refuse(
                &record,
                KeyError::InvalidCiphertext,
                format!("ciphertext names unknown key {}", header.key),
            );
        };
        let record = Record {
            caller,
            operation,
            key: Some(&key),
            version: Some(header.version),
            context: Some(context),
            algorithm: Some(SYMMETRIC),
            label: None,
        };
        if let Some(expected) = expected_key {
            // Only the id is compared: no second read of the key's record when it matches.
            if self.resolve_id(expected)? != key.id {
                // An unknown expected key is NotFound, as before; another key IncorrectKey.
                self.resolve(expected)?;
                return self.refuse(
                    &record,
                    KeyError::IncorrectKey,
                    format!("ciphertext names key {}", key.id),
                );
            }
        }
        self.authorize_with(&record, &key, KeyUsage::EncryptDecrypt, other)?;
        if key.version(header.version).is_none() {
            return self.refuse(
                &record,
                KeyError::InvalidCiphertext,
                format!("no version {}", header.version),
            );
        }
        if header.version < key.min_decrypt_version {
            let why = format!(
                "version {} is below the minimum decryption version {}",
                header.version, key.min_decrypt_version
            );
            return self.refuse_state(&record, why);
        }
        Ok(Opening {
            header,
            sealed,
            key,
        })
    }

    /// Decrypts as `opening` allows, and audits it.
    pub(super) fn finish_open(
        &self,
        caller: &Caller,
        operation: Operation,
        opening: Opening<'_>,
        context: &EncryptionContext,
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        let Opening {
            key,
            header,
            sealed,
        } = opening;
        let record = Record {
            caller,
            operation,
            key: Some(&key),
            version: Some(header.version),
            context: Some(context),
            algorithm: None,
            label: None,
        };
        let Some(version) = key.version(header.version) else {
            // The gate found this version; a record without it is refused all the same.
            return self.refuse(
                &record,
                KeyError::InvalidCiphertext,
                format!("no version {}", header.version),
            );
        };
        let aad = header.aad(context);
        let opened = match self.material(&record, &key, version)? {
            Source::Token(label) => self.token.decrypt(&label, &header.nonce, &aad, sealed),
            Source::Wrapped(wrapped) => self
                .prepared(&key, version.number, wrapped)?
                .aes256_gcm_open(&header.nonce, &aad, sealed)
                .map_err(TokenError::from),
        };
        match opened {
            Ok(plaintext) => {
                self.audit(&record, Outcome::Allowed, String::new())?;
                Ok((key.id, plaintext))
            }
            Err(TokenError::Crypto(crate::crypto::CryptoError::Authentication)) => self.refuse(
                &record,
                KeyError::InvalidCiphertext,
                "authentication failed (tampered data or wrong context)".into(),
            ),
            Err(other) => Err(other.into()),
        }
    }
}
