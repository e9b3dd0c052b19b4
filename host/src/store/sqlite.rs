//! The embedded SQLite store: WAL journal, `synchronous=FULL` (an acknowledged change
//! survives power loss), foreign keys, schema versioned with `PRAGMA user_version`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, OptionalExtension as _, Row, params};

use super::{ApprovalAdded, ApprovalRow, Change, PendingRow, Store, StoreError, StoredOperation};
use crate::audit::{AuditEntry, AuditRecord, Checkpoint, GENESIS, HASH_LEN, Outcome};
use crate::keys::{Alias, KeyId, KeyRecord, KeyState, KeyUsage, KeyVersion, Material, Origin};
use crate::quorum::{OperationClass, PendingState};
use crate::sandbox::KeySpec;

/// Schema migrations; entry `n` takes the database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    r"
    CREATE TABLE keys (
        id                  TEXT PRIMARY KEY,
        spec                TEXT NOT NULL,
        origin              TEXT NOT NULL,
        state               TEXT NOT NULL,
        delete_at           INTEGER,
        description         TEXT NOT NULL,
        tags                TEXT NOT NULL,
        policy              TEXT,
        created             INTEGER NOT NULL,
        min_decrypt_version INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE key_versions (
        key_id      TEXT NOT NULL REFERENCES keys(id),
        number      INTEGER NOT NULL,
        created     INTEGER NOT NULL,
        token_label TEXT,
        master      TEXT,
        wrapped     BLOB,
        PRIMARY KEY (key_id, number),
        CHECK ((token_label IS NULL) <> (master IS NULL AND wrapped IS NULL))
    ) STRICT;
    CREATE TABLE aliases (
        alias  TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(id)
    ) STRICT;
    CREATE INDEX aliases_by_key ON aliases(key_id);
",
    r"
    CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,
        time_ms      INTEGER NOT NULL,
        principal    TEXT NOT NULL,
        operation    TEXT NOT NULL,
        key_id       TEXT,
        key_version  INTEGER,
        policy       TEXT,
        outcome      TEXT NOT NULL,
        reason       TEXT NOT NULL,
        context_hmac BLOB,
        prev_hash    BLOB NOT NULL,
        hash         BLOB NOT NULL
    ) STRICT;
",
    r"
    CREATE TABLE audit_checkpoints (
        seq       INTEGER PRIMARY KEY,
        hash      BLOB NOT NULL,
        time_ms   INTEGER NOT NULL,
        key_label TEXT NOT NULL,
        signature BLOB NOT NULL
    ) STRICT;
",
    r"
    CREATE TABLE token_destruction (
        label  TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(id)
    ) STRICT;
",
    r"
    CREATE TABLE quorum_settings (
        class    TEXT PRIMARY KEY,
        required INTEGER NOT NULL CHECK (required BETWEEN 1 AND 16)
    ) STRICT;
    CREATE TABLE pending_operations (
        id         TEXT PRIMARY KEY,
        class      TEXT NOT NULL,
        canonical  BLOB NOT NULL,
        digest     BLOB NOT NULL,
        requester  TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        state      TEXT NOT NULL,
        outcome    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX pending_by_creation ON pending_operations(created_ms, id);
    CREATE TABLE approvals (
        op_id       TEXT NOT NULL REFERENCES pending_operations(id),
        officer     TEXT NOT NULL,
        certificate BLOB NOT NULL,
        signature   BLOB NOT NULL,
        at_ms       INTEGER NOT NULL,
        PRIMARY KEY (op_id, officer)
    ) STRICT;
",
];

/// Schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A SQLite database file holding Kastell's state.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

fn is_constraint(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation)
}

fn spec_text(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Aes256 => "AES_256",
        KeySpec::EccNistP384 => "ECC_NIST_P384",
        KeySpec::HmacSha384 => "HMAC_SHA384",
    }
}

fn text_spec(text: &str) -> Option<KeySpec> {
    match text {
        "AES_256" => Some(KeySpec::Aes256),
        "ECC_NIST_P384" => Some(KeySpec::EccNistP384),
        "HMAC_SHA384" => Some(KeySpec::HmacSha384),
        _ => None,
    }
}

