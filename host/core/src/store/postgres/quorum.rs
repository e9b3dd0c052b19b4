//! Pending quorum operations, approvals and quorum settings in PostgreSQL. An approval
//! locks its operation's row (`FOR UPDATE`) before counting: two officers approving at
//! once are serialised, as SQLite's single writer serialised them.

use postgres::Row;

use super::audit::append_audit_in;
use super::{PostgresStore, corrupt};
use crate::audit::{AuditEntry, AuditRecord};
use crate::store::{ApprovalAdded, ApprovalRow, PendingRow, StoreError, StoredOperation};
use kastell_proto::{OperationClass, PendingState};

pub(super) fn quorum_required(
    store: &PostgresStore,
    class: OperationClass,
) -> Result<u32, StoreError> {
    store.read(|db| {
        let row = db.query_opt(
            "read quorum setting",
            "SELECT required FROM quorum_settings WHERE class = $1",
            &[&class.as_str()],
        )?;
        let Some(row) = row else { return Ok(1) };
        let required: i64 = row
            .try_get(0)
            .map_err(|_| corrupt(format!("quorum setting of {class}")))?;
        u32::try_from(required).map_err(|_| corrupt(format!("quorum setting of {class}")))
    })
}

pub(super) fn set_quorum_required(
    store: &PostgresStore,
    class: OperationClass,
    required: u32,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    store.in_transaction("quorum setting", |db| {
        db.execute(
            "write quorum setting",
            "INSERT INTO quorum_settings (class, required) VALUES ($1, $2)
             ON CONFLICT (class) DO UPDATE SET required = excluded.required",
            &[&class.as_str(), &i64::from(required)],
        )?;
        append_audit_in(db, audit)
    })
}

pub(super) fn add_pending(
    store: &PostgresStore,
    op: &PendingRow,
    audit: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    store.in_transaction("pending operation", |db| {
        db.execute(
            "insert pending operation",
            "INSERT INTO pending_operations (id, class, canonical, digest, requester,
                                             created_ms, expires_ms, state, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &op.id,
                &op.class.as_str(),
                &op.canonical,
                &op.digest.as_slice(),
                &op.requester,
                &op.created_ms,
                &op.expires_ms,
                &op.state.as_str(),
                &op.outcome,
            ],
        )?;
        append_audit_in(db, audit)
    })
}

pub(super) fn pending_operation(
    store: &PostgresStore,
    id: &str,
) -> Result<Option<StoredOperation>, StoreError> {
    store.read(|db| {
        let Some(row) = db.query_opt("read pending operation", PENDING_BY_ID, &[&id])? else {
            return Ok(None);
        };
        let row = decode_pending(&row)?;
        let approvals = approvals_of(db, &row.id)?;
        Ok(Some(StoredOperation { row, approvals }))
    })
}

const PENDING_BY_ID: &str = "SELECT id, class, canonical, digest, requester, created_ms, \
                             expires_ms, state, outcome FROM pending_operations WHERE id = $1";

pub(super) fn list_pending(
    store: &PostgresStore,
    state: Option<PendingState>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<StoredOperation>, StoreError> {
    store.read(|db| {
        let rows = db.query(
            "list pending operations",
            "SELECT id, class, canonical, digest, requester, created_ms, expires_ms, state,
                    outcome FROM pending_operations
             WHERE ($1::text IS NULL OR state = $1)
               AND ($2::text IS NULL OR (created_ms, id) >
                    (SELECT created_ms, id FROM pending_operations WHERE id = $2))
             ORDER BY created_ms, id LIMIT $3",
            &[&state.map(PendingState::as_str), &after, &i64::from(limit)],
        )?;
        let rows = rows
            .iter()
            .map(decode_pending)
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|row| {
                let approvals = approvals_of(db, &row.id)?;
                Ok(StoredOperation { row, approvals })
            })
            .collect()
    })
}

