//! The audit trail's rows in PostgreSQL: appending a record chained to the one before,
//! reading records and checkpoints back.
//!
//! A record is appended inside the transaction of the change it describes. The chain's
//! head is taken under a transaction-scoped advisory lock, as the last step before commit:
//! appenders (this host's group commit, its key changes, and any other host on the same
//! database) queue on the lock, each reads the head its predecessor committed (READ
//! COMMITTED reads the latest commit at every statement) and holds the lock until its own
//! commit, so the chain's order is the commit order. Taking the lock last, after every row
//! lock the change needs, keeps lock order one-way: no deadlock.

use postgres::GenericClient;
use postgres::Row;

use super::connect::Db;
use super::corrupt;
use crate::audit::{AuditEntry, AuditRecord, Checkpoint, GENESIS, HASH_LEN, Outcome};
use crate::store::StoreError;

/// Advisory lock key of the chain's head ("audit" in ASCII).
const AUDIT_LOCK: i64 = 0x6175_6469_7400;
/// Advisory lock key of the newest checkpoint ("audit" and 1).
const CHECKPOINT_LOCK: i64 = 0x6175_6469_7401;

/// A query of audit rows (their columns in [`decode_audit`]'s order) ending in `$tail`.
macro_rules! audit_select {
    ($tail:literal) => {
        concat!(
            "SELECT seq, time_ms, principal, operation, key_id, key_version, policy, outcome, \
             reason, context_hmac, prev_hash, hash, guest FROM audit ",
            $tail
        )
    };
}
pub(super) use audit_select;

/// Takes the chain's head for this transaction (see the module's comment) and returns it.
pub(super) fn lock_head<C: GenericClient>(
    db: &mut Db<'_, C>,
) -> Result<(u64, [u8; HASH_LEN]), StoreError> {
    db.execute(
        "lock the audit trail",
        "SELECT pg_advisory_xact_lock($1)",
        &[&AUDIT_LOCK],
    )?;
    Ok(audit_head_in(db)?.unwrap_or((0, GENESIS)))
}

/// The last audit record's sequence number and hash, if any.
pub(super) fn audit_head_in<C: GenericClient>(
    db: &mut Db<'_, C>,
) -> Result<Option<(u64, [u8; HASH_LEN])>, StoreError> {
    let row = db.query_opt(
        "read audit head",
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    row.map(|row| {
        let seq: i64 = row.try_get(0).map_err(|_| corrupt("audit sequence"))?;
        let hash: Vec<u8> = row.try_get(1).map_err(|_| corrupt("audit hash"))?;
        Ok((
            u64::try_from(seq).map_err(|_| corrupt("audit sequence"))?,
            <[u8; HASH_LEN]>::try_from(hash).map_err(|_| corrupt("audit hash"))?,
        ))
    })
    .transpose()
}

/// Appends `entry` after the trail's head, in this transaction (which must commit next).
pub(super) fn append_audit_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    entry: AuditEntry,
) -> Result<AuditRecord, StoreError> {
    let head = lock_head(db)?;
    insert_audit_in(db, entry, head)
}

/// Appends `entry` after the record `(prev_seq, prev_hash)`, which must be the head.
pub(super) fn insert_audit_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    entry: AuditEntry,
    (prev_seq, prev_hash): (u64, [u8; HASH_LEN]),
) -> Result<AuditRecord, StoreError> {
    let record = entry.seal(prev_seq, prev_hash);
    let e = &record.entry;
    let seq = i64::try_from(record.seq).map_err(|_| corrupt("audit sequence"))?;
    db.execute(
        "append audit record",
        "INSERT INTO audit (seq, time_ms, principal, operation, key_id, key_version, policy,
                            outcome, reason, context_hmac, prev_hash, hash, guest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &seq,
            &e.time_ms,
            &e.principal,
            &e.operation,
            &e.key.map(|k| k.to_string()),
            &e.key_version.map(i64::from),
            &e.policy.map(|p| p.to_string()),
            &e.outcome.as_str(),
            &e.reason,
            &e.context_hmac.map(|m| m.to_vec()),
            &record.prev_hash.as_slice(),
            &record.hash.as_slice(),
            &e.guest.map(|g| g.to_string()),
        ],
    )?;
    Ok(record)
}

