//! The store's connections: one writer, a pool of readers, and group commit of audit
//! records.
//!
//! SQLite lets one connection write at a time. Key operations each append one audit
//! record and must not return before it is durable (`synchronous = FULL`: the write-ahead
//! log is fsynced at commit). Committing each record alone costs one fsync per request;
//! instead, a request queues its record and then waits for the writer: whoever holds the
//! writer takes every queued record (up to [`MAX_BATCH`]) and commits them in one
//! transaction, one fsync, then hands each request its sealed record. A request whose
//! record was committed by another one returns as soon as it gets the writer; nothing is
//! acknowledged before its commit, and a failed commit fails every request in the batch.
//!
//! Reads go through separate read-only connections: in WAL mode they see the last commit
//! and neither wait for the writer nor hold it up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{audit_head_in, insert_audit_in, sql};
use crate::audit::GENESIS;
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::StoreError;

/// Most audit records committed in one transaction.
pub(super) const MAX_BATCH: usize = 1024;

/// Idle readers kept open; more are opened under load and closed when returned.
const IDLE_READERS: usize = 16;

/// How long a connection waits for a lock held by another process.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Locks `mutex`; a panic while it was held leaves data that is still consistent (SQLite
/// rolls back an unfinished transaction, queues and pools hold whole items).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a queued record's outcome is left for the request that queued it.
type Slot = Arc<Mutex<Option<Result<AuditRecord, StoreError>>>>;

/// An audit record waiting for the next group commit.
#[derive(Debug)]
struct Queued {
    entry: AuditEntry,
    slot: Slot,
}

/// Audit records waiting to be committed together.
#[derive(Debug, Default)]
pub(super) struct AuditQueue {
    queued: Mutex<Vec<Queued>>,
    /// Transactions committed so far (each holding one or more records).
    commits: AtomicU64,
}

impl AuditQueue {
    /// Appends `entry` to the trail and returns once it is durable: committed by this
    /// caller together with whatever else is queued, or by the caller that held `writer`
    /// before.
    pub(super) fn append(
        &self,
        writer: &Mutex<Connection>,
        entry: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        let slot: Slot = Arc::default();
        lock(&self.queued).push(Queued {
            entry,
            slot: Arc::clone(&slot),
        });
        loop {
            let mut conn = lock(writer);
            // Slots are filled only under the writer lock, after the commit.
            if let Some(outcome) = lock(&slot).take() {
                return outcome;
            }
            let batch: Vec<Queued> = {
                let mut queue = lock(&self.queued);
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if commit(&mut conn, batch) {
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Transactions committed so far.
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Records waiting.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.queued).len()
    }
}

/// Commits `batch` in one transaction and fills every slot: each record, or the failure
/// for all of them. Whether it committed.
fn commit(conn: &mut Connection, batch: Vec<Queued>) -> bool {
    let (entries, slots): (Vec<AuditEntry>, Vec<Slot>) =
        batch.into_iter().map(|q| (q.entry, q.slot)).unzip();
    let committed = (|| {
        let tx = conn.transaction().map_err(sql("audit append"))?;
        // The head is read once; each record chains to the one before it in the batch.
        let mut head = audit_head_in(&tx)?.unwrap_or((0, GENESIS));
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            let record = insert_audit_in(&tx, entry, head)?;
            head = (record.seq, record.hash);
            records.push(record);
        }
        tx.commit().map_err(sql("audit append"))?;
        Ok::<_, StoreError>(records)
    })();
    match committed {
        Ok(records) => {
            for (slot, record) in slots.iter().zip(records) {
                *lock(slot) = Some(Ok(record));
            }
            true
        }
        Err(err) => {
            tracing::error!(error = %err, records = slots.len(), "audit group commit failed");
            let err = Arc::new(err);
            for slot in &slots {
                *lock(slot) = Some(Err(StoreError::GroupCommit(Arc::clone(&err))));
            }
            false
        }
    }
}

/// Read-only connections to the database file, reused.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle reader, or a new one.
    pub(super) fn get(&self) -> Result<Reader<'_>, StoreError> {
        let idle = lock(&self.idle).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(Reader {
            conn: Some(conn),
            pool: self,
        })
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql("open a reader"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy timeout"))?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")
            .map_err(sql("configure a reader"))?;
        Ok(conn)
    }
}

/// A reader borrowed from the pool; returned when dropped.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a Readers,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Present from creation until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
        {
            let mut idle = lock(&self.pool.idle);
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
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
    use crate::audit::{AuditEntry, Outcome, verify_chain};
    use crate::store::{SqliteStore, Store as _};

    fn entry(n: usize) -> AuditEntry {
        AuditEntry::event(
            &format!("caller-{n}"),
            "encrypt",
            None,
            Outcome::Allowed,
            String::new(),
        )
    }

    #[test]
    fn records_queued_while_the_writer_is_busy_commit_in_one_transaction() {
        const CALLERS: usize = 24;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("kastell.db")).expect("open");
        store.append_audit(entry(CALLERS)).expect("first record");
        let before = store.audit_queue.commits();
        let records = std::thread::scope(|scope| {
            // Hold the writer, as a commit in progress would, while every caller queues.
            let busy = store.writer();
            let callers: Vec<_> = (0..CALLERS)
                .map(|n| {
                    let store = &store;
                    scope.spawn(move || store.append_audit(entry(n)).expect("append"))
                })
                .collect();
            while store.audit_queue.waiting() < CALLERS {
                std::thread::yield_now();
            }
            drop(busy);
            callers
                .into_iter()
                .map(|c| c.join().expect("caller"))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            store.audit_queue.commits() - before,
            1,
            "one commit for all"
        );
        // Each caller got its own record, and the trail holds them once each, chained.
        for (n, record) in records.iter().enumerate() {
            assert_eq!(record.entry.principal, format!("caller-{n}"));
        }
        let mut seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (2..=CALLERS as u64 + 1).collect::<Vec<_>>());
        let trail = store.audit_range(0, u32::MAX).expect("read");
        assert_eq!(trail.len(), CALLERS + 1);
        verify_chain(&trail, 0, crate::audit::GENESIS).expect("chain intact");
    }

    #[test]
    fn concurrent_appends_each_return_their_own_durable_record() {
        const THREADS: usize = 8;
        const EACH: usize = 50;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kastell.db");
        let store = SqliteStore::open(&path).expect("open");
        let returned: Vec<AuditRecord> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let store = &store;
                    scope.spawn(move || {
                        (0..EACH)
                            .map(|i| store.append_audit(entry(t * EACH + i)).expect("append"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().expect("thread"))
                .collect()
        });
        drop(store);
        // Reopened: every acknowledged record is in the file, as it was returned.
        let reopened = SqliteStore::open(&path).expect("reopen");
        let trail = reopened.audit_range(0, u32::MAX).expect("read");
        assert_eq!(trail.len(), THREADS * EACH);
        verify_chain(&trail, 0, crate::audit::GENESIS).expect("chain intact");
        for record in &returned {
            let stored = &trail[usize::try_from(record.seq).unwrap() - 1];
            assert_eq!(stored.hash, record.hash);
            assert_eq!(stored.entry.principal, record.entry.principal);
        }
    }
}
