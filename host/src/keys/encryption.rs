//! Encrypt and decrypt (and the shared sealing/opening that data keys and re-encrypt use).

use super::ciphertext::{self, Header};
use super::service::{KeyService, Record};
use super::{Caller, KeyError, KeyId, KeyUsage, Material};
use crate::audit::Outcome;
use crate::crypto::GCM_NONCE_LEN;
use crate::sandbox::{EncryptionContext, Operation};
use crate::secret::SecretBytes;
use crate::token::TokenError;

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
        let version = Self::current_version(&key)?.clone();
        let record = Record {
            caller,
            operation,
            key: Some(&key),
            version: Some(version.number),
            context: Some(context),
        };
        self.authorize(&record, &key, KeyUsage::EncryptDecrypt)?;
        let aad = ciphertext::aad(&key.id, version.number, context);
        let (nonce, sealed) = match &version.material {
            Material::TokenLabel(label) => {
                let out = self.token.encrypt(label, &aad, plaintext)?;
                (out.nonce, out.ciphertext)
            }
            Material::Wrapped { master, wrapped } => {
                let secret = self.token.unwrap(master, wrapped)?;
                self.seal_wrapped(&secret, &aad, plaintext)?
            }
            Material::Destroyed => return Err(Self::material_destroyed()),
        };
        let out = Header {
            key: key.id,
            version: version.number,
            nonce,
        }
        .with_sealed(&sealed);
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(out)
    }

    /// AES-256-GCM with unwrapped key material under a fresh random nonce: the nonce and
    /// ciphertext ‖ tag of a Kastell ciphertext (its header is the caller's).
    pub(super) fn seal_wrapped(
        &self,
        secret: &SecretBytes,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<([u8; GCM_NONCE_LEN], Vec<u8>), KeyError> {
        let mut nonce = [0u8; GCM_NONCE_LEN];
        self.crypto
            .fill_random(&mut nonce)
            .map_err(TokenError::from)?;
        let sealed = self
            .crypto
            .aes256_gcm_seal(secret, &nonce, aad, plaintext)
            .map_err(TokenError::from)?;
        Ok((nonce, sealed))
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

    /// Decryption gated and audited as `operation` (decrypt, re-encrypt).
    pub(super) fn open(
        &self,
        caller: &Caller,
        operation: Operation,
        expected_key: Option<&str>,
        ciphertext_bytes: &[u8],
        context: &EncryptionContext,
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        let (header, sealed) = match Header::parse(ciphertext_bytes) {
            Ok(parsed) => parsed,
            Err(err) => {
                let record = Record {
                    caller,
                    operation,
                    key: None,
                    version: None,
                    context: Some(context),
                };
                return self.refuse(&record, KeyError::InvalidCiphertext, err.to_string());
            }
        };
        let Some(key) = self.store.key(&header.key)? else {
            let record = Record {
                caller,
                operation,
                key: None,
                version: None,
                context: Some(context),
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
        };
        if let Some(expected) = expected_key {
            let wanted = self.resolve(expected)?;
            if wanted.id != key.id {
                return self.refuse(
                    &record,
                    KeyError::IncorrectKey,
                    format!("ciphertext names key {}", key.id),
                );
            }
        }
        self.authorize(&record, &key, KeyUsage::EncryptDecrypt)?;
        let Some(version) = key.version(header.version) else {
            return self.refuse(
                &record,
                KeyError::InvalidCiphertext,
                format!("no version {}", header.version),
            );
        };
        if header.version < key.min_decrypt_version {
            let why = format!(
                "version {} is below the minimum decryption version {}",
                header.version, key.min_decrypt_version
            );
            return self.refuse_state(&record, why);
        }
        let aad = header.aad(context);
        let opened = match &version.material {
            Material::TokenLabel(label) => self.token.decrypt(label, &header.nonce, &aad, sealed),
            Material::Wrapped { master, wrapped } => {
                let secret = self.token.unwrap(master, wrapped)?;
                self.crypto
                    .aes256_gcm_open(&secret, &header.nonce, &aad, sealed)
                    .map_err(TokenError::from)
            }
            Material::Destroyed => return Err(Self::material_destroyed()),
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
