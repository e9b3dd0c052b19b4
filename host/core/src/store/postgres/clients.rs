//! Client certificates issued here, and revoked ones, in PostgreSQL. A revocation is an
//! insert that a second, concurrent revocation of the same serial finds done
//! (`ON CONFLICT DO NOTHING`): recorded and audited once.

use postgres::Row;

use super::audit::append_audit_in;
use super::{PostgresStore, corrupt};
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::{Revocation, StoreError};
use kastell_proto::api::{ClientDetail, ClientInfo};

fn decode_client(r: &Row) -> Result<ClientInfo, StoreError> {
    let bad = |_| corrupt("client certificate row");
    Ok(ClientInfo {
        serial: r.try_get(0).map_err(bad)?,
        principal: r.try_get(1).map_err(bad)?,
        role: r.try_get(2).map_err(bad)?,
        tenant: r.try_get(3).map_err(bad)?,
        not_after_ms: r.try_get(4).map_err(bad)?,
        issued_ms: r.try_get(5).map_err(bad)?,
        issued_by: r.try_get(6).map_err(bad)?,
        revoked_ms: r.try_get(7).map_err(bad)?,
    })
}

pub(super) fn add_client(
    store: &PostgresStore,
    detail: &ClientDetail,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let client = &detail.client;
    store.in_transaction("client certificate", |db| {
        db.execute(
            "record client certificate",
            "INSERT INTO clients (serial, principal, role, tenant, not_after_ms, issued_ms,
                                  issued_by, certificate)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &client.serial,
                &client.principal,
                &client.role,
                &client.tenant,
                &client.not_after_ms,
                &client.issued_ms,
                &client.issued_by,
                &detail.certificate,
            ],
        )?;
        append_audit_in(db, audit)
    })
}

pub(super) fn clients(
    store: &PostgresStore,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<ClientInfo>, StoreError> {
    store.read(|db| {
        db.query(
            "list client certificates",
            "SELECT c.serial, c.principal, c.role, c.tenant, c.not_after_ms, c.issued_ms,
                    c.issued_by, r.revoked_ms
             FROM clients c LEFT JOIN revoked_clients r ON r.serial = c.serial
             WHERE $1::text IS NULL OR c.serial > $1 ORDER BY c.serial LIMIT $2",
            &[&after, &i64::from(limit)],
        )?
        .iter()
        .map(decode_client)
        .collect()
    })
}

pub(super) fn revoke_client(
    store: &PostgresStore,
    revocation: &Revocation,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    store.in_transaction("client revocation", |db| {
        let inserted = db.execute(
            "record client revocation",
            "INSERT INTO revoked_clients (serial, revoked_ms, revoked_by, reason)
             VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO NOTHING",
            &[
                &revocation.serial,
                &revocation.revoked_ms,
                &revocation.revoked_by,
                &revocation.reason,
            ],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        super::shared::note_change_in(
            db,
            &crate::store::Changed::Client(revocation.serial.clone()),
        )?;
        append_audit_in(db, audit).map(Some)
    })
}

pub(super) fn revoked_clients(store: &PostgresStore) -> Result<Vec<String>, StoreError> {
    store.read(|db| {
        db.query(
            "read client revocations",
            "SELECT serial FROM revoked_clients ORDER BY serial",
            &[],
        )?
        .iter()
        .map(|r| r.try_get(0).map_err(|_| corrupt("client revocation row")))
        .collect()
    })
}

pub(super) fn client(
    store: &PostgresStore,
    serial: &str,
) -> Result<Option<ClientDetail>, StoreError> {
    store.read(|db| {
        db.query_opt(
            "read client certificate",
            "SELECT c.serial, c.principal, c.role, c.tenant, c.not_after_ms, c.issued_ms,
                    c.issued_by, r.revoked_ms, c.certificate
             FROM clients c LEFT JOIN revoked_clients r ON r.serial = c.serial
             WHERE c.serial = $1",
            &[&serial],
        )?
        .map(|r| {
            Ok(ClientDetail {
                client: decode_client(&r)?,
                certificate: r
                    .try_get(8)
                    .map_err(|_| corrupt("client certificate row"))?,
            })
        })
        .transpose()
    })
}

pub(super) fn client_roles(
    store: &PostgresStore,
    principal: &str,
) -> Result<Vec<String>, StoreError> {
    store.read(|db| {
        let rows = db.query(
            "read a principal's roles",
            "SELECT role FROM clients WHERE lower(principal) = lower($1::text COLLATE \"C\")
             UNION SELECT role FROM access_keys
                   WHERE lower(principal) = lower($1::text COLLATE \"C\")
             ORDER BY role",
            &[&principal],
        )?;
        let mut roles = Vec::new();
        for row in rows {
            // An access key's column holds its roles joined with `,`.
            let row: String = row.try_get(0).map_err(|_| corrupt("client role row"))?;
            roles.extend(row.split(',').map(str::to_owned));
        }
        roles.sort_unstable();
        roles.dedup();
        Ok(roles)
    })
}
