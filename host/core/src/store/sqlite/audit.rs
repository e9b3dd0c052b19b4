//! The audit trail's rows: appending a record chained to the one before, reading records
//! back, and the head of the chain. (Cached statements: SQL is compiled once per
//! connection, not per record.)

use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::{corrupt, sql};
use crate::audit::{AuditEntry, AuditRecord, GENESIS, HASH_LEN, Outcome};
use crate::store::StoreError;

/// The last audit record's sequence number and hash, if any. (Cached statements here and
/// below: SQL is compiled once per connection, not per record.)
pub(super) fn audit_head_in(
    conn: &Connection,
) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError> {
    let head: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .and_then(|mut head| {
            head.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql("read audit head"))?;
    head.map(|(seq, hash)| {
        Ok((
            u64::try_from(seq).map_err(|_| corrupt("audit sequence"))?,
            <[u8; HASH_LEN]>::try_from(hash).map_err(|_| corrupt("audit hash"))?,
        ))
    })
    .transpose()
}

/// Appends `entry` after the trail's current head, in `tx`.
pub(super) fn append_audit_in(
    tx: &Connection,
    entry: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let head = audit_head_in(tx)?.unwrap_or((0, GENESIS));
    insert_audit_in(tx, entry, head)
}

/// Appends `entry` after the record `(prev_seq, prev_hash)`, which must be the head.
pub(super) fn insert_audit_in(
    tx: &Connection,
    entry: AuditEntry,
    (prev_seq, prev_hash): (u64, [u8; HASH_LEN]),
) -> Result<AuditRecord, StoreError> {
    let record = entry.seal(prev_seq, prev_hash);
    let e = &record.entry;
    let seq = i64::try_from(record.seq).map_err(|_| corrupt("audit sequence"))?;
    tx.prepare_cached(
        "INSERT INTO audit (seq, time_ms, principal, operation, key_id, key_version, policy,
                            outcome, reason, context_hmac, prev_hash, hash, guest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            seq,
            e.time_ms,
            e.principal,
            e.operation,
            e.key.map(|k| k.to_string()),
            e.key_version,
            e.policy.map(|p| p.to_string()),
            e.outcome.as_str(),
            e.reason,
            e.context_hmac.as_ref().map(<[u8; 48]>::as_slice),
            record.prev_hash.as_slice(),
            record.hash.as_slice(),
            e.guest.map(|g| g.to_string()),
        ])
    })
    .map_err(sql("append audit record"))?;
    Ok(record)
}

pub(super) fn decode_audit(row: &Row<'_>) -> Result<AuditRecord, StoreError> {
    let bad = |what: &str| corrupt(format!("audit {what}"));
    let seq: i64 = row.get(0).map_err(|_| bad("sequence"))?;
    let hash = |i: usize| -> Result<[u8; HASH_LEN], StoreError> {
        let bytes: Vec<u8> = row.get(i).map_err(|_| bad("hash"))?;
        bytes.try_into().map_err(|_| bad("hash"))
    };
    let key: Option<String> = row.get(4).map_err(|_| bad("key"))?;
    let policy: Option<String> = row.get(6).map_err(|_| bad("policy"))?;
    let outcome: String = row.get(7).map_err(|_| bad("outcome"))?;
    let context_hmac: Option<Vec<u8>> = row.get(9).map_err(|_| bad("context HMAC"))?;
    let guest: Option<String> = row.get(12).map_err(|_| bad("guest"))?;
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|_| bad("sequence"))?,
        entry: AuditEntry {
            time_ms: row.get(1).map_err(|_| bad("time"))?,
            principal: row.get(2).map_err(|_| bad("principal"))?,
            operation: row.get(3).map_err(|_| bad("operation"))?,
            key: key.map(|k| k.parse()).transpose().map_err(|_| bad("key"))?,
            key_version: row.get(5).map_err(|_| bad("key version"))?,
            policy: policy
                .map(|p| p.parse())
                .transpose()
                .map_err(|_| bad("policy"))?,
            outcome: match outcome.as_str() {
                "allowed" => Outcome::Allowed,
                "denied" => Outcome::Denied,
                _ => return Err(bad("outcome")),
            },
            reason: row.get(8).map_err(|_| bad("reason"))?,
            context_hmac: context_hmac
                .map(<[u8; 48]>::try_from)
                .transpose()
                .map_err(|_| bad("context HMAC"))?,
            guest: guest
                .map(|g| g.parse())
                .transpose()
                .map_err(|_| bad("guest"))?,
        },
        prev_hash: hash(10)?,
        hash: hash(11)?,
    })
}
