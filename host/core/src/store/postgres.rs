//! The shared PostgreSQL store: the same state and the same guarantees as the SQLite store,
//! in a database that several `kastell serve` hosts can share.
//!
//! - Every multi-row change is one transaction, and the audit record of a change commits
//!   in the change's transaction. Transactions run at READ COMMITTED with explicit locks
//!   where SQLite relied on its single writer: compare-and-set updates on a key's revision,
//!   `FOR UPDATE` on a pending operation before an approval is counted, and the audit
//!   chain's head taken under an advisory lock as a transaction's last step (see
//!   [`audit`]), so the chain's order is the commit order across connections and hosts.
//! - Audit records of concurrent operations are committed together by one committer
//!   thread ([`committer`]), as on SQLite.
//! - The schema is versioned; the first host to start upgrades it under an advisory lock,
//!   and a newer schema is refused ([`StoreError::SchemaTooNew`]).
//! - The database away (unreachable, restarting, a connection dropped) is
//!   [`StoreError::Unavailable`]: nothing unacknowledged is kept, and the server answers
//!   503. Connections come from a bounded pool (`[store] max_connections`) and are replaced
//!   when the database drops them.
//!
//! The client is `postgres` (synchronous, over `tokio-postgres`): each connection drives
//! its own small runtime, which must not be entered from an async worker. Store calls made
//! on a worker of a multi-threaded runtime (the server runs key operations of an in-memory
//! token inline) go through [`tokio::task::block_in_place`], which hands the worker's other
//! tasks to another thread for the duration; calls from blocking threads (`spawn_blocking`,
//! the committer) run as they are. The pool is dropped on a thread of its own.

use kastell_proto::KeyId;
use postgres::{Client, GenericClient, Transaction};

use super::{
    AccessKeyRow, ApprovalAdded, ApprovalRow, ChallengeIssue, ChallengeLimits, ChallengeRow,
    ChallengeTake, Change, ChangeHandler, ChangeListener, Changed, ComponentKind, PendingRow,
    QueuedTokenObject, Revocation, Store, StoreError, StoredOperation,
};
use crate::audit::{AuditEntry, AuditRecord, Checkpoint, HASH_LEN};
use crate::model::{Alias, AliasRow, KeyRecord, KeyState, KeyVersion};
use kastell_attest::Measurement;
use kastell_proto::api::{AccessKeyInfo, ClientDetail, ClientInfo};
use kastell_proto::{OperationClass, PendingState};
use shared::note_change_in;

mod access_keys;
mod audit;
mod clients;
mod committer;
mod connect;
mod keys;
mod listen;
mod quorum;
mod schema;
mod shared;
#[cfg(test)]
mod tests;

pub(crate) use connect::describe;
pub use connect::{DEFAULT_MAX_CONNECTIONS, PostgresOptions};

use audit::{append_audit_in, audit_head_in, audit_select, decode_audit, decode_checkpoint};
use committer::AuditQueue;
pub(super) use connect::pg;
use connect::{Db, Manager, PgConn, checkout};
use keys::{
    add_version_in, create_alias_in, create_key_in, decode_alias, decode_keys, delete_alias_in,
    destroy_key_in, key_select, seal_rows_in, set_alias_in, set_rotation_in, update_alias_in,
    update_key_in,
};

