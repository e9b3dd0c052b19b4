//! Signed checkpoints of the audit trail, linked into a chain.
//!
//! A checkpoint signs "the trail had `seq` records, the last one hashed to `hash`, at
//! `time_ms`, after the checkpoint whose digest is `prev`". Each checkpoint thus vouches for
//! every checkpoint before it: removing one breaks the next one's link, and the newest
//! signature authenticates the whole chain (the signer never links to a checkpoint whose
//! signature it has not verified, [`crate::keys::KeyService::checkpoint`]).
//!
//! Checkpoints signed before they were linked (schema v11 and older) have no `prev`: they
//! are the chain's *legacy start*. Each is verified by its own signature, as before; the
//! first linked checkpoint links to the last of them (or to [`NO_CHECKPOINT`]); a legacy
//! checkpoint after a linked one is refused.
//!
//! What the store alone cannot show is a rollback of the trail and its checkpoints
//! together to an older consistent state: that takes a checkpoint kept elsewhere (the
//! anchor file, an auditor's export), which must still be in the store's chain
//! ([`require_kept`]).

use std::collections::BTreeMap;

use super::{AuditRecord, BreakKind, ChainBreak, GENESIS, HASH_LEN, field, verify_chain};
use crate::crypto::Sha384Message;
use kastell_proto::api::CheckpointJson;

/// The `prev` of the first linked checkpoint of a trail without legacy checkpoints.
pub const NO_CHECKPOINT: [u8; 48] = [0; 48];

/// A signed statement "the trail had `seq` records, the last one hashed to `hash`, after
/// checkpoint `prev`".
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
    /// Digest of the checkpoint before it ([`NO_CHECKPOINT`] for the first); `None` for a
    /// legacy checkpoint signed before checkpoints were linked.
    pub prev: Option<[u8; 48]>,
    /// ECDSA P-384 signature (r ‖ s) over [`Checkpoint::digest`].
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// The digest its signature covers.
    #[must_use]
    pub fn digest(&self) -> [u8; 48] {
        checkpoint_digest(self.seq, &self.hash, self.time_ms, self.prev.as_ref())
    }
}

/// The SHA-384 digest a checkpoint signs: domain tag, sequence number, hash, time and, for a
/// linked checkpoint, the digest of the one before it (a legacy checkpoint, `prev = None`,
/// has the v1 digest without it).
#[must_use]
pub fn checkpoint_digest(
    seq: u64,
    hash: &[u8; HASH_LEN],
    time_ms: i64,
    prev: Option<&[u8; 48]>,
) -> [u8; 48] {
    let mut h = Sha384Message::new();
    match prev {
        None => field(&mut h, b"kastell-audit-checkpoint-v1"),
        Some(_) => field(&mut h, b"kastell-audit-checkpoint-v2"),
    }
    h.update(seq.to_be_bytes());
    h.update(hash);
    h.update(time_ms.to_be_bytes());
    if let Some(prev) = prev {
        h.update(prev);
    }
    h.finish()
}

/// Which signatures [`verify_checkpoints`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Every checkpoint's (`kastell audit verify`): a forged one is named.
    Every,
    /// The legacy checkpoints' and the newest one's, which through the links vouches for
    /// every linked checkpoint before it (the server's start-up check: one ECDSA
    /// verification whatever the length of the chain).
    Newest,
}

/// The break of a checkpoint whose signature does not verify.
#[must_use]
pub fn forged(checkpoint: &Checkpoint) -> ChainBreak {
    ChainBreak {
        seq: checkpoint.seq,
        kind: BreakKind::CheckpointForged,
        problem: format!(
            "the checkpoint signed for this record does not verify with the audit signing key \
             `{}`: forged or altered",
            checkpoint.key_label
        ),
    }
}

