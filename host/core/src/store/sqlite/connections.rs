//! The store's connections: one writer, a pool of readers, and group commit of audit
//! records.
//!
//! SQLite lets one connection write at a time. Key operations each append one audit
//! record and must not answer before it is durable (`synchronous = FULL`: the write-ahead
//! log is fsynced at commit). Committing each record alone costs one fsync per request;
//! instead, an operation queues its record and gets an [`AuditTicket`]. One committer
//! thread per store takes every queued record (up to [`MAX_BATCH`]) once it holds the
//! writer, commits them in one transaction, one fsync, and fills each ticket with its
//! sealed record. Nothing is acknowledged before its commit, and a failed commit fails
//! every record in the batch. A caller blocks on its ticket or, in the server, awaits
//! it, so waiting for the fsync holds no thread.
//!
//! Reads go through separate read-only connections: in WAL mode they see the last commit
//! and neither wait for the writer nor hold it up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{audit_head_in, begin_write, insert_audit_in, sql};
use crate::audit::AuditEntry;
use crate::audit::GENESIS;
use crate::store::StoreError;
use crate::store::ticket::{AuditTicket, Filler, Stats};

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

/// An audit record waiting for the next group commit.
#[derive(Debug)]
struct Queued {
    entry: AuditEntry,
    filler: Filler,
}

/// Counters the committer keeps (read by tests).
#[derive(Debug, Default)]
struct Counters {
    /// Records queued and not yet taken into a batch.
    waiting: AtomicUsize,
    /// Transactions committed so far (each holding one or more records), records, the
    /// largest batch.
    stats: Stats,
}

/// Audit records waiting to be committed together, and the thread that commits them.
#[derive(Debug)]
pub(super) struct AuditQueue {
    /// Taken on drop, which ends the committer once it has committed what is queued.
    sender: Option<Sender<Queued>>,
    committer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl AuditQueue {
    /// Starts the committer thread, which commits through `writer`.
    pub(super) fn start(writer: Arc<Mutex<Connection>>) -> Result<Self, StoreError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let committer = std::thread::Builder::new()
            .name("kastell-audit".into())
            .spawn({
                let counters = Arc::clone(&counters);
                move || run_committer(&receiver, &writer, &counters)
            })
            .map_err(StoreError::CommitterStart)?;
        Ok(Self {
            sender: Some(sender),
            committer: Some(committer),
            counters,
        })
    }

    /// Queues `entry`; the ticket resolves once it is committed (or its commit failed).
    pub(super) fn queue(&self, entry: AuditEntry) -> AuditTicket {
        let (ticket, filler) = AuditTicket::pending();
        self.counters.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(Queued { entry, filler }).is_ok());
        if !sent {
            // The committer is gone: the record (and its filler) was dropped, which fails
            // the ticket with `CommitterStopped`.
            self.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        ticket
    }

    /// Transactions committed so far.
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.counters.stats.commits()
    }

    /// Records waiting.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.counters.waiting.load(Ordering::Relaxed)
    }
}

impl Drop for AuditQueue {
    fn drop(&mut self) {
        // Closing the channel ends the committer after the records already queued.
        drop(self.sender.take());
        if let Some(committer) = self.committer.take()
            && committer.join().is_err()
        {
            tracing::error!("the audit committer panicked");
        }
        self.counters.stats.log();
    }
}

/// The committer: waits for a record, then takes the writer and every record queued by
/// then (up to [`MAX_BATCH`]) and commits them together; until the channel closes.
fn run_committer(receiver: &Receiver<Queued>, writer: &Mutex<Connection>, counters: &Counters) {
    while let Ok(first) = receiver.recv() {
        // The first record woke this thread, which may have taken the core from the
        // operations whose records would join it (on a busy or pinned core, they are
        // runnable, mid-request): let them run first, so that one fsync covers more
        // records. Returns at once when nothing else is runnable.
        std::thread::yield_now();
        let mut conn = lock(writer);
        // Records queued while the writer was busy join this batch.
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        counters.waiting.fetch_sub(batch.len(), Ordering::Relaxed);
        // A panic inside drops the batch's fillers, failing their tickets; the committer
        // goes on with the next batch.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit(&mut conn, batch, counters);
        }));
        if committed.is_err() {
            tracing::error!("audit group commit panicked; its records were refused");
        }
    }
}

/// Commits `batch` in one transaction and fills every ticket: each record, or the failure
/// for all of them. A commit is counted before any ticket is filled.
fn commit(conn: &mut Connection, batch: Vec<Queued>, counters: &Counters) {
    let (entries, fillers): (Vec<AuditEntry>, Vec<Filler>) =
        batch.into_iter().map(|q| (q.entry, q.filler)).unzip();
    let size = entries.len();
    let committed = (|| {
        let tx = begin_write(conn).map_err(sql("audit append"))?;
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
            counters.stats.committed(size);
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

/// Keeps each cached statement's query plan whatever values are bound to it (the query
/// planner stability guarantee). Without it, SQLite (built with STAT4) re-prepares a
/// statement — parsing and planning its SQL again — whenever a bound value changes,
/// which for a key lookup is every request.
pub(super) fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
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
        stable_plans(&conn).map_err(sql("configure a reader"))?;
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
    use crate::audit::{AuditEntry, AuditRecord, Outcome, verify_chain};
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

    #[test]
    fn another_connection_writing_between_commits_never_fails_a_commit() {
        // A commit that read the head before taking the write lock would fail at once
        // ("database is locked", a stale snapshot) whenever another connection wrote in
        // between, instead of waiting for it.
        const APPENDS: usize = 400;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kastell.db");
        let store = SqliteStore::open(&path).expect("open");
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let conn = Connection::open(&path).expect("open another connection");
                conn.busy_timeout(BUSY_TIMEOUT).expect("busy timeout");
                let version: i64 = conn
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .expect("read");
                while !done.load(Ordering::Relaxed) {
                    // A write that changes nothing: the schema version, set to itself.
                    conn.execute_batch(&format!(
                        "BEGIN IMMEDIATE; PRAGMA user_version = {version}; COMMIT;"
                    ))
                    .expect("write");
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            let appended = std::thread::scope(|inner| {
                let threads: Vec<_> = (0..4)
                    .map(|t| {
                        let store = &store;
                        inner.spawn(move || {
                            (0..APPENDS / 4)
                                .map(|i| store.append_audit(entry(t * 1000 + i)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .flat_map(|t| t.join().expect("thread"))
                    .collect::<Vec<_>>()
            });
            done.store(true, Ordering::Relaxed);
            let failed: Vec<_> = appended.iter().filter_map(|a| a.as_ref().err()).collect();
            assert!(failed.is_empty(), "failed commits: {failed:?}");
        });
        assert_eq!(store.audit_range(0, u32::MAX).expect("read").len(), APPENDS);
    }
}
