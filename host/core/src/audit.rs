//! The audit trail: one record per operation, allowed or denied, chained by SHA-384 so that
//! any edit, deletion, insertion or reordering is detected by [`verify_chain`].
//!
//! A record never holds the encryption context, only its HMAC-SHA-384 under a
//! token-resident audit key: equal contexts give equal HMACs, so auditors can correlate
//! without reading them.
//!
//! Checkpoints ([`checkpoint`]) sign the head of the chain (sequence number and hash) and
//! the checkpoint before them with a token-resident P-384 key. The chain alone catches
//! edits, gaps, insertions and reorders; the signed, linked checkpoints also catch what a
//! writer of the database could otherwise do unseen: rewrite the whole chain with fresh
//! hashes, cut records off its end, or remove a checkpoint; checkpoints kept outside the
//! store (the anchor file, an auditor's copy) catch a rollback of trail and checkpoints
//! together.

use crate::crypto::Sha384Message;
use kastell_attest::Measurement;
use kastell_proto::KeyId;

pub mod checkpoint;

pub use checkpoint::{
    Checkpoint, NO_CHECKPOINT, TrailReport, TrailVerifier, checkpoint_digest, verify_checkpoints,
};

/// A record as JSON (exports, the API): the API's type, made [`From`] an [`AuditRecord`].
pub use kastell_proto::api::RecordJson;

/// Length of a record hash.
pub const HASH_LEN: usize = 48;
/// The operation of a record that a deployment setting changed (`kastell serve` writes one
/// at start-up when a setting differs from its last record): reason `<name> = <value>`.
pub const SETTING_OPERATION: &str = "setting";
/// The `prev_hash` of the first record.
pub const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

/// Whether the operation went ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Performed.
    Allowed,
    /// Refused (policy, role, state) or failed; the reason says which.
    Denied,
}

impl Outcome {
    /// `allowed` or `denied`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
        }
    }
}

/// What to record about one operation (the store adds sequence and chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Who asked.
    pub principal: String,
    /// The operation, kebab-case as in the WIT (`decrypt`, `create-key`, …).
    pub operation: String,
    /// The key, when there is one.
    pub key: Option<KeyId>,
    /// The key version used, when known.
    pub key_version: Option<u32>,
    /// The policy evaluated, when there was one.
    pub policy: Option<Measurement>,
    /// Allowed or denied.
    pub outcome: Outcome,
    /// Why (the policy's reason, the fault, the error); empty when allowed.
    pub reason: String,
    /// HMAC-SHA-384 of the canonical encryption context, when there was a context.
    pub context_hmac: Option<[u8; 48]>,
    /// SHA-384 of the attested guest the operation was for, when there was verified
    /// evidence (a workload's own key calls, attestations, key releases).
    pub guest: Option<Measurement>,
}

impl AuditEntry {
    /// An entry for an event outside the key operations (no version, policy or context),
    /// stamped now.
    #[must_use]
    pub fn event(
        principal: &str,
        operation: &str,
        key: Option<KeyId>,
        outcome: Outcome,
        reason: String,
    ) -> Self {
        Self {
            time_ms: crate::clock::unix_now_ms(),
            principal: principal.to_owned(),
            operation: operation.to_owned(),
            key,
            key_version: None,
            policy: None,
            outcome,
            reason,
            context_hmac: None,
            guest: None,
        }
    }

    /// The same entry, naming the attested guest it was for.
    #[must_use]
    pub fn with_guest(mut self, guest: Option<Measurement>) -> Self {
        self.guest = guest;
        self
    }
}

/// A record as stored: the entry, its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// What happened.
    pub entry: AuditEntry,
    /// Hash of the previous record ([`GENESIS`] for the first).
    pub prev_hash: [u8; HASH_LEN],
    /// SHA-384 over the canonical encoding of all of the above.
    pub hash: [u8; HASH_LEN],
}

fn field(hasher: &mut Sha384Message, bytes: &[u8]) {
    hasher.field(bytes);
}

fn optional(hasher: &mut Sha384Message, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            hasher.update([1]);
            field(hasher, bytes);
        }
        None => hasher.update([0]),
    }
}