/// Verifies the chain of `checkpoints` (oldest first, as the store lists them): the legacy
/// start, every link, and the signatures `signatures` names, with `verify(digest,
/// signature)` (the caller holds the trusted public key).
///
/// # Errors
/// The first [`ChainBreak`]: a signature that does not verify
/// ([`BreakKind::CheckpointForged`]), a checkpoint that does not link to the one before it
/// or a legacy one after a linked one ([`BreakKind::CheckpointChain`]).
pub fn verify_checkpoints(
    checkpoints: &[Checkpoint],
    verify: impl Fn(&[u8; 48], &[u8]) -> bool,
    signatures: Signatures,
) -> Result<(), ChainBreak> {
    let mut before: Option<(&Checkpoint, [u8; 48])> = None;
    for (i, checkpoint) in checkpoints.iter().enumerate() {
        let digest = checkpoint.digest();
        let newest = i + 1 == checkpoints.len();
        let check_signature =
            signatures == Signatures::Every || newest || checkpoint.prev.is_none();
        if check_signature && !verify(&digest, &checkpoint.signature) {
            return Err(forged(checkpoint));
        }
        let broken = |problem: String| ChainBreak {
            seq: checkpoint.seq,
            kind: BreakKind::CheckpointChain,
            problem,
        };
        match (checkpoint.prev, before) {
            (None, Some((last, _))) if last.prev.is_some() => {
                return Err(broken(format!(
                    "an unlinked checkpoint after the linked checkpoint for record {}: inserted",
                    last.seq
                )));
            }
            (None, _) => {}
            (Some(prev), None) if prev != NO_CHECKPOINT => {
                return Err(broken(
                    "the oldest checkpoint links to a checkpoint the store no longer holds: \
                     checkpoints were removed"
                        .into(),
                ));
            }
            (Some(prev), Some((last, last_digest))) if prev != last_digest => {
                return Err(broken(format!(
                    "does not link to the checkpoint before it (for record {}): a checkpoint \
                     was removed, inserted or replaced",
                    last.seq
                )));
            }
            (Some(_), _) => {}
        }
        before = Some((checkpoint, digest));
    }
    Ok(())
}

/// Requires every checkpoint of `kept` (kept outside the store: the anchor file, an
/// auditor's export named `source`) to carry a valid signature and to be in the store's
/// chain, whose checkpoint digests `held` gives by sequence number.
///
/// # Errors
/// [`BreakKind::CheckpointForged`] for a kept checkpoint whose signature does not verify;
/// [`BreakKind::RolledBack`] for one the store does not hold, or holds differently.
pub fn require_kept(
    kept: &[Checkpoint],
    source: &str,
    held: impl Fn(u64) -> Option<[u8; 48]>,
    verify: impl Fn(&[u8; 48], &[u8]) -> bool,
) -> Result<(), ChainBreak> {
    for checkpoint in kept {
        let digest = checkpoint.digest();
        if !verify(&digest, &checkpoint.signature) {
            let mut broken = forged(checkpoint);
            broken.problem = format!("{source}: {}", broken.problem);
            return Err(broken);
        }
        let problem = match held(checkpoint.seq) {
            Some(stored) if stored == digest => continue,
            Some(_) => "the store holds another checkpoint for this record",
            None => "the store no longer holds it",
        };
        return Err(ChainBreak {
            seq: checkpoint.seq,
            kind: BreakKind::RolledBack,
            problem: format!(
                "{source} keeps the checkpoint signed for this record but {problem}: the trail \
                 and its checkpoints were rolled back or replaced"
            ),
        });
    }
    Ok(())
}

impl From<&Checkpoint> for CheckpointJson {
    /// The JSON form of `checkpoint`.
    fn from(checkpoint: &Checkpoint) -> Self {
        Self {
            seq: checkpoint.seq,
            hash: hex::encode(checkpoint.hash),
            time_ms: checkpoint.time_ms,
            key_label: checkpoint.key_label.clone(),
            prev: checkpoint.prev.map(hex::encode),
            digest: hex::encode(checkpoint.digest()),
            signature: hex::encode(&checkpoint.signature),
        }
    }
}

impl TryFrom<&CheckpointJson> for Checkpoint {
    type Error = String;

