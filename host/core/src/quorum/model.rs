//! The types of the quorum: classes, states, operations and what each step returns.

use kastell_proto::{OperationClass, PendingState, QuorumAction};
use serde::Serialize;

/// One officer's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The officer.
    pub officer: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// An administrative operation awaiting approvals, or finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingOperation {
    /// Its id, a UUID v4.
    pub id: String,
    /// Its class.
    pub class: OperationClass,
    /// What to execute once approved.
    pub action: QuorumAction,
    /// Who asked.
    pub requester: String,
    /// When, Unix milliseconds.
    pub created_ms: i64,
    /// When it expires, Unix milliseconds: from then on it cannot be approved.
    pub expires_ms: i64,
    /// Where it stands.
    pub state: PendingState,
    /// What its execution gave, or why it failed or expired; empty while pending.
    pub outcome: String,
    /// SHA-384 of its canonical bytes, lowercase hex: what officers check before signing.
    pub digest: String,
    /// Approvals so far, oldest first.
    pub approvals: Vec<Approval>,
}

/// What [`Quorum::submit`](super::Quorum::submit) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per administrative request and matched at once"
)]
pub enum Submitted {
    /// The class needs no approvals: execute now (nothing was stored).
    Execute,
    /// Stored; it awaits approvals.
    Pending(PendingOperation),
}

/// What [`Quorum::approve`](super::Quorum::approve) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Approved {
    /// The operation, with the approvals it now has.
    pub operation: PendingOperation,
    /// Distinct officers who approved it.
    pub have: u32,
    /// How many it needs.
    pub need: u32,
    /// This officer had approved already: counted once, nothing stored.
    pub duplicate: bool,
    /// This approval completed the quorum: execute the action now, then call
    /// [`Quorum::mark_executed`](super::Quorum::mark_executed) or
    /// [`Quorum::mark_failed`](super::Quorum::mark_failed). Told to one approval only.
    pub ready: bool,
}

/// A class and the approvals it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuorumSetting {
    /// The class.
    pub class: OperationClass,
    /// Approvals from distinct crypto-officers it needs.
    pub required: u32,
}
