//! Persistent state behind a trait: SQLite embedded by default ([`SqliteStore`]), or a
//! PostgreSQL database that several hosts share ([`PostgresStore`]). Every multi-row change
//! is one transaction, so a crash leaves the previous or the next consistent state.

pub mod copy;
mod grants;
mod materials;
mod postgres;
pub mod shared;
mod sqlite;
#[doc(hidden)]
pub mod testing;
mod ticket;

use crate::audit::{AuditEntry, AuditRecord, Checkpoint, HASH_LEN};
use crate::model::{Alias, AliasRow, KeyRecord, KeyState, KeyVersion, RotationSchedule};
use kastell_attest::Measurement;
use kastell_proto::KeyId;
use kastell_proto::api::{ClientDetail, ClientInfo};
use kastell_proto::{OperationClass, PendingState};

pub use postgres::{DEFAULT_MAX_CONNECTIONS, PostgresOptions, PostgresStore};
pub use shared::{
    ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake, ChangeEvent, ChangeHandler,
    ChangeListener, Changed, ChangesAfter, ComponentKind,
};
pub use sqlite::SqliteStore;
pub use ticket::AuditTicket;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed; `context` says what the store was doing.
    #[error("store: {context}: {source}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or failed a statement; `context` says what the store was doing.
    #[error("store: {context}: {}", postgres::describe(source))]
    Postgres {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: ::postgres::Error,
    },
    /// The database cannot be reached: it is down, restarting or unreachable, a connection
    /// dropped, or no connection came free in time. Nothing was acknowledged; the request
    /// may be retried (the server answers 503).
    #[error("store unavailable: {context}: {source}")]
    Unavailable {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database refused the configured user or password.
    #[error("store: the database refused the credentials: {}", postgres::describe(.0))]
    Credentials(#[source] ::postgres::Error),
    /// The store's configuration is unusable (URL, TLS anchors); says what is wrong.
    #[error("store configuration: {0}")]
    Config(String),
    /// The database file could not be created.
    #[error("store {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer Kastell.
    #[error(
        "store schema version {found} is newer than this Kastell supports ({supported}); upgrade Kastell"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// No key with this id.
    #[error("no key {0}")]
    KeyNotFound(KeyId),
    /// A key with this id exists already.
    #[error("a key {0} exists already")]
    KeyExists(KeyId),
    /// The alias is taken.
    #[error("alias {0} already names a key")]
    AliasExists(Alias),
    /// The key changed since it was read (a concurrent change won): nothing was written;
    /// read it again and decide again.
    #[error("key {0} changed since it was read")]
    KeyChanged(KeyId),
    /// The alias changed since it was read: nothing was written.
    #[error("alias {0} changed since it was read")]
    AliasChanged(Alias),
    /// A version with this number exists already (a concurrent rotation won).
    #[error("key {id} already has version {number}")]
    VersionExists {
        /// The key.
        id: KeyId,
        /// The version.
        number: u32,
    },
    /// A stored row does not decode: the file was edited or damaged.
    #[error("store holds a malformed {0}")]
    Corrupt(String),
    /// The transaction that was to commit this audit record together with those of
    /// concurrent operations failed; none of them was recorded.
    #[error("audit records committed together: {0}")]
    GroupCommit(std::sync::Arc<StoreError>),
    /// The thread that commits audit records stopped before committing this one; it was
    /// not recorded.
    #[error("the audit committer stopped before this record was committed")]
    CommitterStopped,
    /// The thread that commits audit records could not be started.
    #[error("cannot start the audit committer thread: {0}")]
    CommitterStart(#[source] std::io::Error),
    /// The thread that listens for other hosts' changes could not be started.
    #[error("cannot start the store's change listener thread: {0}")]
    ListenerStart(#[source] std::io::Error),
    /// This store cannot do what was asked (e.g. a snapshot for a backup).
    #[error("this store cannot {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Whether the store was away (the database unreachable), directly or for the group
    /// commit that was to record this operation: nothing was done, and the caller may retry
    /// (the server answers 503 `StoreUnavailable`).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::GroupCommit(inner) => inner.is_unavailable(),
            _ => false,
        }
    }
}

/// A change to keys or aliases that [`Store::apply`] commits together with its audit record.
/// A change to an existing key commits only while the stored key is still at the revision
/// the change was decided on ([`KeyRecord::revision`]), and increments it; otherwise
/// [`StoreError::KeyChanged`] and nothing is written.
///
/// Each change carries the seal of every row it writes, as the row will be stored (see
/// [`KeyRecord::seal`]); the store writes seals and never computes or checks them.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new key with its versions (sealed by `key.seal`) and, optionally, its first alias
    /// (which must name `key`).
    CreateKey {
        /// The key.
        key: &'a KeyRecord,
        /// Its first alias.
        alias: Option<&'a AliasRow>,
    },
    /// New metadata (state, description, tags, policy, minimum decryption version), against
    /// the record's revision; `seal` is the record's seal at the next revision.
    UpdateKey(&'a KeyRecord),
    /// A new version (rotation), and the key's automatic rotation after it (an automatic
    /// rotation moves the next one on; one asked for leaves it as it was).
    AddVersion {
        /// The key.
        id: &'a KeyId,
        /// The key's revision the rotation was decided on.
        revision: u64,
        /// The version.
        version: &'a KeyVersion,
        /// The key's seal with this version, at the next revision.
        seal: Option<&'a [u8]>,
        /// The key's automatic rotation from now on.
        rotation: Option<RotationSchedule>,
    },
    /// An alias created or re-pointed.
    SetAlias(&'a AliasRow),
    /// A new alias; [`StoreError::AliasExists`] when the name is taken.
    CreateAlias(&'a AliasRow),
    /// An alias that names `from` re-pointed at the key `row` names;
    /// [`StoreError::AliasChanged`] when it does not name `from` (any more).
    UpdateAlias {
        /// The alias as it will be.
        row: &'a AliasRow,
        /// The key it names now.
        from: &'a KeyId,
    },
    /// An alias that names `key` removed; [`StoreError::AliasChanged`] when it does not
    /// (any more).
    DeleteAlias {
        /// The alias.
        alias: &'a Alias,
        /// The key it names.
        key: &'a KeyId,
    },
    /// The key destroyed: state, wrapped material erased, aliases removed, and its token
    /// objects queued for destruction ([`Store::pending_token_destruction`]).
    DestroyKey {
        /// The key.
        id: &'a KeyId,
        /// The key's revision the destruction was decided on.
        revision: u64,
        /// Labels of its token-resident objects.
        token_labels: &'a [String],
        /// The seal of the destroyed key (every version's material destroyed), at the next
        /// revision.
        seal: Option<&'a [u8]>,
    },
    /// Imported key material changed (an `external` key's import, deletion or expiry):
    /// the key's metadata as [`Change::UpdateKey`] (material id and expiry included), and
    /// each version's material as the record holds it: wrapped material stored (a new
    /// version inserted), or erased ([`crate::model::Material::Destroyed`]).
    ImportMaterial(&'a KeyRecord),
    /// Seals for rows stored without one (the upgrade that introduced seals): each key's
    /// seal is written only while it is still at the revision sealed and has none, each
    /// alias's only while it still names the key sealed and has none; otherwise
    /// [`StoreError::KeyChanged`] (or [`StoreError::AliasChanged`]) and nothing is written.
    SealRows {
        /// Keys: id, the revision sealed, the seal.
        keys: &'a [(KeyId, u64, Vec<u8>)],
        /// Aliases with their seals.
        aliases: &'a [AliasRow],
    },
}

/// What a change touches that hosts may hold in memory: a key (state, versions, material,
/// record) or an alias; `None` for seals only, which no host keeps apart from its record.
pub(crate) fn changed_key(change: &Change<'_>) -> Option<Changed> {
    let id = match change {
        Change::CreateKey { key, .. } | Change::UpdateKey(key) | Change::ImportMaterial(key) => {
            key.id
        }
        Change::AddVersion { id, .. } | Change::DestroyKey { id, .. } => **id,
        Change::SetAlias(row) | Change::CreateAlias(row) | Change::UpdateAlias { row, .. } => {
            return Some(Changed::Alias(row.alias.to_string()));
        }
        Change::DeleteAlias { alias, .. } => return Some(Changed::Alias(alias.to_string())),
        Change::SealRows { .. } => return None,
    };
    Some(Changed::Key(id.to_string()))
}

/// A token object queued for destruction when its key was destroyed, as the queue names
/// it. The key service destroys it only if `label` is the label Kastell gave a version of
/// that key, and the key is destroyed: the queue is stored data, and stored data may have
/// been edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTokenObject {
    /// The token object's label.
    pub label: String,
    /// The key it belonged to, as stored (not necessarily a key id).
    pub key: String,
}

/// An operation awaiting approvals, as stored (see [`crate::quorum`] for its meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Its id (a UUID v4).
    pub id: String,
    /// Its class.
    pub class: OperationClass,
    /// The bytes officers sign ([`crate::quorum::canonical_bytes`]).
    pub canonical: Vec<u8>,
    /// SHA-384 of `canonical`.
    pub digest: [u8; HASH_LEN],
    /// Who asked.
    pub requester: String,
    /// When it was asked, Unix milliseconds.
    pub created_ms: i64,
    /// When it expires, Unix milliseconds.
    pub expires_ms: i64,
    /// Where it stands.
    pub state: PendingState,
    /// What its execution gave, or why it failed or expired; empty while pending.
    pub outcome: String,
}

/// One officer's approval, as stored: the signature and the certificate that verifies it,
/// so that an auditor can check it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// The officer (certificate common name).
    pub officer: String,
    /// The officer's client certificate, DER.
    pub certificate: Vec<u8>,
    /// DER ECDSA P-384/SHA-384 signature over the operation's canonical bytes.
    pub signature: Vec<u8>,
    /// When it was given, Unix milliseconds.
    pub at_ms: i64,
}

/// A client certificate's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The certificate's serial number, lowercase hex.
    pub serial: String,
    /// When, Unix milliseconds.
    pub revoked_ms: i64,
    /// Who revoked it.
    pub revoked_by: String,
    /// Why.
    pub reason: String,
}

