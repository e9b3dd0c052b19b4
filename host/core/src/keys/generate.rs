//! Data keys, MACs and random bytes.

use kastell_proto::KeyUsage;
use kastell_proto::{EncryptionContext, Operation, Role};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::audited::Record;
use super::gate::Source;
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord, KeyVersion};
use crate::audit::Outcome;

use crate::secret::SecretBytes;
use crate::token::TokenError;

/// Most random bytes one call returns.
pub const MAX_RANDOM: usize = 1024;

/// A new data key: its plaintext (absent for the without-plaintext variant) and the same
/// key encrypted under the master key named in the request.
#[derive(Debug)]
pub struct DataKey {
    /// The 32-byte AES-256 data key, for local use and prompt erasure.
    pub plaintext: Option<SecretBytes>,
    /// The data key as a Kastell ciphertext; `decrypt` returns the plaintext later.
    pub ciphertext: Vec<u8>,
}

impl KeyService {
    /// Generates a 256-bit data key and encrypts it under `key` with `context`.
    /// With `with_plaintext` false (generate-data-key-without-plaintext) only the
    /// ciphertext is returned.
    ///
    /// # Errors
    /// As [`KeyService::encrypt`].
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key: &str,
        context: &EncryptionContext,
        with_plaintext: bool,
    ) -> Result<DataKey, KeyError> {
        let operation = if with_plaintext {
            Operation::GenerateDataKey
        } else {
            Operation::GenerateDataKeyWithoutPlaintext
        };
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        self.crypto
            .fill_random(&mut bytes)
            .map_err(TokenError::from)?;
        let ciphertext = self.seal(caller, operation, key, &bytes, context)?;
        Ok(DataKey {
            plaintext: with_plaintext.then(|| SecretBytes::from_slice(&bytes)),
            ciphertext,
        })
    }

    /// HMAC-SHA-384 of `message` with `version` of `key`, for the operation `record`
    /// describes.
    fn mac_with(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &KeyVersion,
        message: &[u8],
    ) -> Result<[u8; 48], KeyError> {
        Ok(match self.material(record, key, version)? {
            Source::Token(label) => self.token.mac(&label, message)?,
            Source::Wrapped(wrapped) => self
                .prepared(key, version.number, wrapped)?
                .hmac_sha384(message)
                .map_err(TokenError::from)?,
        })
    }

    /// HMAC-SHA-384 of `message` under the current version of `key`.
    ///
    /// # Errors
    /// As [`KeyService::encrypt`].
    pub fn generate_mac(
        &self,
        caller: &Caller,
        key: &str,
        message: &[u8],
    ) -> Result<[u8; 48], KeyError> {
        let key = self.resolve_for(caller, Operation::GenerateMac, key)?;
        let version = Self::current_version(&key)?;
        let record = Record {
            caller,
            operation: Operation::GenerateMac,
            key: Some(&key),
            version: Some(version.number),
            context: None,
        };
        self.authorize(&record, &key, KeyUsage::GenerateVerifyMac)?;
        let mac = self.mac_with(&record, &key, version, message)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(mac)
    }

    /// Whether `mac` is the HMAC-SHA-384 of `message` under any version of `key` from the
    /// minimum decryption version on (compared in constant time).
    ///
    /// # Errors
    /// As [`KeyService::encrypt`].
    pub fn verify_mac(
        &self,
        caller: &Caller,
        key: &str,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, KeyError> {
        let key = self.resolve_for(caller, Operation::VerifyMac, key)?;
        let record = Record::on(caller, Operation::VerifyMac, Some(&key));
        self.authorize(&record, &key, KeyUsage::GenerateVerifyMac)?;
        for version in key
            .versions
            .iter()
            .rev()
            .filter(|v| v.number >= key.min_decrypt_version)
        {
            let expected = self.mac_with(&record, &key, version, message)?;
            if bool::from(expected.as_slice().ct_eq(mac)) {
                let record = Record {
                    version: Some(version.number),
                    ..record
                };
                self.audit(&record, Outcome::Allowed, "MAC valid".into())?;
                return Ok(true);
            }
        }
        self.audit(&record, Outcome::Allowed, "MAC invalid".into())?;
        Ok(false)
    }

    /// `len` (1–1024) random bytes from the token; crypto-users only.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a length out of range, [`KeyError::AccessDenied`].
    pub fn generate_random(&self, caller: &Caller, len: usize) -> Result<Vec<u8>, KeyError> {
        let record = Record::on(caller, Operation::GenerateRandom, None);
        if !(1..=MAX_RANDOM).contains(&len) {
            return Err(KeyError::InvalidInput(format!(
                "random length must be 1 to {MAX_RANDOM}, not {len}"
            )));
        }
        if !caller.roles.contains(&Role::CryptoUser) {
            return self.refuse_role(&record, Role::CryptoUser);
        }
        let mut out = vec![0u8; len];
        self.token.random(&mut out)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(out)
    }
}

impl KeyService {
    /// Decrypts `ciphertext` and encrypts the plaintext under `destination` with the same
    /// context, without the plaintext leaving the service. The source key's policy is asked
    /// `re-encrypt-from` and the destination's `re-encrypt-to`, each request naming the
    /// other key; both must allow, and both are asked before anything is decrypted. Each
    /// side is audited under its own operation.
    ///
    /// # Errors
    /// The errors of [`KeyService::decrypt`] and [`KeyService::encrypt`].
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        destination: &str,
    ) -> Result<Vec<u8>, KeyError> {
        let destination = self.resolve_for(caller, Operation::ReEncryptTo, destination)?;
        let opening = self.authorize_open(
            caller,
            Operation::ReEncryptFrom,
            None,
            ciphertext,
            context,
            Some(&destination),
        )?;
        let sealing = self.authorize_seal(
            caller,
            Operation::ReEncryptTo,
            destination,
            context,
            Some(&opening.key),
        )?;
        let (_, plaintext) =
            self.finish_open(caller, Operation::ReEncryptFrom, opening, context)?;
        self.finish_seal(
            caller,
            Operation::ReEncryptTo,
            &sealing,
            plaintext.expose(),
            context,
        )
    }
}