fn state_columns(state: KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Enabled => ("enabled", None),
        KeyState::Disabled => ("disabled", None),
        KeyState::PendingDeletion { delete_at } => ("pending-deletion", Some(delete_at)),
        KeyState::Destroyed => ("destroyed", None),
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] (e.g. not a database file), [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(sql("open database"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql("set busy timeout"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )
        .map_err(sql("configure database (is it a SQLite file?)"))?;
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
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `work` in one transaction, committed only when it succeeds.
    fn in_transaction<T>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql(what))?;
        let out = work(&tx)?;
        tx.commit().map_err(sql(what))?;
        Ok(out)
    }

    /// Copies the write-ahead log into the database and truncates it, so that page
    /// versions holding erased material (secure_delete zeroes it in the database) do not
    /// linger in the log. A failure is logged: the next checkpoint retries.
    fn erase_old_page_versions(&self) {
        let busy: Result<i64, _> =
            self.conn()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        match busy {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "write-ahead log busy: erased material stays in it until the next checkpoint"
            ),
            Err(err) => tracing::warn!(error = %err, "cannot checkpoint the write-ahead log"),
        }
    }

    /// Checkpoints in the order `tail` (an ORDER BY / LIMIT clause) gives.
    fn read_checkpoints(&self, tail: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT seq, hash, time_ms, key_label, signature FROM audit_checkpoints {tail}"
            ))
            .map_err(sql("read audit checkpoints"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(sql("read audit checkpoints"))?;
        rows.map(|row| {
            let (seq, hash, time_ms, key_label, signature) =
                row.map_err(sql("read audit checkpoints"))?;
            Ok(Checkpoint {
                seq: u64::try_from(seq).map_err(|_| corrupt("checkpoint sequence"))?,
                hash: hash.try_into().map_err(|_| corrupt("checkpoint hash"))?,
                time_ms,
                key_label,
                signature,
            })
        })
        .collect()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // SQLite rolls back an unfinished transaction; the connection stays usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn versions(conn: &Connection, id: &KeyId) -> Result<Vec<KeyVersion>, StoreError> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT number, created, token_label, master, wrapped FROM key_versions
                 WHERE key_id = ?1 ORDER BY number",
            )
            .map_err(sql("read versions"))?;
        let rows = stmt
            .query_map([id.to_string()], |row| {
                Ok((
                    row.get::<_, u32>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<Vec<u8>>>(4)?,
                ))
            })
            .map_err(sql("read versions"))?;
        let mut versions = Vec::new();
        for row in rows {
            let (number, created, label, master, wrapped) = row.map_err(sql("read versions"))?;
            let material = match (label, master, wrapped) {
                (Some(label), None, None) => Material::TokenLabel(label),
                (None, Some(master), Some(wrapped)) => Material::Wrapped { master, wrapped },
                (None, Some(_), None) => Material::Destroyed,
                _ => return Err(corrupt(format!("version {number} of key {id}"))),
            };
            versions.push(KeyVersion {
                number,
                created,
                material,
            });
        }
        Ok(versions)
    }

    fn decode_key(conn: &Connection, row: &Row<'_>) -> Result<KeyRecord, StoreError> {
        let get = |i: usize| row.get_ref(i).map_err(sql("read key"));
        let text = |i: usize| -> Result<String, StoreError> {
            get(i)?
                .as_str()
                .map(str::to_owned)
                .map_err(|_| corrupt("key column"))
        };
        let id: KeyId = text(0)?.parse().map_err(|_| corrupt("key id"))?;
        let spec = text_spec(&text(1)?).ok_or_else(|| corrupt(format!("spec of key {id}")))?;
        let origin = match text(2)?.as_str() {
            "token" => Origin::Token,
            "wrapped" => Origin::Wrapped,
            _ => return Err(corrupt(format!("origin of key {id}"))),
        };
        let delete_at = get(4)?.as_i64_or_null().map_err(|_| corrupt("delete_at"))?;
        let state = match (text(3)?.as_str(), delete_at) {
            ("enabled", None) => KeyState::Enabled,
            ("disabled", None) => KeyState::Disabled,
            ("pending-deletion", Some(delete_at)) => KeyState::PendingDeletion { delete_at },
            ("destroyed", None) => KeyState::Destroyed,
            _ => return Err(corrupt(format!("state of key {id}"))),
        };
        let tags: BTreeMap<String, String> =
            serde_json::from_str(&text(6)?).map_err(|_| corrupt(format!("tags of key {id}")))?;
        let policy = match get(7)?.as_str_or_null().map_err(|_| corrupt("policy"))? {
            Some(text) => Some(
                text.parse()
                    .map_err(|_| corrupt(format!("policy of key {id}")))?,
            ),
            None => None,
        };
        let mut versions = Self::versions(conn, &id)?;
        if state == KeyState::Destroyed {
            for version in &mut versions {
                version.material = Material::Destroyed;
            }
        }
        Ok(KeyRecord {
            id,
            spec,
            usage: KeyUsage::of(spec),
            origin,
            state,
            description: text(5)?,
            tags,
            policy,
            created: get(8)?.as_i64().map_err(|_| corrupt("created"))?,
            min_decrypt_version: u32::try_from(
                get(9)?.as_i64().map_err(|_| corrupt("min version"))?,
            )
            .map_err(|_| corrupt("min version"))?,
            versions,
        })
    }
}

