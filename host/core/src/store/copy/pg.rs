//! The PostgreSQL side of a copy: a REPEATABLE READ, read-only transaction (one snapshot)
//! as the source, or one transaction that locks every copied table against writers as the
//! target.

use postgres::types::{ToSql, Type};
use postgres::{IsolationLevel, Row, Transaction};

use super::endpoint::{Endpoint, Inserter, RowSink, Value};
use super::{COPIED_TABLES, CopyError, quoted};
use crate::audit::{AuditRecord, Checkpoint};
use crate::store::StoreError;
use crate::store::postgres::{audit_page_on, checkpoints_on, pg};

/// Rows fetched from the source per round trip.
const FETCH: i32 = 5_000;

/// A PostgreSQL store inside one transaction.
pub(super) struct PgEndpoint<'c> {
    tx: Transaction<'c>,
    name: String,
}

impl<'c> PgEndpoint<'c> {
    /// A snapshot: every read sees the database as it was at the first one.
    pub(super) fn snapshot(client: &'c mut postgres::Client) -> Result<Self, StoreError> {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(pg("begin the snapshot"))?;
        Ok(Self {
            tx,
            name: String::from("postgres"),
        })
    }

    /// A write transaction; every copied table that exists is locked against writers (a
    /// host serving on the target waits for the copy).
    pub(super) fn write(client: &'c mut postgres::Client) -> Result<Self, StoreError> {
        let tx = client.transaction().map_err(pg("begin the copy"))?;
        let mut this = Self {
            tx,
            name: String::from("postgres"),
        };
        let present = this.tables()?;
        let locked: Vec<String> = COPIED_TABLES
            .iter()
            .filter(|t| present.iter().any(|p| p == *t))
            .map(|t| quoted(t))
            .collect();
        if !locked.is_empty() {
            this.tx
                .batch_execute(&format!(
                    "LOCK TABLE {} IN EXCLUSIVE MODE",
                    locked.join(", ")
                ))
                .map_err(pg("lock the target's tables"))?;
        }
        Ok(this)
    }

    /// The same, named `name` in messages.
    pub(super) fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }
}

fn unsupported(table: &str, column: &str, what: &str) -> CopyError {
    CopyError::Schema {
        table: table.to_owned(),
        problem: format!("column `{column}`: {what}"),
    }
}

/// The value of column `i` of `row`, by its PostgreSQL type.
fn value(row: &Row, i: usize, table: &str) -> Result<Value, CopyError> {
    let column = &row.columns()[i];
    let bad = |_| StoreError::Corrupt(format!("{table}.{}", column.name()));
    let ty = column.type_();
    Ok(if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Bool)
    } else if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map_err(bad)?
            .map_or(Value::Null, |v| Value::Int(v.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)
            .map_err(bad)?
            .map_or(Value::Null, |v| Value::Int(v.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Real)
    } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::BPCHAR {
        row.try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Text)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(bad)?
            .map_or(Value::Null, Value::Blob)
    } else {
        return Err(unsupported(
            table,
            column.name(),
            &format!("type {ty} is not copied"),
        ));
    })
}

/// `value` as the parameter a column of type `ty` takes, or `None` when it does not fit.
fn parameter(value: &Value, ty: &Type) -> Option<Box<dyn ToSql + Sync>> {
    fn null<T: ToSql + Sync + 'static>() -> Option<Box<dyn ToSql + Sync>> {
        Some(Box::new(Option::<T>::None))
    }
    match value {
        Value::Null if *ty == Type::BOOL => null::<bool>(),
        Value::Null if *ty == Type::INT8 => null::<i64>(),
        Value::Null if *ty == Type::INT4 => null::<i32>(),
        Value::Null if *ty == Type::INT2 => null::<i16>(),
        Value::Null if *ty == Type::FLOAT8 => null::<f64>(),
        Value::Null if *ty == Type::BYTEA => null::<Vec<u8>>(),
        Value::Null => null::<String>(),
        Value::Bool(b) if *ty == Type::BOOL => Some(Box::new(*b)),
        Value::Bool(b) if *ty == Type::INT8 => Some(Box::new(i64::from(*b))),
        Value::Int(i @ (0 | 1)) if *ty == Type::BOOL => Some(Box::new(*i == 1)),
        Value::Int(i) if *ty == Type::INT8 => Some(Box::new(*i)),
        Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i).ok().map(|v| Box::new(v) as _),
        Value::Int(i) if *ty == Type::INT2 => i16::try_from(*i).ok().map(|v| Box::new(v) as _),
        Value::Real(r) if *ty == Type::FLOAT8 => Some(Box::new(*r)),
        Value::Text(t) if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::BPCHAR => {
            Some(Box::new(t.clone()))
        }
        Value::Blob(b) if *ty == Type::BYTEA => Some(Box::new(b.clone())),
        _ => None,
    }
}

