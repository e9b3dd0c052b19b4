//! Pending quorum operations, approvals and quorum settings in SQLite.

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{SqliteStore, append_audit_in, corrupt, sql};
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::{ApprovalAdded, ApprovalRow, PendingRow, StoreError, StoredOperation};
use kastell_proto::{OperationClass, PendingState};

pub(super) fn quorum_required(
    store: &SqliteStore,
    class: OperationClass,
) -> Result<u32, StoreError> {
    let required: Option<i64> = store
        .reader()?
        .query_row(
            "SELECT required FROM quorum_settings WHERE class = ?1",
            [class.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read quorum setting"))?;
    required.map_or(Ok(1), |m| {
        u32::try_from(m).map_err(|_| corrupt(format!("quorum setting of {class}")))
    })
}

pub(super) fn set_quorum_required(
    store: &SqliteStore,
    class: OperationClass,
    required: u32,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    store.in_transaction("quorum setting", |tx| {
        tx.execute(
            "INSERT INTO quorum_settings (class, required) VALUES (?1, ?2)
             ON CONFLICT (class) DO UPDATE SET required = excluded.required",
            params![class.as_str(), required],
        )
        .map_err(sql("write quorum setting"))?;
        append_audit_in(tx, audit)
    })
}

pub(super) fn add_pending(
    store: &SqliteStore,
    op: &PendingRow,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    store.in_transaction("pending operation", |tx| {
        tx.execute(
            &format!(
                "INSERT INTO pending_operations ({PENDING_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                op.id,
                op.class.as_str(),
                op.canonical,
                op.digest.to_vec(),
                op.requester,
                op.created_ms,
                op.expires_ms,
                op.state.as_str(),
                op.outcome,
            ],
        )
        .map_err(sql("insert pending operation"))?;
        append_audit_in(tx, audit)
    })
}

pub(super) fn pending_operation(
    store: &SqliteStore,
    id: &str,
) -> Result<Option<StoredOperation>, StoreError> {
    let conn = store.reader()?;
    let row = conn
        .query_row(
            &format!("SELECT {PENDING_COLUMNS} FROM pending_operations WHERE id = ?1"),
            [id],
            |r| Ok(decode_pending(r)),
        )
        .optional()
        .map_err(sql("read pending operation"))?;
    row.map(|row| {
        let row = row?;
        let approvals = approvals_of(&conn, &row.id)?;
        Ok(StoredOperation { row, approvals })
    })
    .transpose()
}

pub(super) fn list_pending(
    store: &SqliteStore,
    state: Option<PendingState>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredOperation>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PENDING_COLUMNS} FROM pending_operations
             WHERE (?1 IS NULL OR state = ?1)
               AND (?2 IS NULL OR (created_ms, id) >
                    (SELECT created_ms, id FROM pending_operations WHERE id = ?2))
             ORDER BY created_ms, id LIMIT ?3"
        ))
        .map_err(sql("list pending operations"))?;
    let rows = stmt
        .query_map(
            params![state.map(PendingState::as_str), after, limit],
            |r| Ok(decode_pending(r)),
        )
        .map_err(sql("list pending operations"))?;
    let rows: Vec<PendingRow> = rows
        .map(|row| row.map_err(sql("list pending operations"))?)
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|row| {
            let approvals = approvals_of(&conn, &row.id)?;
            Ok(StoredOperation { row, approvals })
        })
        .collect()
}

pub(super) fn add_approval(
    store: &SqliteStore,
    op_id: &str,
    approval: &ApprovalRow,
    expected: u32,
    audit: AuditEntry,
) -> Result<ApprovalAdded, StoreError> {
    store.in_transaction("approval", |tx| {
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM pending_operations WHERE id = ?1",
                [op_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read pending operation"))?;
        let Some(state) = state else {
            return Ok(ApprovalAdded::NotFound);
        };
        let state = decode_state(&state, op_id)?;
        if state != PendingState::Pending {
            return Ok(ApprovalAdded::NotPending(state));
        }
        let (count, mine): (i64, bool) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(officer = ?2), 0) > 0
                 FROM approvals WHERE op_id = ?1",
                params![op_id, approval.officer],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql("count approvals"))?;
        if mine {
            return Ok(ApprovalAdded::Duplicate);
        }
        let found = u32::try_from(count).map_err(|_| corrupt("approval count"))?;
        if found != expected {
            return Ok(ApprovalAdded::Changed { found });
        }
        tx.execute(
            "INSERT INTO approvals (op_id, officer, certificate, signature, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                op_id,
                approval.officer,
                approval.certificate,
                approval.signature,
                approval.at_ms
            ],
        )
        .map_err(sql("insert approval"))?;
        append_audit_in(tx, audit).map(|record| ApprovalAdded::Added(Box::new(record)))
    })
}

pub(super) fn finish_pending(
    store: &SqliteStore,
    id: &str,
    state: PendingState,
    outcome: &str,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    if state == PendingState::Pending {
        return Ok(None);
    }
    store.in_transaction("finish pending operation", |tx| {
        let changed = tx
            .execute(
                "UPDATE pending_operations SET state = ?2, outcome = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![id, state.as_str(), outcome],
            )
            .map_err(sql("finish pending operation"))?;
        if changed == 0 {
            return Ok(None);
        }
        append_audit_in(tx, audit).map(Some)
    })
}

const PENDING_COLUMNS: &str =
    "id, class, canonical, digest, requester, created_ms, expires_ms, state, outcome";

fn decode_state(text: &str, id: &str) -> Result<PendingState, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format!("state of pending operation {id}")))
}

fn decode_pending(row: &Row<'_>) -> Result<PendingRow, StoreError> {
    let bad = |what: &str| corrupt(format!("pending operation {what}"));
    let id: String = row.get(0).map_err(|_| bad("id"))?;
    let class: String = row.get(1).map_err(|_| bad("class"))?;
    let digest: Vec<u8> = row.get(3).map_err(|_| bad("digest"))?;
    let state: String = row.get(7).map_err(|_| bad("state"))?;
    Ok(PendingRow {
        class: class
            .parse()
            .map_err(|_| corrupt(format!("class of pending operation {id}")))?,
        canonical: row.get(2).map_err(|_| bad("canonical bytes"))?,
        digest: digest.try_into().map_err(|_| bad("digest"))?,
        requester: row.get(4).map_err(|_| bad("requester"))?,
        created_ms: row.get(5).map_err(|_| bad("creation time"))?,
        expires_ms: row.get(6).map_err(|_| bad("expiry"))?,
        state: decode_state(&state, &id)?,
        outcome: row.get(8).map_err(|_| bad("outcome"))?,
        id,
    })
}

fn approvals_of(conn: &Connection, op_id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT officer, certificate, signature, at_ms FROM approvals
             WHERE op_id = ?1 ORDER BY at_ms, officer",
        )
        .map_err(sql("read approvals"))?;
    let rows = stmt
        .query_map([op_id], |r| {
            Ok(ApprovalRow {
                officer: r.get(0)?,
                certificate: r.get(1)?,
                signature: r.get(2)?,
                at_ms: r.get(3)?,
            })
        })
        .map_err(sql("read approvals"))?;
    rows.map(|row| row.map_err(|_| corrupt(format!("approval of operation {op_id}"))))
        .collect()
}
