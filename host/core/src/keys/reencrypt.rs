//! Re-encrypt: a ciphertext decrypted under its key and encrypted under another without
//! the plaintext leaving the service, each side with its own context and algorithm (AWS
//! KMS's `ReEncrypt`: symmetric or RSA-OAEP on either side). The source key's policy is
//! asked `re-encrypt-from` and the destination's `re-encrypt-to`, each request naming the
//! other key; both are asked before anything is decrypted, and each side is audited
//! under its own operation with its own context.

use kastell_proto::algorithm::EncryptionAlgorithm;
use kastell_proto::{EncryptionContext, KeyId, KeyUsage, Operation};

use super::algorithms::{Algorithm, encryption};
use super::asymmetric::symmetric;
use super::audited::Record;
use super::encryption::{Opening, Sealing};
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord};
use crate::secret::SecretBytes;

/// One side of a re-encryption.
#[derive(Debug, Clone, Copy)]
pub struct ReEncryptSide<'a> {
    /// The key: on the destination side, required; on the source side, the key the
    /// ciphertext must be of (required for an RSA-OAEP ciphertext, which does not name
    /// its key).
    pub key: Option<&'a str>,
    /// The algorithm: `SYMMETRIC_DEFAULT` (the default, but for an RSA key named) or
    /// RSA-OAEP.
    pub algorithm: Option<EncryptionAlgorithm>,
    /// The encryption context (symmetric keys only).
    pub context: &'a EncryptionContext,
}

/// What a re-encryption made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReEncrypted {
    /// The key the ciphertext was of.
    pub source_key: KeyId,
    /// How it had been encrypted.
    pub source_algorithm: EncryptionAlgorithm,
    /// The key it is now encrypted under.
    pub key: KeyId,
    /// How.
    pub algorithm: EncryptionAlgorithm,
    /// The new ciphertext.
    pub ciphertext: Vec<u8>,
}

/// The source side, its gate passed.
pub(super) enum Source<'c> {
    /// A Kastell ciphertext.
    Symmetric(Opening<'c>),
    /// An RSA-OAEP ciphertext of `key`.
    Rsa {
        key: KeyRecord,
        algorithm: EncryptionAlgorithm,
        ciphertext: &'c [u8],
    },
}

impl Source<'_> {
    pub(super) fn key(&self) -> &KeyRecord {
        match self {
            Self::Symmetric(opening) => &opening.key,
            Self::Rsa { key, .. } => key,
        }
    }
}

/// The destination side, its gate passed.
pub(super) enum Destination {
    /// A Kastell ciphertext under the key's current version.
    Symmetric(Sealing),
    /// RSA-OAEP under `key`.
    Rsa {
        key: KeyRecord,
        algorithm: EncryptionAlgorithm,
    },
}

impl Destination {
    pub(super) fn key(&self) -> &KeyRecord {
        match self {
            Self::Symmetric(sealing) => &sealing.key,
            Self::Rsa { key, .. } => key,
        }
    }
}

/// Whether a side goes the RSA-OAEP way: RSA-OAEP named, or an RSA key named without an
/// algorithm (refused then as needing one named).
fn is_rsa(key: Option<&KeyRecord>, algorithm: Option<EncryptionAlgorithm>) -> bool {
    match (key, algorithm) {
        (_, Some(algorithm)) => algorithm != EncryptionAlgorithm::SymmetricDefault,
        (Some(key), None) => !symmetric(key.spec, None),
        (None, None) => false,
    }
}

