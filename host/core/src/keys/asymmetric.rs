//! What the asymmetric specs add: RSA-OAEP encryption and decryption (the ciphertext is
//! the raw OAEP output, as AWS KMS returns it: decrypting names the key and the
//! algorithm), ECDH shared secrets, and data key pairs (a fresh RSA or ECC key pair whose
//! private key comes back as PKCS#8, encrypted under a symmetric key).

use kastell_proto::algorithm::{EncryptionAlgorithm, KeyAgreementAlgorithm};
use kastell_proto::{EncryptionContext, KeyId, KeySpec, KeyUsage, Operation};

use super::algorithms::{Algorithm, encryption, kind_of};
use super::audited::Record;
use super::service::KeyService;
use super::signing::crypto_error;
use super::{Caller, KeyError, KeyRecord};
use crate::audit::Outcome;
use crate::crypto::{CryptoError, KeyFamily};
use crate::secret::SecretBytes;
use crate::token::TokenError;

/// A ciphertext and how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The key.
    pub key: KeyId,
    /// The algorithm: `SYMMETRIC_DEFAULT` (a Kastell ciphertext naming key and version) or
    /// RSA-OAEP (the raw OAEP output).
    pub algorithm: EncryptionAlgorithm,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// A new data key pair.
#[derive(Debug)]
pub struct DataKeyPair {
    /// The symmetric key that encrypted the private key.
    pub key: KeyId,
    /// The pair's spec (RSA or ECC).
    pub spec: KeySpec,
    /// The public key, SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The private key, PKCS#8 DER (absent for the without-plaintext variant).
    pub private_key: Option<SecretBytes>,
    /// The private key as a Kastell ciphertext under `key`; `decrypt` returns the PKCS#8.
    pub private_key_ciphertext: Vec<u8>,
}

/// Whether a request for `algorithm` on a `spec` key goes the symmetric way (a Kastell
/// ciphertext): the symmetric default named, or nothing named on a key that is not RSA.
pub(super) fn symmetric(spec: KeySpec, algorithm: Option<EncryptionAlgorithm>) -> bool {
    match algorithm {
        Some(algorithm) => algorithm == EncryptionAlgorithm::SymmetricDefault,
        None => kind_of(spec).family() != KeyFamily::Rsa,
    }
}

impl KeyService {
    /// Encrypts `plaintext` under the current version of `key` with `algorithm` (default:
    /// the symmetric one of AES keys; RSA keys need RSA-OAEP named). `context` binds AES
    /// ciphertexts only; an RSA key refuses one.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`], [`KeyError::InvalidInput`] (a plaintext too
    /// long for RSA-OAEP, a context with RSA), each audited, and the errors of
    /// [`KeyService::encrypt`].
    pub fn encrypt_with(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: Option<EncryptionAlgorithm>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Encrypted, KeyError> {
        let key = self.resolve_for(caller, Operation::Encrypt, key)?;
        if symmetric(key.spec, algorithm) {
            let id = key.id;
            let sealing = self.authorize_seal(caller, Operation::Encrypt, key, context, None)?;
            let ciphertext =
                self.finish_seal(caller, Operation::Encrypt, &sealing, plaintext, context)?;
            return Ok(Encrypted {
                key: id,
                algorithm: EncryptionAlgorithm::SymmetricDefault,
                ciphertext,
            });
        }
        let version = Self::current_version(&key)?;
        let mut record = Record {
            caller,
            operation: Operation::Encrypt,
            key: Some(&key),
            version: Some(version.number),
            context: Some(context),
            algorithm: None,
            label: None,
        };
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::EncryptDecrypt,
            encryption(key.spec, algorithm),
            Algorithm::Encryption,
        )?;
        self.no_context(&record, &key, context)?;
        let ciphertext = self.rsa_seal(&record, &key, algorithm, plaintext)?;
        Ok(Encrypted {
            key: key.id,
            algorithm,
            ciphertext,
        })
    }

