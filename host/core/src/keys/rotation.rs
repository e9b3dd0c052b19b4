//! Rotation: a new version of a key's material, asked for (`rotate`, AWS's
//! `RotateKeyOnDemand`) or made by the host's sweep when a key's automatic rotation is
//! due (`set_rotation`, AWS's `EnableKeyRotation`; `rotate_due`). Older versions still
//! decrypt and verify down to the minimum decryption version.

use kastell_proto::{KeyId, KeySpec, Operation};

use super::admin::ATTEMPTS;
use super::audited::Record;
use super::destruction::SYSTEM_PRINCIPAL;
use super::service::{KeyService, now_ms};
use super::{Caller, KeyError, KeyRecord, KeyState, KeyVersion, RotationSchedule};
use crate::store::{Change, StoreError};

/// The periods automatic rotation takes, in days (AWS KMS's).
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;

/// The period when none is named, in days.
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;

const DAY: i64 = 86_400;

/// Why a version is added.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// Someone asked: the automatic schedule stays as it is.
    Asked,
    /// The key's automatic rotation is due at `now`: the schedule moves on one period.
    Due {
        /// The sweep's time, Unix seconds.
        now: i64,
    },
}

impl KeyService {
    /// Adds a new version, which from now on encrypts and signs; older versions still
    /// decrypt and verify down to the minimum decryption version. An automatic rotation
    /// schedule is left as it is. A key of origin `external` rotates to the material
    /// imported for it (`ImportType NEW_KEY_MATERIAL`).
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] for a key that is not
    /// enabled or disabled (or an `external` key with no material pending rotation),
    /// [`KeyError::UnsupportedSpec`] for an `external` key that is not `AES_256`, [`KeyError::Conflict`] when concurrent changes keep winning, or
    /// an internal failure.
    pub fn rotate(&self, caller: &Caller, key: &str) -> Result<KeyRecord, KeyError> {
        let key = self.administer(caller, key, Operation::RotateKey)?;
        self.add_version(caller, key, Why::Asked)?
            .ok_or_else(|| KeyError::InvalidState("nothing to rotate".into()))
    }

    /// Turns automatic rotation of an `AES_256` key on, every `period_days` (within
    /// [`ROTATION_PERIOD_DAYS`]), or off (`None`); audited as `rotate-key`. Turned on, the
    /// first rotation is due one period from now; a new period of a schedule already on
    /// counts from the key's last rotation (or creation), and is due at once when that is
    /// past. The same period again leaves the schedule as it is.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a period out of range, [`KeyError::UnsupportedSpec`]
    /// for a key that is not `AES_256` (as in AWS KMS), [`KeyError::Disabled`],
    /// [`KeyError::InvalidState`] for a key pending deletion or destroyed (each audited),
    /// [`KeyError::AccessDenied`], [`KeyError::Conflict`] when concurrent changes keep
    /// winning.
    pub fn set_rotation(
        &self,
        caller: &Caller,
        key: &str,
        period_days: Option<u32>,
    ) -> Result<KeyRecord, KeyError> {
        if let Some(days) = period_days
            && !ROTATION_PERIOD_DAYS.contains(&days)
        {
            return Err(KeyError::InvalidInput(format!(
                "the rotation period is {} to {} days, not {days}",
                ROTATION_PERIOD_DAYS.start(),
                ROTATION_PERIOD_DAYS.end()
            )));
        }
        let operation = Operation::RotateKey;
        self.modify(caller, key, operation, None, |key| {
            let record = Record::on(caller, operation, Some(key));
            if key.origin == kastell_proto::Origin::External {
                let why = format!(
                    "key {} holds imported key material (origin EXTERNAL): Kastell does not \
                     rotate imported material automatically",
                    key.id
                );
                return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
            }
            if key.spec != KeySpec::Aes256 {
                let why = format!(
                    "automatic rotation is for AES_256 (SYMMETRIC_DEFAULT) keys, as in AWS KMS; \
                     rotate a {} key when you choose (`kastell key rotate`)",
                    key.spec
                );
                return self.refuse(&record, KeyError::UnsupportedSpec(why.clone()), why);
            }
            match key.state {
                KeyState::Enabled => {}
                KeyState::Disabled => {
                    return self.refuse(&record, KeyError::Disabled(key.id), "key disabled".into());
                }
                KeyState::PendingDeletion { .. }
                | KeyState::Destroyed
                | KeyState::PendingImport => {
                    return self.refuse_state(&record, format!("key is {:?}", key.state));
                }
            }
            let now = now_ms() / 1000;
            key.rotation = period_days.map(|days| match key.rotation {
                Some(same) if same.period_days == days => same,
                Some(_) => {
                    let last = key.current().map_or(key.created, |v| v.created);
                    RotationSchedule {
                        period_days: days,
                        next_at: (last + i64::from(days) * DAY).max(now),
                    }
                }
                None => RotationSchedule {
                    period_days: days,
                    next_at: now + i64::from(days) * DAY,
                },
            });
            Ok(match key.rotation {
                Some(r) => format!("automatic rotation every {} days", r.period_days),
                None => "automatic rotation off".to_owned(),
            })
        })
    }

    /// Rotates every enabled key whose automatic rotation is due at `now` (Unix seconds),
    /// as the host (principal `kastell`, audited as `rotate-key`, the version marked
    /// automatic), and moves its schedule on one period (from `now` when it fell more than
    /// a period behind, e.g. while the key was disabled). Returns the keys rotated. A key
    /// whose record fails its seal is refused (audited) and left as it is; the sweep goes
    /// on with the others.
    ///
    /// # Errors
    /// The first token or store failure (keys rotated before it stay rotated).
    pub fn rotate_due(&self, now: i64) -> Result<Vec<KeyId>, KeyError> {
        let system = Caller {
            id: SYSTEM_PRINCIPAL.into(),
            roles: Vec::new(),
            tenant: None,
            evidence: None,
        };
        let mut rotated = Vec::new();
        for id in self.store.due_for_rotation(now)? {
            let key = match self.stored_key(&id) {
                Ok(Some(key)) => key,
                Ok(None) | Err(KeyError::TamperDetected(_)) => continue,
                Err(other) => return Err(other),
            };
            if self.add_version(&system, key, Why::Due { now })?.is_some() {
                rotated.push(id);
            }
        }
        Ok(rotated)
    }

    /// Adds a version to `key` (as read) for `why`, deciding again on the key as stored
    /// when a concurrent change wins; `None` when a due rotation is no longer due.
    fn add_version(
        &self,
        caller: &Caller,
        mut key: KeyRecord,
        why: Why,
    ) -> Result<Option<KeyRecord>, KeyError> {
        let operation = Operation::RotateKey;
        // Material made for a version number that a concurrent change left free serves
        // again on the next attempt (a token-resident object cannot be made twice).
        let mut made: Option<KeyVersion> = None;
        for _ in 0..ATTEMPTS {
            let number = key.current().map_or(1, |v| v.number + 1);
            let record = Record {
                version: Some(number),
                ..Record::on(caller, operation, Some(&key))
            };
            let (rotation, reason) = match why {
                Why::Asked => {
                    if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                        let why = format!("cannot rotate a key that is {:?}", key.state);
                        return self.refuse_state(&record, why);
                    }
                    if key.origin == kastell_proto::Origin::External {
                        // Imported material rotates to the material imported for it.
                        return self.rotate_imported(&record, &key).map(Some);
                    }
                    (key.rotation, String::new())
                }
                Why::Due { now } => match key.rotation {
                    Some(due) if key.state == KeyState::Enabled && due.next_at <= now => {
                        let period = i64::from(due.period_days) * DAY;
                        let next_at = match due.next_at + period {
                            behind if behind <= now => now + period,
                            next => next,
                        };
                        let reason = format!("automatic rotation (every {} days)", due.period_days);
                        (
                            Some(RotationSchedule {
                                period_days: due.period_days,
                                next_at,
                            }),
                            reason,
                        )
                    }
                    _ => return Ok(None),
                },
            };
            let mut version = match made.take() {
                Some(version) if version.number == number => version,
                _ => self.new_version(&key, number, now_ms() / 1000)?,
            };
            version.automatic = matches!(why, Why::Due { .. });
            let mut next = key.clone();
            next.versions.push(version.clone());
            next.rotation = rotation;
            next.revision += 1;
            next.seal = Some(self.seal_of(&next)?);
            let change = Change::AddVersion {
                id: &key.id,
                revision: key.revision,
                version: &version,
                seal: next.seal.as_deref(),
                rotation,
            };
            match self.commit(change, &record, reason) {
                Ok(()) => return Ok(Some(next)),
                Err(KeyError::Store(StoreError::KeyChanged(_))) => {
                    made = Some(version);
                    key = match why {
                        // A rotation asked for is authorised again on the key as it is now
                        // (its key policy may be what changed).
                        Why::Asked => self.administer(caller, &key.id.to_string(), operation)?,
                        Why::Due { .. } => self.reread(&key)?,
                    };
                }
                Err(other) => return Err(other),
            }
        }
        let record = Record::on(caller, operation, Some(&key));
        self.refuse_contended(&record)
    }
}
