//! The SQLite side of a copy: a read transaction (one WAL snapshot) as the source, or one
//! write transaction taken at once (`BEGIN IMMEDIATE`) as the target.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Transaction, TransactionBehavior};

use super::endpoint::{Endpoint, Inserter, RowSink, Value};
use super::{CopyError, quoted};
use crate::audit::{AuditRecord, Checkpoint};
use crate::store::StoreError;

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

/// A plain connection to the SQLite file at `path` (created empty when missing; a store's
/// own `open` makes the schema), foreign keys enforced, waiting for locks as the store does.
pub(super) fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    crate::files::create_private_file(path).map_err(|source| StoreError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let conn = rusqlite::Connection::open(path).map_err(sql("open the store"))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sql("set busy timeout"))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")
        .map_err(sql("configure the store"))?;
    Ok(conn)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Self::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
        })
    }
}

/// A SQLite store inside one transaction.
pub(super) struct SqliteEndpoint<'c> {
    tx: Transaction<'c>,
    name: String,
}

impl<'c> SqliteEndpoint<'c> {
    /// A read transaction: its first read fixes the snapshot every later read sees.
    pub(super) fn snapshot(conn: &'c mut rusqlite::Connection) -> Result<Self, StoreError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(sql("begin the snapshot"))?;
        // Fixes the snapshot now.
        tx.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(sql("begin the snapshot"))?;
        Ok(Self {
            tx,
            name: String::from("sqlite"),
        })
    }

    /// A write transaction holding the database's write lock from the start.
    pub(super) fn write(conn: &'c mut rusqlite::Connection) -> Result<Self, StoreError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("begin the copy"))?;
        Ok(Self {
            tx,
            name: String::from("sqlite"),
        })
    }

    /// The same, named `name` in messages.
    pub(super) fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }
}

fn value(v: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|_| StoreError::Corrupt("text that is not UTF-8".into()))?,
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

impl Endpoint for SqliteEndpoint<'_> {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(sql("list tables"))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(sql("list tables"))
    }

    fn columns(&mut self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .map_err(sql("list columns"))?;
        let columns: Vec<String> = stmt
            .query_map([table], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(sql("list columns"))?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    fn count(&mut self, table: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .tx
            .query_row(
                &format!("SELECT count(*) FROM {}", quoted(table)),
                [],
                |r| r.get(0),
            )
            .map_err(sql("count rows"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn rows(
        &mut self,
        table: &str,
        columns: &[String],
        each: &mut RowSink<'_>,
    ) -> Result<(), CopyError> {
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let mut stmt = self
            .tx
            .prepare(&format!(
                "SELECT {} FROM {}",
                list.join(", "),
                quoted(table)
            ))
            .map_err(sql("read rows"))?;
        let mut rows = stmt.query([]).map_err(sql("read rows"))?;
        while let Some(row) = rows.next().map_err(sql("read rows"))? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map_err(sql("read rows")).and_then(value))
                .collect::<Result<Vec<_>, _>>()?;
            each(values)?;
        }
        Ok(())
    }

    fn inserter<'s>(
        &'s mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Inserter<'s>, CopyError> {
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = self
            .tx
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quoted(table),
                list.join(", "),
                marks.join(", ")
            ))
            .map_err(sql("prepare the copy"))?;
        Ok(Box::new(move |values: &[Value]| {
            stmt.execute(rusqlite::params_from_iter(values.iter()))
                .map_err(sql("write a row"))?;
            Ok(())
        }))
    }

    fn after_copy(&mut self, _: &[&str]) -> Result<(), StoreError> {
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError> {
        crate::store::sqlite::checkpoints_on(&self.tx)
    }

    fn audit_page(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        crate::store::sqlite::audit_page_on(&self.tx, after, limit)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().map_err(sql("commit the copy"))
    }
}
