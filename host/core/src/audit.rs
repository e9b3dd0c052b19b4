//! The audit trail: one record per operation, allowed or denied, chained by SHA-384 so that
//! any edit, deletion, insertion or reordering is detected by [`verify_chain`].
//!
//! A record never holds the encryption context, only its HMAC-SHA-384 under a
//! token-resident audit key: equal contexts give equal HMACs, so auditors can correlate
//! without reading them.
//!
//! Checkpoints sign the head of the chain (sequence number and hash) with a token-resident
//! P-384 key. The chain alone catches edits, gaps, insertions and reorders; the signed
//! checkpoints also catch what a writer of the database could otherwise do unseen:
//! rewrite the whole chain with fresh hashes, or cut records off its end.

use kastell_attest::Measurement;
use kastell_proto::KeyId;
use sha2::{Digest as _, Sha384};

/// A record as JSON (exports, the API): the API's type, made [`From`] an [`AuditRecord`].
pub use kastell_proto::api::RecordJson;

/// Length of a record hash.
pub const HASH_LEN: usize = 48;
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

fn field(hasher: &mut Sha384, bytes: &[u8]) {
    hasher.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
    hasher.update(bytes);
}

fn optional(hasher: &mut Sha384, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            hasher.update([1]);
            field(hasher, bytes);
        }
        None => hasher.update([0]),
    }
}

/// The hash of a record: SHA-384 over a domain tag and every field, length-prefixed.
#[must_use]
pub fn record_hash(seq: u64, entry: &AuditEntry, prev_hash: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let mut h = Sha384::new();
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
    h.finalize().into()
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

/// The first record that breaks the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq}: {problem}")]
pub struct ChainBreak {
    /// Sequence number of the first bad record (as stored).
    pub seq: u64,
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
        let broken = |problem: String| ChainBreak {
            seq: record.seq,
            problem,
        };
        if record.seq != seq + 1 {
            return Err(broken(format!(
                "expected sequence number {}: a record was deleted, inserted or moved",
                seq + 1
            )));
        }
        if record.prev_hash != hash {
            return Err(broken("does not link to the record before it".into()));
        }
        if record_hash(record.seq, &record.entry, &record.prev_hash) != record.hash {
            return Err(broken(
                "content does not match its hash: the record was edited".into(),
            ));
        }
        (seq, hash) = (record.seq, record.hash);
    }
    Ok((seq, hash))
}

/// A signed statement "the trail had `seq` records and the last one hashed to `hash`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Sequence number of the last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: [u8; HASH_LEN],
    /// When it was signed, Unix milliseconds.
    pub time_ms: i64,
    /// Label of the signing key on the token.
    pub key_label: String,
    /// ECDSA P-384 signature (r ‖ s) over [`checkpoint_digest`].
    pub signature: Vec<u8>,
}

/// The SHA-384 digest a checkpoint signs: domain tag, sequence number, hash and time.
#[must_use]
pub fn checkpoint_digest(seq: u64, hash: &[u8; HASH_LEN], time_ms: i64) -> [u8; 48] {
    let mut h = Sha384::new();
    field(&mut h, b"kastell-audit-checkpoint-v1");
    h.update(seq.to_be_bytes());
    h.update(hash);
    h.update(time_ms.to_be_bytes());
    h.finalize().into()
}

/// What a verified trail holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailReport {
    /// Records verified.
    pub records: u64,
    /// Sequence number of the last record (0 for an empty trail).
    pub last_seq: u64,
    /// Checkpoints whose signature and hash were verified.
    pub checkpoints: usize,
    /// Sequence number of the last record covered by a signed checkpoint (0 for none).
    pub signed_through: u64,
}

/// Verifies a trail read in pages: the chain links, and every signed checkpoint against
/// the record it names. Feed records in order with [`TrailVerifier::feed`], then call
/// [`TrailVerifier::finish`].
#[derive(Debug)]
pub struct TrailVerifier {
    seq: u64,
    hash: [u8; HASH_LEN],
    records: u64,
    checkpoints: std::collections::BTreeMap<u64, Checkpoint>,
    matched: usize,
}

impl TrailVerifier {
    /// Checks each checkpoint's signature with `verify(digest, signature)` (the caller
    /// holds the trusted public key) and prepares to verify the records.
    ///
    /// # Errors
    /// A [`ChainBreak`] naming the first checkpoint whose signature does not verify.
    pub fn new(
        checkpoints: Vec<Checkpoint>,
        verify: impl Fn(&[u8; 48], &[u8]) -> bool,
    ) -> Result<Self, ChainBreak> {
        let mut by_seq = std::collections::BTreeMap::new();
        for checkpoint in checkpoints {
            let digest = checkpoint_digest(checkpoint.seq, &checkpoint.hash, checkpoint.time_ms);
            if !verify(&digest, &checkpoint.signature) {
                return Err(ChainBreak {
                    seq: checkpoint.seq,
                    problem: format!(
                        "the checkpoint signed for this record does not verify with the audit \
                         signing key `{}`: forged or altered",
                        checkpoint.key_label
                    ),
                });
            }
            by_seq.insert(checkpoint.seq, checkpoint);
        }
        Ok(Self {
            seq: 0,
            hash: GENESIS,
            records: 0,
            checkpoints: by_seq,
            matched: 0,
        })
    }

