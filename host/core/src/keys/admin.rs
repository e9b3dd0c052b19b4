//! Administrative operations (crypto-officer only): rotate, enable, disable, deletion,
//! aliases, tags, policy binding, minimum decryption version.

use super::audited::Record;
use super::service::{KeyService, now_ms};
use super::{Alias, Caller, KeyError, KeyRecord, KeyState, KeyVersion};
use kastell_proto::{Operation, Role};

use crate::store::{Change, StoreError};

/// Times a change to a key is tried while concurrent changes to the same key keep winning;
/// each attempt reads the key again and decides again.
pub(super) const ATTEMPTS: usize = 8;

impl KeyService {
    /// Resolves `key` for an administrative `operation`, refusing non-officers.
    fn administer(
        &self,
        caller: &Caller,
        key: &str,
        operation: Operation,
    ) -> Result<KeyRecord, KeyError> {
        let key = self.resolve_for(caller, operation, key)?;
        if !caller.roles.contains(&Role::CryptoOfficer) {
            let record = Record::on(caller, operation, Some(&key));
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        Ok(key)
    }

    /// Changes the metadata of `key` for an administrative `operation` (officers only):
    /// `edit` gets the key as stored and changes it, returning the audit reason, or
    /// refuses (auditing the refusal itself). The change commits only while the stored key
    /// is still at the revision read; when a concurrent change won, the key is read again
    /// and `edit` decides again on what is now stored, up to [`ATTEMPTS`] times, then
    /// [`KeyError::Conflict`] (audited). A concurrent change is never overwritten by a
    /// stale copy of the key. `version` goes into the audit record.
    fn modify(
        &self,
        caller: &Caller,
        key: &str,
        operation: Operation,
        version: Option<u32>,
        mut edit: impl FnMut(&mut KeyRecord) -> Result<String, KeyError>,
    ) -> Result<KeyRecord, KeyError> {
        let mut key = self.administer(caller, key, operation)?;
        for _ in 0..ATTEMPTS {
            let reason = edit(&mut key)?;
            self.seal_next(&mut key)?;
            let record = Record {
                version,
                ..Record::on(caller, operation, Some(&key))
            };
            match self.commit(Change::UpdateKey(&key), &record, reason) {
                Ok(()) => {
                    key.revision += 1;
                    return Ok(key);
                }
                Err(KeyError::Store(StoreError::KeyChanged(_))) => key = self.reread(&key)?,
                Err(other) => return Err(other),
            }
        }
        let record = Record {
            version,
            ..Record::on(caller, operation, Some(&key))
        };
        self.refuse_contended(&record)
    }

    /// `key` as stored now (its seal checked).
    fn reread(&self, key: &KeyRecord) -> Result<KeyRecord, KeyError> {
        self.stored_key(&key.id)?
            .ok_or_else(|| KeyError::NotFound(key.id.to_string()))
    }

    /// Records that concurrent changes to the key won every attempt and returns
    /// [`KeyError::Conflict`].
    fn refuse_contended<T>(&self, record: &Record<'_>) -> Result<T, KeyError> {
        let id = record.key.map(|k| k.id.to_string()).unwrap_or_default();
        let why = format!(
            "key {id} was changed concurrently on each of {ATTEMPTS} attempts; nothing was \
             changed, try again"
        );
        self.refuse(record, KeyError::Conflict(why.clone()), why)
    }

    /// Adds a new version, which from now on encrypts and signs; older versions still
    /// decrypt and verify down to the minimum decryption version.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key that is not
    /// enabled or disabled, [`KeyError::Conflict`] when concurrent changes keep winning, or
    /// an internal failure.
    pub fn rotate(&self, caller: &Caller, key: &str) -> Result<KeyRecord, KeyError> {
        let operation = Operation::RotateKey;
        let mut key = self.administer(caller, key, operation)?;
        // Material made for a version number that a concurrent change left free serves
        // again on the next attempt (a token-resident object cannot be made twice).
        let mut made: Option<KeyVersion> = None;
        for _ in 0..ATTEMPTS {
            let number = key.current().map_or(1, |v| v.number + 1);
            let record = Record {
                version: Some(number),
                ..Record::on(caller, operation, Some(&key))
            };
            if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                let why = format!("cannot rotate a key that is {:?}", key.state);
                return self.refuse_state(&record, why);
            }
            let version = match made.take() {
                Some(version) if version.number == number => version,
                _ => self.new_version(&key, number, now_ms() / 1000)?,
            };
            let mut next = key.clone();
            next.versions.push(version.clone());
            next.revision += 1;
            next.seal = Some(self.seal_of(&next)?);
            let change = Change::AddVersion {
                id: &key.id,
                revision: key.revision,
                version: &version,
                seal: next.seal.as_deref(),
            };
            match self.commit(change, &record, String::new()) {
                Ok(()) => return Ok(next),
                Err(KeyError::Store(StoreError::KeyChanged(_))) => {
                    made = Some(version);
                    key = self.reread(&key)?;
                }
                Err(other) => return Err(other),
            }
        }
        let record = Record::on(caller, operation, Some(&key));
        self.refuse_contended(&record)
    }