/// The hash of a record: SHA-384 over a domain tag and every field, length-prefixed (the
/// fields serialised once, then hashed in one call).
#[must_use]
pub fn record_hash(seq: u64, entry: &AuditEntry, prev_hash: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let mut h = Sha384Message::new();
    field(&mut h, b"kastell-audit-v1");
    h.update(seq.to_be_bytes());
    h.update(entry.time_ms.to_be_bytes());
    field(&mut h, entry.principal.as_bytes());
    field(&mut h, entry.operation.as_bytes());
    optional(&mut h, entry.key.as_ref().map(|k| k.as_bytes().as_slice()));
    optional(
        &mut h,
        entry
            .key_version
            .map(u32::to_be_bytes)
            .as_ref()
            .map(|v| v.as_slice()),
    );
    optional(
        &mut h,
        entry.policy.as_ref().map(|p| p.as_bytes().as_slice()),
    );
    field(&mut h, entry.outcome.as_str().as_bytes());
    field(&mut h, entry.reason.as_bytes());
    optional(&mut h, entry.context_hmac.as_ref().map(|m| m.as_slice()));
    // Added in schema v9: hashed only when present, so records written before keep their
    // hashes. With it the input is 57 bytes longer, so the two forms never collide.
    if let Some(guest) = &entry.guest {
        h.update([2]);
        field(&mut h, guest.as_bytes());
    }
    h.update(prev_hash);
    h.finish()
}

impl AuditEntry {
    /// Places the entry after the record with `prev_seq` and `prev_hash`.
    #[must_use]
    pub fn seal(self, prev_seq: u64, prev_hash: [u8; HASH_LEN]) -> AuditRecord {
        let seq = prev_seq + 1;
        let hash = record_hash(seq, &self, &prev_hash);
        AuditRecord {
            seq,
            entry: self,
            prev_hash,
            hash,
        }
    }
}

/// What broke in a trail, by a stable name ([`BreakKind::as_str`]) that tests, scripts and
/// the API's `VerifyReport.kind` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// A record's sequence number is not the next one: a record was deleted, inserted or
    /// moved (`record-sequence`).
    RecordSequence,
    /// A record does not link to the one before it (`record-link`).
    RecordLink,
    /// A record's content does not match its hash (`record-edited`).
    RecordEdited,
    /// A checkpoint's signature does not verify with the audit signing key
    /// (`checkpoint-forged`).
    CheckpointForged,
    /// A checkpoint does not link to the one before it: a checkpoint was removed, inserted
    /// or replaced (`checkpoint-chain-broken`).
    CheckpointChain,
    /// A record differs from the checkpoint signed over it: the trail was rewritten
    /// (`trail-rewritten`).
    TrailRewritten,
    /// The trail ends before a signed checkpoint: records were cut off its end
    /// (`trail-cut`).
    TrailCut,
    /// A checkpoint kept outside the store (the anchor file, an auditor's copy) is not in
    /// the store's chain: the trail and its checkpoints were rolled back or replaced
    /// (`rolled-back`).
    RolledBack,
}

impl BreakKind {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordSequence => "record-sequence",
            Self::RecordLink => "record-link",
            Self::RecordEdited => "record-edited",
            Self::CheckpointForged => "checkpoint-forged",
            Self::CheckpointChain => "checkpoint-chain-broken",
            Self::TrailRewritten => "trail-rewritten",
            Self::TrailCut => "trail-cut",
            Self::RolledBack => "rolled-back",
        }
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first record (or checkpoint, named by the record it covers) that breaks the trail,
/// and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq}: {kind}: {problem}")]
pub struct ChainBreak {
    /// Sequence number of the first bad record (as stored), or of the record the bad
    /// checkpoint covers.
    pub seq: u64,
    /// What broke, by name.
    pub kind: BreakKind,
    /// What is wrong with it.
    pub problem: String,
}

