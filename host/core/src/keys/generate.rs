//! Data keys, MACs and random bytes. (Re-encrypt is in `reencrypt.rs`.)

use kastell_proto::algorithm::MacAlgorithm;
use kastell_proto::{KeySpec, KeyUsage};

use super::algorithms::{Algorithm, mac};
use super::signing::crypto_error;
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

/// The length of a data key unless asked otherwise (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// A new data key: its plaintext (absent for the without-plaintext variant) and the same
/// key encrypted under the master key named in the request.
#[derive(Debug)]
pub struct DataKey {
    /// The data key (32 bytes for AES-256 unless asked otherwise), for local use and
    /// prompt erasure.
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
        self.generate_data_key_of(caller, key, context, with_plaintext, DATA_KEY_LEN)
    }

    /// [`KeyService::generate_data_key`] of `len` bytes (1 to [`MAX_RANDOM`]; AWS KMS's
    /// `NumberOfBytes`, 16 for `AES_128`).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a length out of range, and as
    /// [`KeyService::encrypt`].
    pub fn generate_data_key_of(
        &self,
        caller: &Caller,
        key: &str,
        context: &EncryptionContext,
        with_plaintext: bool,
        len: usize,
    ) -> Result<DataKey, KeyError> {
        let operation = if with_plaintext {
            Operation::GenerateDataKey
        } else {
            Operation::GenerateDataKeyWithoutPlaintext
        };
        if !(1..=MAX_RANDOM).contains(&len) {
            return Err(KeyError::InvalidInput(format!(
                "a data key is 1 to {MAX_RANDOM} bytes, not {len}"
            )));
        }
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        self.crypto
            .fill_random(&mut bytes)
            .map_err(TokenError::from)?;
        let ciphertext = self.seal(caller, operation, key, &bytes, context)?;
        Ok(DataKey {
            plaintext: with_plaintext.then(|| SecretBytes::from_slice(&bytes)),
            ciphertext,
        })
    }

    /// The MAC of `message` with `version` of `key`, for the operation `record`
    /// describes.
    fn mac_with(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &KeyVersion,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        if key.spec != KeySpec::HmacSha384 {
            let prepared = self.generic_source(record, key, version)?;
            return prepared
                .mac(algorithm, message)
                .map_err(|err| crypto_error(&err));
        }
        Ok(match self.material(record, key, version)? {
            Source::Token(label) => self.token.mac(&label, message)?.to_vec(),
            Source::Wrapped(wrapped) => self
                .prepared(key, version.number, wrapped)?
                .hmac_sha384(message)
                .map_err(TokenError::from)?
                .to_vec(),
        })
    }

    /// The MAC of `message` under the current version of `key`, with the spec's own
    /// algorithm.
    ///
    /// # Errors
    /// As [`KeyService::generate_mac_with`].
    pub fn generate_mac(
        &self,
        caller: &Caller,
        key: &str,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.generate_mac_with(caller, key, None, message)
    }

    /// The MAC of `message` under the current version of `key` with `algorithm` (it must
    /// be the spec's own: `HMAC_SHA_256` for an `HMAC_256` key).
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`] (audited), and as [`KeyService::encrypt`].
    pub fn generate_mac_with(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let key = self.resolve_for(caller, Operation::GenerateMac, key)?;
        let version = Self::current_version(&key)?;
        let mut record = Record {
            caller,
            operation: Operation::GenerateMac,
            key: Some(&key),
            version: Some(version.number),
            context: None,
            algorithm: None,
            label: None,
        };
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::GenerateVerifyMac,
            mac(key.spec, algorithm),
            Algorithm::Mac,
        )?;
        let tag = self.mac_with(&record, &key, version, algorithm, message);
        let tag = self.settle(&record, tag)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(tag)
    }

    /// Whether `mac` is the MAC of `message` under any version of `key` from the minimum
    /// decryption version on (compared in constant time), with the spec's own algorithm.
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
        self.verify_mac_with(caller, key, None, message, mac)
    }

    /// [`KeyService::verify_mac`] with `algorithm` named.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`] (audited), and as [`KeyService::encrypt`].
    pub fn verify_mac_with(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: Option<MacAlgorithm>,
        message: &[u8],
        tag: &[u8],
    ) -> Result<bool, KeyError> {
        let key = self.resolve_for(caller, Operation::VerifyMac, key)?;
        let mut record = Record::on(caller, Operation::VerifyMac, Some(&key));
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::GenerateVerifyMac,
            mac(key.spec, algorithm),
            Algorithm::Mac,
        )?;
        for version in key
            .versions
            .iter()
            .rev()
            .filter(|v| v.number >= key.min_decrypt_version)
        {
            let expected = self.mac_with(&record, &key, version, algorithm, message);
            let expected = self.settle(&record, expected)?;
            if bool::from(expected.as_slice().ct_eq(tag)) {
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
