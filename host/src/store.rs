//! Persistent state behind a trait: SQLite embedded by default ([`SqliteStore`]); a shared
//! PostgreSQL store can implement the same trait. Every multi-row change is one
//! transaction, so a crash leaves the previous or the next consistent state.

mod sqlite;

use crate::audit::{AuditEntry, AuditRecord, Checkpoint, HASH_LEN};
use crate::keys::{Alias, KeyId, KeyRecord, KeyVersion};

pub use sqlite::SqliteStore;

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
}

/// A change to keys or aliases that [`Store::apply`] commits together with its audit record.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new key with its versions and, optionally, its first alias.
    CreateKey {
        /// The key.
        key: &'a KeyRecord,
        /// Its first alias.
        alias: Option<&'a Alias>,
    },
    /// New metadata (state, description, tags, policy, minimum decryption version).
    UpdateKey(&'a KeyRecord),
    /// A new version (rotation).
    AddVersion {
        /// The key.
        id: &'a KeyId,
        /// The version.
        version: &'a KeyVersion,
    },
    /// An alias created or re-pointed.
    SetAlias {
        /// The alias.
        alias: &'a Alias,
        /// The key it names.
        id: &'a KeyId,
    },
    /// The key destroyed: state, wrapped material erased, aliases removed, and its token
    /// objects queued for destruction ([`Store::pending_token_destruction`]).
    DestroyKey {
        /// The key.
        id: &'a KeyId,
        /// Labels of its token-resident objects.
        token_labels: &'a [String],
    },
}

/// Keys, versions and aliases, persisted.
pub trait Store: Send + Sync + std::fmt::Debug {
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
    /// version). Versions are added with [`Store::add_version`] only.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`] or a storage failure.
    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// Adds a version (rotation).
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`], [`StoreError::VersionExists`] or a storage failure.
    fn add_version(&self, id: &KeyId, version: &KeyVersion) -> Result<(), StoreError>;

    /// Keys pending deletion whose window ended at or before `now` (Unix seconds).
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError>;

    /// Points `alias` at `id`, creating it or re-pointing it.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`] or a storage failure.
    fn set_alias(&self, alias: &Alias, id: &KeyId) -> Result<(), StoreError>;

    /// Removes `alias`; whether it existed.
    ///
    /// # Errors
    /// A storage failure.
    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError>;

    /// The key `alias` names.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn resolve_alias(&self, alias: &Alias) -> Result<Option<KeyId>, StoreError>;

    /// The aliases naming `id`, sorted.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn aliases(&self, id: &KeyId) -> Result<Vec<Alias>, StoreError>;

    /// Appends `entry` to the audit trail, durably, chained to the last record.
    ///
    /// # Errors
    /// A storage failure: the caller must then not return the operation's result.
    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError>;

    /// Up to `limit` audit records with sequence numbers after `after`, in order.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;

    /// Sequence number and hash of the last audit record, if any.
    ///
    /// # Errors
    /// A storage failure or [`StoreError::Corrupt`].
    fn audit_head(&self) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError>;

    /// Stores a signed checkpoint; `false` when one for this sequence number exists.
    ///
    /// # Errors
    /// A storage failure.
    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError>;

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

    /// Labels of token objects of destroyed keys not yet confirmed destroyed on the token.
    ///
    /// # Errors
    /// A storage failure.
    fn pending_token_destruction(&self) -> Result<Vec<String>, StoreError>;

    /// Confirms that the token object `label` is destroyed.
    ///
    /// # Errors
    /// A storage failure.
    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError>;
}
