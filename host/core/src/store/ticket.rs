//! The outcome of an audit record queued for the next group commit, for a caller that
//! blocks on it ([`AuditTicket::wait`]) or awaits it (`AuditTicket` is a future).
//!
//! The committer fills the ticket once the record's transaction has committed (or
//! failed). A record dropped by the committer without an outcome — it stopped, or it
//! panicked mid-batch — fills its ticket with [`StoreError::CommitterStopped`], so a
//! waiter never hangs and never mistakes it for success.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::StoreError;
use crate::audit::AuditRecord;

type Outcome = Result<AuditRecord, StoreError>;

#[derive(Debug, Default)]
struct State {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
struct Slot {
    state: Mutex<State>,
    filled: Condvar,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, State> {
        // Filling and taking are single assignments: a poisoned lock holds whole values.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the committer leaves a queued record's outcome. Dropped unfilled, it fills the
/// ticket with [`StoreError::CommitterStopped`].
#[derive(Debug)]
pub(crate) struct Filler(Option<Arc<Slot>>);

impl Filler {
    /// Hands `outcome` to the ticket and wakes whoever waits on it.
    pub(crate) fn fill(mut self, outcome: Outcome) {
        if let Some(slot) = self.0.take() {
            fill(&slot, outcome);
        }
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            fill(&slot, Err(StoreError::CommitterStopped));
        }
    }
}

fn fill(slot: &Slot, outcome: Outcome) {
    let waker = {
        let mut state = slot.state();
        state.outcome = Some(outcome);
        state.waker.take()
    };
    slot.filled.notify_all();
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A queued audit record: its committed record or the commit's failure, once known.
/// The operation it records must not answer before this resolves to `Ok`.
#[derive(Debug)]
#[must_use = "an operation answers only once its audit record is durable"]
pub struct AuditTicket {
    slot: Arc<Slot>,
}

impl AuditTicket {
    /// A ticket and the filler the committer answers it through.
    pub(crate) fn pending() -> (Self, Filler) {
        let slot = Arc::new(Slot::default());
        (
            Self {
                slot: Arc::clone(&slot),
            },
            Filler(Some(slot)),
        )
    }

    /// A ticket whose outcome is already known (a store without a committer of its own).
    pub fn ready(outcome: Result<AuditRecord, StoreError>) -> Self {
        let (ticket, filler) = Self::pending();
        filler.fill(outcome);
        ticket
    }

    /// Blocks this thread until the record is committed or its commit failed.
    ///
    /// # Errors
    /// The commit's failure: the operation must not answer.
    pub fn wait(self) -> Result<AuditRecord, StoreError> {
        let mut state = self.slot.state();
        loop {
            if let Some(outcome) = state.outcome.take() {
                return outcome;
            }
            state = self
                .slot
                .filled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Future for AuditTicket {
    type Output = Result<AuditRecord, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state();
        if let Some(outcome) = state.outcome.take() {
            return Poll::Ready(outcome);
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// What a committer has done: transactions, records, the largest batch. Logged (debug)
/// when the committer stops, to show how well group commit grouped (records per
/// transaction).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    commits: AtomicU64,
    records: AtomicU64,
    largest: AtomicU64,
}

impl Stats {
    /// Counts one committed transaction of `records` records.
    pub(crate) fn committed(&self, records: usize) {
        let records = u64::try_from(records).unwrap_or(u64::MAX);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.largest.fetch_max(records, Ordering::Relaxed);
    }

    /// Transactions committed so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Logs the totals (at the committer's end).
    pub(crate) fn log(&self) {
        let commits = self.commits();
        let records = self.records.load(Ordering::Relaxed);
        if commits > 0 {
            #[allow(
                clippy::cast_precision_loss,
                reason = "a mean for a log line; counts stay far below 2^52"
            )]
            let mean = records as f64 / commits as f64;
            // Debug, not info: every command that opens the store has a committer, and a
            // command's stderr must start with its own result (the benches turn it on with
            // RUST_LOG=info,kastell_core::store::ticket=debug).
            tracing::debug!(
                records,
                transactions = commits,
                mean_batch = format!("{mean:.2}"),
                largest_batch = self.largest.load(Ordering::Relaxed),
                "audit group commit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;
    use crate::audit::{AuditEntry, GENESIS, Outcome as AuditOutcome};

    fn record(seq: u64) -> AuditRecord {
        AuditRecord {
            seq,
            prev_hash: GENESIS,
            hash: [7; 48],
            entry: AuditEntry::event("p", "encrypt", None, AuditOutcome::Allowed, String::new()),
        }
    }

    #[test]
    fn a_blocking_waiter_gets_what_the_committer_fills_in_later() {
        let (ticket, filler) = AuditTicket::pending();
        let waiter = std::thread::spawn(move || ticket.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        filler.fill(Ok(record(5)));
        assert_eq!(waiter.join().unwrap().expect("filled").seq, 5);
    }

    #[test]
    fn a_filler_dropped_unfilled_fails_its_ticket_instead_of_leaving_it_hanging() {
        let (ticket, filler) = AuditTicket::pending();
        drop(filler);
        assert!(matches!(ticket.wait(), Err(StoreError::CommitterStopped)));
    }

    #[test]
    fn an_awaited_ticket_is_woken_by_the_fill() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (ticket, filler) = AuditTicket::pending();
        let filled = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            filler.fill(Err(StoreError::Corrupt("test".into())));
        });
        let outcome = runtime.block_on(ticket);
        filled.join().unwrap();
        assert!(matches!(outcome, Err(StoreError::Corrupt(what)) if what == "test"));
    }
}
