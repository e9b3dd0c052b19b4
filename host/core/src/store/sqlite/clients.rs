//! Client certificates issued here, and revoked ones, in SQLite.

use rusqlite::{OptionalExtension as _, params};

use super::{SqliteStore, append_audit_in, corrupt, sql};
use crate::audit::{AuditEntry, AuditRecord};
use kastell_proto::api::{ClientDetail, ClientInfo};

use crate::store::{Revocation, StoreError};

/// A registry row's columns with its revocation time.
const CLIENT_COLUMNS: &str = "c.serial, c.principal, c.role, c.tenant, c.not_after_ms, \
                              c.issued_ms, c.issued_by, r.revoked_ms";
const CLIENT_FROM: &str = "FROM clients c LEFT JOIN revoked_clients r ON r.serial = c.serial";

fn decode_client(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientInfo> {
    Ok(ClientInfo {
        serial: r.get(0)?,
        principal: r.get(1)?,
        role: r.get(2)?,
        tenant: r.get(3)?,
        not_after_ms: r.get(4)?,
        issued_ms: r.get(5)?,
        issued_by: r.get(6)?,
        revoked_ms: r.get(7)?,
    })
}

/// The registry row and, after its columns, the certificate (PEM or NULL).
fn decode_detail(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientDetail> {
    Ok(ClientDetail {
        client: decode_client(r)?,
        certificate: r.get(8)?,
    })
}

pub(super) fn add_client(
    store: &SqliteStore,
    detail: &ClientDetail,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let client = &detail.client;
    store.in_transaction("client certificate", |tx| {
        tx.execute(
            "INSERT INTO clients (serial, principal, role, tenant, not_after_ms, issued_ms,
                                  issued_by, certificate)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                client.serial,
                client.principal,
                client.role,
                client.tenant,
                client.not_after_ms,
                client.issued_ms,
                client.issued_by,
                detail.certificate
            ],
        )
        .map_err(sql("record client certificate"))?;
        append_audit_in(tx, audit)
    })
}

pub(super) fn clients(
    store: &SqliteStore,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ClientInfo>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {CLIENT_COLUMNS} {CLIENT_FROM}
                 WHERE ?1 IS NULL OR c.serial > ?1 ORDER BY c.serial LIMIT ?2"
        ))
        .map_err(sql("list client certificates"))?;
    let rows = stmt
        .query_map(params![after, limit], decode_client)
        .map_err(sql("list client certificates"))?;
    rows.map(|row| row.map_err(|_| corrupt("client certificate row")))
        .collect()
}

pub(super) fn revoke_client(
    store: &SqliteStore,
    revocation: &Revocation,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    store.in_transaction("client revocation", |tx| {
        let known: Option<i64> = tx
            .query_row(
                "SELECT revoked_ms FROM revoked_clients WHERE serial = ?1",
                [&revocation.serial],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read client revocation"))?;
        if known.is_some() {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO revoked_clients (serial, revoked_ms, revoked_by, reason)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                revocation.serial,
                revocation.revoked_ms,
                revocation.revoked_by,
                revocation.reason
            ],
        )
        .map_err(sql("record client revocation"))?;
        super::shared::note_change_in(
            tx,
            &crate::store::Changed::Client(revocation.serial.clone()),
        )?;
        append_audit_in(tx, audit).map(Some)
    })
}

pub(super) fn revoked_clients(store: &SqliteStore) -> Result<Vec<String>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached("SELECT serial FROM revoked_clients ORDER BY serial")
        .map_err(sql("read client revocations"))?;
    let rows = stmt
        .query_map([], |r| r.get(0))
        .map_err(sql("read client revocations"))?;
    rows.map(|row| row.map_err(|_| corrupt("client revocation row")))
        .collect()
}

pub(super) fn client(
    store: &SqliteStore,
    serial: &str,
) -> Result<Option<ClientDetail>, StoreError> {
    store
        .reader()?
        .query_row(
            &format!("SELECT {CLIENT_COLUMNS}, c.certificate {CLIENT_FROM} WHERE c.serial = ?1"),
            [serial],
            decode_detail,
        )
        .optional()
        .map_err(sql("read client certificate"))
}

pub(super) fn client_roles(
    store: &SqliteStore,
    principal: &str,
) -> Result<Vec<String>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT role FROM clients WHERE lower(principal) = lower(?1)
             UNION SELECT role FROM access_keys WHERE lower(principal) = lower(?1)
             ORDER BY role",
        )
        .map_err(sql("read a principal's roles"))?;
    let rows = stmt
        .query_map([principal], |r| r.get::<_, String>(0))
        .map_err(sql("read a principal's roles"))?;
    let mut roles = Vec::new();
    for row in rows {
        // An access key's column holds its roles joined with `,`.
        let row = row.map_err(|_| corrupt("client role row"))?;
        roles.extend(row.split(',').map(str::to_owned));
    }
    roles.sort_unstable();
    roles.dedup();
    Ok(roles)
}
