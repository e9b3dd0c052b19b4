//! Key and alias rows read from the store only through their seals ([`super::seal`]), and
//! sealed when written: a row whose seal does not match, or that has none, is refused as
//! `TamperDetected` (logged and audited as `verify-key-record`) before anything uses it.
//! Rows stored before seals existed are sealed once, when the record key is created on
//! the token (the first start after the upgrade; trust on first use).

use kastell_proto::{ErrorCode, KeyId};

use super::destruction::SYSTEM_PRINCIPAL;
use super::seal::{self, RecordKey, VerifiedSeals};
use super::service::KeyService;
use super::{Alias, KeyError, KeyRecord, KeyState, Material};
use crate::audit::{AuditEntry, Outcome};
use crate::model::AliasRow;
use crate::store::Change;

/// The audit operation of a refused row.
pub const VERIFY_RECORD: &str = "verify-key-record";
/// The audit operation of the one-time sealing of rows stored before seals.
pub const SEAL_RECORDS: &str = "seal-key-records";

impl KeyService {
    /// The token-held key that seals key and alias rows.
    #[must_use]
    pub fn record_key(&self) -> &RecordKey {
        &self.record_key
    }

    /// The key `id` as stored, if its seal is right.
    pub(super) fn stored_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, KeyError> {
        if let Some(held) = self.records.key(id) {
            return Ok(Some((*held).clone()));
        }
        let since = self.records.epoch();
        let found = self
            .store
            .key(id)?
            .map(|key| self.checked_key(key))
            .transpose()?;
        if let Some(key) = &found {
            self.records.insert_key(since, key);
        }
        Ok(found)
    }

    /// `key`, as read from the store, if its seal is right; [`KeyError::TamperDetected`]
    /// (audited) otherwise.
    pub(super) fn checked_key(&self, key: KeyRecord) -> Result<KeyRecord, KeyError> {
        let message = seal::key_message(&key);
        match self.seal_fault(&message, key.seal.as_deref())? {
            None => Ok(key),
            Some(fault) => Err(self.tampered(Some(key.id), &format!("key {}", key.id), fault)),
        }
    }

    /// The key `alias` names, if the alias row's seal is right.
    pub(super) fn stored_alias(&self, alias: &Alias) -> Result<Option<KeyId>, KeyError> {
        if let Some(id) = self.records.alias(alias) {
            return Ok(Some(id));
        }
        let since = self.records.epoch();
        let found = self
            .store
            .resolve_alias(alias)?
            .map(|row| self.checked_alias(row))
            .transpose()?;
        if let Some(id) = found {
            self.records.insert_alias(since, alias, id);
        }
        Ok(found)
    }

    /// The aliases naming `id`, each row's seal checked.
    pub(super) fn stored_aliases(&self, id: &KeyId) -> Result<Vec<Alias>, KeyError> {
        self.store
            .aliases(id)?
            .into_iter()
            .map(|row| {
                let alias = row.alias.clone();
                self.checked_alias(row).map(|_| alias)
            })
            .collect()
    }

    pub(super) fn checked_alias(&self, row: AliasRow) -> Result<KeyId, KeyError> {
        let message = seal::alias_message(&row.alias, &row.key);
        match self.seal_fault(&message, row.seal.as_deref())? {
            None => Ok(row.key),
            Some(fault) => {
                let what = format!("alias {} (naming key {})", row.alias, row.key);
                Err(self.tampered(Some(row.key), &what, fault))
            }
        }
    }

