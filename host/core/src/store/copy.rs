//! Moving a deployment's state from one store to another (`kastell store copy`), and the
//! PostgreSQL store's backup snapshot (a copy into a new SQLite file).
//!
//! The copy is table-driven: [`COPIED_TABLES`] names every table of the schema in an order
//! that satisfies the foreign keys, and each table's columns are read from the two
//! databases (both opened, and so migrated, by this build first), which must name the same
//! ones. A table added to the schema must be added to the list: the test
//! `every_schema_table_is_in_the_copy_list` fails until it is.
//!
//! The source is read in one snapshot (a read transaction on SQLite, a REPEATABLE READ
//! read-only transaction on PostgreSQL), its audit trail verified in that snapshot before
//! anything is written; the target is written in one transaction, refused unless every
//! table is empty, and its trail verified (and compared with the source's head and row
//! counts) inside that transaction before it commits: a failure leaves the target as it
//! was.

mod checks;
mod endpoint;
mod pg;
mod sqlite;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use kastell_proto::ErrorCode;
use serde::Serialize;

use super::{PostgresOptions, StoreError};
use crate::audit::ChainBreak;
use crate::backup::Progress;
use checks::{Verified, plan, verify_trail};
use endpoint::{Endpoint, Value};

/// Every table of the schema that holds state, parents before the tables whose foreign
/// keys name them. A table added to either store's schema goes here (and nowhere else).
pub const COPIED_TABLES: &[&str] = &[
    "keys",
    "key_versions",
    "aliases",
    "token_destruction",
    "audit",
    "audit_checkpoints",
    "quorum_settings",
    "pending_operations",
    "approvals",
    "clients",
    "revoked_clients",
    "access_keys",
    "release_challenges",
    "components",
];

/// Tables of the schema that are not copied: bookkeeping each store keeps for itself.
/// (`kastell_changes` counts this store's own changes for the hosts' caches, and SQLite's
/// `kastell_change_log` names the latest of them.)
pub const NOT_COPIED: &[&str] = &["kastell_schema", "kastell_changes", "kastell_change_log"];

/// Where a store is: `sqlite:PATH` or a PostgreSQL URL (`postgres://user@host/db`).
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresOptions>),
}

impl StoreLocation {
    /// Reads `sqlite:PATH` or `postgres://…` (`postgresql://…`); a PostgreSQL password is
    /// added with [`PostgresOptions::with_password`], never in the URL.
    ///
    /// # Errors
    /// [`StoreError::Config`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::Config(
                    "`sqlite:` names no file (sqlite:/var/lib/kastell/kastell.db)".into(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(Box::new(PostgresOptions::new(text)?)));
        }
        Err(StoreError::Config(format!(
            "`{}` is not a store location: give sqlite:PATH or postgres://user@host/database",
            text.split('@').next_back().unwrap_or_default()
        )))
    }

    /// The location for messages (no password: URLs hold none).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(options) => options.url().to_owned(),
        }
    }
}

/// Why a copy was refused or failed. Nothing was written to the target in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// A store failed (or could not be opened).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source and the target are the same store.
    #[error("the source and the target are the same store ({0})")]
    SameStore(String),
    /// The target holds state already.
    #[error(
        "the target {target} is not empty (table `{table}` holds rows): a store is copied \
         into an empty one only"
    )]
    TargetNotEmpty {
        /// The target.
        target: String,
        /// The first table found with rows.
        table: String,
    },
    /// The two schemas differ where the copy needs them to agree.
    #[error("the stores' schemas differ: table `{table}`: {problem}")]
    Schema {
        /// The table.
        table: String,
        /// What differs.
        problem: String,
    },
    /// The source's audit trail does not verify: nothing was copied.
    #[error("the source's audit trail does not verify, nothing was copied: {0}")]
    SourceTrail(ChainBreak),
    /// The copy's audit trail does not verify, or the copy differs from the source: it was
    /// rolled back.
    #[error("the copy does not match the source and was rolled back: {0}")]
    Mismatch(String),
}

impl CopyError {
    /// The error's code: what the command exits with.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(err) if err.is_unavailable() => ErrorCode::StoreUnavailable,
            Self::Store(StoreError::Config(_) | StoreError::SchemaTooNew { .. }) => {
                ErrorCode::InvalidInput
            }
            Self::Store(_) => ErrorCode::Internal,
            Self::SameStore(_) | Self::Schema { .. } => ErrorCode::InvalidInput,
            Self::TargetNotEmpty { .. } => ErrorCode::AlreadyExists,
            Self::SourceTrail(_) | Self::Mismatch(_) => ErrorCode::TamperDetected,
        }
    }
}

/// Rows copied from one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCopied {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The source.
    pub from: String,
    /// The target.
    pub to: String,
    /// Rows per table, in copy order.
    pub tables: Vec<TableCopied>,
    /// Audit records, verified on both sides.
    pub audit_records: u64,
    /// The last audit record's sequence number (0 for an empty trail), the same on both
    /// sides.
    pub audit_head: u64,
    /// Checkpoints matched against the records they sign.
    pub checkpoints: usize,
    /// Whether the checkpoints' signatures were verified (with the audit public key
    /// given); without it the chains of records and checkpoints are verified, and each
    /// checkpoint against its record.
    pub signatures_verified: bool,
}

/// Checks a checkpoint's signature: `verify(digest, signature)`, with the deployment's
/// audit public key.
pub type SignatureCheck<'a> = &'a dyn Fn(&[u8; 48], &[u8]) -> bool;

