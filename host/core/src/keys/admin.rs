//! Administrative operations (crypto-officer only): enable, disable, deletion, tags,
//! policy binding, minimum decryption version; the one way a key's metadata is changed
//! (`modify`). Rotation is in `rotation.rs`, aliases in `aliases.rs`.

use super::audited::Record;
use super::service::{KeyService, now_ms};
use super::{Caller, KeyError, KeyRecord, KeyState, Material};
use kastell_proto::{Operation, Role};

use crate::store::{Change, StoreError};

/// Times a change to a key is tried while concurrent changes to the same key keep winning;
/// each attempt reads the key again and decides again.
pub(super) const ATTEMPTS: usize = 8;

impl KeyService {
    /// Resolves `key` for an administrative `operation`, refusing non-officers.
    pub(super) fn administer(
        &self,
        caller: &Caller,
        key: &str,
        operation: Operation,
    ) -> Result<KeyRecord, KeyError> {
        let key = self.resolve_for(caller, operation, key)?;
        let record = Record::on(caller, operation, Some(&key));
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        self.check_key_policy(&record, &key)?;
        Ok(key)
    }

    /// Changes the metadata of `key` for an administrative `operation` (officers only):
    /// `edit` gets the key as stored and changes it, returning the audit reason, or
    /// refuses (auditing the refusal itself). The change commits only while the stored key
    /// is still at the revision read; when a concurrent change won, the key is read again,
    /// the caller is authorised again on it (its key policy may be what changed: a
    /// principal removed from it on another host must not get its change in on the retry)
    /// and `edit` decides again on what is now stored, up to [`ATTEMPTS`] times, then
    /// [`KeyError::Conflict`] (audited). A concurrent change is never overwritten by a
    /// stale copy of the key. `version` goes into the audit record.
    pub(super) fn modify(
        &self,
        caller: &Caller,
        name: &str,
        operation: Operation,
        version: Option<u32>,
        mut edit: impl FnMut(&mut KeyRecord) -> Result<String, KeyError>,
    ) -> Result<KeyRecord, KeyError> {
        let mut key = self.administer(caller, name, operation)?;
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
                Err(KeyError::Store(StoreError::KeyChanged(_))) => {
                    // The record that authorised the change was stale (the commit dropped it
                    // from the cache): authorise again on what is stored now.
                    key = self.administer(caller, &key.id.to_string(), operation)?;
                }
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
    pub(super) fn reread(&self, key: &KeyRecord) -> Result<KeyRecord, KeyError> {
        self.stored_key(&key.id)?
            .ok_or_else(|| KeyError::NotFound(key.id.to_string()))
    }

    /// Records that concurrent changes to the key won every attempt and returns
    /// [`KeyError::Conflict`].
    pub(super) fn refuse_contended<T>(&self, record: &Record<'_>) -> Result<T, KeyError> {
        let id = record.key.map(|k| k.id.to_string()).unwrap_or_default();
        let why = format!(
            "key {id} was changed concurrently on each of {ATTEMPTS} attempts; nothing was \
             changed, try again"
        );
        self.refuse(record, KeyError::Conflict(why.clone()), why)
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

/// Most tags [`KeyService::edit_tags`] leaves on a key (AWS KMS's limit).
pub const MAX_TAGS: usize = 50;

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
            if !matches!(
                key.state,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
            ) {
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
            // An imported key without material comes back pending import (as at AWS).
            let holds_material = key
                .versions
                .iter()
                .any(|v| !matches!(v.material, Material::Destroyed));
            key.state = if holds_material {
                KeyState::Disabled
            } else {
                KeyState::PendingImport
            };
            Ok(String::new())
        })
    }
}

impl KeyService {
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

    /// Changes some of the key's tags, as AWS KMS's `TagResource`, `UntagResource` and
    /// `UpdateKeyDescription` do: `set` added or changed, then `remove` removed, and the
    /// description replaced when given; decided on the key as stored at each attempt, so
    /// that concurrent edits of other tags are kept. At most [`MAX_TAGS`] tags remain.
    ///
    /// # Errors
    /// [`KeyError::LimitExceeded`] past [`MAX_TAGS`] tags, and the errors of
    /// [`KeyService::update_tags`].
    pub fn edit_tags(
        &self,
        caller: &Caller,
        key: &str,
        set: &std::collections::BTreeMap<String, String>,
        remove: &[String],
        description: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let operation = Operation::UpdateTags;
        self.modify(caller, key, operation, None, |key| {
            let record = Record::on(caller, operation, Some(key));
            if key.state == KeyState::Destroyed {
                let why = "key is destroyed".to_owned();
                return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
            }
            let mut tags = key.tags.clone();
            tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
            for name in remove {
                tags.remove(name);
            }
            if tags.len() > MAX_TAGS {
                let why = format!(
                    "key {} would hold {} tags; a key holds at most {MAX_TAGS}",
                    key.id,
                    tags.len()
                );
                return self.refuse(&record, KeyError::LimitExceeded(why.clone()), why);
            }
            key.tags = tags;
            if let Some(description) = description {
                description.clone_into(&mut key.description);
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