impl KeyService {
    /// Decrypts `ciphertext` and encrypts the plaintext under `destination`'s key with
    /// the same context, without the plaintext leaving the service (the native API's
    /// re-encrypt: symmetric keys on both sides).
    ///
    /// # Errors
    /// The errors of [`KeyService::re_encrypt_with`].
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        destination: &str,
    ) -> Result<Vec<u8>, KeyError> {
        let source = ReEncryptSide {
            key: None,
            algorithm: None,
            context,
        };
        let destination = ReEncryptSide {
            key: Some(destination),
            algorithm: None,
            context,
        };
        Ok(self
            .re_encrypt_with(caller, ciphertext, source, destination)?
            .ciphertext)
    }

    /// Decrypts `ciphertext` as `source` says and encrypts the plaintext as `destination`
    /// says, without the plaintext leaving the service. Both keys' gates (role, state,
    /// usage, algorithm, policy: `re-encrypt-from` for the source, `re-encrypt-to` for the
    /// destination, each naming the other key) pass before anything is decrypted.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] without a destination key, or for an RSA-OAEP source
    /// without its key, and the errors of [`KeyService::decrypt_with`] and
    /// [`KeyService::encrypt_with`], each audited under its side's operation.
    pub fn re_encrypt_with(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        source: ReEncryptSide<'_>,
        destination: ReEncryptSide<'_>,
    ) -> Result<ReEncrypted, KeyError> {
        let (opened, sealer) = self.re_encrypt_gates(caller, ciphertext, source, destination)?;
        let source_key = opened.key().id;
        let (source_algorithm, plaintext) = self.open_source(caller, opened, source.context)?;
        let (algorithm, out) =
            self.seal_destination(caller, &sealer, plaintext.expose(), destination.context)?;
        Ok(ReEncrypted {
            source_key,
            source_algorithm,
            key: sealer.key().id,
            algorithm,
            ciphertext: out,
        })
    }

    /// Both gates of a re-encryption, the source's first; nothing is decrypted.
    pub(super) fn re_encrypt_gates<'c>(
        &self,
        caller: &Caller,
        ciphertext: &'c [u8],
        source: ReEncryptSide<'_>,
        destination: ReEncryptSide<'_>,
    ) -> Result<(Source<'c>, Destination), KeyError> {
        let Some(name) = destination.key else {
            return Err(KeyError::InvalidInput(
                "a re-encryption needs its destination key".into(),
            ));
        };
        let to = self.resolve_for(caller, Operation::ReEncryptTo, name)?;
        let from = self.source_gate(caller, ciphertext, source, &to)?;
        let sealer = self.destination_gate(caller, to, destination, from.key())?;
        Ok((from, sealer))
    }

    fn source_gate<'c>(
        &self,
        caller: &Caller,
        ciphertext: &'c [u8],
        side: ReEncryptSide<'_>,
        destination: &KeyRecord,
    ) -> Result<Source<'c>, KeyError> {
        let operation = Operation::ReEncryptFrom;
        let named = side
            .key
            .map(|key| self.resolve_for(caller, operation, key))
            .transpose()?;
        if !is_rsa(named.as_ref(), side.algorithm) {
            let opening = self.authorize_open(
                caller,
                operation,
                side.key,
                ciphertext,
                side.context,
                Some(destination),
            )?;
            return Ok(Source::Symmetric(opening));
        }
        let Some(key) = named else {
            let record = Record::on(caller, operation, None);
            let why = "re-encrypting an RSA-OAEP ciphertext needs its key named \
                       (SourceKeyId): RSA-OAEP ciphertexts do not name their key"
                .to_owned();
            return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
        };
        let algorithm = self.rsa_gate(caller, operation, &key, side, destination)?;
        Ok(Source::Rsa {
            key,
            algorithm,
            ciphertext,
        })
    }

    fn destination_gate(
        &self,
        caller: &Caller,
        key: KeyRecord,
        side: ReEncryptSide<'_>,
        source: &KeyRecord,
    ) -> Result<Destination, KeyError> {
        let operation = Operation::ReEncryptTo;
        if !is_rsa(Some(&key), side.algorithm) {
            let sealing =
                self.authorize_seal(caller, operation, key, side.context, Some(source))?;
            return Ok(Destination::Symmetric(sealing));
        }
        let algorithm = self.rsa_gate(caller, operation, &key, side, source)?;
        Ok(Destination::Rsa { key, algorithm })
    }

    /// The gate of one RSA-OAEP side: role, state, usage, algorithm, no context, policy
    /// (naming `other`).
    fn rsa_gate(
        &self,
        caller: &Caller,
        operation: Operation,
        key: &KeyRecord,
        side: ReEncryptSide<'_>,
        other: &KeyRecord,
    ) -> Result<EncryptionAlgorithm, KeyError> {
        let mut record = Record {
            context: Some(side.context),
            ..Record::on(caller, operation, Some(key))
        };
        let algorithm = self.authorize_algorithm_with(
            &mut record,
            key,
            KeyUsage::EncryptDecrypt,
            encryption(key.spec, side.algorithm),
            Algorithm::Encryption,
            Some(other),
        )?;
        self.no_context(&record, key, side.context)?;
        Ok(algorithm)
    }

    fn open_source(
        &self,
        caller: &Caller,
        source: Source<'_>,
        context: &EncryptionContext,
    ) -> Result<(EncryptionAlgorithm, SecretBytes), KeyError> {
        let operation = Operation::ReEncryptFrom;
        match source {
            Source::Symmetric(opening) => {
                let (_, plaintext) = self.finish_open(caller, operation, opening, context)?;
                Ok((EncryptionAlgorithm::SymmetricDefault, plaintext))
            }
            Source::Rsa {
                key,
                algorithm,
                ciphertext,
            } => {
                let record = Record {
                    context: Some(context),
                    algorithm: Some(Algorithm::Encryption(algorithm)),
                    ..Record::on(caller, operation, Some(&key))
                };
                let plaintext = self.rsa_open(&record, &key, algorithm, ciphertext)?;
                Ok((algorithm, plaintext))
            }
        }
    }

    fn seal_destination(
        &self,
        caller: &Caller,
        destination: &Destination,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(EncryptionAlgorithm, Vec<u8>), KeyError> {
        let operation = Operation::ReEncryptTo;
        match destination {
            Destination::Symmetric(sealing) => Ok((
                EncryptionAlgorithm::SymmetricDefault,
                self.finish_seal(caller, operation, sealing, plaintext, context)?,
            )),
            Destination::Rsa { key, algorithm } => {
                let record = Record {
                    version: key.current().map(|v| v.number),
                    context: Some(context),
                    algorithm: Some(Algorithm::Encryption(*algorithm)),
                    ..Record::on(caller, operation, Some(key))
                };
                Ok((
                    *algorithm,
                    self.rsa_seal(&record, key, *algorithm, plaintext)?,
                ))
            }
        }
    }
}