/// Verifies records in storage order, starting after `start_seq`/`start_hash` (0 and
/// [`GENESIS`] for the whole trail). Returns the last sequence number and hash.
///
/// # Errors
/// The first [`ChainBreak`]: an edited record (hash mismatch), a deleted one (gap), an
/// inserted or reordered one (sequence or link mismatch).
pub fn verify_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    start_seq: u64,
    start_hash: [u8; HASH_LEN],
) -> Result<(u64, [u8; HASH_LEN]), ChainBreak> {
    let (mut seq, mut hash) = (start_seq, start_hash);
    for record in records {
        let broken = |kind: BreakKind, problem: String| ChainBreak {
            seq: record.seq,
            kind,
            problem,
        };
        if record.seq != seq + 1 {
            return Err(broken(
                BreakKind::RecordSequence,
                format!(
                    "expected sequence number {}: a record was deleted, inserted or moved",
                    seq + 1
                ),
            ));
        }
        if record.prev_hash != hash {
            return Err(broken(
                BreakKind::RecordLink,
                "does not link to the record before it".into(),
            ));
        }
        if record_hash(record.seq, &record.entry, &record.prev_hash) != record.hash {
            return Err(broken(
                BreakKind::RecordEdited,
                "content does not match its hash: the record was edited".into(),
            ));
        }
        (seq, hash) = (record.seq, record.hash);
    }
    Ok((seq, hash))
}

