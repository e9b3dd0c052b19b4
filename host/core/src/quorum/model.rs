//! The types of the quorum: classes, states, operations and what each step returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A class of administrative operations with its own approval requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationClass {
    /// Scheduling a key's deletion.
    DeleteKey,
    /// Binding, replacing or unbinding a key's policy.
    BindPolicy,
    /// Changing quorum settings.
    Quorum,
    /// Issuing a crypto-officer client certificate.
    IssueOfficer,
    /// Exporting a backup (reserved).
    ExportBackup,
}

impl OperationClass {
    /// Every class.
    pub const ALL: [Self; 5] = [
        Self::DeleteKey,
        Self::BindPolicy,
        Self::Quorum,
        Self::IssueOfficer,
        Self::ExportBackup,
    ];

    /// The kebab-case name (`delete-key`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeleteKey => "delete-key",
            Self::BindPolicy => "bind-policy",
            Self::Quorum => "quorum",
            Self::IssueOfficer => "issue-officer",
            Self::ExportBackup => "export-backup",
        }
    }
}

impl fmt::Display for OperationClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperationClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| UnknownName::new("operation class", s, Self::ALL.map(Self::as_str)))
    }
}

/// A class or state name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`: one of {expected}")]
pub struct UnknownName {
    /// What was named.
    pub what: &'static str,
    /// The name given (escaped).
    pub name: String,
    /// The known names, comma-separated.
    pub expected: String,
}

impl UnknownName {
    fn new<const N: usize>(what: &'static str, name: &str, known: [&str; N]) -> Self {
        Self {
            what,
            name: name.chars().take(64).flat_map(char::escape_debug).collect(),
            expected: known.join(", "),
        }
    }
}

/// Where a pending operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingState {
    /// Awaiting approvals (or, with all of them, its execution).
    Pending,
    /// Executed.
    Executed,
    /// Not approved in time.
    Expired,
    /// Its execution failed.
    Failed,
}

impl PendingState {
    /// The kebab-case name (`pending`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Executed => "executed",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for PendingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PendingState {
    /// Every state.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Executed, Self::Expired, Self::Failed];
}

impl FromStr for PendingState {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownName::new("state", s, Self::ALL.map(Self::as_str)))
    }
}

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
    /// What to execute once approved (a JSON object the server defines per class).
    pub action: Value,
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