    /// Reads `json`, checking that its `digest` is the one its fields give.
    fn try_from(json: &CheckpointJson) -> Result<Self, String> {
        fn hash48(what: &str, text: &str) -> Result<[u8; 48], String> {
            hex::decode(text)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| format!("`{what}` is not 48 bytes of hex"))
        }
        let checkpoint = Self {
            seq: json.seq,
            hash: hash48("hash", &json.hash)?,
            time_ms: json.time_ms,
            key_label: json.key_label.clone(),
            prev: json
                .prev
                .as_deref()
                .map(|prev| hash48("prev", prev))
                .transpose()?,
            signature: hex::decode(&json.signature)
                .map_err(|_| "`signature` is not hex".to_owned())?,
        };
        if hash48("digest", &json.digest)? != checkpoint.digest() {
            return Err("`digest` is not the digest of its fields: altered".into());
        }
        Ok(checkpoint)
    }
}

/// One JSON line (without its newline) for `checkpoint`.
#[must_use]
pub fn to_json_line(checkpoint: &Checkpoint) -> String {
    serde_json::to_string(&CheckpointJson::from(checkpoint)).unwrap_or_default()
}

/// Reads checkpoints written as JSON lines ([`to_json_line`]); blank lines are skipped.
///
/// # Errors
/// The first bad line, by number.
pub fn parse_json_lines(text: &str) -> Result<Vec<Checkpoint>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<CheckpointJson>(line)
                .map_err(|e| e.to_string())
                .and_then(|json| Checkpoint::try_from(&json))
                .map_err(|e| format!("line {}: {e}", i + 1))
        })
        .collect()
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

/// Verifies a trail read in pages: the chain of records, the chain of checkpoints, and
/// every checkpoint against the record it names. Feed records in order with
/// [`TrailVerifier::feed`], then call [`TrailVerifier::finish`].
#[derive(Debug)]
pub struct TrailVerifier {
    seq: u64,
    hash: [u8; HASH_LEN],
    records: u64,
    checkpoints: BTreeMap<u64, Checkpoint>,
    matched: usize,
}

impl TrailVerifier {
    /// Verifies the checkpoint chain and each checkpoint's signature with `verify(digest,
    /// signature)` (the caller holds the trusted public key), and prepares to verify the
    /// records.
    ///
    /// # Errors
    /// As [`verify_checkpoints`].
    pub fn new(
        checkpoints: Vec<Checkpoint>,
        verify: impl Fn(&[u8; 48], &[u8]) -> bool,
    ) -> Result<Self, ChainBreak> {
        verify_checkpoints(&checkpoints, verify, Signatures::Every)?;
        Ok(Self {
            seq: 0,
            hash: GENESIS,
            records: 0,
            checkpoints: checkpoints.into_iter().map(|c| (c.seq, c)).collect(),
            matched: 0,
        })
    }

    /// Requires the checkpoints `kept` outside the store (named `source`) to be in its
    /// chain, as [`require_kept`].
    ///
    /// # Errors
    /// As [`require_kept`].
    pub fn require_kept(
        &self,
        kept: &[Checkpoint],
        source: &str,
        verify: impl Fn(&[u8; 48], &[u8]) -> bool,
    ) -> Result<(), ChainBreak> {
        require_kept(
            kept,
            source,
            |seq| self.checkpoints.get(&seq).map(Checkpoint::digest),
            verify,
        )
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
                    return Err(rewritten(record.seq));
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
            return Err(cut(self.seq, signed));
        }
        Ok(TrailReport {
            records: self.records,
            last_seq: self.seq,
            checkpoints: self.matched,
            signed_through: self.checkpoints.keys().next_back().copied().unwrap_or(0),
        })
    }
}

/// The break of a record that differs from the checkpoint signed over it.
#[must_use]
pub fn rewritten(seq: u64) -> ChainBreak {
    ChainBreak {
        seq,
        kind: BreakKind::TrailRewritten,
        problem: "differs from the signed checkpoint for this record: the trail was rewritten \
                  up to here"
            .into(),
    }
}

/// The break of a trail that ends at `last_seq` while a checkpoint covers `signed`.
#[must_use]
pub fn cut(last_seq: u64, signed: u64) -> ChainBreak {
    ChainBreak {
        seq: last_seq + 1,
        kind: BreakKind::TrailCut,
        problem: format!(
            "missing: the trail ends at record {last_seq} but a signed checkpoint covers up to \
             record {signed}; records were deleted from its end"
        ),
    }
}

#[cfg(test)]
mod tests;