const KEY_COLUMNS: &str =
    "id, spec, origin, state, delete_at, description, tags, policy, created, min_decrypt_version";

impl Store for SqliteStore {
    fn create_key(&self, key: &KeyRecord, alias: Option<&Alias>) -> Result<(), StoreError> {
        self.in_transaction("create key", |tx| create_key_in(tx, key, alias))
    }

    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"))
            .map_err(sql("read key"))?;
        let mut rows = stmt.query([id.to_string()]).map_err(sql("read key"))?;
        match rows.next().map_err(sql("read key"))? {
            Some(row) => Ok(Some(Self::decode_key(&conn, row)?)),
            None => Ok(None),
        }
    }

    fn list_keys(&self, after: Option<&KeyId>, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.conn();
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
            keys.push(Self::decode_key(&conn, row)?);
        }
        Ok(keys)
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        update_key_in(&self.conn(), key)
    }

    fn add_version(&self, id: &KeyId, version: &KeyVersion) -> Result<(), StoreError> {
        add_version_in(&self.conn(), id, version)
    }

    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM keys WHERE state = 'pending-deletion' AND delete_at <= ?1
                 ORDER BY delete_at",
            )
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
        set_alias_in(&self.conn(), alias, id)
    }

    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError> {
        let removed = self
            .conn()
            .execute("DELETE FROM aliases WHERE alias = ?1", [alias.to_string()])
            .map_err(sql("remove alias"))?;
        Ok(removed > 0)
    }

    fn resolve_alias(&self, alias: &Alias) -> Result<Option<KeyId>, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT key_id FROM aliases WHERE alias = ?1",
                [alias.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("resolve alias"))?;
        id.map(|id| {
            id.parse()
                .map_err(|_| corrupt(format!("target of {alias}")))
        })
        .transpose()
    }

    fn aliases(&self, id: &KeyId) -> Result<Vec<Alias>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT alias FROM aliases WHERE key_id = ?1 ORDER BY alias")
            .map_err(sql("list aliases"))?;
        let names = stmt
            .query_map([id.to_string()], |r| r.get::<_, String>(0))
            .map_err(sql("list aliases"))?;
        names
            .map(|name| {
                let name = name.map_err(sql("list aliases"))?;
                name.parse().map_err(|_| corrupt(format!("alias {name}")))
            })
            .collect()
    }

    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.in_transaction("audit append", |tx| append_audit_in(tx, entry))
    }

    fn apply(&self, change: Change<'_>, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        let destroys = matches!(change, Change::DestroyKey { .. });
        let record = self.in_transaction("key change", |tx| {
            match change {
                Change::CreateKey { key, alias } => create_key_in(tx, key, alias)?,
                Change::UpdateKey(key) => update_key_in(tx, key)?,
                Change::AddVersion { id, version } => add_version_in(tx, id, version)?,
                Change::SetAlias { alias, id } => set_alias_in(tx, alias, id)?,
                Change::DestroyKey { id, token_labels } => destroy_key_in(tx, id, token_labels)?,
            }
            append_audit_in(tx, audit)
        })?;
        if destroys {
            self.erase_old_page_versions();
        }
        Ok(record)
    }

    fn pending_token_destruction(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT label FROM token_destruction ORDER BY label")
            .map_err(sql("read token destruction queue"))?;
        let labels = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql("read token destruction queue"))?;
        labels
            .map(|l| l.map_err(sql("read token destruction queue")))
            .collect()
    }

    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM token_destruction WHERE label = ?1", [label])
            .map_err(sql("update token destruction queue"))?;
        Ok(())
    }

    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, time_ms, principal, operation, key_id, key_version, policy, outcome,
                        reason, context_hmac, prev_hash, hash
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

    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError> {
        let head: Option<(i64, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("read audit head"))?;
        head.map(|(seq, hash)| {
            Ok((
                u64::try_from(seq).map_err(|_| corrupt("audit sequence"))?,
                hash.try_into().map_err(|_| corrupt("audit hash"))?,
            ))
        })
        .transpose()
    }

    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError> {
        let added = self
            .conn()
            .execute(
                "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_label, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (seq) DO NOTHING",
                params![
                    i64::try_from(checkpoint.seq).map_err(|_| corrupt("checkpoint sequence"))?,
                    checkpoint.hash.to_vec(),
                    checkpoint.time_ms,
                    checkpoint.key_label,
                    checkpoint.signature,
                ],
            )
            .map_err(sql("add audit checkpoint"))?;
        Ok(added > 0)
    }

    fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.read_checkpoints("ORDER BY seq DESC LIMIT 1")?.pop())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.read_checkpoints("ORDER BY seq")
    }

    fn quorum_required(&self, class: OperationClass) -> Result<u32, StoreError> {
        let required: Option<i64> = self
            .conn()
            .query_row(
                "SELECT required FROM quorum_settings WHERE class = ?1",
                [class.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read quorum setting"))?;
        required.map_or(Ok(1), |m| {
            u32::try_from(m).map_err(|_| corrupt(format!("quorum setting of {class}")))
        })
    }

    fn set_quorum_required(
        &self,
        class: OperationClass,
        required: u32,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        self.in_transaction("quorum setting", |tx| {
            tx.execute(
                "INSERT INTO quorum_settings (class, required) VALUES (?1, ?2)
                 ON CONFLICT (class) DO UPDATE SET required = excluded.required",
                params![class.as_str(), required],
            )
            .map_err(sql("write quorum setting"))?;
            append_audit_in(tx, audit)
        })
    }

    fn add_pending(&self, op: &PendingRow, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.in_transaction("pending operation", |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO pending_operations ({PENDING_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    op.id,
                    op.class.as_str(),
                    op.canonical,
                    op.digest.to_vec(),
                    op.requester,
                    op.created_ms,
                    op.expires_ms,
                    op.state.as_str(),
                    op.outcome,
                ],
            )
            .map_err(sql("insert pending operation"))?;
            append_audit_in(tx, audit)
        })
    }

    fn pending_operation(&self, id: &str) -> Result<Option<StoredOperation>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {PENDING_COLUMNS} FROM pending_operations WHERE id = ?1"),
                [id],
                |r| Ok(decode_pending(r)),
            )
            .optional()
            .map_err(sql("read pending operation"))?;
        row.map(|row| {
            let row = row?;
            let approvals = approvals_of(&conn, &row.id)?;
            Ok(StoredOperation { row, approvals })
        })
        .transpose()
    }

    fn list_pending(
        &self,
        state: Option<PendingState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {PENDING_COLUMNS} FROM pending_operations
                 WHERE (?1 IS NULL OR state = ?1)
                   AND (?2 IS NULL OR (created_ms, id) >
                        (SELECT created_ms, id FROM pending_operations WHERE id = ?2))
                 ORDER BY created_ms, id LIMIT ?3"
            ))
            .map_err(sql("list pending operations"))?;
        let rows = stmt
            .query_map(
                params![state.map(PendingState::as_str), after, limit],
                |r| Ok(decode_pending(r)),
            )
            .map_err(sql("list pending operations"))?;
        let rows: Vec<PendingRow> = rows
            .map(|row| row.map_err(sql("list pending operations"))?)
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|row| {
                let approvals = approvals_of(&conn, &row.id)?;
                Ok(StoredOperation { row, approvals })
            })
            .collect()
    }

    fn add_approval(
        &self,
        op_id: &str,
        approval: &ApprovalRow,
        expected: u32,
        audit: AuditEntry,
    ) -> Result<ApprovalAdded, StoreError> {
        self.in_transaction("approval", |tx| {
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM pending_operations WHERE id = ?1",
                    [op_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("read pending operation"))?;
            let Some(state) = state else {
                return Ok(ApprovalAdded::NotFound);
            };
            let state = decode_state(&state, op_id)?;
            if state != PendingState::Pending {
                return Ok(ApprovalAdded::NotPending(state));
            }
            let (count, mine): (i64, bool) = tx
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(officer = ?2), 0) > 0
                     FROM approvals WHERE op_id = ?1",
                    params![op_id, approval.officer],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql("count approvals"))?;
            if mine {
                return Ok(ApprovalAdded::Duplicate);
            }
            let found = u32::try_from(count).map_err(|_| corrupt("approval count"))?;
            if found != expected {
                return Ok(ApprovalAdded::Changed { found });
            }
            tx.execute(
                "INSERT INTO approvals (op_id, officer, certificate, signature, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    op_id,
                    approval.officer,
                    approval.certificate,
                    approval.signature,
                    approval.at_ms
                ],
            )
            .map_err(sql("insert approval"))?;
            append_audit_in(tx, audit).map(|record| ApprovalAdded::Added(Box::new(record)))
        })
    }

    fn finish_pending(
        &self,
        id: &str,
        state: PendingState,
        outcome: &str,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        if state == PendingState::Pending {
            return Ok(None);
        }
        self.in_transaction("finish pending operation", |tx| {
            let changed = tx
                .execute(
                    "UPDATE pending_operations SET state = ?2, outcome = ?3
                     WHERE id = ?1 AND state = 'pending'",
                    params![id, state.as_str(), outcome],
                )
                .map_err(sql("finish pending operation"))?;
            if changed == 0 {
                return Ok(None);
            }
            append_audit_in(tx, audit).map(Some)
        })
    }
}