/// Kastell's state in a PostgreSQL database (see the module's documentation).
pub struct PostgresStore {
    url: String,
    /// How the change listener connects (a connection of its own, outside the pool).
    listen_config: postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Both are taken on drop: the committer first (it commits what is queued), then the
    /// pool, on a thread of its own.
    audit_queue: Option<AuditQueue>,
    pool: Option<r2d2::Pool<Manager>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
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

impl PostgresStore {
    /// Connects to the database `options` names and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Config`] for unusable TLS settings, [`StoreError::Credentials`] when
    /// the database refuses the user or password, [`StoreError::Unavailable`] when it
    /// cannot be reached, [`StoreError::SchemaTooNew`], or [`StoreError::Postgres`].
    pub fn open(options: &PostgresOptions) -> Result<Self, StoreError> {
        let config = options.client_config();
        let tls = options.tls()?;
        let mut first: Client = config
            .connect(tls.clone())
            .map_err(pg("connect to the database"))?;
        schema::migrate(&mut first)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections())
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_secs(5))
            .test_on_check_out(false)
            .build_unchecked(Manager {
                config: config.clone(),
                tls: tls.clone(),
            });
        Ok(Self {
            url: options.url().to_owned(),
            listen_config: config,
            tls,
            audit_queue: Some(AuditQueue::start(pool.clone())?),
            pool: Some(pool),
        })
    }

    fn conn(&self, what: &'static str) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        checkout(
            self.pool.as_ref().ok_or(StoreError::CommitterStopped)?,
            what,
        )
    }

    /// Runs `work` on a connection, outside a transaction (each statement sees the latest
    /// commit).
    fn read<T>(
        &self,
        work: impl FnOnce(&mut Db<'_, Client>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        off_worker(|| {
            let mut conn = self.conn("read")?;
            let PgConn {
                client, statements, ..
            } = &mut *conn;
            work(&mut Db { client, statements })
        })
    }

    /// Runs `work` in one transaction, committed only when it succeeds (rolled back
    /// otherwise).
    fn in_transaction<T>(
        &self,
        what: &'static str,
        work: impl FnOnce(&mut Db<'_, Transaction<'_>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        off_worker(|| {
            let mut conn = self.conn(what)?;
            let PgConn {
                client, statements, ..
            } = &mut *conn;
            let mut tx = client.transaction().map_err(pg(what))?;
            let out = work(&mut Db {
                client: &mut tx,
                statements,
            })?;
            tx.commit().map_err(pg(what))?;
            Ok(out)
        })
    }

    /// Audit transactions the committer has committed (each holding one or more records).
    #[doc(hidden)]
    #[must_use]
    pub fn group_commits(&self) -> u64 {
        self.audit_queue.as_ref().map_or(0, AuditQueue::commits)
    }

    fn queue(&self) -> &AuditQueue {
        // Present from `open` until drop.
        self.audit_queue
            .as_ref()
            .unwrap_or_else(|| unreachable!("the audit queue lives as long as the store"))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        drop(self.audit_queue.take());
        // Closing a connection blocks on its runtime, which must not happen on an async
        // worker (where the last reference to a store may be dropped).
        if let Some(pool) = self.pool.take() {
            let closed = std::thread::Builder::new()
                .name("kastell-pg-close".into())
                .spawn(move || drop(pool))
                .map(std::thread::JoinHandle::join);
            if !matches!(closed, Ok(Ok(()))) {
                tracing::warn!("the store's connections were not closed cleanly");
            }
        }
    }
}

/// Runs `work`, which blocks on the database, outside the async runtime's workers: through
/// `block_in_place` on a multi-threaded runtime, as it is elsewhere (a plain or blocking
/// thread).
fn off_worker<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn key_ids(rows: &[postgres::Row], what: &str) -> Result<Vec<KeyId>, StoreError> {
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0).map_err(|_| corrupt(what.to_owned()))?;
            id.parse().map_err(|_| corrupt(format!("key id {id}")))
        })
        .collect()
}

fn read_checkpoints<C: GenericClient>(
    db: &mut Db<'_, C>,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<Checkpoint>, StoreError> {
    db.query("read audit checkpoints", sql, params)?
        .iter()
        .map(decode_checkpoint)
        .collect()
}

/// A plain connection to the database `options` names (the store copy's).
pub(super) fn connect(options: &PostgresOptions) -> Result<Client, StoreError> {
    off_worker(|| {
        options
            .client_config()
            .connect(options.tls()?)
            .map_err(pg("connect to the database"))
    })
}

/// Up to `limit` audit records after `after`, in order, read in `client`'s transaction
/// (the store copy's).
pub(super) fn audit_page_on(
    client: &mut impl GenericClient,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    const SQL: &str = audit_select!("WHERE seq > $1 ORDER BY seq LIMIT $2");
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut statements = std::collections::HashMap::new();
    let mut db = Db {
        client,
        statements: &mut statements,
    };
    db.query("read audit", SQL, &[&after, &i64::from(limit)])?
        .iter()
        .map(decode_audit)
        .collect()
}

