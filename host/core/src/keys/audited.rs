//! The audit record of every key operation, written before its result is returned (no
//! record, no result), and the refusals: each audited, counted by cause, then returned.

use kastell_proto::{EncryptionContext, KeyId, Operation, Role};

use super::KeyRecord;
use super::error::KeyError;
use super::service::{Caller, KeyService, now_ms};
use crate::audit::{AuditEntry, Outcome};
use crate::store::{Change, StoreError};

/// The cause label of a refusal in the metrics: `policy`, or the error's kind. (A role
/// refusal is counted as `role` by [`KeyService::refuse_role`].)
pub(super) fn denial_cause(error: &KeyError) -> &'static str {
    match error {
        KeyError::AccessDenied => "policy",
        KeyError::NotFound(_) => "not-found",
        KeyError::Disabled(_) => "disabled",
        KeyError::InvalidKeyUsage { .. } => "invalid-key-usage",
        KeyError::UnsupportedSpec(_) => "unsupported-spec",
        KeyError::UnsupportedAlgorithm(_) => "unsupported-algorithm",
        KeyError::InvalidCiphertext => "invalid-ciphertext",
        KeyError::IncorrectKey => "incorrect-key",
        KeyError::InvalidState(_) => "invalid-state",
        KeyError::InvalidInput(_) => "invalid-input",
        KeyError::AlreadyExists(_) => "already-exists",
        KeyError::TamperDetected(_) => "tamper-detected",
        KeyError::Conflict(_) => "conflict",
        KeyError::LimitExceeded(_) => "limit-exceeded",
        KeyError::MalformedPolicyDocument(_) => "malformed-policy-document",
        KeyError::ExpiredImportToken(_) => "expired-import-token",
        KeyError::InvalidImportToken(_) => "invalid-import-token",
        KeyError::IncorrectKeyMaterial(_) => "incorrect-key-material",
        KeyError::Token(_) | KeyError::Store(_) => "internal",
    }
}

/// What an operation did, for its audit record.
pub(super) struct Record<'a> {
    pub(super) caller: &'a Caller,
    pub(super) operation: Operation,
    pub(super) key: Option<&'a KeyRecord>,
    pub(super) version: Option<u32>,
    pub(super) context: Option<&'a EncryptionContext>,
    /// The request's algorithm, named in the audit record and shown to the policy.
    pub(super) algorithm: Option<super::algorithms::Algorithm>,
    /// The audit record's operation when the [`Operation`] enum has none for it
    /// (`create-grant`, `retire-grant`, `revoke-grant`, `list-grants`).
    pub(super) label: Option<&'static str>,
}

std::thread_local! {
    /// The grant that allowed the request this thread is serving (key and grant id), set
    /// by the key policy check when a grant, not the key policy, allowed it, and taken by
    /// the next audit record of that key, which names it. A key operation runs on one
    /// thread from its gate to its audit record; the check clears it first.
    static GRANT_ALLOWED: std::cell::RefCell<Option<(KeyId, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// Notes that grant `grant` allowed the request on `key` (`None`: no grant did).
pub(super) fn note_grant(allowed: Option<(KeyId, String)>) {
    GRANT_ALLOWED.with(|slot| *slot.borrow_mut() = allowed);
}

/// The grant noted for `key`, if any, taken.
fn take_grant(key: Option<&KeyId>) -> Option<String> {
    let key = key?;
    GRANT_ALLOWED.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some((noted, _)) if noted == key => slot.take().map(|(_, grant)| grant),
            _ => None,
        }
    })
}

impl<'a> Record<'a> {
    /// A record of `operation` on `key` with no version or context (administration).
    pub(super) fn on(caller: &'a Caller, operation: Operation, key: Option<&'a KeyRecord>) -> Self {
        Self {
            caller,
            operation,
            key,
            version: None,
            context: None,
            algorithm: None,
            label: None,
        }
    }
}

