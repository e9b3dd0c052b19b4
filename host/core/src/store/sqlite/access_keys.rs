//! Access keys of the AWS KMS-compatible endpoint, in SQLite: the row (principal, roles,
//! tenant, the sealed secret) and its revocation, each with its audit record in one
//! transaction. The `role` column holds the roles joined with `,` (one role but where
//! separation of duties is off).

use rusqlite::{OptionalExtension as _, params};

use super::{SqliteStore, append_audit_in, corrupt, sql};
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::{AccessKeyRow, Revocation, StoreError};
use kastell_proto::api::AccessKeyInfo;

const INFO_COLUMNS: &str = "id, principal, role, tenant, created_ms, created_by, revoked_ms";

fn decode_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyInfo> {
    Ok(AccessKeyInfo {
        access_key_id: r.get(0)?,
        principal: r.get(1)?,
        roles: r
            .get::<_, String>(2)?
            .split(',')
            .map(str::to_owned)
            .collect(),
        tenant: r.get(3)?,
        created_ms: r.get(4)?,
        created_by: r.get(5)?,
        revoked_ms: r.get(6)?,
    })
}

pub(super) fn add_access_key(
    store: &SqliteStore,
    key: &AccessKeyRow,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let info = &key.info;
    store.in_transaction("access key", |tx| {
        tx.execute(
            "INSERT INTO access_keys (id, principal, role, tenant, created_ms, created_by,
                                      key_label, nonce, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                info.access_key_id,
                info.principal,
                info.roles.join(","),
                info.tenant,
                info.created_ms,
                info.created_by,
                key.key_label,
                key.nonce.as_slice(),
                key.sealed
            ],
        )
        .map_err(sql("record access key"))?;
        append_audit_in(tx, audit)
    })
}

pub(super) fn access_key(
    store: &SqliteStore,
    id: &str,
) -> Result<Option<AccessKeyRow>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {INFO_COLUMNS}, key_label, nonce, sealed FROM access_keys WHERE id = ?1"
        ))
        .map_err(sql("read access key"))?;
    let row = stmt
        .query_row([id], |r| {
            Ok((
                decode_info(r)?,
                r.get::<_, String>(7)?,
                r.get::<_, Vec<u8>>(8)?,
                r.get::<_, Vec<u8>>(9)?,
            ))
        })
        .optional()
        .map_err(sql("read access key"))?;
    row.map(|(info, key_label, nonce, sealed)| {
        let nonce =
            <[u8; 12]>::try_from(nonce.as_slice()).map_err(|_| corrupt("access key nonce"))?;
        Ok(AccessKeyRow {
            info,
            key_label,
            nonce,
            sealed,
        })
    })
    .transpose()
}

pub(super) fn access_keys(
    store: &SqliteStore,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AccessKeyInfo>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {INFO_COLUMNS} FROM access_keys
                 WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
        ))
        .map_err(sql("list access keys"))?;
    let rows = stmt
        .query_map(params![after, limit], decode_info)
        .map_err(sql("list access keys"))?;
    rows.map(|row| row.map_err(|_| corrupt("access key row")))
        .collect()
}

pub(super) fn revoke_access_key(
    store: &SqliteStore,
    revocation: &Revocation,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    store.in_transaction("access key revocation", |tx| {
        let changed = tx
            .execute(
                "UPDATE access_keys SET revoked_ms = ?2, revoked_by = ?3, reason = ?4
                 WHERE id = ?1 AND revoked_ms IS NULL",
                params![
                    revocation.serial,
                    revocation.revoked_ms,
                    revocation.revoked_by,
                    revocation.reason
                ],
            )
            .map_err(sql("revoke access key"))?;
        if changed == 0 {
            return Ok(None);
        }
        super::shared::note_change_in(
            tx,
            &crate::store::Changed::AccessKey(revocation.serial.clone()),
        )?;
        append_audit_in(tx, audit).map(Some)
    })
}