const PENDING_COLUMNS: &str =
    "id, class, canonical, digest, requester, created_ms, expires_ms, state, outcome";

fn decode_state(text: &str, id: &str) -> Result<PendingState, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format!("state of pending operation {id}")))
}

fn decode_pending(row: &Row<'_>) -> Result<PendingRow, StoreError> {
    let bad = |what: &str| corrupt(format!("pending operation {what}"));
    let id: String = row.get(0).map_err(|_| bad("id"))?;
    let class: String = row.get(1).map_err(|_| bad("class"))?;
    let digest: Vec<u8> = row.get(3).map_err(|_| bad("digest"))?;
    let state: String = row.get(7).map_err(|_| bad("state"))?;
    Ok(PendingRow {
        class: class
            .parse()
            .map_err(|_| corrupt(format!("class of pending operation {id}")))?,
        canonical: row.get(2).map_err(|_| bad("canonical bytes"))?,
        digest: digest.try_into().map_err(|_| bad("digest"))?,
        requester: row.get(4).map_err(|_| bad("requester"))?,
        created_ms: row.get(5).map_err(|_| bad("creation time"))?,
        expires_ms: row.get(6).map_err(|_| bad("expiry"))?,
        state: decode_state(&state, &id)?,
        outcome: row.get(8).map_err(|_| bad("outcome"))?,
        id,
    })
}