    /// What is wrong with `seal` as the seal of `message`, if anything. A row confirmed by
    /// the token before is accepted from memory ([`VerifiedSeals`]).
    fn seal_fault(
        &self,
        message: &[u8],
        seal: Option<&[u8]>,
    ) -> Result<Option<&'static str>, KeyError> {
        let Some(seal) = seal else {
            return Ok(Some("it has no seal"));
        };
        let digest = VerifiedSeals::digest(message, seal);
        if self.verified.contains(&digest) {
            return Ok(None);
        }
        if self.record_key.matches(message, seal)? {
            self.verified.insert(digest);
            Ok(None)
        } else {
            Ok(Some("its seal does not match"))
        }
    }

    /// Logs and audits a refused row; the error to return. `what` names the row.
    fn tampered(&self, key: Option<KeyId>, what: &str, fault: &str) -> KeyError {
        let why =
            format!("{what}: the stored record was changed outside Kastell ({fault}); refused");
        tracing::error!("{why}");
        if let Some(metrics) = &self.metrics {
            metrics.denied("tamper-detected");
        }
        let reason = format!("{}: {why}", ErrorCode::TamperDetected);
        if let Err(err) = self.record_event(
            SYSTEM_PRINCIPAL,
            VERIFY_RECORD,
            key,
            Outcome::Denied,
            reason,
        ) {
            return err;
        }
        KeyError::TamperDetected(why)
    }

    /// The seal of `key` as it is.
    pub(super) fn seal_of(&self, key: &KeyRecord) -> Result<Vec<u8>, KeyError> {
        Ok(self.record_key.seal_key(key)?)
    }

    /// Sets `key.seal` to the seal of `key` at its next revision, as an update stores it
    /// ([`Change::UpdateKey`]).
    pub(super) fn seal_next(&self, key: &mut KeyRecord) -> Result<(), KeyError> {
        let mut next = key.clone();
        next.revision += 1;
        key.seal = Some(self.seal_of(&next)?);
        Ok(())
    }

    /// `key` destroyed, at its next revision, sealed (what [`Change::DestroyKey`] stores).
    pub(super) fn destroyed(&self, key: &KeyRecord) -> Result<KeyRecord, KeyError> {
        let mut next = key.clone();
        next.state = KeyState::Destroyed;
        next.revision += 1;
        for version in &mut next.versions {
            version.material = Material::Destroyed;
        }
        next.seal = Some(self.seal_of(&next)?);
        Ok(next)
    }

    /// The sealed row of `alias` naming `key`.
    pub(super) fn alias_row(&self, alias: &Alias, key: &KeyId) -> Result<AliasRow, KeyError> {
        Ok(AliasRow {
            alias: alias.clone(),
            key: *key,
            seal: Some(self.record_key.seal_alias(alias, key)?),
        })
    }

    /// Seals every key and alias row stored without a seal, in one transaction with one
    /// audit record (`seal-key-records`, naming how many): the rows of a store written
    /// before seals existed, trusted as they are. Called once, when the record key is
    /// created on the token; afterwards a row without a seal is refused like a wrong one.
    /// Returns the keys and aliases sealed.
    ///
    /// # Errors
    /// The token or the store (nothing is sealed then).
    pub(super) fn seal_unsealed_rows(&self) -> Result<(usize, usize), KeyError> {
        let (keys, aliases) = self.store.unsealed_rows()?;
        if keys.is_empty() && aliases.is_empty() {
            return Ok((0, 0));
        }
        let key_seals = keys
            .iter()
            .map(|key| Ok((key.id, key.revision, self.seal_of(key)?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        let alias_rows = aliases
            .iter()
            .map(|row| self.alias_row(&row.alias, &row.key))
            .collect::<Result<Vec<_>, KeyError>>()?;
        let (sealed_keys, sealed_aliases) = (key_seals.len(), alias_rows.len());
        let reason = format!(
            "sealed {sealed_keys} key records and {sealed_aliases} aliases stored before \
             records were sealed (trusted as found, once, at the upgrade)"
        );
        tracing::warn!("{reason}");
        let entry = AuditEntry::event(
            SYSTEM_PRINCIPAL,
            SEAL_RECORDS,
            None,
            Outcome::Allowed,
            reason,
        );
        let change = Change::SealRows {
            keys: &key_seals,
            aliases: &alias_rows,
        };
        let appended = self.store.apply(change, entry);
        self.records.clear();
        let appended = appended?;
        self.checkpoint_if_due(appended.seq);
        Ok((sealed_keys, sealed_aliases))
    }
}