    /// Verifies the next records (in storage order).
    ///
    /// # Errors
    /// The first [`ChainBreak`], including a record that differs from its signed checkpoint
    /// (the chain was rewritten from there on).
    pub fn feed(&mut self, records: &[AuditRecord]) -> Result<(), ChainBreak> {
        (self.seq, self.hash) = verify_chain(records, self.seq, self.hash)?;
        for record in records {
            self.records += 1;
            if let Some(checkpoint) = self.checkpoints.get(&record.seq) {
                if checkpoint.hash != record.hash {
                    return Err(ChainBreak {
                        seq: record.seq,
                        problem: "differs from the signed checkpoint for this record: the \
                                  trail was rewritten up to here"
                            .into(),
                    });
                }
                self.matched += 1;
            }
        }
        Ok(())
    }

    /// Ends verification.
    ///
    /// # Errors
    /// A [`ChainBreak`] when a signed checkpoint names a record past the end of the trail
    /// (records were cut off its end).
    pub fn finish(self) -> Result<TrailReport, ChainBreak> {
        if let Some((&signed, _)) = self.checkpoints.range(self.seq + 1..).next_back() {
            return Err(ChainBreak {
                seq: self.seq + 1,
                problem: format!(
                    "missing: the trail ends at record {} but a signed checkpoint covers up to \
                     record {signed}; records were deleted from its end",
                    self.seq
                ),
            });
        }
        Ok(TrailReport {
            records: self.records,
            last_seq: self.seq,
            checkpoints: self.matched,
            signed_through: self.checkpoints.keys().next_back().copied().unwrap_or(0),
        })
    }
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

    /// A stand-in signature for the pure-logic tests: the digest itself.
    fn checkpoint_at(records: &[AuditRecord], seq: u64) -> Checkpoint {
        let hash = records[usize::try_from(seq).unwrap() - 1].hash;
        Checkpoint {
            seq,
            hash,
            time_ms: 7,
            key_label: "audit-signing".into(),
            signature: checkpoint_digest(seq, &hash, 7).to_vec(),
        }
    }

    fn verify_trail(
        records: &[AuditRecord],
        checkpoints: Vec<Checkpoint>,
    ) -> Result<TrailReport, ChainBreak> {
        let mut verifier = TrailVerifier::new(checkpoints, |d, s| d.as_slice() == s)?;
        for page in records.chunks(2) {
            verifier.feed(page)?;
        }
        verifier.finish()
    }

    #[test]
    fn checkpoints_verify_on_an_intact_trail_and_report_the_unsigned_tail() {
        let records = chain(6);
        let report = verify_trail(
            &records,
            vec![checkpoint_at(&records, 2), checkpoint_at(&records, 4)],
        )
        .expect("intact");
        assert_eq!(
            report,
            TrailReport {
                records: 6,
                last_seq: 6,
                checkpoints: 2,
                signed_through: 4
            }
        );
    }

    #[test]
    fn a_fully_rewritten_chain_is_caught_at_its_first_checkpoint() {
        let records = chain(6);
        let checkpoints = vec![checkpoint_at(&records, 3), checkpoint_at(&records, 6)];
        // Rewrite record 2 and re-hash everything after it: the chain alone verifies.
        let mut forged: Vec<AuditRecord> = records[..1].to_vec();
        for (i, record) in records[1..].iter().enumerate() {
            let mut entry = record.entry.clone();
            if i == 0 {
                entry.principal = "mallory".into();
            }
            let prev = forged.last().unwrap();
            forged.push(entry.seal(prev.seq, prev.hash));
        }
        assert!(verify_chain(&forged, 0, GENESIS).is_ok());
        let err = verify_trail(&forged, checkpoints).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.problem.contains("rewritten"), "{err}");
    }

    #[test]
    fn records_cut_off_the_end_are_caught_by_a_later_checkpoint() {
        let records = chain(6);
        let checkpoints = vec![checkpoint_at(&records, 5)];
        let err = verify_trail(&records[..3], checkpoints).unwrap_err();
        assert_eq!(err.seq, 4);
        assert!(err.problem.contains("deleted from its end"), "{err}");
    }

    #[test]
    fn a_checkpoint_with_a_bad_signature_is_named() {
        let records = chain(4);
        let mut bad = checkpoint_at(&records, 2);
        bad.signature[0] ^= 1;
        let err = verify_trail(&records, vec![checkpoint_at(&records, 1), bad]).unwrap_err();
        assert_eq!(err.seq, 2);
        assert!(err.problem.contains("does not verify"), "{err}");
        let mut moved = checkpoint_at(&records, 2);
        moved.seq = 3;
        assert_eq!(verify_trail(&records, vec![moved]).unwrap_err().seq, 3);
    }
}