fn approvals_of(conn: &Connection, op_id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT officer, certificate, signature, at_ms FROM approvals
             WHERE op_id = ?1 ORDER BY at_ms, officer",
        )
        .map_err(sql("read approvals"))?;
    let rows = stmt
        .query_map([op_id], |r| {
            Ok(ApprovalRow {
                officer: r.get(0)?,
                certificate: r.get(1)?,
                signature: r.get(2)?,
                at_ms: r.get(3)?,
            })
        })
        .map_err(sql("read approvals"))?;
    rows.map(|row| row.map_err(|_| corrupt(format!("approval of operation {op_id}"))))
        .collect()
}

fn insert_version(
    conn: &Connection,
    id: &KeyId,
    version: &KeyVersion,
) -> Result<(), rusqlite::Error> {
    let (label, master, wrapped) = match &version.material {
        Material::TokenLabel(label) => (Some(label.as_str()), None, None),
        Material::Wrapped { master, wrapped } => {
            (None, Some(master.as_str()), Some(wrapped.as_slice()))
        }
        Material::Destroyed => {
            return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(
                std::io::Error::other("a destroyed version cannot be stored as new"),
            )));
        }
    };
    conn.execute(
        "INSERT INTO key_versions (key_id, number, created, token_label, master, wrapped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id.to_string(),
            version.number,
            version.created,
            label,
            master,
            wrapped
        ],
    )?;
    Ok(())
}

