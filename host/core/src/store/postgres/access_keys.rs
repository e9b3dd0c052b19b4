//! Access keys of the AWS KMS-compatible endpoint, in PostgreSQL: the row (principal,
//! roles joined with `,`, tenant, the sealed secret) and its revocation, each with its
//! audit record in one transaction.

use postgres::Row;

use super::audit::append_audit_in;
use super::{PostgresStore, corrupt};
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::{AccessKeyRow, Revocation, StoreError};
use kastell_proto::api::AccessKeyInfo;

fn decode_info(r: &Row) -> Result<AccessKeyInfo, StoreError> {
    let bad = |_| corrupt("access key row");
    Ok(AccessKeyInfo {
        access_key_id: r.try_get(0).map_err(bad)?,
        principal: r.try_get(1).map_err(bad)?,
        roles: r
            .try_get::<_, String>(2)
            .map_err(bad)?
            .split(',')
            .map(str::to_owned)
            .collect(),
        tenant: r.try_get(3).map_err(bad)?,
        created_ms: r.try_get(4).map_err(bad)?,
        created_by: r.try_get(5).map_err(bad)?,
        revoked_ms: r.try_get(6).map_err(bad)?,
    })
}

pub(super) fn add_access_key(
    store: &PostgresStore,
    key: &AccessKeyRow,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let info = &key.info;
    store.in_transaction("access key", |db| {
        db.execute(
            "record access key",
            "INSERT INTO access_keys (id, principal, role, tenant, created_ms, created_by,
                                      key_label, nonce, sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &info.access_key_id,
                &info.principal,
                &info.roles.join(","),
                &info.tenant,
                &info.created_ms,
                &info.created_by,
                &key.key_label,
                &key.nonce.as_slice(),
                &key.sealed,
            ],
        )?;
        append_audit_in(db, audit)
    })
}

pub(super) fn access_key(
    store: &PostgresStore,
    id: &str,
) -> Result<Option<AccessKeyRow>, StoreError> {
    store.read(|db| {
        let Some(r) = db.query_opt(
            "read access key",
            "SELECT id, principal, role, tenant, created_ms, created_by, revoked_ms,
                    key_label, nonce, sealed
             FROM access_keys WHERE id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let bad = |_| corrupt("access key row");
        let nonce: Vec<u8> = r.try_get(8).map_err(bad)?;
        Ok(Some(AccessKeyRow {
            info: decode_info(&r)?,
            key_label: r.try_get(7).map_err(bad)?,
            nonce: <[u8; 12]>::try_from(nonce.as_slice())
                .map_err(|_| corrupt("access key nonce"))?,
            sealed: r.try_get(9).map_err(bad)?,
        }))
    })
}

pub(super) fn access_keys(
    store: &PostgresStore,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AccessKeyInfo>, StoreError> {
    store.read(|db| {
        db.query(
            "list access keys",
            "SELECT id, principal, role, tenant, created_ms, created_by, revoked_ms
             FROM access_keys WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            &[&after, &i64::from(limit)],
        )?
        .iter()
        .map(decode_info)
        .collect()
    })
}

pub(super) fn revoke_access_key(
    store: &PostgresStore,
    revocation: &Revocation,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    store.in_transaction("access key revocation", |db| {
        let changed = db.execute(
            "revoke access key",
            "UPDATE access_keys SET revoked_ms = $2, revoked_by = $3, reason = $4
             WHERE id = $1 AND revoked_ms IS NULL",
            &[
                &revocation.serial,
                &revocation.revoked_ms,
                &revocation.revoked_by,
                &revocation.reason,
            ],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        super::shared::note_change_in(
            db,
            &crate::store::Changed::AccessKey(revocation.serial.clone()),
        )?;
        append_audit_in(db, audit).map(Some)
    })
}