/// An access key as stored: who it acts as, and its secret sealed under a token key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRow {
    /// Id, principal, role, tenant, issuance and revocation.
    pub info: kastell_proto::api::AccessKeyInfo,
    /// The token key (AES-256) that sealed the secret.
    pub key_label: String,
    /// The AES-GCM nonce.
    pub nonce: [u8; 12],
    /// The sealed secret: ciphertext ‖ tag, the id as associated data.
    pub sealed: Vec<u8>,
}

/// A pending operation with its approvals, oldest approval first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOperation {
    /// The operation.
    pub row: PendingRow,
    /// Its approvals.
    pub approvals: Vec<ApprovalRow>,
}

/// What [`Store::add_approval`] did. Only [`ApprovalAdded::Added`] wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalAdded {
    /// The approval and its audit record are stored.
    Added(Box<AuditRecord>),
    /// This officer approved the operation already.
    Duplicate,
    /// No operation with this id.
    NotFound,
    /// The operation is no longer pending.
    NotPending(PendingState),
    /// The operation has another number of approvals than the caller saw (a concurrent
    /// approval won): read it again and retry.
    Changed {
        /// How many it has.
        found: u32,
    },
}

/// Keys, versions and aliases, persisted.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The backend's name: `sqlite` (the default) or `postgres`.
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// Writes a consistent snapshot of the whole store, as one transaction saw it, into a
    /// new SQLite database file at `path` (a backup's store; [`crate::backup`]), while the
    /// store goes on serving: SQLite's online backup in one read transaction, or (from
    /// PostgreSQL) a copy read in one REPEATABLE READ transaction ([`copy`]). A store
    /// without snapshots refuses.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`], or a storage failure.
    fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let _ = path;
        Err(StoreError::Unsupported("take a snapshot for a backup"))
    }

    /// Stores a new key with its versions and, optionally, its first alias, atomically.
    ///
    /// # Errors
    /// [`StoreError::KeyExists`], [`StoreError::AliasExists`], or a storage failure.
    fn create_key(&self, key: &KeyRecord, alias: Option<&Alias>) -> Result<(), StoreError>;

    /// The key with this id.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;

    /// Up to `limit` keys ordered by id, starting after `after`.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn list_keys(&self, after: Option<&KeyId>, limit: u32) -> Result<Vec<KeyRecord>, StoreError>;

    /// Replaces a key's metadata (state, description, tags, policy, minimum decryption
    /// version) if the stored key is still at `key.revision`, and increments the revision.
    /// Versions are added with [`Store::add_version`] only.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`], [`StoreError::KeyChanged`] or a storage failure.
    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Adds a version (rotation) if the key is still at `revision`, and increments it.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`], [`StoreError::KeyChanged`],
    /// [`StoreError::VersionExists`] or a storage failure.
    fn add_version(
        &self,
        id: &KeyId,
        revision: u64,
        version: &KeyVersion,
    ) -> Result<(), StoreError>;

    /// Keys pending deletion whose window ended at or before `now` (Unix seconds).
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError>;

    /// Keys that are enabled, with automatic rotation on and due at or before `now` (Unix
    /// seconds), the most overdue first.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn due_for_rotation(&self, now: i64) -> Result<Vec<KeyId>, StoreError>;

    /// Keys whose imported material may have expired by `now` (Unix seconds): enabled
    /// or disabled keys whose current material expires at or before `now`, and every key
    /// enabled, disabled or pending import that lists its materials (schema v23; the
    /// caller checks each material's own expiry). This default reads every key; the
    /// stores answer from an index.
    ///
    /// # Errors
    /// The store's failure.
    fn material_expired(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        let mut due = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_keys(after.as_ref(), 1000)?;
            let Some(last) = page.last() else {
                return Ok(due);
            };
            after = Some(last.id);
            due.extend(
                page.iter()
                    .filter(|k| {
                        let current = matches!(k.state, KeyState::Enabled | KeyState::Disabled)
                            && k.imported
                                .and_then(|m| m.expires_at)
                                .is_some_and(|at| at <= now);
                        let listed = !k.materials.is_empty()
                            && matches!(
                                k.state,
                                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
                            );
                        current || listed
                    })
                    .map(|k| k.id),
            );
        }
    }

    /// Up to `limit` alias rows ordered by alias, after `after`.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn list_aliases(&self, after: Option<&Alias>, limit: u32) -> Result<Vec<AliasRow>, StoreError>;

    /// Points `alias` at `id`, creating it or re-pointing it, without a seal.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`] or a storage failure.
    fn set_alias(&self, alias: &Alias, id: &KeyId) -> Result<(), StoreError>;

    /// Removes `alias`; whether it existed.
    ///
    /// # Errors
    /// A storage failure.
    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError>;

    /// The row of `alias`: the key it names, with its seal.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn resolve_alias(&self, alias: &Alias) -> Result<Option<AliasRow>, StoreError>;

    /// The rows of the aliases naming `id`, sorted by alias.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn aliases(&self, id: &KeyId) -> Result<Vec<AliasRow>, StoreError>;

    /// The keys and aliases stored without a seal (written before seals existed, or by
    /// someone other than the key service), for [`Change::SealRows`] at the upgrade.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn unsealed_rows(&self) -> Result<(Vec<KeyRecord>, Vec<AliasRow>), StoreError>;

    /// Appends `entry` to the audit trail, durably, chained to the last record.
    ///
    /// # Errors
    /// A storage failure: the caller must then not return the operation's result.
    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError>;

    /// Queues `entry` for the trail and returns at once; the ticket resolves when the
    /// record is durable (or its commit failed). Lets an async caller await the commit
    /// without holding a thread. The default appends at once.
    fn queue_audit(&self, entry: AuditEntry) -> AuditTicket {
        AuditTicket::ready(self.append_audit(entry))
    }

    /// Up to `limit` audit records with sequence numbers after `after`, in order.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;

    /// The last audit record of a setting (operation [`crate::audit::SETTING_OPERATION`])
    /// whose reason starts with `prefix` (e.g. `aws.separation_of_duties = `), if any.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn last_setting_record(&self, prefix: &str) -> Result<Option<AuditRecord>, StoreError>;

    /// Sequence number and hash of the last audit record, if any.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError>;

    /// Stores a signed, linked checkpoint when it links to the newest stored checkpoint (its
    /// `prev` is that one's digest, or [`crate::audit::NO_CHECKPOINT`] when there is none)
    /// and covers a later record; `false` otherwise (another writer added one since it was
    /// signed; a legacy, unlinked checkpoint is never stored).
    ///
    /// # Errors
    /// A storage failure.
    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError>;

    /// The checkpoint covering record `seq`, if any.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn checkpoint_at(&self, seq: u64) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.checkpoints()?.into_iter().find(|c| c.seq == seq))
    }

    /// The newest checkpoint, if any.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// All checkpoints, oldest first.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// Applies `change` and appends `audit` in one transaction: both happen or neither.
    ///
    /// # Errors
    /// As the change's own method, or a storage failure.
    fn apply(&self, change: Change<'_>, audit: AuditEntry) -> Result<AuditRecord, StoreError>;

    /// Token objects of destroyed keys not yet confirmed destroyed on the token, ordered by
    /// label.
    ///
    /// # Errors
    /// A storage failure.
    fn pending_token_destruction(&self) -> Result<Vec<QueuedTokenObject>, StoreError>;

    /// Strikes the token object `label` off the destruction queue: it is destroyed, or the
    /// entry was refused (and that refusal recorded).
    ///
    /// # Errors
    /// A storage failure.
    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError>;

    /// Approvals from distinct crypto-officers that operations of `class` need; 1 (none
    /// beyond the request itself) unless set.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn quorum_required(&self, class: OperationClass) -> Result<u32, StoreError>;

    /// Sets the approvals `class` needs and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// A storage failure (including a `required` outside 1–16, refused by the schema).
    fn set_quorum_required(
        &self,
        class: OperationClass,
        required: u32,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError>;

    /// Stores a new pending operation and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// A storage failure (including an id that exists already).
    fn add_pending(&self, op: &PendingRow, audit: AuditEntry) -> Result<AuditRecord, StoreError>;

    /// The operation with this id and its approvals.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn pending_operation(&self, id: &str) -> Result<Option<StoredOperation>, StoreError>;

    /// Up to `limit` operations (in `state`, or in any state), oldest first, starting after
    /// the operation with id `after` (the last one of the previous page).
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn list_pending(
        &self,
        state: Option<PendingState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError>;

    /// Adds `approval` to the pending operation `op_id` and appends `audit`, in one
    /// transaction, provided the operation is still pending, holds exactly `expected`
    /// approvals (as the caller read it), and holds none from this officer. Otherwise
    /// writes nothing and says why.
    ///
    /// # Errors
    /// A storage failure.
    fn add_approval(
        &self,
        op_id: &str,
        approval: &ApprovalRow,
        expected: u32,
        audit: AuditEntry,
    ) -> Result<ApprovalAdded, StoreError>;

    /// Moves the operation `id` from pending to `state` with `outcome` and appends `audit`,
    /// in one transaction. `None` (nothing written) when it is missing or not pending, so
    /// an operation finishes once, or when `state` is [`PendingState::Pending`] (no move).
    ///
    /// # Errors
    /// A storage failure.
    fn finish_pending(
        &self,
        id: &str,
        state: PendingState,
        outcome: &str,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError>;

    /// Records a client certificate issued here, with its audit record.
    ///
    /// # Errors
    /// A storage failure (a serial recorded twice included).
    fn add_client(
        &self,
        client: &ClientDetail,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError>;

    /// Up to `limit` issued client certificates ordered by serial, after `after`, with
    /// their revocation time when revoked.
    ///
    /// # Errors
    /// A storage failure.
    fn clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<ClientInfo>, StoreError>;

    /// Revokes a client certificate by serial (issued here or not), with its audit record;
    /// `None` when it was revoked already (nothing written).
    ///
    /// # Errors
    /// A storage failure.
    fn revoke_client(
        &self,
        revocation: &Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError>;

    /// The client certificate with this serial, certificate included.
    ///
    /// # Errors
    /// A storage failure.
    fn client(&self, serial: &str) -> Result<Option<ClientDetail>, StoreError>;

    /// The roles of the client certificates and access keys issued here to `principal`,
    /// compared without regard to ASCII case (a principal keeps one role for life, or
    /// crypto-officer and crypto-user where separation of duties is off), each once.
    ///
    /// # Errors
    /// A storage failure.
    fn client_roles(&self, principal: &str) -> Result<Vec<String>, StoreError>;

    /// The serials of every revoked client certificate.
    ///
    /// # Errors
    /// A storage failure.
    fn revoked_clients(&self) -> Result<Vec<String>, StoreError>;

    /// Records an access key issued here, with its audit record.
    ///
    /// # Errors
    /// A storage failure (an id recorded twice included).
    fn add_access_key(
        &self,
        key: &AccessKeyRow,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError>;

    /// The access key `id`, revoked or not.
    ///
    /// # Errors
    /// A storage failure.
    fn access_key(&self, id: &str) -> Result<Option<AccessKeyRow>, StoreError>;

    /// Up to `limit` access keys ordered by id, after `after`.
    ///
    /// # Errors
    /// A storage failure.
    fn access_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<kastell_proto::api::AccessKeyInfo>, StoreError>;

    /// Revokes the access key `revocation.serial` (its id), with its audit record; `None`
    /// when it was revoked already or is unknown (nothing written).
    ///
    /// # Errors
    /// A storage failure.
    fn revoke_access_key(
        &self,
        revocation: &Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError>;

    /// The change counter: incremented, in the change's own transaction, by every change
    /// a host may hold in memory (a key's state, versions or material; a revocation of a
    /// client certificate or an access key). See [`shared`].
    ///
    /// # Errors
    /// A storage failure.
    fn change_seq(&self) -> Result<u64, StoreError>;

    /// The change counter and, when the store still names each of them, the changes after
    /// `seen` (a host without notices drops just those); by default the counter alone.
    ///
    /// # Errors
    /// A storage failure.
    fn changes_after(&self, seen: u64) -> Result<ChangesAfter, StoreError> {
        let _ = seen;
        Ok(ChangesAfter {
            counter: self.change_seq()?,
            changes: None,
        })
    }

    /// Starts a thread that calls `handler` for each change committed by any host sharing
    /// this store (and with [`ChangeEvent::Lost`] whenever notices may have been missed);
    /// `None` when the store sends no notices (SQLite: the counter alone tells a change).
    ///
    /// # Errors
    /// A storage failure, or the thread could not be started.
    fn listen(&self, handler: ChangeHandler) -> Result<Option<ChangeListener>, StoreError> {
        let _ = handler;
        Ok(None)
    }

    /// Stores a release challenge once the open ones expired at `now_ms` are purged,
    /// provided its principal holds fewer than `limits.per_principal` open challenges and
    /// all principals together fewer than `limits.total`; otherwise stores nothing and
    /// says which limit was reached. Hosts sharing the store issue one after another.
    ///
    /// # Errors
    /// A storage failure (a nonce stored twice included).
    fn issue_challenge(
        &self,
        challenge: &ChallengeRow,
        limits: ChallengeLimits,
        now_ms: i64,
    ) -> Result<ChallengeIssue, StoreError>;

    /// Uses up the challenge `nonce` for `key` and `principal`, atomically: of any number
    /// of hosts presenting it at once, one takes it. A challenge of another principal is
    /// left as it was; an expired one, or one for another key, is used up all the same.
    ///
    /// # Errors
    /// A storage failure.
    fn take_challenge(
        &self,
        nonce: &[u8],
        key: &KeyId,
        principal: &str,
        now_ms: i64,
    ) -> Result<ChallengeTake, StoreError>;

    /// Removes the challenges expired at `now_ms`; how many.
    ///
    /// # Errors
    /// A storage failure.
    fn purge_challenges(&self, now_ms: i64) -> Result<u64, StoreError>;

    /// Stores `bytes` as the component `measurement` of `kind` (the caller validated them
    /// and measured them); whether they were new (stored once).
    ///
    /// # Errors
    /// A storage failure.
    fn add_component(
        &self,
        kind: ComponentKind,
        measurement: &Measurement,
        bytes: &[u8],
    ) -> Result<bool, StoreError>;

    /// The stored bytes of a component, as stored: the caller checks them against
    /// `measurement` (a row may have been edited).
    ///
    /// # Errors
    /// A storage failure.
    fn component(
        &self,
        kind: ComponentKind,
        measurement: &Measurement,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The measurements of the stored components of `kind`, sorted.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn components(&self, kind: ComponentKind) -> Result<Vec<Measurement>, StoreError>;
}
