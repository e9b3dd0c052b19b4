//! Dry runs (AWS KMS's `DryRun`): the gate of a key operation passed exactly as the
//! operation itself passes it (lookup, role, state, usage, algorithm, policy; for a
//! decryption the ciphertext's header and version too), and nothing more: no crypto, no
//! result. A refusal is the operation's own refusal, audited as such; a dry run that
//! would succeed is audited under the operation as allowed, its reason saying that
//! nothing was done.

use kastell_proto::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm,
};
use kastell_proto::{EncryptionContext, KeySpec, KeyUsage, Operation};

use super::algorithms::{Algorithm, encryption, kind_of, mac, signing};
use super::asymmetric::symmetric;
use super::audited::Record;
use super::reencrypt::{Destination, ReEncryptSide, Source};
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord};
use crate::audit::Outcome;
use crate::crypto::KeyFamily;

/// The audit reason of a dry run that would succeed.
const WOULD_SUCCEED: &str = "dry run: would be allowed; nothing was done";

/// The operation a dry run checks, with what its gate looks at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DryRun<'a> {
    /// [`KeyService::encrypt_with`].
    Encrypt {
        /// The key.
        key: &'a str,
        /// The algorithm.
        algorithm: Option<EncryptionAlgorithm>,
        /// The context.
        context: &'a EncryptionContext,
    },
    /// [`KeyService::decrypt_with`].
    Decrypt {
        /// The key named, if any.
        key: Option<&'a str>,
        /// The algorithm.
        algorithm: Option<EncryptionAlgorithm>,
        /// The ciphertext (its header names key and version).
        ciphertext: &'a [u8],
        /// The context.
        context: &'a EncryptionContext,
    },
    /// [`KeyService::re_encrypt_with`].
    ReEncrypt {
        /// The ciphertext.
        ciphertext: &'a [u8],
        /// The source side.
        source: ReEncryptSide<'a>,
        /// The destination side.
        destination: ReEncryptSide<'a>,
    },
    /// [`KeyService::generate_data_key`].
    GenerateDataKey {
        /// The key.
        key: &'a str,
        /// The context.
        context: &'a EncryptionContext,
        /// Whether the plaintext would be returned.
        with_plaintext: bool,
    },
    /// [`KeyService::generate_data_key_pair`].
    GenerateDataKeyPair {
        /// The key.
        key: &'a str,
        /// The pair's spec.
        spec: KeySpec,
        /// The context.
        context: &'a EncryptionContext,
        /// Whether the private key would be returned in plaintext.
        with_plaintext: bool,
    },
    /// [`KeyService::sign_with`] (`verify: false`) or [`KeyService::verify_with`].
    Sign {
        /// The key.
        key: &'a str,
        /// The algorithm.
        algorithm: Option<SigningAlgorithm>,
        /// `RAW` or `DIGEST`.
        message_type: MessageType,
        /// Verify rather than sign.
        verify: bool,
    },
    /// [`KeyService::generate_mac_with`] (`verify: false`) or
    /// [`KeyService::verify_mac_with`].
    Mac {
        /// The key.
        key: &'a str,
        /// The algorithm.
        algorithm: Option<MacAlgorithm>,
        /// Verify rather than generate.
        verify: bool,
    },
    /// [`KeyService::derive_shared_secret`].
    DeriveSharedSecret {
        /// The key.
        key: &'a str,
        /// The algorithm.
        algorithm: Option<KeyAgreementAlgorithm>,
    },
}