impl KeyService {
    /// The audit entry describing `record`.
    fn audit_entry(
        &self,
        record: &Record<'_>,
        outcome: Outcome,
        reason: String,
    ) -> Result<AuditEntry, KeyError> {
        let context_hmac = match record.context {
            Some(context) if !context.0.is_empty() => Some(
                self.token
                    .mac(&self.keys.audit_hmac, &context.canonical())?,
            ),
            _ => None,
        };
        // The algorithm leads the reason: `RSASSA_PSS_SHA_256 RAW: signature valid`. AES
        // keys have one algorithm, SYMMETRIC_DEFAULT, left implied as before.
        let symmetric = super::algorithms::Algorithm::Encryption(
            kastell_proto::algorithm::EncryptionAlgorithm::SymmetricDefault,
        );
        let reason = match record.algorithm {
            None => reason,
            Some(algorithm) if algorithm == symmetric => reason,
            Some(algorithm) => {
                let named = match algorithm.message_type() {
                    Some(message_type) => format!("{} {message_type}", algorithm.as_str()),
                    None => algorithm.as_str().to_owned(),
                };
                if reason.is_empty() {
                    named
                } else {
                    format!("{named}: {reason}")
                }
            }
        };
        let reason = match take_grant(record.key.map(|k| &k.id)) {
            Some(grant) if reason.is_empty() => format!("by grant {grant}"),
            Some(grant) => format!("{reason} (by grant {grant})"),
            None => reason,
        };
        let operation = record.label.unwrap_or_else(|| record.operation.as_str());
        tracing::debug!(
            principal = %record.caller.id,
            operation,
            key = ?record.key.map(|k| k.id.to_string()),
            version = ?record.version,
            outcome = outcome.as_str(),
            reason = %reason,
            "key operation"
        );
        Ok(AuditEntry {
            time_ms: now_ms(),
            principal: record.caller.id.clone(),
            operation: operation.to_owned(),
            key: record.key.map(|k| k.id),
            key_version: record.version,
            policy: record.key.and_then(|k| k.policy),
            outcome,
            reason,
            context_hmac,
            guest: record.caller.evidence.as_ref().map(|e| e.guest_sha384),
        })
    }

    /// Appends the audit record; the operation's result is returned only if this works
    /// (inside [`defer`](super::defer), only once the caller has settled it).
    pub(super) fn audit(
        &self,
        record: &Record<'_>,
        outcome: Outcome,
        reason: String,
    ) -> Result<(), KeyError> {
        let entry = self.audit_entry(record, outcome, reason)?;
        self.record_outcome(entry)
    }

    /// Appends `entry`, the audit record of an operation's outcome: like
    /// [`KeyService::record_entry`], but inside [`defer`](super::defer) the wait for the
    /// commit (and the checkpoint) is left to whoever settles the operation.
    ///
    /// # Errors
    /// The store (outside a deferral): the operation must then not answer.
    pub fn record_outcome(&self, entry: AuditEntry) -> Result<(), KeyError> {
        if let Err(ticket) = super::deferred::collect(self.store.queue_audit(entry)) {
            let appended = ticket.wait()?;
            self.checkpoint_if_due(appended.seq);
        }
        Ok(())
    }

    /// Commits a change to keys together with its (allowed) audit record, atomically: a
    /// crash leaves neither or both.
    pub(super) fn commit(
        &self,
        change: Change<'_>,
        record: &Record<'_>,
        reason: String,
    ) -> Result<(), KeyError> {
        let entry = self.audit_entry(record, Outcome::Allowed, reason)?;
        let appended = self.store.apply(change, entry);
        // What the change touches leaves this host's memory in the same call, before its
        // answer, and also when the store reported a failure (nothing stale survives an
        // uncertain write).
        self.forget_changed(&change);
        let appended = match appended {
            Ok(appended) => appended,
            // Nothing was written: record the refusal instead.
            Err(StoreError::AliasExists(alias)) => {
                let why = format!("alias {alias} already names a key");
                return self.refuse(record, KeyError::AlreadyExists(why.clone()), why);
            }
            Err(StoreError::AliasChanged(alias)) => {
                let why = format!(
                    "alias {alias} was changed concurrently; nothing was changed, try again"
                );
                return self.refuse(record, KeyError::Conflict(why.clone()), why);
            }
            Err(other) => return Err(other.into()),
        };
        self.checkpoint_if_due(appended.seq);
        Ok(())
    }

