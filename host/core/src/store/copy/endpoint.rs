//! One side of a copy, whichever database it is: the tables and columns it holds, its rows
//! as backend-neutral [`Value`]s, an inserter per table, and its audit trail, all inside the
//! one transaction the side was opened in.

use crate::audit::{AuditRecord, Checkpoint};
use crate::store::{PostgresStore, SqliteStore, StoreError};

use super::{CopyError, StoreLocation, pg, sqlite};

/// A column's value, between the two databases' types. Booleans (PostgreSQL) are integers 0
/// and 1 in SQLite; the target's column type decides what is written.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// What kind of value it is, for messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Int(_) => "an integer",
            Self::Real(_) => "a real number",
            Self::Text(_) => "text",
            Self::Blob(_) => "bytes",
            Self::Bool(_) => "a boolean",
        }
    }
}

/// Writes one row's values (in the columns' order the inserter was made for).
pub(super) type Inserter<'s> = Box<dyn FnMut(&[Value]) -> Result<(), CopyError> + 's>;

/// Called with each row read.
pub(super) type RowSink<'s> = dyn FnMut(Vec<Value>) -> Result<(), CopyError> + 's;

/// One side of a copy, in its transaction.
pub(super) trait Endpoint {
    /// The store, for messages.
    fn describe(&self) -> String;
    /// The tables that hold state (not the database's own).
    fn tables(&mut self) -> Result<Vec<String>, StoreError>;
    /// The columns of `table`, `None` when there is no such table.
    fn columns(&mut self, table: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// The number of rows of `table`.
    fn count(&mut self, table: &str) -> Result<u64, StoreError>;
    /// Reads every row of `table` (these columns, in this order) into `each`.
    fn rows(
        &mut self,
        table: &str,
        columns: &[String],
        each: &mut RowSink<'_>,
    ) -> Result<(), CopyError>;
    /// An inserter of rows into `table` (these columns, in this order).
    fn inserter<'s>(
        &'s mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Inserter<'s>, CopyError>;
    /// Brings what the database keeps beside the rows (sequences) in line with them.
    fn after_copy(&mut self, tables: &[&str]) -> Result<(), StoreError>;
    /// Every checkpoint, oldest first.
    fn checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError>;
    /// Up to `limit` audit records after `after`, in order.
    fn audit_page(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// Commits what was written.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A connection to one of the stores, its schema brought to this build's version.
pub(super) enum Connection {
    /// SQLite.
    Sqlite(rusqlite::Connection, String),
    /// PostgreSQL.
    Postgres(postgres::Client, String),
}

impl Connection {
    /// Opens the store at `location` through its store type (creating a missing SQLite
    /// file, bringing the schema up to date), then a plain connection for the copy.
    pub(super) fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => {
                drop(SqliteStore::open(path)?);
                Ok(Self::Sqlite(sqlite::open(path)?, location.describe()))
            }
            StoreLocation::Postgres(options) => {
                drop(PostgresStore::open(options)?);
                Ok(Self::Postgres(
                    crate::store::postgres::connect(options)?,
                    location.describe(),
                ))
            }
        }
    }

    /// A side that reads one consistent snapshot.
    pub(super) fn snapshot(&mut self) -> Result<Box<dyn Endpoint + '_>, StoreError> {
        Ok(match self {
            Self::Sqlite(conn, name) => {
                Box::new(sqlite::SqliteEndpoint::snapshot(conn)?.named(name))
            }
            Self::Postgres(client, name) => Box::new(pg::PgEndpoint::snapshot(client)?.named(name)),
        })
    }

    /// A side that writes in one transaction (holding the database's write lock).
    pub(super) fn write(&mut self) -> Result<Box<dyn Endpoint + '_>, StoreError> {
        Ok(match self {
            Self::Sqlite(conn, name) => Box::new(sqlite::SqliteEndpoint::write(conn)?.named(name)),
            Self::Postgres(client, name) => Box::new(pg::PgEndpoint::write(client)?.named(name)),
        })
    }
}
