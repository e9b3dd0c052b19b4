//! State that every host sharing a store must see alike (issue 20): release challenges
//! (a nonce issued by one host is usable once, on any host), components stored by
//! measurement (policies and workloads), and the change counter with its notices, by
//! which each host learns that another one changed something it keeps in memory.
//!
//! Every change a host may hold in memory (a key's record, state or material, an alias, a client
//! certificate's or an access key's revocation) increments the store's change counter in
//! the change's own transaction; on PostgreSQL the same transaction also sends a notice
//! (`NOTIFY kastell_changes`, delivered at commit, never for a rolled-back change) naming
//! what changed. A host listens ([`Store::listen`](super::Store::listen)) and drops the
//! affected entries at once, and reads the counter every `[store] change_check_ms`
//! ([`Store::change_seq`](super::Store::change_seq)): a counter that moved past every
//! notice received means notices were lost, and everything is flushed.

use std::sync::Arc;

/// The PostgreSQL channel change notices are sent on.
pub const CHANGE_CHANNEL: &str = "kastell_changes";

/// What a change notice names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Changed {
    /// A key (its state, versions or material), by id.
    Key(String),
    /// An alias (created, re-pointed or deleted), by name.
    Alias(String),
    /// A client certificate, revoked, by serial.
    Client(String),
    /// An access key, revoked, by id.
    AccessKey(String),
    /// Something this build does not name (a newer host's notice): flush everything.
    Other(String),
}

impl Changed {
    /// The notice's text without its sequence number: `key <id>`, `alias <name>`,
    /// `client <serial>`, `access-key <id>`.
    #[must_use]
    pub fn payload(&self) -> String {
        match self {
            Self::Key(id) => format!("key {id}"),
            Self::Alias(name) => format!("alias {name}"),
            Self::Client(serial) => format!("client {serial}"),
            Self::AccessKey(id) => format!("access-key {id}"),
            Self::Other(text) => text.clone(),
        }
    }

    /// Reads a notice's text without its sequence number (what [`Changed::payload`]
    /// writes); [`Changed::Other`] for text this build does not name.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.split_once(' ') {
            Some(("key", id)) => Self::Key(id.to_owned()),
            Some(("alias", name)) => Self::Alias(name.to_owned()),
            Some(("client", serial)) => Self::Client(serial.to_owned()),
            Some(("access-key", id)) => Self::AccessKey(id.to_owned()),
            _ => Self::Other(text.to_owned()),
        }
    }
}

/// What a store's listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeEvent {
    /// A change committed (by any host), with the change counter's value it took.
    Changed {
        /// The change counter after the change.
        seq: u64,
        /// What changed.
        what: Changed,
    },
    /// The listener lost its connection (or a notice it cannot read came): notices may
    /// have been missed, so everything held in memory must be flushed. It reconnects.
    Lost,
}

impl ChangeEvent {
    /// Reads a notice's payload, `<seq> <kind> <id>`; [`ChangeEvent::Lost`] for one that
    /// does not read (flushing everything is the safe answer).
    #[must_use]
    pub fn parse(payload: &str) -> Self {
        let Some((seq, rest)) = payload.split_once(' ') else {
            return Self::Lost;
        };
        match seq.parse() {
            Ok(seq) => Self::Changed {
                seq,
                what: Changed::parse(rest),
            },
            Err(_) => Self::Lost,
        }
    }
}

/// The store's change counter, and the changes after a given value when the store still
/// names each of them ([`Store::changes_after`](super::Store::changes_after)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesAfter {
    /// The change counter.
    pub counter: u64,
    /// Every change above the value asked about, in order, with its counter value; `None`
    /// when the store does not name them all (the host then drops everything it holds).
    pub changes: Option<Vec<(u64, Changed)>>,
}

/// Called by a listener for each notice, on the listener's thread.
pub type ChangeHandler = Arc<dyn Fn(ChangeEvent) + Send + Sync>;

/// A running listener; it stops when dropped.
pub struct ChangeListener {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener").finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// A listener running on `thread`, which checks `stop` at least every second.
    pub(super) fn new(
        stop: Arc<std::sync::atomic::AtomicBool>,
        thread: std::thread::JoinHandle<()>,
    ) -> Self {
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the store's change listener panicked");
        }
    }
}

/// Why a release challenge was not issued (nothing was stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeIssue {
    /// Stored: usable once, on any host, until it expires.
    Issued,
    /// The principal holds `held` open challenges, its quota.
    PrincipalFull {
        /// Open challenges it holds.
        held: u64,
    },
    /// All principals together hold the total.
    TotalFull,
}

/// What taking a release challenge found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeTake {
    /// It was open, for this key and principal: used up now.
    Taken,
    /// No open challenge has this nonce (never issued, or used already).
    Unknown,
    /// It expired (and is gone).
    Expired,
    /// It was issued to another principal: refused and left to its owner.
    OtherPrincipal,
    /// It was issued for another key (and is used up).
    OtherKey,
}

/// An open release challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The key it is for.
    pub key: kastell_proto::KeyId,
    /// Who asked: only they may use it.
    pub principal: String,
    /// When it expires, Unix milliseconds.
    pub expires_ms: i64,
}

/// The limits on open challenges, checked when one is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeLimits {
    /// Open challenges one principal may hold.
    pub per_principal: u64,
    /// Open challenges all principals together may hold.
    pub total: u64,
}

/// A kind of component stored by measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// A policy (world `policy`).
    Policy,
    /// A workload (world `workload`).
    Workload,
}

impl ComponentKind {
    /// Its name in the store.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Workload => "workload",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_and_unreadable_ones_flush_everything() {
        for what in [
            Changed::Key("0a".into()),
            Changed::Alias("alias/payments".into()),
            Changed::Client("ff01".into()),
            Changed::AccessKey("KSTL1".into()),
        ] {
            let payload = format!("42 {}", what.payload());
            assert_eq!(
                ChangeEvent::parse(&payload),
                ChangeEvent::Changed { seq: 42, what }
            );
        }
        assert_eq!(ChangeEvent::parse("nonsense"), ChangeEvent::Lost);
        assert_eq!(ChangeEvent::parse("x key 1"), ChangeEvent::Lost);
        assert_eq!(
            ChangeEvent::parse("7 quorum all"),
            ChangeEvent::Changed {
                seq: 7,
                what: Changed::Other("quorum all".into())
            }
        );
    }
}
