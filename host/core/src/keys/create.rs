//! Creating keys and their versions: material generated in the token or wrapped by the
//! master key, the creation audited with the change.

use kastell_proto::{KeyId, KeySpec, KeyUsage, Operation, Origin, Role};

use zeroize::Zeroizing;

use super::algorithms::{kind_of, usage_for};
use super::audited::Record;
use super::error::KeyError;
use super::service::{Caller, KeyService, NewKey, now_ms};
use super::{KeyRecord, KeyState, KeyVersion, Material, token_label};
use crate::secret::SecretBytes;
use crate::store::Change;
use crate::token::{TokenError, TokenKeyKind};

impl KeyService {
    /// Creates a key (crypto-officer only) with version 1 and an optional alias.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidInput`] (unknown policy, bad alias),
    /// or an internal failure.
    pub fn create_key(
        &self,
        caller: &Caller,
        new: NewKey,
        alias: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let id = KeyId::random();
        let created = now_ms() / 1000;
        let usage = new.usage.unwrap_or_else(|| KeyUsage::of(new.spec));
        let mut key = KeyRecord {
            id,
            spec: new.spec,
            usage,
            origin: new.origin,
            state: KeyState::Enabled,
            description: new.description,
            tags: new.tags,
            policy: new.policy,
            created,
            min_decrypt_version: 1,
            versions: Vec::new(),
            releasable: new.releasable,
            revision: 0,
            seal: None,
            rotation: None,
        };
        let record = Record::on(caller, Operation::CreateKey, None);
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        if let Err(err) = usage_for(new.spec, new.usage) {
            let why = err.message();
            return self.refuse(&record, err, why);
        }
        if key.origin == Origin::Token && key.usage != KeyUsage::of(key.spec) {
            let why = format!(
                "token {} holds {} keys for {} only; create a {} key wrapped (the default)",
                self.token.description(),
                key.spec,
                KeyUsage::of(key.spec),
                key.usage
            );
            return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
        }
        if key.origin == Origin::Token && !key.spec.is_original() {
            let why = format!(
                "token {} cannot hold {} keys yet (token residency of RSA, the other curves \
                 and HMAC sizes, and ML-DSA comes later); create it wrapped (the default)",
                self.token.description(),
                key.spec
            );
            return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
        }
        let alias = alias
            .map(|a| {
                a.parse()
                    .map_err(|e| KeyError::InvalidInput(format!("{a}: {e}")))
            })
            .transpose()?;
        if key.releasable && key.origin == Origin::Token {
            return Err(KeyError::InvalidInput(
                "a token-resident key never leaves the token, so it cannot be releasable; \
                 create it with origin `wrapped`"
                    .into(),
            ));
        }
        if let Some(measurement) = &key.policy {
            self.policies
                .get(measurement)
                .map_err(|e| KeyError::InvalidInput(format!("cannot bind policy: {e}")))?;
        }
        key.versions.push(self.new_version(&key, 1, created)?);
        key.seal = Some(self.seal_of(&key)?);
        let alias = alias
            .map(|alias| self.alias_row(&alias, &key.id))
            .transpose()?;
        let record = Record {
            key: Some(&key),
            version: Some(1),
            ..record
        };
        let change = Change::CreateKey {
            key: &key,
            alias: alias.as_ref(),
        };
        self.commit(change, &record, String::new())?;
        Ok(key)
    }

    pub(super) fn new_version(
        &self,
        key: &KeyRecord,
        number: u32,
        created: i64,
    ) -> Result<KeyVersion, KeyError> {
        let kind = match key.spec {
            KeySpec::Aes256 => TokenKeyKind::Aes256,
            KeySpec::EccNistP384 => TokenKeyKind::EcP384,
            KeySpec::HmacSha384 => TokenKeyKind::HmacSha384,
            // Every other spec is host-generated and wrapped (token-resident keys of these
            // specs are refused at creation).
            _ => return self.new_wrapped_version(key, number, created),
        };
        let material = match key.origin {
            Origin::Token => {
                self.token.generate(&token_label(&key.id, number), kind)?;
                Material::Token
            }
            Origin::Wrapped => {
                let secret = match kind {
                    TokenKeyKind::EcP384 => {
                        self.crypto.p384_generate().map_err(TokenError::from)?
                    }
                    TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => {
                        let len = if kind == TokenKeyKind::Aes256 { 32 } else { 48 };
                        let mut bytes = Zeroizing::new(vec![0u8; len]);
                        self.crypto
                            .fill_random(&mut bytes)
                            .map_err(TokenError::from)?;
                        SecretBytes::from_slice(&bytes)
                    }
                };
                Material::Wrapped {
                    master: self.keys.master.clone(),
                    wrapped: self.token.wrap(&self.keys.master, &secret)?,
                }
            }
        };
        Ok(KeyVersion {
            number,
            created,
            material,
            automatic: false,
        })
    }

    /// A version of a key of the specs of issue 17: material generated by the crypto
    /// provider in the spec's form, wrapped under the master key.
    fn new_wrapped_version(
        &self,
        key: &KeyRecord,
        number: u32,
        created: i64,
    ) -> Result<KeyVersion, KeyError> {
        if key.origin == Origin::Token {
            return Err(KeyError::UnsupportedSpec(format!(
                "a token cannot hold {} keys yet; create it wrapped (the default)",
                key.spec
            )));
        }
        let secret = self
            .crypto
            .generate(kind_of(key.spec))
            .map_err(TokenError::from)?;
        Ok(KeyVersion {
            number,
            created,
            material: Material::Wrapped {
                master: self.keys.master.clone(),
                wrapped: self.token.wrap(&self.keys.master, &secret)?,
            },
            automatic: false,
        })
    }
}
