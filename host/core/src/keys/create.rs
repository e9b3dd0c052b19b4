//! Creating keys and their versions: material generated in the token or wrapped by the
//! master key, the creation audited with the change.

use kastell_proto::{KeyId, KeySpec, KeyUsage, Operation, Origin, Role};

use super::algorithms::{kind_of, usage_for};
use super::audited::Record;
use super::error::KeyError;
use super::service::{Caller, KeyService, NewKey, now_ms};
use super::{KeyRecord, KeyState, KeyVersion, Material, token_label};
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
        self.create_key_as(caller, KeyId::random(), new, alias, None)
    }

    /// [`KeyService::create_key`] with the id `id` and, optionally, an AWS key policy
    /// (already validated by the caller), sealed with the key and named by its digest in
    /// the creation's audit record.
    pub(super) fn create_key_as(
        &self,
        caller: &Caller,
        id: KeyId,
        new: NewKey,
        alias: Option<&str>,
        key_policy: Option<String>,
    ) -> Result<KeyRecord, KeyError> {
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
            key_policy,
            grants: Vec::new(),
            imported: None,
            materials: Vec::new(),
        };
        let record = Record::on(caller, Operation::CreateKey, None);
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        if let Err(err) = usage_for(new.spec, new.usage) {
            let why = err.message();
            return self.refuse(&record, err, why);
        }
        if key.origin == Origin::Token && typed_kind(key.spec, key.usage).is_none() {
            match self.token.can_hold(kind_of(key.spec), key.usage) {
                Ok(()) => {}
                Err(TokenError::CannotHold { why, .. }) => {
                    let why = format!(
                        "token {} cannot hold {} keys for {} ({why}); create it wrapped (the \
                         default)",
                        self.token.description(),
                        key.spec,
                        key.usage
                    );
                    return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
                }
                Err(other) => return Err(other.into()),
            }
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
        if key.origin == Origin::External {
            // No material until it is imported (AWS's PendingImport).
            if !super::import::importable(key.spec) {
                let why = format!(
                    "Kastell imports AES_256, HMAC, RSA and ECC key material, not {} (origin \
                     EXTERNAL)",
                    key.spec
                );
                return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
            }
            if key.releasable {
                return Err(KeyError::InvalidInput(
                    "a key of origin EXTERNAL is not releasable".into(),
                ));
            }
            key.state = KeyState::PendingImport;
        } else {
            key.versions.push(self.new_version(&key, 1, created)?);
        }
        key.seal = Some(self.seal_of(&key)?);
        let alias = alias
            .map(|alias| self.alias_row(&alias, &key.id))
            .transpose()?;
        let record = Record {
            key: Some(&key),
            version: key.current().map(|v| v.number),
            ..record
        };
        let change = Change::CreateKey {
            key: &key,
            alias: alias.as_ref(),
        };
        let reason = key
            .key_policy
            .as_deref()
            .map_or_else(String::new, |document| {
                format!(
                    "aws key policy {} ({} bytes)",
                    super::key_policy::digest(document),
                    document.len()
                )
            });
        self.commit(change, &record, reason)?;
        Ok(key)
    }

    /// A new version of `key`: generated in the token (by the token's typed kinds for
    /// the original specs' keys, token-resident otherwise), or by the crypto provider in
    /// the spec's form and wrapped under the master key.
    pub(super) fn new_version(
        &self,
        key: &KeyRecord,
        number: u32,
        created: i64,
    ) -> Result<KeyVersion, KeyError> {
        let kind = kind_of(key.spec);
        let material = match key.origin {
            Origin::Token => {
                let label = token_label(&key.id, number);
                match typed_kind(key.spec, key.usage) {
                    Some(typed) => self.token.generate(&label, typed)?,
                    None => self.token.generate_resident(&label, kind, key.usage)?,
                }
                Material::Token
            }
            Origin::External => {
                return Err(KeyError::UnsupportedSpec(format!(
                    "key {} holds imported key material (origin EXTERNAL): Kastell makes no \
                     material for it; import material with ImportKeyMaterial",
                    key.id
                )));
            }
            Origin::Wrapped => {
                let secret = self.crypto.generate(kind).map_err(TokenError::from)?;
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
}

/// The token's typed kind of a token-resident key of the original specs with their
/// original usage (AES-256 encryption, P-384 signing, HMAC-SHA-384), whose operations
/// keep the token's typed calls; `None` for the keys [`crate::token::Token::resident`]
/// serves.
pub(super) const fn typed_kind(spec: KeySpec, usage: KeyUsage) -> Option<TokenKeyKind> {
    match (spec, usage) {
        (KeySpec::Aes256, KeyUsage::EncryptDecrypt) => Some(TokenKeyKind::Aes256),
        (KeySpec::EccNistP384, KeyUsage::SignVerify) => Some(TokenKeyKind::EcP384),
        (KeySpec::HmacSha384, KeyUsage::GenerateVerifyMac) => Some(TokenKeyKind::HmacSha384),
        _ => None,
    }
}