/// Every checkpoint, oldest first, read in `client`'s transaction.
pub(super) fn checkpoints_on(
    client: &mut impl GenericClient,
) -> Result<Vec<Checkpoint>, StoreError> {
    let mut statements = std::collections::HashMap::new();
    read_checkpoints(
        &mut Db {
            client,
            statements: &mut statements,
        },
        "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints
         ORDER BY seq",
        &[],
    )
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        off_worker(|| {
            let mut conn = self.conn("take a snapshot")?;
            super::copy::snapshot_postgres(&mut conn.client, path)
        })
    }

    fn create_key(&self, key: &KeyRecord, alias: Option<&Alias>) -> Result<(), StoreError> {
        let alias = alias.map(|alias| AliasRow {
            alias: alias.clone(),
            key: key.id,
            seal: None,
        });
        self.in_transaction("create key", |db| create_key_in(db, key, alias.as_ref()))
    }

    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "read key",
                key_select!(
                    "FROM keys k LEFT JOIN key_versions v ON v.key_id = k.id
                     WHERE k.id = $1 ORDER BY v.number"
                ),
                &[&id.to_string()],
            )?;
            Ok(decode_keys(&rows)?.pop())
        })
    }

    fn list_keys(&self, after: Option<&KeyId>, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "list keys",
                key_select!(
                    "FROM (SELECT * FROM keys WHERE id > $1 ORDER BY id LIMIT $2) k
                     LEFT JOIN key_versions v ON v.key_id = k.id ORDER BY k.id, v.number"
                ),
                &[
                    &after.map(ToString::to_string).unwrap_or_default(),
                    &i64::from(limit),
                ],
            )?;
            decode_keys(&rows)
        })
    }

    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.in_transaction("update key", |db| {
            update_key_in(db, key)?;
            note_change_in(db, &Changed::Key(key.id.to_string()))
        })
    }

    fn add_version(
        &self,
        id: &KeyId,
        revision: u64,
        version: &KeyVersion,
    ) -> Result<(), StoreError> {
        self.in_transaction("add version", |db| {
            add_version_in(db, id, revision, version, None)?;
            note_change_in(db, &Changed::Key(id.to_string()))
        })
    }

    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "find keys due for deletion",
                "SELECT id FROM keys WHERE state = 'pending-deletion' AND delete_at <= $1
                 ORDER BY delete_at",
                &[&now],
            )?;
            key_ids(&rows, "key due for deletion")
        })
    }

    fn due_for_rotation(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "find keys due for rotation",
                "SELECT id FROM keys WHERE next_rotation IS NOT NULL AND next_rotation <= $1
                 AND state = 'enabled' ORDER BY next_rotation, id",
                &[&now],
            )?;
            key_ids(&rows, "key due for rotation")
        })
    }

    fn material_expired(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        self.read(|db| {
            let rows = db.query(
                "find keys whose imported material expired",
                "SELECT id FROM keys WHERE ((material_expires IS NOT NULL
                 AND material_expires <= $1) OR materials IS NOT NULL)
                 AND state IN ('enabled', 'disabled', 'pending-import')
                 ORDER BY id",
                &[&now],
            )?;
            key_ids(&rows, "key whose imported material expired")
        })
    }

    fn list_aliases(&self, after: Option<&Alias>, limit: u32) -> Result<Vec<AliasRow>, StoreError> {
        self.read(|db| {
            db.query(
                "list aliases",
                "SELECT alias, key_id, seal FROM aliases WHERE alias > $1 ORDER BY alias
                 LIMIT $2",
                &[
                    &after.map(ToString::to_string).unwrap_or_default(),
                    &i64::from(limit),
                ],
            )?
            .iter()
            .map(decode_alias)
            .collect()
        })
    }

    fn set_alias(&self, alias: &Alias, id: &KeyId) -> Result<(), StoreError> {
        let row = AliasRow {
            alias: alias.clone(),
            key: *id,
            seal: None,
        };
        self.in_transaction("set alias", |db| set_alias_in(db, &row))
    }

    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError> {
        self.read(|db| {
            let removed = db.execute(
                "remove alias",
                "DELETE FROM aliases WHERE alias = $1",
                &[&alias.to_string()],
            )?;
            Ok(removed > 0)
        })
    }

    fn resolve_alias(&self, alias: &Alias) -> Result<Option<AliasRow>, StoreError> {
        self.read(|db| {
            db.query_opt(
                "resolve alias",
                "SELECT alias, key_id, seal FROM aliases WHERE alias = $1",
                &[&alias.to_string()],
            )?
            .map(|row| decode_alias(&row))
            .transpose()
        })
    }

    fn aliases(&self, id: &KeyId) -> Result<Vec<AliasRow>, StoreError> {
        self.read(|db| {
            db.query(
                "list aliases",
                "SELECT alias, key_id, seal FROM aliases WHERE key_id = $1 ORDER BY alias",
                &[&id.to_string()],
            )?
            .iter()
            .map(decode_alias)
            .collect()
        })
    }

    fn unsealed_rows(&self) -> Result<(Vec<KeyRecord>, Vec<AliasRow>), StoreError> {
        self.read(|db| {
            let rows = db.query(
                "find unsealed keys",
                key_select!(
                    "FROM keys k LEFT JOIN key_versions v ON v.key_id = k.id
                     WHERE k.seal IS NULL ORDER BY k.id, v.number"
                ),
                &[],
            )?;
            let keys = decode_keys(&rows)?;
            let aliases = db
                .query(
                    "find unsealed aliases",
                    "SELECT alias, key_id, seal FROM aliases WHERE seal IS NULL ORDER BY alias",
                    &[],
                )?
                .iter()
                .map(decode_alias)
                .collect::<Result<_, _>>()?;
            Ok((keys, aliases))
        })
    }

    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let ticket = self.queue().queue(entry);
        off_worker(|| ticket.wait())
    }

    fn queue_audit(&self, entry: AuditEntry) -> super::AuditTicket {
        self.queue().queue(entry)
    }

    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        const SQL: &str = audit_select!("WHERE seq > $1 ORDER BY seq LIMIT $2");
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(|db| {
            db.query("read audit", SQL, &[&after, &i64::from(limit)])?
                .iter()
                .map(decode_audit)
                .collect()
        })
    }

    fn last_setting_record(&self, prefix: &str) -> Result<Option<AuditRecord>, StoreError> {
        const SQL: &str = audit_select!(
            "WHERE operation = 'setting' AND left(reason, length($1)) = $1
             ORDER BY seq DESC LIMIT 1"
        );
        self.read(|db| {
            db.query_opt("read setting records", SQL, &[&prefix])?
                .map(|row| decode_audit(&row))
                .transpose()
        })
    }

    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError> {
        self.read(audit_head_in)
    }

    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError> {
        let Some(prev) = checkpoint.prev else {
            return Ok(false);
        };
        self.in_transaction("add audit checkpoint", |db| {
            audit::add_checkpoint_in(db, checkpoint, prev)
        })
    }

    fn checkpoint_at(&self, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.read(|db| {
            Ok(read_checkpoints(
                db,
                "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints
                 WHERE seq = $1",
                &[&seq],
            )?
            .pop())
        })
    }

    fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.read(|db| {
            Ok(read_checkpoints(
                db,
                "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints
                 ORDER BY seq DESC LIMIT 1",
                &[],
            )?
            .pop())
        })
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.read(|db| {
            read_checkpoints(
                db,
                "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints
                 ORDER BY seq",
                &[],
            )
        })
    }

    fn apply(&self, change: Change<'_>, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        let changed = super::changed_key(&change);
        self.in_transaction("key change", |db| {
            match change {
                Change::CreateKey { key, alias } => create_key_in(db, key, alias)?,
                Change::UpdateKey(key) => update_key_in(db, key)?,
                Change::ImportMaterial(key) => {
                    update_key_in(db, key)?;
                    keys::set_material_in(db, key)?;
                }
                Change::AddVersion {
                    id,
                    revision,
                    version,
                    seal,
                    rotation,
                } => {
                    add_version_in(db, id, revision, version, seal)?;
                    set_rotation_in(db, id, rotation)?;
                }
                Change::SetAlias(row) => set_alias_in(db, row)?,
                Change::CreateAlias(row) => create_alias_in(db, row)?,
                Change::UpdateAlias { row, from } => update_alias_in(db, row, from)?,
                Change::DeleteAlias { alias, key } => delete_alias_in(db, alias, key)?,
                Change::DestroyKey {
                    id,
                    revision,
                    token_labels,
                    seal,
                } => destroy_key_in(db, id, revision, token_labels, seal)?,
                Change::SealRows { keys, aliases } => seal_rows_in(db, keys, aliases)?,
            }
            if let Some(what) = &changed {
                note_change_in(db, what)?;
            }
            append_audit_in(db, audit)
        })
    }

    fn pending_token_destruction(&self) -> Result<Vec<QueuedTokenObject>, StoreError> {
        self.read(|db| {
            db.query(
                "read token destruction queue",
                "SELECT label, key_id FROM token_destruction ORDER BY label",
                &[],
            )?
            .iter()
            .map(|r| {
                let bad = |_| corrupt("token destruction queue");
                Ok(QueuedTokenObject {
                    label: r.try_get(0).map_err(bad)?,
                    key: r.try_get(1).map_err(bad)?,
                })
            })
            .collect()
        })
    }

    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError> {
        self.read(|db| {
            db.execute(
                "update token destruction queue",
                "DELETE FROM token_destruction WHERE label = $1",
                &[&label],
            )
            .map(drop)
        })
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

    fn client_roles(&self, principal: &str) -> Result<Vec<String>, StoreError> {
        clients::client_roles(self, principal)
    }

    fn revoked_clients(&self) -> Result<Vec<String>, StoreError> {
        clients::revoked_clients(self)
    }

    fn add_access_key(
        &self,
        key: &AccessKeyRow,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        access_keys::add_access_key(self, key, audit)
    }

    fn access_key(&self, id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        access_keys::access_key(self, id)
    }

    fn access_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyInfo>, StoreError> {
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

    fn listen(&self, handler: ChangeHandler) -> Result<Option<ChangeListener>, StoreError> {
        listen::start(self.listen_config.clone(), self.tls.clone(), handler).map(Some)
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