impl Endpoint for PgEndpoint<'_> {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .tx
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                 ORDER BY 1",
                &[],
            )
            .map_err(pg("list tables"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(pg("list tables")))
            .collect()
    }

    fn columns(&mut self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        let rows = self
            .tx
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                 ORDER BY ordinal_position",
                &[&table],
            )
            .map_err(pg("list columns"))?;
        let columns = rows
            .iter()
            .map(|r| r.try_get(0).map_err(pg("list columns")))
            .collect::<Result<Vec<String>, _>>()?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    fn count(&mut self, table: &str) -> Result<u64, StoreError> {
        let row = self
            .tx
            .query_one(&format!("SELECT count(*) FROM {}", quoted(table)), &[])
            .map_err(pg("count rows"))?;
        let n: i64 = row.try_get(0).map_err(pg("count rows"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn rows(
        &mut self,
        table: &str,
        columns: &[String],
        each: &mut RowSink<'_>,
    ) -> Result<(), CopyError> {
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let select = format!("SELECT {} FROM {}", list.join(", "), quoted(table));
        let portal = self
            .tx
            .bind(select.as_str(), &[])
            .map_err(pg("read rows"))?;
        loop {
            let rows = self
                .tx
                .query_portal(&portal, FETCH)
                .map_err(pg("read rows"))?;
            for row in &rows {
                let values = (0..columns.len())
                    .map(|i| value(row, i, table))
                    .collect::<Result<Vec<_>, _>>()?;
                each(values)?;
            }
            if rows.len() < usize::try_from(FETCH).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }

    fn inserter<'s>(
        &'s mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Inserter<'s>, CopyError> {
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let statement = self
            .tx
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quoted(table),
                list.join(", "),
                marks.join(", ")
            ))
            .map_err(pg("prepare the copy"))?;
        let table = table.to_owned();
        let columns = columns.to_vec();
        let tx = &mut self.tx;
        Ok(Box::new(move |values: &[Value]| {
            let params = values
                .iter()
                .zip(statement.params())
                .zip(&columns)
                .map(|((value, ty), column)| {
                    parameter(value, ty).ok_or_else(|| {
                        unsupported(
                            &table,
                            column,
                            &format!("{} does not fit {ty}", value.kind()),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            tx.execute(&statement, &refs).map_err(pg("write a row"))?;
            Ok(())
        }))
    }

    fn after_copy(&mut self, tables: &[&str]) -> Result<(), StoreError> {
        // A column fed by a sequence (serial, identity) goes on after the copied rows.
        let rows = self
            .tx
            .query(
                "SELECT table_name::text, column_name::text,
                        pg_get_serial_sequence(quote_ident(table_name::text), column_name::text)
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name::text = ANY($1::text[])
                   AND pg_get_serial_sequence(quote_ident(table_name::text), column_name::text)
                       IS NOT NULL",
                &[&tables],
            )
            .map_err(pg("find sequences"))?;
        for row in rows {
            let table: String = row.try_get(0).map_err(pg("find sequences"))?;
            let column: String = row.try_get(1).map_err(pg("find sequences"))?;
            let sequence: String = row.try_get(2).map_err(pg("find sequences"))?;
            self.tx
                .execute(
                    &format!(
                        "SELECT setval($1::text::regclass, coalesce(max({}), 0) + 1, false) FROM {}",
                        quoted(&column),
                        quoted(&table)
                    ),
                    &[&sequence],
                )
                .map_err(pg("move a sequence past the copied rows"))?;
        }
        Ok(())
    }

    fn checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError> {
        checkpoints_on(&mut self.tx)
    }

    fn audit_page(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        audit_page_on(&mut self.tx, after, limit)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().map_err(pg("commit the copy"))
    }
}