impl KeyService {
    /// Passes the gate of `run` as the operation would, and audits that it would succeed;
    /// nothing is done.
    ///
    /// # Errors
    /// The operation's own refusals (each audited), or an internal failure.
    pub fn dry_run(&self, caller: &Caller, run: DryRun<'_>) -> Result<(), KeyError> {
        match run {
            DryRun::Encrypt {
                key,
                algorithm,
                context,
            } => {
                let key = self.resolve_for(caller, Operation::Encrypt, key)?;
                if symmetric(key.spec, algorithm) {
                    self.seal_gate(caller, Operation::Encrypt, key, context)
                } else {
                    let usage = KeyUsage::EncryptDecrypt;
                    let allowed = encryption(key.spec, algorithm);
                    let record = self.algorithm_gate(
                        caller,
                        Operation::Encrypt,
                        &key,
                        usage,
                        allowed,
                        Algorithm::Encryption,
                        Some(context),
                    )?;
                    self.no_context(&record, &key, context)?;
                    self.would_succeed(&record)
                }
            }
            DryRun::Decrypt {
                key,
                algorithm,
                ciphertext,
                context,
            } => self.dry_decrypt(caller, key, algorithm, ciphertext, context),
            DryRun::ReEncrypt {
                ciphertext,
                source,
                destination,
            } => {
                let (from, to) = self.re_encrypt_gates(caller, ciphertext, source, destination)?;
                let from_version = match &from {
                    Source::Symmetric(opening) => Some(opening.header.version),
                    Source::Rsa { .. } => None,
                };
                let to_version = match &to {
                    Destination::Symmetric(sealing) => Some(sealing.version.number),
                    Destination::Rsa { key, .. } => key.current().map(|v| v.number),
                };
                self.would_succeed(&Record {
                    version: from_version,
                    context: Some(source.context),
                    ..Record::on(caller, Operation::ReEncryptFrom, Some(from.key()))
                })?;
                self.would_succeed(&Record {
                    version: to_version,
                    context: Some(destination.context),
                    ..Record::on(caller, Operation::ReEncryptTo, Some(to.key()))
                })
            }
            DryRun::GenerateDataKey {
                key,
                context,
                with_plaintext,
            } => {
                let operation = if with_plaintext {
                    Operation::GenerateDataKey
                } else {
                    Operation::GenerateDataKeyWithoutPlaintext
                };
                let key = self.resolve_for(caller, operation, key)?;
                self.seal_gate(caller, operation, key, context)
            }
            DryRun::GenerateDataKeyPair {
                key,
                spec,
                context,
                with_plaintext,
            } => {
                let operation = if with_plaintext {
                    Operation::GenerateDataKeyPair
                } else {
                    Operation::GenerateDataKeyPairWithoutPlaintext
                };
                let key = self.resolve_for(caller, operation, key)?;
                if !matches!(kind_of(spec).family(), KeyFamily::Rsa | KeyFamily::Ec) {
                    let record = Record::on(caller, operation, Some(&key));
                    let why = format!("data key pairs are RSA or ECC key pairs, not {spec}");
                    return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
                }
                self.seal_gate(caller, operation, key, context)
            }
            DryRun::Sign {
                key,
                algorithm,
                message_type,
                verify,
            } => {
                let operation = if verify {
                    Operation::Verify
                } else {
                    Operation::Sign
                };
                let key = self.resolve_for(caller, operation, key)?;
                let allowed = signing(key.spec, algorithm);
                let record = self.algorithm_gate(
                    caller,
                    operation,
                    &key,
                    KeyUsage::SignVerify,
                    allowed,
                    |a| Algorithm::Signing(a, message_type),
                    None,
                )?;
                self.would_succeed(&record)
            }
            DryRun::Mac {
                key,
                algorithm,
                verify,
            } => {
                let operation = if verify {
                    Operation::VerifyMac
                } else {
                    Operation::GenerateMac
                };
                let key = self.resolve_for(caller, operation, key)?;
                let allowed = mac(key.spec, algorithm);
                let record = self.algorithm_gate(
                    caller,
                    operation,
                    &key,
                    KeyUsage::GenerateVerifyMac,
                    allowed,
                    Algorithm::Mac,
                    None,
                )?;
                self.would_succeed(&record)
            }
            DryRun::DeriveSharedSecret { key, algorithm } => {
                let operation = Operation::DeriveSharedSecret;
                let key = self.resolve_for(caller, operation, key)?;
                let record = self.algorithm_gate(
                    caller,
                    operation,
                    &key,
                    KeyUsage::KeyAgreement,
                    Ok(algorithm.unwrap_or(KeyAgreementAlgorithm::Ecdh)),
                    Algorithm::KeyAgreement,
                    None,
                )?;
                self.would_succeed(&record)
            }
        }
    }

    /// The dry run of [`KeyService::decrypt_with`]: the same choice of path.
    fn dry_decrypt(
        &self,
        caller: &Caller,
        key: Option<&str>,
        algorithm: Option<EncryptionAlgorithm>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(), KeyError> {
        let operation = Operation::Decrypt;
        let named = match (key, algorithm) {
            (_, Some(EncryptionAlgorithm::SymmetricDefault)) | (None, None) => None,
            (Some(name), None) => {
                let found = self.resolve_for(caller, operation, name)?;
                (!symmetric(found.spec, None)).then_some(found)
            }
            (Some(name), Some(_)) => Some(self.resolve_for(caller, operation, name)?),
            (None, Some(algorithm)) => {
                let record = Record::on(caller, operation, None);
                let why = format!(
                    "decrypting with {algorithm} needs the key named: RSA-OAEP ciphertexts do \
                     not name their key"
                );
                return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
            }
        };
        let Some(named) = named else {
            let opening = self.authorize_open(caller, operation, key, ciphertext, context, None)?;
            return self.would_succeed(&Record {
                version: Some(opening.header.version),
                context: Some(context),
                ..Record::on(caller, operation, Some(&opening.key))
            });
        };
        let allowed = encryption(named.spec, algorithm);
        let record = self.algorithm_gate(
            caller,
            operation,
            &named,
            KeyUsage::EncryptDecrypt,
            allowed,
            Algorithm::Encryption,
            Some(context),
        )?;
        self.no_context(&record, &named, context)?;
        self.would_succeed(&record)
    }

    /// The gate of an encryption under the current version of `key` (symmetric), then
    /// the dry run's record.
    fn seal_gate(
        &self,
        caller: &Caller,
        operation: Operation,
        key: KeyRecord,
        context: &EncryptionContext,
    ) -> Result<(), KeyError> {
        let sealing = self.authorize_seal(caller, operation, key, context, None)?;
        self.would_succeed(&Record {
            version: Some(sealing.version.number),
            context: Some(context),
            ..Record::on(caller, operation, Some(&sealing.key))
        })
    }

    /// The gate of an operation that takes an algorithm, as the operation passes it; the
    /// record it leaves (algorithm named) for the dry run's audit.
    #[expect(clippy::too_many_arguments, reason = "the gate's own inputs, one each")]
    fn algorithm_gate<'r, A: Copy>(
        &self,
        caller: &'r Caller,
        operation: Operation,
        key: &'r KeyRecord,
        usage: KeyUsage,
        allowed: Result<A, KeyError>,
        algorithm: impl FnOnce(A) -> Algorithm,
        context: Option<&'r EncryptionContext>,
    ) -> Result<Record<'r>, KeyError> {
        let mut record = Record {
            version: key.current().map(|v| v.number),
            context,
            ..Record::on(caller, operation, Some(key))
        };
        self.authorize_algorithm(&mut record, key, usage, allowed, algorithm)?;
        Ok(record)
    }

    fn would_succeed(&self, record: &Record<'_>) -> Result<(), KeyError> {
        self.audit(record, Outcome::Allowed, WOULD_SUCCEED.to_owned())
    }
}