/// Seals `entries` one after the other, the first after `head`, and inserts them all with
/// one statement (one round trip, one statement prepared per connection whatever the
/// batch's size: each column is bound as an array and `unnest` turns them into rows).
/// `head` must be the chain's head, taken under the lock ([`begin_at_head`]).
pub(super) fn insert_audit_batch<C: GenericClient>(
    db: &mut Db<'_, C>,
    entries: Vec<AuditEntry>,
    head: (u64, [u8; HASH_LEN]),
) -> Result<Vec<AuditRecord>, StoreError> {
    let (mut prev_seq, mut prev_hash) = head;
    let records: Vec<AuditRecord> = entries
        .into_iter()
        .map(|entry| {
            let record = entry.seal(prev_seq, prev_hash);
            (prev_seq, prev_hash) = (record.seq, record.hash);
            record
        })
        .collect();
    let n = records.len();
    let mut seq = Vec::with_capacity(n);
    let (mut time_ms, mut principal, mut operation) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut key, mut key_version, mut policy) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut outcome, mut reason, mut context_hmac) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut prev, mut hash, mut guest) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for record in &records {
        let e = &record.entry;
        seq.push(i64::try_from(record.seq).map_err(|_| corrupt("audit sequence"))?);
        time_ms.push(e.time_ms);
        principal.push(e.principal.as_str());
        operation.push(e.operation.as_str());
        key.push(e.key.map(|k| k.to_string()));
        key_version.push(e.key_version.map(i64::from));
        policy.push(e.policy.map(|p| p.to_string()));
        outcome.push(e.outcome.as_str());
        reason.push(e.reason.as_str());
        context_hmac.push(e.context_hmac.as_ref().map(<[u8; 48]>::as_slice));
        prev.push(record.prev_hash.as_slice());
        hash.push(record.hash.as_slice());
        guest.push(e.guest.map(|g| g.to_string()));
    }
    db.execute(
        "append audit records",
        "INSERT INTO audit (seq, time_ms, principal, operation, key_id, key_version, policy,
                            outcome, reason, context_hmac, prev_hash, hash, guest)
         SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                              $6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BYTEA[],
                              $11::BYTEA[], $12::BYTEA[], $13::TEXT[])",
        &[
            &seq,
            &time_ms,
            &principal,
            &operation,
            &key,
            &key_version,
            &policy,
            &outcome,
            &reason,
            &context_hmac,
            &prev,
            &hash,
            &guest,
        ],
    )?;
    Ok(records)
}

/// Begins a transaction on `client`, takes the chain's lock and reads the head, in one
/// round trip: the three statements go as one simple query, each of which (READ
/// COMMITTED) reads what was committed when it starts, so the head is read after the lock
/// is held. The caller must end the transaction (COMMIT or ROLLBACK).
pub(super) fn begin_at_head(
    client: &mut postgres::Client,
) -> Result<(u64, [u8; HASH_LEN]), StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "BEGIN; SELECT pg_advisory_xact_lock({AUDIT_LOCK}); \
             SELECT seq::TEXT AS head_seq, encode(hash, 'hex') AS head_hash FROM audit \
             ORDER BY seq DESC LIMIT 1"
        )
    });
    let messages = client
        .simple_query(&SQL)
        .map_err(super::connect::pg("lock the audit trail"))?;
    let head = messages.iter().find_map(|message| match message {
        postgres::SimpleQueryMessage::Row(row)
            if row.columns().first().map(|c| c.name()) == Some("head_seq") =>
        {
            Some(row)
        }
        _ => None,
    });
    let Some(row) = head else {
        return Ok((0, GENESIS));
    };
    let seq = row
        .get(0)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt("audit sequence"))?;
    let hash = row
        .get(1)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|h| <[u8; HASH_LEN]>::try_from(h).ok())
        .ok_or_else(|| corrupt("audit hash"))?;
    Ok((seq, hash))
}