    /// Drops what `change` touches from the caches: the key record (and the aliases
    /// naming it) of a changed key, the unwrapped versions of a key whose state or
    /// material changed (the cache serves only versions the store still holds; this
    /// clears their material without waiting for the TTL), a changed alias.
    fn forget_changed(&self, change: &Change<'_>) {
        match change {
            Change::UpdateKey(key) | Change::ImportMaterial(key) => self.forget_key(&key.id),
            Change::DestroyKey { id, .. } => self.forget_key(id),
            Change::AddVersion { id, .. } => self.records.forget_key(id),
            Change::CreateKey { key, alias } => {
                self.records.forget_key(&key.id);
                if let Some(row) = alias {
                    self.records.forget_alias(&row.alias);
                }
            }
            Change::SetAlias(row) | Change::CreateAlias(row) | Change::UpdateAlias { row, .. } => {
                self.records.forget_alias(&row.alias);
            }
            Change::DeleteAlias { alias, .. } => self.records.forget_alias(alias),
            Change::SealRows { .. } => self.records.clear(),
        }
    }

    /// Appends an audit record for an event outside the key operations (policy uploads,
    /// quorum steps, certificate issuance, refusals by the API before any key is touched).
    /// `operation` is kebab-case, like the key operations' names.
    ///
    /// # Errors
    /// The store: the event must then not take effect.
    pub fn record_event(
        &self,
        principal: &str,
        operation: &str,
        key: Option<KeyId>,
        outcome: Outcome,
        reason: String,
    ) -> Result<crate::audit::AuditRecord, KeyError> {
        tracing::debug!(principal, operation, outcome = outcome.as_str(), reason = %reason, "event");
        self.record_entry(AuditEntry::event(
            principal, operation, key, outcome, reason,
        ))
    }

    /// Appends `entry` (an event outside the key operations that names an attested guest:
    /// attestations, workload invocations, refused releases).
    ///
    /// # Errors
    /// The store: the event must then not take effect.
    pub fn record_entry(&self, entry: AuditEntry) -> Result<crate::audit::AuditRecord, KeyError> {
        let appended = self.store.append_audit(entry)?;
        self.checkpoint_if_due(appended.seq);
        Ok(appended)
    }

    /// Records a refusal and returns `error`.
    pub(super) fn refuse<T>(
        &self,
        record: &Record<'_>,
        error: KeyError,
        reason: String,
    ) -> Result<T, KeyError> {
        if let Some(metrics) = &self.metrics {
            metrics.denied(denial_cause(&error));
        }
        self.audit(record, Outcome::Denied, reason)?;
        Err(error)
    }

    /// Records that the caller lacks `role` and returns [`KeyError::AccessDenied`]
    /// (counted as a `role` refusal).
    pub(super) fn refuse_role<T>(&self, record: &Record<'_>, role: Role) -> Result<T, KeyError> {
        if let Some(metrics) = &self.metrics {
            metrics.denied("role");
        }
        let why = format!("caller lacks the {role} role");
        self.audit(record, Outcome::Denied, why)?;
        Err(KeyError::AccessDenied)
    }

    /// Finds a key by id or `alias/…`.
    /// Records a refusal for the key's state and returns [`KeyError::InvalidState`].
    pub(super) fn refuse_state<T>(&self, record: &Record<'_>, why: String) -> Result<T, KeyError> {
        self.refuse(record, KeyError::InvalidState(why.clone()), why)
    }
}
