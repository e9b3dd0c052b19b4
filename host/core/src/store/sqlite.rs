//! The embedded SQLite store: WAL journal, `synchronous=FULL` (an acknowledged change
//! survives power loss), foreign keys, schema versioned with `PRAGMA user_version`.

use kastell_proto::KeyId;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, params};

use super::{
    ApprovalAdded, ApprovalRow, ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake,
    Change, Changed, ComponentKind, PendingRow, QueuedTokenObject, Revocation, Store, StoreError,
    StoredOperation,
};
use crate::audit::{AuditEntry, AuditRecord, Checkpoint, HASH_LEN};
use crate::model::{Alias, AliasRow, KeyRecord, KeyState, KeyVersion};
use kastell_attest::Measurement;
use kastell_proto::api::{ClientDetail, ClientInfo};
use kastell_proto::{OperationClass, PendingState};
use shared::note_change_in;

mod access_keys;
mod audit;
mod clients;
mod connections;
mod import;
mod keys;
mod quorum;
mod schema;
mod shared;

use audit::{append_audit_in, audit_head_in, decode_audit, insert_audit_in};
use connections::{AuditQueue, BUSY_TIMEOUT, Reader, Readers, lock};
use keys::{
    add_version_in, create_alias_in, create_key_in, decode_alias, delete_alias_in, destroy_key_in,
    seal_rows_in, set_alias_in, set_rotation_in, update_alias_in, update_key_in,
};
use schema::MIGRATIONS;

/// Schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A SQLite database file holding Kastell's state: one connection writes (audit records
/// of concurrent operations are committed together), a pool of read-only connections
/// reads.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    audit_queue: AuditQueue,
    readers: Readers,
}

/// Begins a transaction that writes: the write lock is taken at once (BEGIN IMMEDIATE),
/// so waiting for another process's lock goes through the busy timeout. A deferred
/// transaction that reads first would fail at its first write, without waiting, when any
/// other connection touched the log in between (a reader closing checkpoints it).
fn begin_write(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

fn is_constraint(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation)
}

fn state_columns(state: KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Enabled => ("enabled", None),
        KeyState::Disabled => ("disabled", None),
        KeyState::PendingDeletion { delete_at } => ("pending-deletion", Some(delete_at)),
        KeyState::Destroyed => ("destroyed", None),
        KeyState::PendingImport => ("pending-import", None),
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] (e.g. not a database file), [`StoreError::SchemaTooNew`],
    /// [`StoreError::File`] when a missing file cannot be created.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // SQLite would create the file under the process umask (typically 0644), and its
        // WAL and shared-memory files with the database's mode: made here first, 0600.
        crate::files::create_private_file(path).map_err(|source| StoreError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let mut conn = Connection::open(path).map_err(sql("open database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy timeout"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )
        .map_err(sql("configure database (is it a SQLite file?)"))?;
        connections::stable_plans(&conn).map_err(sql("configure database"))?;
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sql("read schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let tx = conn.transaction().map_err(sql("begin migration"))?;
        for (from, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.execute_batch(migration).map_err(sql("migrate schema"))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(sql("record schema version"))?;
        }
        tx.commit().map_err(sql("commit migration"))?;
        let writer = Arc::new(Mutex::new(conn));
        Ok(Self {
            audit_queue: AuditQueue::start(Arc::clone(&writer))?,
            writer,
            readers: Readers::new(path),
        })
    }

    /// Runs `work` in one transaction, committed only when it succeeds.
    fn in_transaction<T>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer();
        let tx = begin_write(&mut conn).map_err(sql(what))?;
        let out = work(&tx)?;
        tx.commit().map_err(sql(what))?;
        Ok(out)
    }

    /// Copies the write-ahead log into the database and truncates it, so that page
    /// versions holding erased material (secure_delete zeroes it in the database) do not
    /// linger in the log. A failure is logged: the next checkpoint retries.
    fn erase_old_page_versions(&self) {
        let busy: Result<i64, _> =
            self.writer()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        match busy {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "write-ahead log busy: erased material stays in it until the next checkpoint"
            ),
            Err(err) => tracing::warn!(error = %err, "cannot checkpoint the write-ahead log"),
        }
    }

    /// Checkpoints in the order `tail` (a WHERE / ORDER BY / LIMIT clause) gives.
    fn read_checkpoints(
        conn: &Connection,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints \
                 {tail}"
            ))
            .map_err(sql("read audit checkpoints"))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                ))
            })
            .map_err(sql("read audit checkpoints"))?;
        rows.map(|row| {
            let (seq, hash, time_ms, key_label, signature, prev) =
                row.map_err(sql("read audit checkpoints"))?;
            Ok(Checkpoint {
                seq: u64::try_from(seq).map_err(|_| corrupt("checkpoint sequence"))?,
                hash: hash.try_into().map_err(|_| corrupt("checkpoint hash"))?,
                time_ms,
                key_label,
                prev: prev
                    .map(|prev| prev.try_into())
                    .transpose()
                    .map_err(|_| corrupt("checkpoint link"))?,
                signature,
            })
        })
        .collect()
    }

    /// The connection that writes. SQLite rolls back a transaction left unfinished by a
    /// panic; the connection stays usable.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.writer)
    }

    /// A read-only connection: sees the last commit, never waits for the writer.
    fn reader(&self) -> Result<Reader<'_>, StoreError> {
        self.readers.get()
    }
}

