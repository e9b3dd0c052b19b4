//! Attested key release: a key's material (or a fresh data key under it) sealed with HPKE
//! to the public key of a guest whose attestation the caller's evidence carries. Every
//! spec's wrapped material is releasable, in its spec's [`ReleaseFormat`]: AES and HMAC
//! keys as their raw bytes, RSA, EC and ML-DSA keys as PKCS#8 DER.
//!
//! The server verifies the attestation (chain to a trusted root, freshness, the single-use
//! nonce) and puts what it proved in [`Caller::evidence`]; this module refuses unless the
//! key was created releasable, is bound to a policy, and that policy allows `release` for
//! that evidence. Every attempt is audited with the guest's SHA-384.

use kastell_attest::hpke::{self, HpkeError, MaterialKind, ReleaseInfo};
use kastell_proto::KeyId;
use kastell_proto::{EncryptionContext, KeySpec, Operation};
use zeroize::Zeroizing;

use super::audited::Record;
use super::gate::Source;
use super::service::KeyService;
use kastell_attest::Measurement;
use kastell_proto::ciphertext;

use super::{Caller, KeyError, KeyRecord, KeyVersion, Material};
use crate::audit::Outcome;
use crate::crypto::{CryptoError, PreparedKey};
use crate::secret::SecretBytes;

use crate::token::TokenError;

pub use kastell_proto::release::{ReleaseFormat, ReleaseKind};

/// A release asked for by a caller whose evidence the server verified.
#[derive(Debug, Clone)]
pub struct ReleaseRequest<'a> {
    /// Key id or `alias/…`.
    pub key: &'a str,
    /// The version to release (`Key` only; default: the current one).
    pub version: Option<u32>,
    /// Key material or a new data key.
    pub kind: ReleaseKind,
    /// The attested public key (SEC1 uncompressed P-384) to seal to.
    pub recipient: &'a [u8],
    /// The challenge nonce the attestation carries; bound into the HPKE `info`.
    pub nonce: &'a [u8],
    /// Encryption context of the data key's ciphertext (`DataKey` only).
    pub context: &'a EncryptionContext,
}

/// A sealed release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The key.
    pub key: KeyId,
    /// The version whose material (or under which the data key) was released.
    pub version: u32,
    /// The key's spec.
    pub spec: KeySpec,
    /// What was sealed.
    pub kind: ReleaseKind,
    /// How the sealed plaintext is encoded ([`ReleaseFormat::of`] the spec and kind).
    pub format: ReleaseFormat,
    /// HPKE `enc`: 97-byte uncompressed P-384 point.
    pub encapsulated_key: Vec<u8>,
    /// AES-256-GCM ciphertext ‖ tag of the material.
    pub ciphertext: Vec<u8>,
    /// For a data key: the same data key as a Kastell ciphertext under the key.
    pub data_key_ciphertext: Option<Vec<u8>>,
}

impl KeyService {
    /// Releases key material to the attested guest in `caller.evidence`, encoded in the
    /// [`ReleaseFormat`] of its spec.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] without evidence or with a malformed recipient key;
    /// [`KeyError::InvalidState`] for a key not created releasable, a version below the
    /// minimum or destroyed; [`KeyError::InvalidKeyUsage`] for a data key from a non-AES
    /// key; [`KeyError::AccessDenied`] without a bound policy or when it denies; the
    /// lookup and state errors of every key operation.
    pub fn release(
        &self,
        caller: &Caller,
        request: &ReleaseRequest<'_>,
    ) -> Result<Released, KeyError> {
        let Some(evidence) = &caller.evidence else {
            return Err(KeyError::InvalidInput(
                "a release needs verified attestation evidence".into(),
            ));
        };
        let key = self.resolve_for(caller, Operation::Release, request.key)?;
        let version = match (request.kind, request.version) {
            (ReleaseKind::Key, Some(number)) => key.version(number).cloned(),
            (_, None) => Self::current_version(&key).ok().cloned(),
            (ReleaseKind::DataKey, Some(_)) => None,
        };
        let record = Record {
            caller,
            operation: Operation::Release,
            key: Some(&key),
            version: version.as_ref().map(|v| v.number),
            context: (request.kind == ReleaseKind::DataKey).then_some(request.context),
            algorithm: None,
            label: None,
        };
        let Some(version) = version else {
            let why = match request.version {
                Some(n) if request.kind == ReleaseKind::Key => {
                    format!("key {} has no version {n}", key.id)
                }
                Some(_) => "a data key is always made under the current version".into(),
                None => format!("key {} has no version", key.id),
            };
            return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
        };
        if !key.releasable {
            return self.refuse_state(
                &record,
                format!(
                    "key {} was not created releasable (its material never leaves the service)",
                    key.id
                ),
            );
        }
        if version.number < key.min_decrypt_version {
            return self.refuse_state(
                &record,
                format!(
                    "version {} is below the key's minimum version {}",
                    version.number, key.min_decrypt_version
                ),
            );
        }
        if request.kind == ReleaseKind::DataKey && key.spec != KeySpec::Aes256 {
            let why = format!("data keys come from AES_256 keys; key {} is not", key.id);
            return self.refuse(
                &record,
                KeyError::InvalidKeyUsage {
                    key: key.id,
                    usage: key.usage,
                },
                why,
            );
        }
        if key.policy.is_none() {
            return self.refuse(
                &record,
                KeyError::AccessDenied,
                "a key without a bound policy is never released".into(),
            );
        }
        if !matches!(version.material, Material::Wrapped { .. }) {
            return self.refuse_state(
                &record,
                "only wrapped, existing material is ever released".into(),
            );
        }
        self.authorize(&record, &key, key.usage)?;
        let Source::Wrapped(wrapped) = self.material(&record, &key, &version)? else {
            return self.refuse_state(&record, "only wrapped material is ever released".into());
        };
        // Past the policy, every failure is still audited before it is returned.
        match self.seal_release(&key, &version, wrapped, request, &evidence.guest_sha384) {
            Ok(released) => {
                self.audit(&record, Outcome::Allowed, request.kind.as_str().to_owned())?;
                Ok(released)
            }
            Err(err @ KeyError::InvalidInput(_)) => {
                let why = err.to_string();
                self.refuse(&record, err, why)
            }
            Err(err) => {
                self.audit(&record, Outcome::Denied, format!("internal: {err}"))?;
                Err(err)
            }
        }
    }

