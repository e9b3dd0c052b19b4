//! Group commit of audit records on PostgreSQL, as on SQLite: an operation queues its
//! record and gets an [`AuditTicket`]; one committer thread per store takes every record
//! queued (up to [`MAX_BATCH`]) and commits them in one transaction (one WAL flush), then
//! fills each ticket with its sealed record, or every ticket of the batch with the
//! failure. Nothing is acknowledged before its commit.
//!
//! The committer borrows a connection from the pool for each batch, so a connection the
//! database dropped (a restart) is replaced at the next batch; while the database is away
//! every batch fails with [`StoreError::Unavailable`] inside [`StoreError::GroupCommit`].

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

use super::audit::{begin_at_head, insert_audit_batch};
use super::connect::{Db, Manager, checkout, pg};
use crate::audit::AuditEntry;
use crate::store::StoreError;
use crate::store::ticket::Stats;
use crate::store::ticket::{AuditTicket, Filler};

/// Most audit records committed in one transaction.
const MAX_BATCH: usize = 1024;

/// An audit record waiting for the next group commit.
#[derive(Debug)]
struct Queued {
    entry: AuditEntry,
    filler: Filler,
}

/// Audit records waiting to be committed together, and the thread that commits them.
#[derive(Debug)]
pub(super) struct AuditQueue {
    /// Taken on drop, which ends the committer once it has committed what is queued.
    sender: Option<Sender<Queued>>,
    committer: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
}

impl AuditQueue {
    /// Starts the committer thread, which commits through connections of `pool`.
    pub(super) fn start(pool: r2d2::Pool<Manager>) -> Result<Self, StoreError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let stats = Arc::new(Stats::default());
        let committer = std::thread::Builder::new()
            .name("kastell-audit".into())
            .spawn({
                let stats = Arc::clone(&stats);
                move || run_committer(&receiver, &pool, &stats)
            })
            .map_err(StoreError::CommitterStart)?;
        Ok(Self {
            sender: Some(sender),
            committer: Some(committer),
            stats,
        })
    }

    /// Queues `entry`; the ticket resolves once it is committed (or its commit failed).
    pub(super) fn queue(&self, entry: AuditEntry) -> AuditTicket {
        let (ticket, filler) = AuditTicket::pending();
        if let Some(sender) = &self.sender {
            // A send to a stopped committer drops the record and its filler, which fails
            // the ticket with `CommitterStopped`.
            drop(sender.send(Queued { entry, filler }));
        }
        ticket
    }

    /// Transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.stats.commits()
    }

    /// Stops the committer after the records already queued, and waits for it.
    pub(super) fn stop(&mut self) {
        drop(self.sender.take());
        if let Some(committer) = self.committer.take()
            && committer.join().is_err()
        {
            tracing::error!("the audit committer panicked");
        }
        self.stats.log();
    }
}

impl Drop for AuditQueue {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The committer: waits for a record, then takes every record queued by then (up to
/// [`MAX_BATCH`]) and commits them together; until the channel closes. The pool (and with
/// it the connections, which must not be closed on an async worker) is dropped here.
fn run_committer(receiver: &Receiver<Queued>, pool: &r2d2::Pool<Manager>, stats: &Stats) {
    while let Ok(first) = receiver.recv() {
        // As on SQLite: let the operations whose records would join this batch run first.
        std::thread::yield_now();
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit(pool, batch, stats);
        }));
        if committed.is_err() {
            tracing::error!("audit group commit panicked; its records were refused");
        }
        // Records queued while this batch committed form the next one.
    }
}

/// Commits `batch` in one transaction and fills every ticket. Three round trips whatever
/// the batch's size: `BEGIN`, the chain's lock and its head as one simple query
/// ([`begin_at_head`]); every record in one `INSERT` ([`insert_audit_batch`]); `COMMIT`.
fn commit(pool: &r2d2::Pool<Manager>, batch: Vec<Queued>, stats: &Stats) {
    let (entries, fillers): (Vec<AuditEntry>, Vec<Filler>) =
        batch.into_iter().map(|q| (q.entry, q.filler)).unzip();
    let size = entries.len();
    let committed = (|| {
        let mut conn = checkout(pool, "audit append")?;
        let conn = &mut *conn;
        let head = begin_at_head(&mut conn.client);
        let inserted = head.and_then(|head| {
            let mut db = Db {
                client: &mut conn.client,
                statements: &mut conn.statements,
            };
            let records = insert_audit_batch(&mut db, entries, head)?;
            conn.client
                .batch_execute("COMMIT")
                .map_err(pg("audit append"))?;
            Ok(records)
        });
        if inserted.is_err() && conn.client.batch_execute("ROLLBACK").is_err() {
            // Its state is unknown: the pool drops it rather than hand it out again.
            conn.discard();
        }
        inserted
    })();
    match committed {
        Ok(records) => {
            stats.committed(size);
            for (filler, record) in fillers.into_iter().zip(records) {
                filler.fill(Ok(record));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, records = fillers.len(), "audit group commit failed");
            let err = Arc::new(err);
            for filler in fillers {
                filler.fill(Err(StoreError::GroupCommit(Arc::clone(&err))));
            }
        }
    }
}
