//! m-of-n quorum for administrative operations: per [`OperationClass`] the deployment can
//! require approvals from `m` distinct crypto-officers before the operation runs.
//!
//! A request of a class that needs more than one approval becomes a [`PendingOperation`]
//! (stored, audited `approval-request`). Each officer approves it by signing its canonical
//! bytes with the P-384 key of their mutual-TLS client certificate ([`Quorum::approve`],
//! audited `approve`). Once `m` distinct officers have approved, the approval that
//! completes the quorum is told it is ready; the server then executes the action and
//! records the result ([`Quorum::mark_executed`] or [`Quorum::mark_failed`], audited
//! `approval-execute`). An operation finishes once: executed, failed or expired, it can
//! never run again. One that is not approved in time expires (audited `approval-expire`).
//! The default requirement of every class is 1: the request executes at once.
//!
//! An approval counts against the class's requirement when it is given, so a change of the
//! requirement applies to operations still pending. Only the approval that completes the
//! quorum is told the operation is ready; later ones are refused, so two servers never
//! both execute it. If the server stops between that approval and recording the
//! execution, the operation stays unfinished until it expires: it is not executed twice,
//! and the officers ask again.
//!
//! Changing a requirement is itself an operation of class [`OperationClass::Quorum`]
//! (the action `set-quorum`, executed with [`Quorum::apply_setting`]): lowering and raising
//! alike need the current `quorum` requirement, so with `quorum` at 2 one officer alone
//! cannot weaken anything.
//!
//! # What officers sign
//!
//! The canonical bytes of an operation are the ASCII line `kastell-approval-v1` and a line
//! feed, followed by one JSON object with exactly the members `action`, `class`,
//! `created_ms`, `expires_ms`, `id` and `requester`:
//!
//! ```text
//! kastell-approval-v1
//! {"action":{"set-quorum":{"class":"delete-key","required":2}},"class":"quorum","created_ms":1764064800000,"expires_ms":1764151200000,"id":"6f1c…","requester":"alice"}
//! ```
//!
//! The JSON is written without any whitespace; the members of every object, at every
//! depth, are sorted by the UTF-8 bytes of their names; numbers are integers in decimal
//! (a typed action, [`kastell_proto::QuorumAction`], holds no fractions); strings escape `"` and `\` and the control
//! characters U+0000–U+001F only (`\b \f \n \r \t`, the others as `\u00xx` in lowercase
//! hex), everything else is literal UTF-8. Python's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes
//! exactly this. The digest shown to officers is the SHA-384 of the canonical bytes, in
//! lowercase hex (`sha384sum`). An approval is a DER ECDSA P-384 signature with SHA-384
//! over the canonical bytes, e.g. `openssl dgst -sha384 -sign officer.key -out approval.der
//! canonical.bin`, verified with the public key of the officer's client certificate.

mod approve;
mod canonical;
mod model;
mod request;
#[cfg(test)]
mod tests;

use kastell_proto::{KeyId, OperationClass, PendingState, Role};
use std::fmt;
use std::sync::Arc;

use crate::audit::{AuditEntry, AuditRecord, Outcome};
use crate::keys::Caller;
use crate::store::{Store, StoreError};

pub use approve::sign_approval;
pub use canonical::{APPROVAL_DOMAIN, canonical_bytes, digest, digest_of};
pub use model::{Approval, Approved, PendingOperation, QuorumSetting, Submitted};

/// Largest requirement a class can have.
pub const MAX_REQUIRED: u32 = 16;

/// Largest canonical encoding of an operation, in bytes.
pub const MAX_CANONICAL_LEN: usize = 64 * 1024;