    /// The material (or a new data key and its wrapped copy) of `version`, whose wrapped
    /// bytes are `wrapped`, sealed to the request's recipient and bound to the key, `guest`
    /// and the nonce.
    fn seal_release(
        &self,
        key: &KeyRecord,
        version: &KeyVersion,
        wrapped: &[u8],
        request: &ReleaseRequest<'_>,
        guest: &Measurement,
    ) -> Result<Released, KeyError> {
        let prepared = self.prepared(key, version.number, wrapped)?;
        let format = ReleaseFormat::of(key.spec, request.kind);
        let (plaintext, data_key_ciphertext) = match request.kind {
            ReleaseKind::Key => (released_material(&*prepared, format)?, None),
            ReleaseKind::DataKey => {
                let mut data_key = Zeroizing::new(vec![0u8; 32]);
                self.crypto
                    .fill_random(&mut data_key)
                    .map_err(TokenError::from)?;
                let aad = ciphertext::aad(&key.id, version.number, request.context);
                let wrapped =
                    self.seal_wrapped(&*prepared, &key.id, version.number, &aad, &data_key)?;
                (SecretBytes::from_slice(&data_key), Some(wrapped))
            }
        };
        let info = ReleaseInfo::new(key.id.as_bytes(), guest, request.nonce).map_err(hpke_error)?;
        let aad = hpke::release_aad(MaterialKind::from(request.kind), version.number);
        let sealed = crate::crypto::hpke::seal(request.recipient, &info, &aad, plaintext.expose())
            .map_err(|err| match err {
                crate::crypto::hpke::SealError::Recipient(err) => hpke_error(err),
                crate::crypto::hpke::SealError::Crypto(err) => KeyError::Token(err.into()),
            })?;
        Ok(Released {
            key: key.id,
            version: version.number,
            spec: key.spec,
            kind: request.kind,
            format,
            encapsulated_key: sealed.encapsulated_key,
            ciphertext: sealed.ciphertext,
            data_key_ciphertext,
        })
    }
}

/// The one place a key version's material becomes something that may leave the service:
/// its bytes in the release `format` of its spec (the raw bytes of an AES or HMAC key; the
/// PKCS#8 DER of an RSA, EC or ML-DSA key, which the crypto layer encodes). Called only by
/// [`KeyService::seal_release`], after every check of [`KeyService::release`] passed, and
/// sealed to the attested recipient at once.
fn released_material(
    prepared: &dyn PreparedKey,
    format: ReleaseFormat,
) -> Result<SecretBytes, KeyError> {
    let kind = prepared.kind();
    match format {
        // An asymmetric key's bytes go out as PKCS#8 only, never as whatever it holds.
        ReleaseFormat::Raw if kind.is_asymmetric() => Err(KeyError::Token(TokenError::from(
            kind.unsupported("release as raw bytes"),
        ))),
        ReleaseFormat::Raw => Ok(SecretBytes::from_slice(
            prepared.material().map_err(TokenError::from)?.expose(),
        )),
        ReleaseFormat::Pkcs8Der => Ok(prepared.private_key_pkcs8().map_err(TokenError::from)?),
    }
}

fn hpke_error(err: HpkeError) -> KeyError {
    match err {
        HpkeError::MalformedPublicKey(_) | HpkeError::NonceTooLong { .. } => {
            KeyError::InvalidInput(err.to_string())
        }
        HpkeError::Random(_) => KeyError::Token(TokenError::Crypto(CryptoError::Random)),
        _ => KeyError::Token(TokenError::Crypto(CryptoError::InvalidInput(
            "the HPKE seal of a key release failed",
        ))),
    }
}
