//! The deletion sweep: keys whose deletion window ended are destroyed, and their token
//! objects after them, through a queue that survives a crash; queue entries that name
//! anything but a destroyed key's own objects are refused as tampering.

use super::admin::ATTEMPTS;
use super::audited::Record;
use super::service::KeyService;
use super::{Caller, KeyError, KeyState, Material, token_label};
use kastell_proto::{ErrorCode, KeyId, Operation};

use crate::audit::Outcome;
use crate::store::{Change, QueuedTokenObject, StoreError};
use crate::token::TokenError;

/// The principal of the host's own actions in the audit trail (deletion sweep).
pub const SYSTEM_PRINCIPAL: &str = "kastell";

impl KeyService {
    /// Destroys every key whose deletion window ended at or before `now` (Unix seconds).
    /// For each, one transaction marks it destroyed, erases its wrapped material, removes
    /// its aliases, queues its token objects for destruction and appends the audit record
    /// (principal `kastell`); then the token objects are destroyed and struck off the
    /// queue. A crash at any point leaves the key either untouched or irrevocably
    /// destroyed, and the next sweep finishes the queue. Returns the keys destroyed.
    ///
    /// The token objects are named by the labels Kastell gave the key's versions, derived
    /// from the key id and version numbers, never by labels read from the store; a queue
    /// entry naming anything else (a service key, a live key's object) is refused as
    /// tampering: recorded as a denied `destroy-key`, logged, struck off, never destroyed.
    ///
    /// # Errors
    /// The first token or store failure (keys before it stay destroyed).
    pub fn destroy_due(&self, now: i64) -> Result<Vec<KeyId>, KeyError> {
        self.finish_token_destruction()?;
        let system = Caller {
            id: SYSTEM_PRINCIPAL.into(),
            roles: Vec::new(),
            tenant: None,
            evidence: None,
        };
        let mut destroyed = Vec::new();
        for id in self.store.due_for_deletion(now)? {
            if self.destroy_if_due(&system, &id, now)? {
                destroyed.push(id);
            }
        }
        self.finish_token_destruction()?;
        Ok(destroyed)
    }

    /// Destroys key `id` if it is (still) pending deletion with its window ended by `now`;
    /// whether it did. The destruction commits only while the key is as read: a
    /// cancellation or any other change that won in between is read again and decided on,
    /// so that an acknowledged cancellation is never destroyed over, nor a destruction
    /// undone.
    fn destroy_if_due(&self, system: &Caller, id: &KeyId, now: i64) -> Result<bool, KeyError> {
        for _ in 0..ATTEMPTS {
            // A record whose seal does not match (its deletion date moved forward by
            // someone who can write the store, say) is refused, audited, and not destroyed;
            // the sweep goes on with the other keys.
            let key = match self.stored_key(id) {
                Ok(Some(key)) => key,
                Ok(None) | Err(KeyError::TamperDetected(_)) => return Ok(false),
                Err(other) => return Err(other),
            };
            if !matches!(key.state, KeyState::PendingDeletion { delete_at } if delete_at <= now) {
                return Ok(false);
            }
            // A version whose record names a foreign token object still has its own object
            // on the token: that one is destroyed, the foreign one never.
            let labels: Vec<String> = key
                .versions
                .iter()
                .filter(|v| matches!(v.material, Material::Token | Material::ForeignLabel(_)))
                .map(|v| token_label(&key.id, v.number))
                .collect();
            let foreign: Vec<String> = key
                .versions
                .iter()
                .filter_map(|v| match &v.material {
                    Material::ForeignLabel(label) => Some(format!("v{} `{label}`", v.number)),
                    _ => None,
                })
                .collect();
            let record = Record::on(system, Operation::DestroyKey, Some(&key));
            let destroyed = self.destroyed(&key)?;
            let change = Change::DestroyKey {
                id,
                revision: key.revision,
                token_labels: &labels,
                seal: destroyed.seal.as_deref(),
            };
            let mut reason = "deletion window ended; material destroyed".to_owned();
            if !foreign.is_empty() {
                reason += &format!(
                    "; {}: the stored record named foreign token objects ({}), left alone",
                    ErrorCode::TamperDetected,
                    foreign.join(", ")
                );
            }
            match self.commit(change, &record, reason) {
                Ok(()) => {
                    tracing::info!(key = %id, "key destroyed at the end of its deletion window");
                    return Ok(true);
                }
                Err(KeyError::Store(StoreError::KeyChanged(_))) => {}
                Err(other) => return Err(other),
            }
        }
        tracing::warn!(key = %id, "key kept changing while due for destruction; the next sweep retries");
        Ok(false)
    }

    /// Destroys the token objects of destroyed keys still queued; refuses (records, logs
    /// and strikes off) the entries that name anything else.
    fn finish_token_destruction(&self) -> Result<(), KeyError> {
        for queued in self.store.pending_token_destruction()? {
            let foreign = match self.foreign_queue_entry(&queued) {
                Ok(foreign) => foreign,
                // The key's record was refused (and audited) by the read: nothing is
                // destroyed on its word; the entry stays queued.
                Err(KeyError::TamperDetected(_)) => continue,
                Err(other) => return Err(other),
            };
            if let Some((key, why)) = foreign {
                tracing::error!(label = %queued.label, "{why}");
                let reason = format!("{}: {why}", ErrorCode::TamperDetected);
                let operation = Operation::DestroyKey.as_str();
                self.record_event(SYSTEM_PRINCIPAL, operation, key, Outcome::Denied, reason)?;
            } else {
                match self.token.destroy(&queued.label) {
                    Ok(()) | Err(TokenError::KeyNotFound(_)) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            self.store.token_object_destroyed(&queued.label)?;
        }
        Ok(())
    }

    /// Why `queued` may not be destroyed, if so (and the key it names, when it names one):
    /// only the label of a version of a destroyed key, as Kastell derives it, may be.
    fn foreign_queue_entry(
        &self,
        queued: &QueuedTokenObject,
    ) -> Result<Option<(Option<KeyId>, String)>, KeyError> {
        let label = &queued.label;
        let Ok(id) = queued.key.parse::<KeyId>() else {
            let why = format!(
                "the token destruction queue names `{label}` for `{}`, which is not a key id; \
                 not destroyed",
                queued.key
            );
            return Ok(Some((None, why)));
        };
        // A record whose seal does not match is refused (audited) by the read: its objects
        // are not destroyed on its word, and stay queued. The record is read from the store,
        // not from memory: another host (or the CLI) may have destroyed the key an instant
        // ago, and a held copy still `PendingDeletion` would strike the entry off as foreign
        // and leave the token object in place.
        self.records.forget_key(&id);
        let why = match self.stored_key(&id)? {
            None => format!(
                "the token destruction queue names `{label}` for key {id}, which does not \
                 exist; not destroyed"
            ),
            Some(key)
                if !key
                    .versions
                    .iter()
                    .any(|v| token_label(&id, v.number) == *label) =>
            {
                format!(
                    "the token destruction queue names `{label}` for key {id}, which is not \
                     the label of any of its versions; not destroyed"
                )
            }
            Some(key) if key.state != KeyState::Destroyed => format!(
                "the token destruction queue names `{label}` of key {id}, which is {:?}: \
                 only a destroyed key's objects are destroyed; not destroyed",
                key.state
            ),
            Some(_) => return Ok(None),
        };
        Ok(Some((Some(id), why)))
    }
}