    /// RSA-OAEP encryption of `plaintext` with the current version of `key`, which the
    /// gate allowed for `record`; audited.
    pub(super) fn rsa_seal(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let version = Self::current_version(key)?;
        let sealed = self
            .generic_source(record, key, version)
            .and_then(|prepared| {
                prepared
                    .encrypt(algorithm, plaintext)
                    .map_err(|err| crypto_error(&err))
            });
        let ciphertext = self.settle(record, sealed)?;
        self.audit(record, Outcome::Allowed, String::new())?;
        Ok(ciphertext)
    }

    /// Refuses (audited) an encryption context on an RSA key: RSA-OAEP has no AAD.
    pub(super) fn no_context(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        context: &EncryptionContext,
    ) -> Result<(), KeyError> {
        if context.0.is_empty() {
            return Ok(());
        }
        let why = format!(
            "an encryption context binds AES-256 ciphertexts; RSA-OAEP under a {} key takes none",
            key.spec
        );
        self.refuse(record, KeyError::InvalidInput(why.clone()), why)
    }

    /// Decrypts with `algorithm`: the symmetric default (or nothing named) reads a Kastell
    /// ciphertext as [`KeyService::decrypt`]; RSA-OAEP needs `key` named and tries its
    /// versions from the current one down to the minimum decryption version.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for RSA-OAEP without a key or with a context,
    /// [`KeyError::UnsupportedAlgorithm`], [`KeyError::InvalidCiphertext`] when no version
    /// decrypts (each audited), and the errors of [`KeyService::decrypt`].
    pub fn decrypt_with(
        &self,
        caller: &Caller,
        key: Option<&str>,
        algorithm: Option<EncryptionAlgorithm>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        let named = match (key, algorithm) {
            (_, Some(EncryptionAlgorithm::SymmetricDefault)) | (None, None) => None,
            (Some(name), None) => {
                // An RSA key named without an algorithm is refused as such below.
                let found = self.resolve_for(caller, Operation::Decrypt, name)?;
                (kind_of(found.spec).family() == KeyFamily::Rsa).then_some(found)
            }
            (Some(name), Some(_)) => Some(self.resolve_for(caller, Operation::Decrypt, name)?),
            (None, Some(algorithm)) => {
                let record = Record::on(caller, Operation::Decrypt, None);
                let why = format!(
                    "decrypting with {algorithm} needs the key named: RSA-OAEP ciphertexts do \
                     not name their key"
                );
                return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
            }
        };
        let Some(key) = named else {
            return self.decrypt(caller, key, ciphertext, context);
        };
        let mut record = Record {
            caller,
            operation: Operation::Decrypt,
            key: Some(&key),
            version: None,
            context: Some(context),
            algorithm: None,
            label: None,
        };
        let algorithm = self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::EncryptDecrypt,
            encryption(key.spec, algorithm),
            Algorithm::Encryption,
        )?;
        self.no_context(&record, &key, context)?;
        let plaintext = self.rsa_open(&record, &key, algorithm, ciphertext)?;
        Ok((key.id, plaintext))
    }

    /// RSA-OAEP decryption of `ciphertext` with the versions of `key` from the current one
    /// down to the minimum decryption version, which the gate allowed for `record`;
    /// audited (naming the version that decrypted).
    pub(super) fn rsa_open(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, KeyError> {
        for version in key
            .versions
            .iter()
            .rev()
            .filter(|v| v.number >= key.min_decrypt_version)
        {
            let prepared = self.generic_source(record, key, version)?;
            match prepared.decrypt(algorithm, ciphertext) {
                Ok(plaintext) => {
                    let record = Record {
                        version: Some(version.number),
                        ..*record
                    };
                    self.audit(&record, Outcome::Allowed, String::new())?;
                    return Ok(plaintext);
                }
                Err(CryptoError::Authentication) => {}
                Err(err) => return self.settle(record, Err(crypto_error(&err))),
            }
        }
        self.refuse(
            record,
            KeyError::InvalidCiphertext,
            "RSA-OAEP decryption failed under every usable version".into(),
        )
    }

    /// ECDH between the current version of `key` and the peer's public key
    /// (SubjectPublicKeyInfo DER): the shared secret, the curve's field length. It is key
    /// material: gated like decrypt (the `derive-shared-secret` operation, asked of the
    /// key's policy) and audited.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a peer key on another curve or malformed,
    /// [`KeyError::UnsupportedAlgorithm`] (each audited), and the gate errors of
    /// [`KeyService::encrypt`] (a key whose usage is not KEY_AGREEMENT:
    /// [`KeyError::InvalidKeyUsage`]).
    pub fn derive_shared_secret(
        &self,
        caller: &Caller,
        key: &str,
        algorithm: Option<KeyAgreementAlgorithm>,
        peer_public_key: &[u8],
    ) -> Result<(KeyId, SecretBytes), KeyError> {
        let key = self.resolve_for(caller, Operation::DeriveSharedSecret, key)?;
        let version = Self::current_version(&key)?;
        let mut record = Record {
            caller,
            operation: Operation::DeriveSharedSecret,
            key: Some(&key),
            version: Some(version.number),
            context: None,
            algorithm: None,
            label: None,
        };
        self.authorize_algorithm(
            &mut record,
            &key,
            KeyUsage::KeyAgreement,
            Ok(algorithm.unwrap_or(KeyAgreementAlgorithm::Ecdh)),
            Algorithm::KeyAgreement,
        )?;
        let derived = self
            .generic_source(&record, &key, version)
            .and_then(|prepared| {
                prepared
                    .derive_shared_secret(peer_public_key)
                    .map_err(|err| crypto_error(&err))
            });
        let secret = self.settle(&record, derived)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok((key.id, secret))
    }

    /// A fresh `spec` key pair (RSA or ECC) whose private key (PKCS#8) is encrypted under
    /// the symmetric `key` with `context`, and returned in plaintext too when
    /// `with_plaintext`. The gate (`generate-data-key-pair[-without-plaintext]`) is passed
    /// before the pair is generated.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedSpec`] for a pair spec that is not RSA or ECC (audited), and
    /// the errors of [`KeyService::encrypt`].
    pub fn generate_data_key_pair(
        &self,
        caller: &Caller,
        key: &str,
        spec: KeySpec,
        context: &EncryptionContext,
        with_plaintext: bool,
    ) -> Result<DataKeyPair, KeyError> {
        let operation = if with_plaintext {
            Operation::GenerateDataKeyPair
        } else {
            Operation::GenerateDataKeyPairWithoutPlaintext
        };
        let key = self.resolve_for(caller, operation, key)?;
        let kind = kind_of(spec);
        if !matches!(kind.family(), KeyFamily::Rsa | KeyFamily::Ec) {
            let record = Record::on(caller, operation, Some(&key));
            let why = format!("data key pairs are RSA or ECC key pairs, not {spec}");
            return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
        }
        let id = key.id;
        let sealing = self.authorize_seal(caller, operation, key, context, None)?;
        let material = self.crypto.generate(kind).map_err(TokenError::from)?;
        let prepared = self
            .crypto
            .prepare(kind, material)
            .map_err(TokenError::from)?;
        let public_key = prepared
            .public_key_spki()
            .map_err(TokenError::from)?
            .to_vec();
        let pkcs8 = prepared.private_key_pkcs8().map_err(TokenError::from)?;
        let private_key_ciphertext =
            self.finish_seal(caller, operation, &sealing, pkcs8.expose(), context)?;
        Ok(DataKeyPair {
            key: id,
            spec,
            public_key,
            private_key: with_plaintext.then(|| SecretBytes::from_slice(pkcs8.expose())),
            private_key_ciphertext,
        })
    }
}
