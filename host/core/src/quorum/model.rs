//! The types of the quorum: what each step returns. Operations, approvals and settings are
//! the API's types (`kastell_proto::api`), re-exported here.

pub use kastell_proto::api::{Approval, PendingOperation, QuorumSetting};

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