pub(super) fn add_approval(
    store: &PostgresStore,
    op_id: &str,
    approval: &ApprovalRow,
    expected: u32,
    audit: AuditEntry,
) -> Result<ApprovalAdded, StoreError> {
    store.in_transaction("approval", |db| {
        let Some(row) = db.query_opt(
            "read pending operation",
            "SELECT state FROM pending_operations WHERE id = $1 FOR UPDATE",
            &[&op_id],
        )?
        else {
            return Ok(ApprovalAdded::NotFound);
        };
        let state: String = row
            .try_get(0)
            .map_err(|_| corrupt(format!("state of pending operation {op_id}")))?;
        let state = decode_state(&state, op_id)?;
        if state != PendingState::Pending {
            return Ok(ApprovalAdded::NotPending(state));
        }
        let row = db
            .query_opt(
                "count approvals",
                "SELECT COUNT(*), COALESCE(bool_or(officer = $2), FALSE)
                 FROM approvals WHERE op_id = $1",
                &[&op_id, &approval.officer],
            )?
            .ok_or_else(|| corrupt("approval count"))?;
        let count: i64 = row.try_get(0).map_err(|_| corrupt("approval count"))?;
        let mine: bool = row.try_get(1).map_err(|_| corrupt("approval count"))?;
        if mine {
            return Ok(ApprovalAdded::Duplicate);
        }
        let found = u32::try_from(count).map_err(|_| corrupt("approval count"))?;
        if found != expected {
            return Ok(ApprovalAdded::Changed { found });
        }
        db.execute(
            "insert approval",
            "INSERT INTO approvals (op_id, officer, certificate, signature, at_ms)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &op_id,
                &approval.officer,
                &approval.certificate,
                &approval.signature,
                &approval.at_ms,
            ],
        )?;
        append_audit_in(db, audit).map(|record| ApprovalAdded::Added(Box::new(record)))
    })
}

pub(super) fn finish_pending(
    store: &PostgresStore,
    id: &str,
    state: PendingState,
    outcome: &str,
    audit: AuditEntry,
) -> Result<Option<AuditRecord>, StoreError> {
    if state == PendingState::Pending {
        return Ok(None);
    }
    store.in_transaction("finish pending operation", |db| {
        let changed = db.execute(
            "finish pending operation",
            "UPDATE pending_operations SET state = $2, outcome = $3
             WHERE id = $1 AND state = 'pending'",
            &[&id, &state.as_str(), &outcome],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        append_audit_in(db, audit).map(Some)
    })
}

fn decode_state(text: &str, id: &str) -> Result<PendingState, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format!("state of pending operation {id}")))
}

fn decode_pending(row: &Row) -> Result<PendingRow, StoreError> {
    let bad = |what: &str| corrupt(format!("pending operation {what}"));
    let id: String = row.try_get(0).map_err(|_| bad("id"))?;
    let class: String = row.try_get(1).map_err(|_| bad("class"))?;
    let digest: Vec<u8> = row.try_get(3).map_err(|_| bad("digest"))?;
    let state: String = row.try_get(7).map_err(|_| bad("state"))?;
    Ok(PendingRow {
        class: class
            .parse()
            .map_err(|_| corrupt(format!("class of pending operation {id}")))?,
        canonical: row.try_get(2).map_err(|_| bad("canonical bytes"))?,
        digest: digest.try_into().map_err(|_| bad("digest"))?,
        requester: row.try_get(4).map_err(|_| bad("requester"))?,
        created_ms: row.try_get(5).map_err(|_| bad("creation time"))?,
        expires_ms: row.try_get(6).map_err(|_| bad("expiry"))?,
        state: decode_state(&state, &id)?,
        outcome: row.try_get(8).map_err(|_| bad("outcome"))?,
        id,
    })
}

fn approvals_of<C: postgres::GenericClient>(
    db: &mut super::connect::Db<'_, C>,
    op_id: &str,
) -> Result<Vec<ApprovalRow>, StoreError> {
    let rows = db.query(
        "read approvals",
        "SELECT officer, certificate, signature, at_ms FROM approvals
         WHERE op_id = $1 ORDER BY at_ms, officer",
        &[&op_id],
    )?;
    rows.iter()
        .map(|r| {
            let bad = |_| corrupt(format!("approval of operation {op_id}"));
            Ok(ApprovalRow {
                officer: r.try_get(0).map_err(bad)?,
                certificate: r.try_get(1).map_err(bad)?,
                signature: r.try_get(2).map_err(bad)?,
                at_ms: r.try_get(3).map_err(bad)?,
            })
        })
        .collect()
}