    /// Enables (`true`) or disables (`false`) a key.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key pending deletion or
    /// destroyed, [`KeyError::Conflict`] when concurrent changes keep winning, or an
    /// internal failure.
    pub fn set_enabled(
        &self,
        caller: &Caller,
        key: &str,
        enabled: bool,
    ) -> Result<KeyRecord, KeyError> {
        let operation = if enabled {
            Operation::EnableKey
        } else {
            Operation::DisableKey
        };
        self.modify(caller, key, operation, None, |key| {
            if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                let record = Record::on(caller, operation, Some(key));
                let why = format!("cannot change a key that is {:?}", key.state);
                return self.refuse_state(&record, why);
            }
            key.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(String::new())
        })
    }
}

/// Shortest and longest deletion waiting period, in days.
pub const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;

impl KeyService {
    /// Schedules the key's destruction `days` (7–30) from now. Until then every use is
    /// refused and the deletion can be cancelled.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a window outside 7–30 days, [`KeyError::AccessDenied`],
    /// [`KeyError::InvalidState`] for a key already pending deletion or destroyed,
    /// [`KeyError::Conflict`] when concurrent changes keep winning.
    pub fn schedule_deletion(
        &self,
        caller: &Caller,
        key: &str,
        days: u32,
    ) -> Result<KeyRecord, KeyError> {
        if !DELETION_WINDOW_DAYS.contains(&days) {
            return Err(KeyError::InvalidInput(format!(
                "the deletion window is 7 to 30 days, not {days}"
            )));
        }
        let operation = Operation::ScheduleKeyDeletion;
        self.modify(caller, key, operation, None, |key| {
            if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                let record = Record::on(caller, operation, Some(key));
                let why = format!("cannot schedule deletion of a key that is {:?}", key.state);
                return self.refuse_state(&record, why);
            }
            key.state = KeyState::PendingDeletion {
                delete_at: now_ms() / 1000 + i64::from(days) * 86_400,
            };
            Ok(format!("deletion in {days} days"))
        })
    }

    /// Cancels a scheduled deletion; the key comes back disabled (enable it to use it).
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] when no deletion is pending
    /// or its window has already ended, [`KeyError::Conflict`] when concurrent changes keep
    /// winning.
    pub fn cancel_deletion(&self, caller: &Caller, key: &str) -> Result<KeyRecord, KeyError> {
        let operation = Operation::CancelKeyDeletion;
        self.modify(caller, key, operation, None, |key| {
            match key.state {
                KeyState::PendingDeletion { delete_at } if delete_at <= now_ms() / 1000 => {
                    let record = Record::on(caller, operation, Some(key));
                    let why =
                        "the deletion window has ended; the key is being destroyed".to_owned();
                    return self.refuse_state(&record, why);
                }
                KeyState::PendingDeletion { .. } => {}
                _ => {
                    let record = Record::on(caller, operation, Some(key));
                    let why = format!("no deletion is pending; the key is {:?}", key.state);
                    return self.refuse_state(&record, why);
                }
            }
            key.state = KeyState::Disabled;
            Ok(String::new())
        })
    }
}