/// Why a quorum step was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// The caller does not hold the crypto-officer role.
    #[error("caller lacks the crypto-officer role")]
    NotOfficer,
    /// No operation with this id.
    #[error("no pending operation {0}")]
    NotFound(String),
    /// The operation was executed, failed or expired.
    #[error("operation {id} is {state}, no longer pending")]
    NotPending {
        /// The operation.
        id: String,
        /// Its state.
        state: PendingState,
    },
    /// The operation expired before its quorum was reached.
    #[error("operation {0} expired before it was approved")]
    Expired(String),
    /// The approval's signature or certificate does not hold; why.
    #[error("approval refused: {0}")]
    BadSignature(String),
    /// A quorum setting is malformed or out of range; why.
    #[error("invalid quorum setting: {0}")]
    InvalidSetting(String),
    /// The action cannot be signed canonically (too large); why.
    #[error("invalid action: {0}")]
    InvalidAction(String),
    /// The operation has all its approvals already and awaits its execution.
    #[error("operation {0} has its approvals already and awaits execution")]
    AwaitingExecution(String),
    /// Approvals of the operation kept changing under this one; retry.
    #[error("operation {0} is being approved concurrently; retry")]
    Contended(String),
    /// The store failed (internal); when audit cannot be written, nothing happened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl QuorumError {
    /// The stable code: name, HTTP status and exit code.
    #[must_use]
    pub fn code(&self) -> kastell_proto::ErrorCode {
        use kastell_proto::ErrorCode as C;
        match self {
            Self::NotOfficer => C::AccessDenied,
            Self::NotFound(_) => C::NotFound,
            Self::NotPending { .. } | Self::AwaitingExecution(_) => C::InvalidState,
            Self::Expired(_) => C::Expired,
            Self::Contended(_) => C::Conflict,
            Self::BadSignature(_) => C::InvalidSignature,
            Self::InvalidSetting(_) | Self::InvalidAction(_) => C::InvalidInput,
            Self::Store(_) => C::Internal,
        }
    }
}

/// Called with every audit record the quorum appends (e.g. to sign checkpoints).
type AuditObserver = Arc<dyn Fn(&AuditRecord) + Send + Sync>;

/// Pending operations, approvals and quorum settings over a [`Store`].
#[derive(Clone)]
pub struct Quorum {
    store: Arc<dyn Store>,
    observer: Option<AuditObserver>,
}

impl fmt::Debug for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quorum")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn is_officer(caller: &Caller) -> bool {
    caller.roles.contains(&Role::CryptoOfficer)
}

impl Quorum {
    /// Quorum over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            observer: None,
        }
    }

    /// Calls `observer` with every audit record appended from now on, e.g.
    /// `move |r| service.checkpoint_if_due(r.seq)`.
    #[must_use]
    pub fn with_audit_observer(
        mut self,
        observer: impl Fn(&AuditRecord) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Approvals `class` needs (1: none beyond the request).
    ///
    /// # Errors
    /// [`QuorumError::Store`].
    pub fn required(&self, class: OperationClass) -> Result<u32, QuorumError> {
        Ok(self.store.quorum_required(class)?)
    }

    /// Every class with the approvals it needs.
    ///
    /// # Errors
    /// [`QuorumError::Store`].
    pub fn settings(&self) -> Result<Vec<QuorumSetting>, QuorumError> {
        OperationClass::ALL
            .iter()
            .map(|&class| {
                Ok(QuorumSetting {
                    class,
                    required: self.required(class)?,
                })
            })
            .collect()
    }

    /// The operation with this id, if any.
    ///
    /// # Errors
    /// [`QuorumError::Store`], including a stored operation whose canonical bytes no longer
    /// match its columns or digest ([`StoreError::Corrupt`]).
    pub fn operation(&self, id: &str) -> Result<Option<PendingOperation>, QuorumError> {
        self.store
            .pending_operation(id)?
            .map(canonical::from_stored)
            .transpose()
            .map_err(QuorumError::from)
    }

    /// Up to `limit` operations (in `state`, or in any), oldest first, after the one with id
    /// `after`.
    ///
    /// # Errors
    /// As [`Quorum::operation`].
    pub fn list(
        &self,
        state: Option<PendingState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PendingOperation>, QuorumError> {
        self.store
            .list_pending(state, after, limit)?
            .into_iter()
            .map(|stored| canonical::from_stored(stored).map_err(QuorumError::from))
            .collect()
    }

    /// Appends a denied audit record, then returns `error`.
    fn refuse<T>(
        &self,
        principal: &str,
        operation: &str,
        key: Option<KeyId>,
        reason: String,
        error: QuorumError,
    ) -> Result<T, QuorumError> {
        self.audit(entry(principal, operation, key, Outcome::Denied, reason))?;
        Err(error)
    }

    /// Appends `entry` on its own.
    fn audit(&self, entry: AuditEntry) -> Result<AuditRecord, QuorumError> {
        let record = self.store.append_audit(entry)?;
        self.observe(&record);
        Ok(record)
    }

    fn observe(&self, record: &AuditRecord) {
        if let Some(observer) = &self.observer {
            observer(record);
        }
    }
}

fn entry(
    principal: &str,
    operation: &str,
    key: Option<KeyId>,
    outcome: Outcome,
    reason: String,
) -> AuditEntry {
    AuditEntry::event(principal, operation, key, outcome, reason)
}