/// Up to `limit` audit records after `after`, in order, read on `conn` in whatever
/// transaction it is in (the store copy reads inside its own).
pub(super) fn audit_page_on(
    conn: &Connection,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, time_ms, principal, operation, key_id, key_version, policy, outcome,
                    reason, context_hmac, prev_hash, hash, guest
             FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(sql("read audit"))?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut rows = stmt
        .query(params![after, limit])
        .map_err(sql("read audit"))?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().map_err(sql("read audit"))? {
        records.push(decode_audit(row)?);
    }
    Ok(records)
}

/// Every checkpoint, oldest first, read on `conn` in whatever transaction it is in.
pub(super) fn checkpoints_on(conn: &Connection) -> Result<Vec<Checkpoint>, StoreError> {
    SqliteStore::read_checkpoints(conn, "ORDER BY seq", [])
}

/// Keys whose deletion window ended by `?1`, through the `keys_pending_deletion` index.
const DUE_FOR_DELETION: &str = "SELECT id FROM keys WHERE state = 'pending-deletion' \
                                AND delete_at <= ?1 ORDER BY delete_at";

const KEY_COLUMNS: &str = "id, spec, origin, state, delete_at, description, tags, policy, created, \
                           min_decrypt_version, releasable, revision, seal, usage, \
                           rotation_period_days, next_rotation, key_policy, grants, \
                           material_id, material_expires, materials";

