//! Key operations whose audit records are awaited instead of blocked on.
//!
//! An operation answers only once its audit record is durable. Run inside [`defer`], the
//! service queues its records and goes on instead of blocking the thread on the group
//! commit; the caller gets a [`Deferred`], whose value is handed out by
//! [`Deferred::settle`] only after every record it queued has been committed. The server
//! runs key operations this way so that the wait for the fsync holds no thread.
//!
//! The collection is per thread and lasts exactly as long as `work`: records appended by
//! anything `work` does on this thread are collected, nothing else is, and a panic inside
//! `work` ends the collection too.

use std::cell::RefCell;

use crate::audit::AuditRecord;
use crate::store::{AuditTicket, StoreError};

thread_local! {
    /// Tickets of the records queued by the deferred operation running on this thread.
    static COLLECTED: RefCell<Option<Vec<AuditTicket>>> = const { RefCell::new(None) };
}

/// A key operation's outcome held back until its audit records are durable.
#[derive(Debug)]
#[must_use = "the outcome is handed out only by `settle`, once its audit records are durable"]
pub struct Deferred<T> {
    value: T,
    tickets: Vec<AuditTicket>,
}

/// Ends the collection when `work` returns or panics, restoring an enclosing one.
struct Collecting {
    outer: Option<Vec<AuditTicket>>,
    /// Set by [`Collecting::end`]: the collection ended normally.
    ended: bool,
}

impl Collecting {
    fn begin() -> Self {
        Self {
            outer: COLLECTED.replace(Some(Vec::new())),
            ended: false,
        }
    }

    fn end(mut self) -> Vec<AuditTicket> {
        self.ended = true;
        let outer = self.outer.take();
        COLLECTED.replace(outer).unwrap_or_default()
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        // Not ended: `work` panicked. The queued records are committed all the same, and
        // nobody answers from them; the enclosing collection (if any) is restored.
        // (Whether the thread is panicking says nothing here: a `defer` may run to its
        // end inside a destructor during another panic.)
        if !self.ended {
            COLLECTED.replace(self.outer.take());
        }
    }
}

/// Runs `work` on this thread; the audit records it appends through the key service are
/// queued, not waited for.
pub fn defer<T>(work: impl FnOnce() -> T) -> Deferred<T> {
    let collecting = Collecting::begin();
    let value = work();
    let tickets = collecting.end();
    Deferred { value, tickets }
}

/// Adds `ticket` to the deferred operation running on this thread; gives it back when
/// none is (the caller then waits for it).
pub(super) fn collect(ticket: AuditTicket) -> Result<(), AuditTicket> {
    COLLECTED.with_borrow_mut(|collected| match collected {
        Some(tickets) => {
            tickets.push(ticket);
            Ok(())
        }
        None => Err(ticket),
    })
}

impl<T> Deferred<T> {
    /// Waits for every audit record the operation queued; then its value and the
    /// committed records (for checkpoints that may be due).
    ///
    /// # Errors
    /// The first failed commit: the value is dropped, the operation must not answer.
    pub async fn settle(self) -> Result<(T, Vec<AuditRecord>), StoreError> {
        let mut records = Vec::with_capacity(self.tickets.len());
        for ticket in self.tickets {
            records.push(ticket.await?);
        }
        Ok((self.value, records))
    }

    /// Blocks this thread until every audit record the operation queued is durable.
    ///
    /// # Errors
    /// The first failed commit: the value is dropped.
    pub fn wait(self) -> Result<(T, Vec<AuditRecord>), StoreError> {
        let mut records = Vec::with_capacity(self.tickets.len());
        for ticket in self.tickets {
            records.push(ticket.wait()?);
        }
        Ok((self.value, records))
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
    use crate::audit::{AuditEntry, GENESIS, Outcome};

    fn ready(seq: u64) -> AuditTicket {
        AuditTicket::ready(Ok(AuditRecord {
            seq,
            entry: AuditEntry::event("p", "encrypt", None, Outcome::Allowed, String::new()),
            prev_hash: GENESIS,
            hash: [1; 48],
        }))
    }

    #[test]
    fn tickets_are_collected_only_inside_the_deferred_work() {
        assert!(collect(ready(1)).is_err(), "nothing collects outside");
        let deferred = defer(|| {
            collect(ready(2)).expect("collected");
            collect(ready(3)).expect("collected");
            "value"
        });
        assert!(
            collect(ready(4)).is_err(),
            "the collection ended with the work"
        );
        let (value, records) = deferred.wait().expect("committed");
        assert_eq!(value, "value");
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn a_failed_commit_withholds_the_value() {
        let deferred = defer(|| {
            collect(ready(1)).expect("collected");
            collect(AuditTicket::ready(Err(StoreError::CommitterStopped))).expect("collected");
            "secret"
        });
        assert!(matches!(deferred.wait(), Err(StoreError::CommitterStopped)));
    }

    #[test]
    fn a_nested_deferral_keeps_its_own_tickets_and_restores_the_outer_one() {
        let outer = defer(|| {
            collect(ready(1)).expect("outer");
            let inner = defer(|| collect(ready(2)).expect("inner"));
            collect(ready(3)).expect("outer again");
            inner
        });
        let (inner, outer_records) = outer.wait().expect("outer");
        assert_eq!(
            outer_records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 3]
        );
        let ((), inner_records) = inner.wait().expect("inner");
        assert_eq!(inner_records.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_panic_inside_the_work_ends_the_collection() {
        let caught = std::panic::catch_unwind(|| {
            defer(|| {
                collect(ready(1)).expect("collected");
                panic!("policy host bug");
            })
        });
        assert!(caught.is_err());
        assert!(collect(ready(2)).is_err(), "no collection left behind");
    }

    #[test]
    fn a_deferral_run_by_a_destructor_during_a_panic_keeps_the_enclosing_collection() {
        /// Runs a whole deferral when dropped (here: while a panic unwinds).
        struct DefersOnDrop;
        impl Drop for DefersOnDrop {
            fn drop(&mut self) {
                let inner = defer(|| collect(ready(9)).expect("inner"));
                let ((), records) = inner.wait().expect("inner");
                assert_eq!(records.len(), 1);
            }
        }
        let outer = defer(|| {
            let caught = std::panic::catch_unwind(|| {
                let _guard = DefersOnDrop;
                panic!("unwinds through the guard");
            });
            assert!(caught.is_err());
            collect(ready(1)).expect("the outer collection is still there");
        });
        let ((), records) = outer.wait().expect("outer");
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
    }
}
