//! Repeated refusals summed up in the audit trail.
//!
//! Some refusals repeat as fast as a client can send requests: a revoked certificate that
//! keeps calling, a client over its challenge quota. Auditing each one would cost an fsync
//! per request, so a client could make the audit trail (and the disk) its target. Instead
//! the first refusal of a kind (a revoked certificate's serial, a client's quota) is audited
//! at once, like any other, and the ones after it are counted; every interval,
//! [`RepeatedRefusals::summaries`] gives one record per kind refused since the last record,
//! with the count. A kind refused nowhere in a whole interval is forgotten, so the next
//! refusal is audited at once again.
//!
//! Memory is bounded: at most `capacity` kinds are counted; a refusal of a new kind when
//! the table is full is audited at once (fail safe: nothing goes uncounted). The counts
//! live in memory: a crash loses those not yet summed up, never the first record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kastell_core::audit::{AuditEntry, Outcome};
use kastell_proto::KeyId;

/// Kinds of repeated refusal counted at once unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 4096;

/// One kind of refusal and how often it happened since its last record.
#[derive(Debug)]
struct Tally {
    principal: String,
    operation: &'static str,
    key: Option<KeyId>,
    reason: String,
    /// Refusals since the last record of this kind.
    unaudited: u64,
}

/// Counts of repeated refusals between their audit records.
#[derive(Debug)]
pub struct RepeatedRefusals {
    interval: Duration,
    capacity: usize,
    tallies: Mutex<HashMap<String, Tally>>,
}

impl RepeatedRefusals {
    /// Sums up every `interval`, counting at most `capacity` kinds.
    #[must_use]
    pub fn new(interval: Duration, capacity: usize) -> Self {
        Self {
            interval,
            capacity,
            tallies: Mutex::default(),
        }
    }

    /// How often [`Self::summaries`] should be written.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tally>> {
        // Counts only: a panic elsewhere leaves nothing half-written.
        self.tallies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes one refusal of kind `kind` (e.g. `revoked <serial>`) of `principal`'s
    /// `operation`, for `reason`. Returns the record to audit now: the first refusal of its
    /// kind since its last record, or any when `capacity` kinds are already counted; `None`
    /// when it is counted for the next summary.
    #[must_use]
    pub fn note(
        &self,
        kind: &str,
        principal: &str,
        operation: &'static str,
        key: Option<KeyId>,
        reason: &str,
    ) -> Option<AuditEntry> {
        let mut tallies = self.lock();
        if let Some(tally) = tallies.get_mut(kind) {
            tally.unaudited = tally.unaudited.saturating_add(1);
            return None;
        }
        if tallies.len() < self.capacity {
            tallies.insert(
                kind.to_owned(),
                Tally {
                    principal: principal.to_owned(),
                    operation,
                    key,
                    reason: reason.to_owned(),
                    unaudited: 0,
                },
            );
        }
        Some(AuditEntry::event(
            principal,
            operation,
            key,
            Outcome::Denied,
            reason.to_owned(),
        ))
    }

    /// One record per kind refused since its last record, giving the count; forgets the
    /// kinds refused nowhere since then.
    #[must_use]
    pub fn summaries(&self) -> Vec<AuditEntry> {
        let mut tallies = self.lock();
        let mut records = Vec::new();
        tallies.retain(|_, tally| {
            if tally.unaudited == 0 {
                return false;
            }
            records.push(AuditEntry::event(
                &tally.principal,
                tally.operation,
                tally.key,
                Outcome::Denied,
                format!(
                    "{}; refused {} more times since the last record",
                    tally.reason, tally.unaudited
                ),
            ));
            tally.unaudited = 0;
            true
        });
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_is_audited_then_the_rest_are_counted_into_one_summary() {
        let refusals = RepeatedRefusals::new(Duration::from_secs(60), 16);
        let first = refusals
            .note("revoked 0a", "app", "authenticate", None, "revoked")
            .expect("first audited");
        assert_eq!(first.reason, "revoked");
        for _ in 0..199 {
            assert!(
                refusals
                    .note("revoked 0a", "app", "authenticate", None, "revoked")
                    .is_none()
            );
        }
        let summaries = refusals.summaries();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].principal, "app");
        assert_eq!(summaries[0].outcome, Outcome::Denied);
        assert!(
            summaries[0]
                .reason
                .ends_with("refused 199 more times since the last record"),
            "{}",
            summaries[0].reason
        );
        // Quiet for an interval: nothing to sum up, and the kind is forgotten.
        assert!(refusals.summaries().is_empty());
        assert!(refusals.summaries().is_empty());
        assert!(
            refusals
                .note("revoked 0a", "app", "authenticate", None, "revoked")
                .is_some(),
            "audited at once again"
        );
    }

    #[test]
    fn a_full_table_audits_new_kinds_at_once() {
        let refusals = RepeatedRefusals::new(Duration::from_secs(60), 2);
        assert!(refusals.note("a", "a", "x", None, "r").is_some());
        assert!(refusals.note("b", "b", "x", None, "r").is_some());
        for _ in 0..3 {
            assert!(
                refusals.note("c", "c", "x", None, "r").is_some(),
                "not counted"
            );
        }
        assert!(refusals.note("a", "a", "x", None, "r").is_none(), "counted");
        assert_eq!(refusals.summaries().len(), 1);
    }
}