impl Store for SqliteStore {
    fn create_key(&self, key: &KeyRecord, alias: Option<&Alias>) -> Result<(), StoreError> {
        let alias = alias.map(|alias| AliasRow {
            alias: alias.clone(),
            key: key.id,
            seal: None,
        });
        self.in_transaction("create key", |tx| create_key_in(tx, key, alias.as_ref()))
    }

    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
            .map_err(sql("read key"))?;
        let mut rows = stmt.query([id.to_string()]).map_err(sql("read key"))?;
        match rows.next().map_err(sql("read key"))? {
            Some(row) => Ok(Some(keys::decode_key(&conn, row)?)),
            None => Ok(None),
        }
    }

    fn list_keys(&self, after: Option<&KeyId>, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(sql("list keys"))?;
        let mut rows = stmt
            .query(params![
                after.map(ToString::to_string).unwrap_or_default(),
                limit
            ])
            .map_err(sql("list keys"))?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next().map_err(sql("list keys"))? {
            keys.push(keys::decode_key(&conn, row)?);
        }
        Ok(keys)
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.in_transaction("update key", |tx| {
            update_key_in(tx, key)?;
            note_change_in(tx, &Changed::Key(key.id.to_string()))
        })
    }

    fn add_version(
        &self,
        id: &KeyId,
        revision: u64,
        version: &KeyVersion,
    ) -> Result<(), StoreError> {
        self.in_transaction("add version", |tx| {
            add_version_in(tx, id, revision, version, None)?;
            note_change_in(tx, &Changed::Key(id.to_string()))
        })
    }

    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(DUE_FOR_DELETION)
            .map_err(sql("find keys due for deletion"))?;
        let ids = stmt
            .query_map([now], |r| r.get::<_, String>(0))
            .map_err(sql("find keys due for deletion"))?;
        ids.map(|id| {
            let id = id.map_err(sql("find keys due for deletion"))?;
            id.parse().map_err(|_| corrupt(format!("key id {id}")))
        })
        .collect()
    }

    fn set_alias(&self, alias: &Alias, id: &KeyId) -> Result<(), StoreError> {
        let row = AliasRow {
            alias: alias.clone(),
            key: *id,
            seal: None,
        };
        set_alias_in(&self.writer(), &row)
    }

    fn due_for_rotation(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM keys WHERE next_rotation IS NOT NULL AND next_rotation <= ?1
                 AND state = 'enabled' ORDER BY next_rotation, id",
            )
            .map_err(sql("find keys due for rotation"))?;
        let ids = stmt
            .query_map([now], |r| r.get::<_, String>(0))
            .map_err(sql("find keys due for rotation"))?;
        ids.map(|id| {
            let id = id.map_err(sql("find keys due for rotation"))?;
            id.parse().map_err(|_| corrupt(format!("key id {id}")))
        })
        .collect()
    }

    fn material_expired(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM keys WHERE ((material_expires IS NOT NULL
                 AND material_expires <= ?1) OR materials IS NOT NULL)
                 AND state IN ('enabled', 'disabled', 'pending-import')
                 ORDER BY id",
            )
            .map_err(sql("find keys whose imported material expired"))?;
        let ids = stmt
            .query_map([now], |r| r.get::<_, String>(0))
            .map_err(sql("find keys whose imported material expired"))?;
        ids.map(|id| {
            let id = id.map_err(sql("find keys whose imported material expired"))?;
            id.parse().map_err(|_| corrupt(format!("key id {id}")))
        })
        .collect()
    }

    fn list_aliases(&self, after: Option<&Alias>, limit: u32) -> Result<Vec<AliasRow>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT alias, key_id, seal FROM aliases WHERE alias > ?1 ORDER BY alias LIMIT ?2",
            )
            .map_err(sql("list aliases"))?;
        let mut rows = stmt
            .query(params![
                after.map(ToString::to_string).unwrap_or_default(),
                limit
            ])
            .map_err(sql("list aliases"))?;
        let mut aliases = Vec::new();
        while let Some(row) = rows.next().map_err(sql("list aliases"))? {
            aliases.push(decode_alias(row)?);
        }
        Ok(aliases)
    }

    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError> {
        let removed = self
            .writer()
            .execute("DELETE FROM aliases WHERE alias = ?1", [alias.to_string()])
            .map_err(sql("remove alias"))?;
        Ok(removed > 0)
    }

    fn resolve_alias(&self, alias: &Alias) -> Result<Option<AliasRow>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached("SELECT alias, key_id, seal FROM aliases WHERE alias = ?1")
            .map_err(sql("resolve alias"))?;
        let mut rows = stmt
            .query([alias.to_string()])
            .map_err(sql("resolve alias"))?;
        rows.next()
            .map_err(sql("resolve alias"))?
            .map(decode_alias)
            .transpose()
    }

    fn aliases(&self, id: &KeyId) -> Result<Vec<AliasRow>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT alias, key_id, seal FROM aliases WHERE key_id = ?1 ORDER BY alias",
            )
            .map_err(sql("list aliases"))?;
        let mut rows = stmt.query([id.to_string()]).map_err(sql("list aliases"))?;
        let mut aliases = Vec::new();
        while let Some(row) = rows.next().map_err(sql("list aliases"))? {
            aliases.push(decode_alias(row)?);
        }
        Ok(aliases)
    }

    fn unsealed_rows(&self) -> Result<(Vec<KeyRecord>, Vec<AliasRow>), StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE seal IS NULL ORDER BY id"
            ))
            .map_err(sql("find unsealed keys"))?;
        let mut rows = stmt.query([]).map_err(sql("find unsealed keys"))?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next().map_err(sql("find unsealed keys"))? {
            keys.push(keys::decode_key(&conn, row)?);
        }
        let mut stmt = conn
            .prepare("SELECT alias, key_id, seal FROM aliases WHERE seal IS NULL ORDER BY alias")
            .map_err(sql("find unsealed aliases"))?;
        let mut rows = stmt.query([]).map_err(sql("find unsealed aliases"))?;
        let mut aliases = Vec::new();
        while let Some(row) = rows.next().map_err(sql("find unsealed aliases"))? {
            aliases.push(decode_alias(row)?);
        }
        Ok((keys, aliases))
    }

    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.audit_queue.queue(entry).wait()
    }

    fn queue_audit(&self, entry: AuditEntry) -> crate::store::AuditTicket {
        self.audit_queue.queue(entry)
    }

    fn apply(&self, change: Change<'_>, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        let destroys = matches!(change, Change::DestroyKey { .. });
        let changed = super::changed_key(&change);
        let record = self.in_transaction("key change", |tx| {
            match change {
                Change::CreateKey { key, alias } => create_key_in(tx, key, alias)?,
                Change::UpdateKey(key) => update_key_in(tx, key)?,
                Change::ImportMaterial(key) => {
                    update_key_in(tx, key)?;
                    keys::set_material_in(tx, key)?;
                }
                Change::AddVersion {
                    id,
                    revision,
                    version,
                    seal,
                    rotation,
                } => {
                    add_version_in(tx, id, revision, version, seal)?;
                    set_rotation_in(tx, id, rotation)?;
                }
                Change::SetAlias(row) => set_alias_in(tx, row)?,
                Change::CreateAlias(row) => create_alias_in(tx, row)?,
                Change::UpdateAlias { row, from } => update_alias_in(tx, row, from)?,
                Change::DeleteAlias { alias, key } => delete_alias_in(tx, alias, key)?,
                Change::DestroyKey {
                    id,
                    revision,
                    token_labels,
                    seal,
                } => destroy_key_in(tx, id, revision, token_labels, seal)?,
                Change::SealRows { keys, aliases } => seal_rows_in(tx, keys, aliases)?,
            }
            if let Some(what) = &changed {
                note_change_in(tx, what)?;
            }
            append_audit_in(tx, audit)
        })?;
        if destroys {
            self.erase_old_page_versions();
        }
        Ok(record)
    }

    fn pending_token_destruction(&self) -> Result<Vec<QueuedTokenObject>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached("SELECT label, key_id FROM token_destruction ORDER BY label")
            .map_err(sql("read token destruction queue"))?;
        let queued = stmt
            .query_map([], |r| {
                Ok(QueuedTokenObject {
                    label: r.get(0)?,
                    key: r.get(1)?,
                })
            })
            .map_err(sql("read token destruction queue"))?;
        queued
            .map(|q| q.map_err(sql("read token destruction queue")))
            .collect()
    }

    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError> {
        self.writer()
            .execute("DELETE FROM token_destruction WHERE label = ?1", [label])
            .map_err(sql("update token destruction queue"))?;
        Ok(())
    }

    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        audit_page_on(&*self.reader()?, after, limit)
    }

    fn last_setting_record(&self, prefix: &str) -> Result<Option<AuditRecord>, StoreError> {
        let conn = self.reader()?;
        // `audit_settings` (v17) indexes the setting records only: this reads a handful of
        // rows, not the trail.
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, time_ms, principal, operation, key_id, key_version, policy, outcome,
                        reason, context_hmac, prev_hash, hash, guest
                 FROM audit INDEXED BY audit_settings
                 WHERE operation = 'setting' AND substr(reason, 1, length(?1)) = ?1
                 ORDER BY seq DESC LIMIT 1",
            )
            .map_err(sql("read setting records"))?;
        let mut rows = stmt.query([prefix]).map_err(sql("read setting records"))?;
        match rows.next().map_err(sql("read setting records"))? {
            Some(row) => decode_audit(row).map(Some),
            None => Ok(None),
        }
    }

    fn snapshot_to(&self, path: &Path) -> Result<(), StoreError> {
        let file = |source| StoreError::File {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            return Err(file(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a snapshot never replaces a file",
            )));
        }
        crate::files::create_private_file(path).map_err(file)?;
        let source = self.reader()?;
        let mut target = Connection::open(path).map_err(sql("open the snapshot file"))?;
        let backup = rusqlite::backup::Backup::new(&source, &mut target)
            .map_err(sql("start the snapshot"))?;
        // Every page in one step: one read transaction, so one consistent state; writers
        // go on meanwhile (WAL).
        let mut last = rusqlite::backup::StepResult::More;
        for _ in 0..200 {
            last = backup.step(-1).map_err(sql("copy the snapshot"))?;
            match last {
                rusqlite::backup::StepResult::Done => return Ok(()),
                // Another connection holds a lock for a moment: the step starts again.
                _ => std::thread::sleep(std::time::Duration::from_millis(25)),
            }
        }
        Err(file(std::io::Error::other(format!(
            "the snapshot could not finish: the database stayed locked ({last:?})"
        ))))
    }

    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError> {
        audit_head_in(&*self.reader()?)
    }

    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError> {
        let Some(prev) = checkpoint.prev else {
            return Ok(false);
        };
        self.in_transaction("add audit checkpoint", |tx| {
            // Compare-and-set on the newest checkpoint, in the write transaction: of two
            // writers that signed after the same checkpoint, one links and the other's
            // checkpoint is dropped, never stored beside it.
            let newest = Self::read_checkpoints(tx, "ORDER BY seq DESC LIMIT 1", [])?.pop();
            let links = match &newest {
                Some(newest) => newest.digest() == prev && newest.seq < checkpoint.seq,
                None => prev == crate::audit::NO_CHECKPOINT,
            };
            if !links {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_label, signature, prev)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    i64::try_from(checkpoint.seq).map_err(|_| corrupt("checkpoint sequence"))?,
                    checkpoint.hash.to_vec(),
                    checkpoint.time_ms,
                    checkpoint.key_label,
                    checkpoint.signature,
                    prev.to_vec(),
                ],
            )
            .map_err(sql("add audit checkpoint"))?;
            Ok(true)
        })
    }

    fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(Self::read_checkpoints(&*self.reader()?, "ORDER BY seq DESC LIMIT 1", [])?.pop())
    }

    fn checkpoint_at(&self, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        Ok(Self::read_checkpoints(&*self.reader()?, "WHERE seq = ?1", [seq])?.pop())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        Self::read_checkpoints(&*self.reader()?, "ORDER BY seq", [])
    }

    fn quorum_required(&self, class: OperationClass) -> Result<u32, StoreError> {
        quorum::quorum_required(self, class)
    }

    fn set_quorum_required(
        &self,
        class: OperationClass,
        required: u32,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        quorum::set_quorum_required(self, class, required, audit)
    }

    fn add_pending(&self, op: &PendingRow, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        quorum::add_pending(self, op, audit)
    }

    fn pending_operation(&self, id: &str) -> Result<Option<StoredOperation>, StoreError> {
        quorum::pending_operation(self, id)
    }

    fn list_pending(
        &self,
        state: Option<PendingState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        quorum::list_pending(self, state, after, limit)
    }

    fn add_approval(
        &self,
        op_id: &str,
        approval: &ApprovalRow,
        expected: u32,
        audit: AuditEntry,
    ) -> Result<ApprovalAdded, StoreError> {
        quorum::add_approval(self, op_id, approval, expected, audit)
    }

    fn finish_pending(
        &self,
        id: &str,
        state: PendingState,
        outcome: &str,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        quorum::finish_pending(self, id, state, outcome, audit)
    }

    fn add_client(
        &self,
        client: &ClientDetail,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        clients::add_client(self, client, audit)
    }

    fn clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<ClientInfo>, StoreError> {
        clients::clients(self, after, limit)
    }

    fn revoke_client(
        &self,
        revocation: &Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        clients::revoke_client(self, revocation, audit)
    }

    fn client(&self, serial: &str) -> Result<Option<ClientDetail>, StoreError> {
        clients::client(self, serial)
    }

    fn revoked_clients(&self) -> Result<Vec<String>, StoreError> {
        clients::revoked_clients(self)
    }

    fn client_roles(&self, principal: &str) -> Result<Vec<String>, StoreError> {
        clients::client_roles(self, principal)
    }

    fn add_access_key(
        &self,
        key: &super::AccessKeyRow,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        access_keys::add_access_key(self, key, audit)
    }

    fn access_key(&self, id: &str) -> Result<Option<super::AccessKeyRow>, StoreError> {
        access_keys::access_key(self, id)
    }

    fn access_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<kastell_proto::api::AccessKeyInfo>, StoreError> {
        access_keys::access_keys(self, after, limit)
    }

    fn revoke_access_key(
        &self,
        revocation: &Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        access_keys::revoke_access_key(self, revocation, audit)
    }

    fn change_seq(&self) -> Result<u64, StoreError> {
        shared::change_seq(self)
    }

    fn changes_after(&self, seen: u64) -> Result<crate::store::ChangesAfter, StoreError> {
        shared::changes_after(self, seen)
    }

    fn issue_challenge(
        &self,
        challenge: &ChallengeRow,
        limits: ChallengeLimits,
        now_ms: i64,
    ) -> Result<ChallengeIssue, StoreError> {
        shared::issue_challenge(self, challenge, limits, now_ms)
    }

    fn take_challenge(
        &self,
        nonce: &[u8],
        key: &KeyId,
        principal: &str,
        now_ms: i64,
    ) -> Result<ChallengeTake, StoreError> {
        shared::take_challenge(self, nonce, key, principal, now_ms)
    }

    fn purge_challenges(&self, now_ms: i64) -> Result<u64, StoreError> {
        shared::purge_challenges(self, now_ms)
    }

    fn add_component(
        &self,
        kind: ComponentKind,
        measurement: &Measurement,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        shared::add_component(self, kind, measurement, bytes)
    }

    fn component(
        &self,
        kind: ComponentKind,
        measurement: &Measurement,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        shared::component(self, kind, measurement)
    }

    fn components(&self, kind: ComponentKind) -> Result<Vec<Measurement>, StoreError> {
        shared::components(self, kind)
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

    /// The deletion sweep runs at every start: it must not read every key.
    #[test]
    fn the_deletion_sweep_searches_an_index_instead_of_scanning_the_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("kastell.db")).expect("open");
        let conn = store.writer();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {DUE_FOR_DELETION}"))
            .expect("plan");
        let plan: Vec<String> = stmt
            .query_map([0], |r| r.get::<_, String>(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX keys_pending_deletion")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN keys")),
            "{plan:?}"
        );
    }
    #[test]
    fn a_cached_lookup_is_not_prepared_again_when_its_bound_value_changes() {
        #![allow(clippy::unwrap_used, reason = "a failed expectation is a failed test")]
        use rusqlite::StatementStatus;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kastell.db")).unwrap();
        let reader = store.reader().unwrap();
        for i in 0..20 {
            // As every request does: the same lookup, for another key.
            let mut stmt = reader
                .prepare_cached("SELECT number FROM key_versions WHERE key_id = ?1 ORDER BY number")
                .unwrap();
            let found = stmt
                .query_map([format!("k{i}")], |r| r.get::<_, u32>(0))
                .unwrap();
            assert_eq!(found.count(), 0);
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "lookup {i}");
        }
    }
}