fn create_key_in(
    tx: &Connection,
    key: &KeyRecord,
    alias: Option<&Alias>,
) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    tx.execute(
        &format!(
            "INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            key.id.to_string(),
            spec_text(key.spec),
            match key.origin {
                Origin::Token => "token",
                Origin::Wrapped => "wrapped",
            },
            state,
            delete_at,
            key.description,
            tags,
            key.policy.map(|m| m.to_string()),
            key.created,
            key.min_decrypt_version,
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::KeyExists(key.id)
        } else {
            sql("insert key")(e)
        }
    })?;
    for version in &key.versions {
        insert_version(tx, &key.id, version).map_err(sql("insert version"))?;
    }
    if let Some(alias) = alias {
        tx.execute(
            "INSERT INTO aliases (alias, key_id) VALUES (?1, ?2)",
            params![alias.to_string(), key.id.to_string()],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StoreError::AliasExists(alias.clone())
            } else {
                sql("insert alias")(e)
            }
        })?;
    }
    Ok(())
}

fn update_key_in(conn: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    let changed = conn
        .execute(
            "UPDATE keys SET state = ?2, delete_at = ?3, description = ?4, tags = ?5,
             policy = ?6, min_decrypt_version = ?7 WHERE id = ?1",
            params![
                key.id.to_string(),
                state,
                delete_at,
                key.description,
                tags,
                key.policy.map(|m| m.to_string()),
                key.min_decrypt_version
            ],
        )
        .map_err(sql("update key"))?;
    if changed == 0 {
        return Err(StoreError::KeyNotFound(key.id));
    }
    Ok(())
}

fn add_version_in(conn: &Connection, id: &KeyId, version: &KeyVersion) -> Result<(), StoreError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM keys WHERE id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )
        .map_err(sql("find key"))?;
    if !exists {
        return Err(StoreError::KeyNotFound(*id));
    }
    insert_version(conn, id, version).map_err(|e| {
        if is_constraint(&e) {
            StoreError::VersionExists {
                id: *id,
                number: version.number,
            }
        } else {
            sql("insert version")(e)
        }
    })
}

fn set_alias_in(conn: &Connection, alias: &Alias, id: &KeyId) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO aliases (alias, key_id) VALUES (?1, ?2)
             ON CONFLICT (alias) DO UPDATE SET key_id = excluded.key_id",
        params![alias.to_string(), id.to_string()],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::KeyNotFound(*id)
        } else {
            sql("set alias")(e)
        }
    })?;
    Ok(())
}