/// An audit record from the columns [`audit_select`] reads.
pub(super) fn decode_audit(row: &Row) -> Result<AuditRecord, StoreError> {
    let bad = |what: &str| corrupt(format!("audit {what}"));
    let seq: i64 = row.try_get(0).map_err(|_| bad("sequence"))?;
    let hash = |i: usize| -> Result<[u8; HASH_LEN], StoreError> {
        let bytes: Vec<u8> = row.try_get(i).map_err(|_| bad("hash"))?;
        bytes.try_into().map_err(|_| bad("hash"))
    };
    let key: Option<String> = row.try_get(4).map_err(|_| bad("key"))?;
    let key_version: Option<i64> = row.try_get(5).map_err(|_| bad("key version"))?;
    let policy: Option<String> = row.try_get(6).map_err(|_| bad("policy"))?;
    let outcome: String = row.try_get(7).map_err(|_| bad("outcome"))?;
    let context_hmac: Option<Vec<u8>> = row.try_get(9).map_err(|_| bad("context HMAC"))?;
    let guest: Option<String> = row.try_get(12).map_err(|_| bad("guest"))?;
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|_| bad("sequence"))?,
        entry: AuditEntry {
            time_ms: row.try_get(1).map_err(|_| bad("time"))?,
            principal: row.try_get(2).map_err(|_| bad("principal"))?,
            operation: row.try_get(3).map_err(|_| bad("operation"))?,
            key: key.map(|k| k.parse()).transpose().map_err(|_| bad("key"))?,
            key_version: key_version
                .map(u32::try_from)
                .transpose()
                .map_err(|_| bad("key version"))?,
            policy: policy
                .map(|p| p.parse())
                .transpose()
                .map_err(|_| bad("policy"))?,
            outcome: match outcome.as_str() {
                "allowed" => Outcome::Allowed,
                "denied" => Outcome::Denied,
                _ => return Err(bad("outcome")),
            },
            reason: row.try_get(8).map_err(|_| bad("reason"))?,
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

/// A checkpoint from its `seq, hash, time_ms, key_label, signature, prev` columns.
pub(super) fn decode_checkpoint(row: &Row) -> Result<Checkpoint, StoreError> {
    let bad = |what: &str| corrupt(format!("checkpoint {what}"));
    let seq: i64 = row.try_get(0).map_err(|_| bad("sequence"))?;
    let hash: Vec<u8> = row.try_get(1).map_err(|_| bad("hash"))?;
    let prev: Option<Vec<u8>> = row.try_get(5).map_err(|_| bad("link"))?;
    Ok(Checkpoint {
        seq: u64::try_from(seq).map_err(|_| bad("sequence"))?,
        hash: hash.try_into().map_err(|_| bad("hash"))?,
        time_ms: row.try_get(2).map_err(|_| bad("time"))?,
        key_label: row.try_get(3).map_err(|_| bad("key label"))?,
        prev: prev
            .map(<[u8; HASH_LEN]>::try_from)
            .transpose()
            .map_err(|_| bad("link"))?,
        signature: row.try_get(4).map_err(|_| bad("signature"))?,
    })
}

/// Stores `checkpoint` when it links to the newest stored one (see
/// [`crate::store::Store::add_checkpoint`]); under an advisory lock, so that of two hosts
/// that signed after the same checkpoint one links and the other's is dropped.
pub(super) fn add_checkpoint_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    checkpoint: &Checkpoint,
    prev: [u8; HASH_LEN],
) -> Result<bool, StoreError> {
    db.execute(
        "lock audit checkpoints",
        "SELECT pg_advisory_xact_lock($1)",
        &[&CHECKPOINT_LOCK],
    )?;
    let newest = db
        .query_opt(
            "read audit checkpoints",
            "SELECT seq, hash, time_ms, key_label, signature, prev FROM audit_checkpoints
             ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|row| decode_checkpoint(&row))
        .transpose()?;
    let links = match &newest {
        Some(newest) => newest.digest() == prev && newest.seq < checkpoint.seq,
        None => prev == crate::audit::NO_CHECKPOINT,
    };
    if !links {
        return Ok(false);
    }
    db.execute(
        "add audit checkpoint",
        "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_label, signature, prev)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &i64::try_from(checkpoint.seq).map_err(|_| corrupt("checkpoint sequence"))?,
            &checkpoint.hash.as_slice(),
            &checkpoint.time_ms,
            &checkpoint.key_label,
            &checkpoint.signature,
            &prev.as_slice(),
        ],
    )?;
    Ok(true)
}