impl KeyService {
    /// Points `alias` at `key` (creating or re-pointing it).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a malformed alias, [`KeyError::AccessDenied`],
    /// [`KeyError::NotFound`].
    pub fn set_alias(&self, caller: &Caller, alias: &str, key: &str) -> Result<(), KeyError> {
        let parsed: Alias = alias
            .parse()
            .map_err(|e| KeyError::InvalidInput(format!("{alias}: {e}")))?;
        let operation = Operation::UpdateAlias;
        let key = self.administer(caller, key, operation)?;
        let record = Record::on(caller, operation, Some(&key));
        let row = self.alias_row(&parsed, &key.id)?;
        self.commit(
            Change::SetAlias(&row),
            &record,
            format!("{alias} -> {}", key.id),
        )
    }

    /// Replaces the key's tags and description.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::NotFound`], [`KeyError::InvalidState`] for a
    /// destroyed key, [`KeyError::Conflict`] when concurrent changes keep winning.
    pub fn update_tags(
        &self,
        caller: &Caller,
        key: &str,
        tags: std::collections::BTreeMap<String, String>,
        description: Option<String>,
    ) -> Result<KeyRecord, KeyError> {
        let operation = Operation::UpdateTags;
        self.modify(caller, key, operation, None, |key| {
            if key.state == KeyState::Destroyed {
                let record = Record::on(caller, operation, Some(key));
                return self.refuse(
                    &record,
                    KeyError::InvalidState("key is destroyed".into()),
                    "key is destroyed".into(),
                );
            }
            key.tags.clone_from(&tags);
            if let Some(description) = &description {
                key.description.clone_from(description);
            }
            Ok(String::new())
        })
    }

    /// Binds the key to the policy with `measurement` (which must be in the registry), or
    /// unbinds it with `None`.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a policy not in the registry, [`KeyError::AccessDenied`],
    /// [`KeyError::NotFound`], [`KeyError::Conflict`] when concurrent changes keep winning.
    pub fn bind_policy(
        &self,
        caller: &Caller,
        key: &str,
        measurement: Option<kastell_attest::Measurement>,
    ) -> Result<KeyRecord, KeyError> {
        let operation = Operation::BindPolicy;
        let mut checked = false;
        self.modify(caller, key, operation, None, |key| {
            if let Some(measurement) = &measurement
                && !checked
            {
                self.policies
                    .get(measurement)
                    .map_err(|e| KeyError::InvalidInput(format!("cannot bind policy: {e}")))?;
                checked = true;
            }
            key.policy = measurement;
            Ok(
                measurement
                    .map_or_else(|| "policy unbound".to_owned(), |m| format!("bound to {m}")),
            )
        })
    }
}

impl KeyService {
    /// Sets the oldest version that may still decrypt and verify (1 to the current
    /// version): ciphertexts and signatures of older versions are refused from then on.
    /// Lowering it again re-admits them; the material is kept until the key is destroyed.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a version the key does not have,
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key pending deletion or
    /// destroyed, [`KeyError::Conflict`] when concurrent changes keep winning.
    pub fn set_min_decryption_version(
        &self,
        caller: &Caller,
        key: &str,
        version: u32,
    ) -> Result<KeyRecord, KeyError> {
        let operation = Operation::SetMinDecryptionVersion;
        self.modify(caller, key, operation, Some(version), |key| {
            let record = Record {
                version: Some(version),
                ..Record::on(caller, operation, Some(key))
            };
            if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                let why = format!("cannot change a key that is {:?}", key.state);
                return self.refuse_state(&record, why);
            }
            let current = key.current().map_or(0, |v| v.number);
            if version == 0 || version > current {
                let why = format!("key {} has versions 1 to {current}, not {version}", key.id);
                return self.refuse(&record, KeyError::InvalidInput(why.clone()), why);
            }
            key.min_decrypt_version = version;
            Ok(String::new())
        })
    }
}