fn append_audit_in(tx: &Connection, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql("read audit head"))?;
    let (prev_seq, prev_hash) = match last {
        Some((seq, hash)) => (
            u64::try_from(seq).map_err(|_| corrupt("audit sequence"))?,
            <[u8; HASH_LEN]>::try_from(hash).map_err(|_| corrupt("audit hash"))?,
        ),
        None => (0, GENESIS),
    };
    let record = entry.seal(prev_seq, prev_hash);
    let e = &record.entry;
    tx.execute(
        "INSERT INTO audit (seq, time_ms, principal, operation, key_id, key_version, policy,
                            outcome, reason, context_hmac, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            i64::try_from(record.seq).map_err(|_| corrupt("audit sequence"))?,
            e.time_ms,
            e.principal,
            e.operation,
            e.key.map(|k| k.to_string()),
            e.key_version,
            e.policy.map(|p| p.to_string()),
            e.outcome.as_str(),
            e.reason,
            e.context_hmac.map(|m| m.to_vec()),
            record.prev_hash.to_vec(),
            record.hash.to_vec(),
        ],
    )
    .map_err(sql("append audit record"))?;
    Ok(record)
}

fn destroy_key_in(tx: &Connection, id: &KeyId, token_labels: &[String]) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            "UPDATE keys SET state = 'destroyed', delete_at = NULL WHERE id = ?1",
            [id.to_string()],
        )
        .map_err(sql("destroy key"))?;
    if changed == 0 {
        return Err(StoreError::KeyNotFound(*id));
    }
    tx.execute(
        "UPDATE key_versions SET wrapped = NULL WHERE key_id = ?1",
        [id.to_string()],
    )
    .map_err(sql("erase wrapped material"))?;
    tx.execute("DELETE FROM aliases WHERE key_id = ?1", [id.to_string()])
        .map_err(sql("remove aliases of destroyed key"))?;
    for label in token_labels {
        tx.execute(
            "INSERT INTO token_destruction (label, key_id) VALUES (?1, ?2)
             ON CONFLICT (label) DO NOTHING",
            params![label, id.to_string()],
        )
        .map_err(sql("queue token object destruction"))?;
    }
    Ok(())
}

fn decode_audit(row: &Row<'_>) -> Result<AuditRecord, StoreError> {
    let bad = |what: &str| corrupt(format!("audit {what}"));
    let seq: i64 = row.get(0).map_err(|_| bad("sequence"))?;
    let hash = |i: usize| -> Result<[u8; HASH_LEN], StoreError> {
        let bytes: Vec<u8> = row.get(i).map_err(|_| bad("hash"))?;
        bytes.try_into().map_err(|_| bad("hash"))
    };
    let key: Option<String> = row.get(4).map_err(|_| bad("key"))?;
    let policy: Option<String> = row.get(6).map_err(|_| bad("policy"))?;
    let outcome: String = row.get(7).map_err(|_| bad("outcome"))?;
    let context_hmac: Option<Vec<u8>> = row.get(9).map_err(|_| bad("context HMAC"))?;
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|_| bad("sequence"))?,
        entry: AuditEntry {
            time_ms: row.get(1).map_err(|_| bad("time"))?,
            principal: row.get(2).map_err(|_| bad("principal"))?,
            operation: row.get(3).map_err(|_| bad("operation"))?,
            key: key.map(|k| k.parse()).transpose().map_err(|_| bad("key"))?,
            key_version: row.get(5).map_err(|_| bad("key version"))?,
            policy: policy
                .map(|p| p.parse())
                .transpose()
                .map_err(|_| bad("policy"))?,
            outcome: match outcome.as_str() {
                "allowed" => Outcome::Allowed,
                "denied" => Outcome::Denied,
                _ => return Err(bad("outcome")),
            },
            reason: row.get(8).map_err(|_| bad("reason"))?,
            context_hmac: context_hmac
                .map(<[u8; 48]>::try_from)
                .transpose()
                .map_err(|_| bad("context HMAC"))?,
        },
        prev_hash: hash(10)?,
        hash: hash(11)?,
    })
}