/// Copies the whole store at `from` into the empty store at `to` (created when it is a
/// SQLite file that does not exist), verifying the audit trail on both sides; `signatures`
/// verifies checkpoint signatures when given. `progress` is told the rows to copy and
/// each row copied.
///
/// # Errors
/// [`CopyError`]: nothing is written to `to` unless the whole copy verified.
pub fn copy(
    from: &StoreLocation,
    to: &StoreLocation,
    signatures: Option<SignatureCheck<'_>>,
    progress: &dyn Progress,
) -> Result<CopyReport, CopyError> {
    if same_place(from, to) {
        return Err(CopyError::SameStore(from.describe()));
    }
    if let StoreLocation::Sqlite(path) = from
        && !path.is_file()
    {
        return Err(StoreError::Config(format!("no SQLite store at {}", path.display())).into());
    }
    // A SQLite target made here is removed again when the copy fails.
    let made = match to {
        StoreLocation::Sqlite(path) if !path.exists() => Some(path.clone()),
        _ => None,
    };
    let copied = copy_into(from, to, signatures, progress);
    if let (Err(_), Some(path)) = (&copied, &made) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            // Best effort: what is left is an empty store, never a partial one.
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
    copied
}

fn copy_into(
    from: &StoreLocation,
    to: &StoreLocation,
    signatures: Option<SignatureCheck<'_>>,
    progress: &dyn Progress,
) -> Result<CopyReport, CopyError> {
    // Opening each store through its own type brings its schema to this build's version.
    let mut source_conn = endpoint::Connection::open(from)?;
    let mut target_conn = endpoint::Connection::open(to)?;
    let mut source = source_conn.snapshot()?;
    let mut target = target_conn.write()?;
    let report = copy_between(&mut *source, &mut *target, signatures, progress)?;
    target.commit()?;
    Ok(CopyReport {
        from: from.describe(),
        to: to.describe(),
        ..report
    })
}

/// Writes a consistent snapshot of the PostgreSQL store `client` reaches into the new
/// SQLite file `path` (the backup's store).
pub(super) fn snapshot_postgres(
    client: &mut postgres::Client,
    path: &Path,
) -> Result<(), StoreError> {
    if path.exists() {
        return Err(StoreError::File {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a snapshot never replaces a file",
            ),
        });
    }
    let mut source = pg::PgEndpoint::snapshot(client)?;
    drop(super::SqliteStore::open(path)?);
    let mut target_conn = sqlite::open(path)?;
    let mut target = sqlite::SqliteEndpoint::write(&mut target_conn)?;
    let done = copy_between(&mut source, &mut target, None, &());
    match done {
        Ok(_) => Box::new(target).commit(),
        Err(CopyError::Store(err)) => Err(err),
        Err(other) => Err(StoreError::Corrupt(other.to_string())),
    }
}

/// `name` as a quoted SQL identifier (both databases quote alike).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn same_place(from: &StoreLocation, to: &StoreLocation) -> bool {
    match (from, to) {
        (StoreLocation::Sqlite(a), StoreLocation::Sqlite(b)) => {
            a == b
                || (a.canonicalize().ok().is_some()
                    && a.canonicalize().ok() == b.canonicalize().ok())
        }
        (StoreLocation::Postgres(a), StoreLocation::Postgres(b)) => a.url() == b.url(),
        _ => false,
    }
}

/// The copy itself, between a source read in one snapshot and a target written in one
/// transaction (committed by the caller).
fn copy_between(
    source: &mut dyn Endpoint,
    target: &mut dyn Endpoint,
    signatures: Option<SignatureCheck<'_>>,
    progress: &dyn Progress,
) -> Result<CopyReport, CopyError> {
    let plan = plan(source, target)?;
    let before = verify_trail(source, signatures).map_err(|e| match e {
        Verified::Broken(b) => CopyError::SourceTrail(b),
        Verified::Failed(e) => e,
    })?;
    let total = plan.iter().map(|(_, _, rows)| rows).sum();
    progress.start(total);
    let mut tables = Vec::new();
    for (table, columns, expected) in &plan {
        let mut rows = 0u64;
        let mut insert = target.inserter(table, columns)?;
        source.rows(table, columns, &mut |values: Vec<Value>| {
            insert(&values)?;
            rows += 1;
            progress.advance(1);
            Ok(())
        })?;
        drop(insert);
        let stored = target.count(table)?;
        if rows != *expected || stored != rows {
            return Err(CopyError::Mismatch(format!(
                "table `{table}`: {expected} rows in the source, {rows} read, {stored} in the \
                 target"
            )));
        }
        tables.push(TableCopied {
            table: (*table).to_owned(),
            rows,
        });
    }
    target.after_copy(&plan.iter().map(|(t, _, _)| *t).collect::<Vec<_>>())?;
    let after = verify_trail(target, signatures).map_err(|e| match e {
        Verified::Broken(b) => CopyError::Mismatch(format!("the copy's audit trail: {b}")),
        Verified::Failed(e) => e,
    })?;
    if (after.records, after.last_seq, after.checkpoints)
        != (before.records, before.last_seq, before.checkpoints)
    {
        return Err(CopyError::Mismatch(format!(
            "the source's trail has {} records up to #{} and {} checkpoints, the copy's {} up \
             to #{} and {}",
            before.records,
            before.last_seq,
            before.checkpoints,
            after.records,
            after.last_seq,
            after.checkpoints
        )));
    }
    Ok(CopyReport {
        from: String::new(),
        to: String::new(),
        tables,
        audit_records: before.records,
        audit_head: before.last_seq,
        checkpoints: before.checkpoints,
        signatures_verified: signatures.is_some(),
    })
}