impl From<&AuditRecord> for RecordJson {
    /// The JSON form of `record`.
    fn from(record: &AuditRecord) -> Self {
        let e = &record.entry;
        let time =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.time_ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
        Self {
            seq: record.seq,
            time,
            time_ms: e.time_ms,
            principal: e.principal.clone(),
            operation: e.operation.clone(),
            key: e.key.map(|k| k.to_string()),
            key_version: e.key_version,
            policy: e.policy.map(|p| p.to_string()),
            outcome: e.outcome.as_str().to_owned(),
            reason: e.reason.clone(),
            context_hmac: e.context_hmac.map(hex::encode),
            guest: e.guest.map(|g| g.to_string()),
            prev_hash: hex::encode(record.prev_hash),
            hash: hex::encode(record.hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> AuditEntry {
        AuditEntry {
            time_ms: 1_764_064_800_000 + i64::from(n),
            principal: format!("svc-{n}"),
            operation: "decrypt".into(),
            key: Some(KeyId::from_bytes([n; 16])),
            key_version: Some(1),
            policy: None,
            outcome: Outcome::Allowed,
            reason: String::new(),
            context_hmac: Some([n; 48]),
            guest: None,
        }
    }

    fn chain(n: u8) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 1..=n {
            let (seq, prev) = records.last().map_or((0, GENESIS), |r| (r.seq, r.hash));
            records.push(entry(i).seal(seq, prev));
        }
        records
    }

    #[test]
    fn intact_chain_verifies() {
        let records = chain(5);
        let (seq, hash) = verify_chain(&records, 0, GENESIS).expect("intact");
        assert_eq!((seq, hash), (5, records[4].hash));
        assert_eq!(
            verify_chain(&records[3..], 3, records[2].hash).map(|r| r.0),
            Ok(5)
        );
    }

    #[test]
    fn edit_delete_insert_and_reorder_are_each_caught_at_the_first_bad_record() {
        let records = chain(6);

        let mut edited = records.clone();
        edited[2].entry.outcome = Outcome::Denied;
        assert_eq!(verify_chain(&edited, 0, GENESIS).unwrap_err().seq, 3);

        let mut deleted = records.clone();
        deleted.remove(3);
        let err = verify_chain(&deleted, 0, GENESIS).unwrap_err();
        assert_eq!(err.seq, 5);
        assert!(err.problem.contains("expected sequence number 4"), "{err}");

        let mut inserted = records.clone();
        let forged = entry(9).seal(2, records[1].hash);
        inserted.insert(2, forged);
        assert_eq!(verify_chain(&inserted, 0, GENESIS).unwrap_err().seq, 3);

        let mut reordered = records.clone();
        reordered.swap(1, 2);
        assert_eq!(verify_chain(&reordered, 0, GENESIS).unwrap_err().seq, 3);

        // A record rewritten with a recomputed hash still breaks the next link.
        let mut rehashed = records.clone();
        rehashed[1].entry.principal = "mallory".into();
        rehashed[1].hash = record_hash(2, &rehashed[1].entry, &rehashed[1].prev_hash);
        let err = verify_chain(&rehashed, 0, GENESIS).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.problem.contains("link"), "{err}");
    }

    /// The record hash as computed before issue 22 (RustCrypto `sha2`, one update per
    /// field): the trails written by it must still verify.
    fn record_hash_before(seq: u64, entry: &AuditEntry, prev_hash: &[u8; HASH_LEN]) -> [u8; 48] {
        use sha2::{Digest as _, Sha384};
        fn field(h: &mut Sha384, bytes: &[u8]) {
            h.update(u64::try_from(bytes.len()).unwrap().to_be_bytes());
            h.update(bytes);
        }
        fn optional(h: &mut Sha384, bytes: Option<&[u8]>) {
            match bytes {
                Some(bytes) => {
                    h.update([1]);
                    field(h, bytes);
                }
                None => h.update([0]),
            }
        }
        let mut h = Sha384::new();
        field(&mut h, b"kastell-audit-v1");
        h.update(seq.to_be_bytes());
        h.update(entry.time_ms.to_be_bytes());
        field(&mut h, entry.principal.as_bytes());
        field(&mut h, entry.operation.as_bytes());
        optional(&mut h, entry.key.as_ref().map(|k| k.as_bytes().as_slice()));
        let version = entry.key_version.map(u32::to_be_bytes);
        optional(&mut h, version.as_ref().map(|v| v.as_slice()));
        optional(
            &mut h,
            entry.policy.as_ref().map(|p| p.as_bytes().as_slice()),
        );
        field(&mut h, entry.outcome.as_str().as_bytes());
        field(&mut h, entry.reason.as_bytes());
        optional(&mut h, entry.context_hmac.as_ref().map(|m| m.as_slice()));
        if let Some(guest) = &entry.guest {
            h.update([2]);
            field(&mut h, guest.as_bytes());
        }
        h.update(prev_hash);
        h.finalize().into()
    }

    #[test]
    fn record_hashes_are_the_bytes_the_earlier_implementation_wrote() {
        let long_reason = "r".repeat(700);
        let entries = [
            entry(1),
            AuditEntry {
                key: None,
                key_version: None,
                context_hmac: None,
                ..entry(2)
            },
            AuditEntry {
                policy: Some(Measurement::of(b"p")),
                guest: Some(Measurement::of(b"g")),
                outcome: Outcome::Denied,
                reason: long_reason,
                ..entry(3)
            },
            AuditEntry {
                principal: String::new(),
                operation: String::new(),
                ..entry(4)
            },
        ];
        let mut prev = GENESIS;
        for (i, entry) in entries.iter().enumerate() {
            let seq = u64::try_from(i).unwrap() + 1;
            let hash = record_hash(seq, entry, &prev);
            assert_eq!(hash, record_hash_before(seq, entry, &prev), "{entry:?}");
            prev = hash;
        }
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = entry(1);
        let h = |e: &AuditEntry| record_hash(1, e, &GENESIS);
        let variants = [
            AuditEntry {
                time_ms: 0,
                ..base.clone()
            },
            AuditEntry {
                principal: "x".into(),
                ..base.clone()
            },
            AuditEntry {
                operation: "encrypt".into(),
                ..base.clone()
            },
            AuditEntry {
                key: None,
                ..base.clone()
            },
            AuditEntry {
                key_version: Some(2),
                ..base.clone()
            },
            AuditEntry {
                policy: Some(Measurement::of(b"p")),
                ..base.clone()
            },
            AuditEntry {
                outcome: Outcome::Denied,
                ..base.clone()
            },
            AuditEntry {
                reason: "r".into(),
                ..base.clone()
            },
            AuditEntry {
                context_hmac: None,
                ..base.clone()
            },
            AuditEntry {
                guest: Some(Measurement::of(b"g")),
                ..base.clone()
            },
        ];
        for variant in &variants {
            assert_ne!(h(variant), h(&base), "{variant:?}");
        }
        assert_ne!(record_hash(2, &base, &GENESIS), h(&base));
    }
}
