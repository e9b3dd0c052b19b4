//! The checkpoint chain's logic, with the digest itself standing in for a signature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed expectation is a failed test"
)]

use super::*;
use crate::audit::{AuditEntry, Outcome};

fn chain(n: u8) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = Vec::new();
    for i in 1..=n {
        let (seq, prev) = records.last().map_or((0, GENESIS), |r| (r.seq, r.hash));
        let entry = AuditEntry::event(
            &format!("svc-{i}"),
            "decrypt",
            None,
            Outcome::Allowed,
            String::new(),
        );
        records.push(entry.seal(seq, prev));
    }
    records
}

/// The stand-in signature: the digest itself.
fn sign(mut checkpoint: Checkpoint) -> Checkpoint {
    checkpoint.signature = checkpoint.digest().to_vec();
    checkpoint
}

fn accept(digest: &[u8; 48], signature: &[u8]) -> bool {
    digest.as_slice() == signature
}

/// Linked checkpoints at `seqs`, each after the one before (the first after `start`).
fn linked(records: &[AuditRecord], seqs: &[u64], start: [u8; 48]) -> Vec<Checkpoint> {
    let mut prev = start;
    seqs.iter()
        .map(|&seq| {
            let checkpoint = sign(Checkpoint {
                seq,
                hash: records[usize::try_from(seq).unwrap() - 1].hash,
                time_ms: 7,
                key_label: "audit-signing".into(),
                prev: Some(prev),
                signature: Vec::new(),
            });
            prev = checkpoint.digest();
            checkpoint
        })
        .collect()
}

fn legacy(records: &[AuditRecord], seq: u64) -> Checkpoint {
    let mut checkpoint = linked(records, &[seq], NO_CHECKPOINT).remove(0);
    checkpoint.prev = None;
    sign(checkpoint)
}

fn verify_trail(
    records: &[AuditRecord],
    checkpoints: Vec<Checkpoint>,
) -> Result<TrailReport, ChainBreak> {
    let mut verifier = TrailVerifier::new(checkpoints, accept)?;
    for page in records.chunks(2) {
        verifier.feed(page)?;
    }
    verifier.finish()
}

#[test]
fn linked_checkpoints_verify_on_an_intact_trail_and_report_the_unsigned_tail() {
    let records = chain(6);
    let report = verify_trail(&records, linked(&records, &[2, 4], NO_CHECKPOINT)).expect("intact");
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
fn the_digest_covers_the_previous_checkpoint_and_differs_from_the_legacy_form() {
    let records = chain(2);
    let [a, b]: [Checkpoint; 2] = linked(&records, &[1, 2], NO_CHECKPOINT).try_into().unwrap();
    let mut other = b.clone();
    other.prev = Some([1; 48]);
    assert_ne!(other.digest(), b.digest());
    assert_eq!(b.prev, Some(a.digest()));
    let unlinked = Checkpoint {
        prev: None,
        ..a.clone()
    };
    assert_ne!(unlinked.digest(), a.digest());
}

#[test]
fn a_fully_rewritten_chain_is_caught_at_its_first_checkpoint() {
    let records = chain(6);
    let checkpoints = linked(&records, &[3, 6], NO_CHECKPOINT);
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
    assert_eq!((err.seq, err.kind), (3, BreakKind::TrailRewritten), "{err}");
}

#[test]
fn records_cut_off_the_end_are_caught_by_a_later_checkpoint() {
    let records = chain(6);
    let err = verify_trail(&records[..3], linked(&records, &[5], NO_CHECKPOINT)).unwrap_err();
    assert_eq!((err.seq, err.kind), (4, BreakKind::TrailCut), "{err}");
    assert!(err.problem.contains("deleted from its end"), "{err}");
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_named() {
    let records = chain(4);
    let mut checkpoints = linked(&records, &[1, 2], NO_CHECKPOINT);
    checkpoints[1].signature[0] ^= 1;
    let err = verify_trail(&records, checkpoints).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (2, BreakKind::CheckpointForged),
        "{err}"
    );
}

#[test]
fn a_removed_middle_or_oldest_checkpoint_breaks_the_chain_by_name() {
    let records = chain(6);
    let mut middle = linked(&records, &[2, 4, 6], NO_CHECKPOINT);
    middle.remove(1);
    let err = verify_trail(&records, middle).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (6, BreakKind::CheckpointChain),
        "{err}"
    );

    let mut oldest = linked(&records, &[2, 4, 6], NO_CHECKPOINT);
    oldest.remove(0);
    let err = verify_trail(&records, oldest).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (4, BreakKind::CheckpointChain),
        "{err}"
    );
}

#[test]
fn an_altered_middle_checkpoint_is_caught_by_the_newest_signature_alone() {
    let records = chain(6);
    let mut checkpoints = linked(&records, &[2, 4, 6], NO_CHECKPOINT);
    // Re-"signed" (the stand-in lets anyone sign): only a link can tell.
    checkpoints[1].time_ms = 8;
    checkpoints[1] = sign(checkpoints[1].clone());
    let err = verify_checkpoints(&checkpoints, accept, Signatures::Newest).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (6, BreakKind::CheckpointChain),
        "{err}"
    );
    // With the newest one's signature checked and links intact, the middle ones need none.
    let mut unsigned_middle = linked(&records, &[2, 4, 6], NO_CHECKPOINT);
    unsigned_middle[1].signature.clear();
    assert!(verify_checkpoints(&unsigned_middle, accept, Signatures::Newest).is_ok());
    let err = verify_checkpoints(&unsigned_middle, accept, Signatures::Every).unwrap_err();
    assert_eq!(err.kind, BreakKind::CheckpointForged);
}

#[test]
fn legacy_checkpoints_are_the_chains_start_and_may_not_follow_a_linked_one() {
    let records = chain(6);
    let start = vec![legacy(&records, 1), legacy(&records, 2)];
    let mut checkpoints = start.clone();
    checkpoints.extend(linked(&records, &[4, 6], start[1].digest()));
    verify_trail(&records, checkpoints.clone()).expect("legacy start, then linked");

    // The first linked checkpoint must link to the last legacy one.
    let mut without_last_legacy = checkpoints.clone();
    without_last_legacy.remove(1);
    let err = verify_trail(&records, without_last_legacy).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (4, BreakKind::CheckpointChain),
        "{err}"
    );

    // An unlinked checkpoint slipped in after the chain began.
    let mut inserted = checkpoints.clone();
    inserted.insert(3, legacy(&records, 5));
    let err = verify_trail(&records, inserted).unwrap_err();
    assert_eq!(
        (err.seq, err.kind),
        (5, BreakKind::CheckpointChain),
        "{err}"
    );
}

#[test]
fn a_kept_checkpoint_the_store_no_longer_holds_is_a_rollback() {
    let records = chain(6);
    let all = linked(&records, &[2, 4, 6], NO_CHECKPOINT);
    // The store rolled back to record 4 with its checkpoints: consistent on its own.
    let verifier = TrailVerifier::new(all[..2].to_vec(), accept).expect("consistent");
    verifier
        .require_kept(&all[..2], "kept.jsonl", accept)
        .expect("older kept checkpoints are still there");
    let err = verifier
        .require_kept(&all, "kept.jsonl", accept)
        .unwrap_err();
    assert_eq!((err.seq, err.kind), (6, BreakKind::RolledBack), "{err}");
    assert!(err.problem.contains("kept.jsonl"), "{err}");

    // A store that re-signed record 4 differently (another time) is caught too.
    let mut resigned = all[..2].to_vec();
    resigned[1].time_ms = 9;
    resigned[1] = sign(resigned[1].clone());
    let verifier = TrailVerifier::new(resigned, accept).expect("consistent");
    let err = verifier
        .require_kept(&all[..2], "kept.jsonl", accept)
        .unwrap_err();
    assert_eq!((err.seq, err.kind), (4, BreakKind::RolledBack), "{err}");

    let mut forged = all[2].clone();
    forged.signature[0] ^= 1;
    let err = require_kept(&[forged], "kept.jsonl", |_| None, accept).unwrap_err();
    assert_eq!(err.kind, BreakKind::CheckpointForged);
}

#[test]
fn json_lines_round_trip_and_an_altered_line_is_named() {
    let records = chain(4);
    let mut checkpoints = vec![legacy(&records, 1)];
    checkpoints.extend(linked(&records, &[3], checkpoints[0].digest()));
    let text: String = checkpoints.iter().map(|c| to_json_line(c) + "\n").collect();
    assert_eq!(parse_json_lines(&text).expect("round trip"), checkpoints);
    let altered = text.replacen("\"seq\":3", "\"seq\":2", 1);
    let err = parse_json_lines(&altered).unwrap_err();
    assert!(
        err.starts_with("line 2:") && err.contains("altered"),
        "{err}"
    );
    assert!(
        parse_json_lines("{\"seq\":1}\n")
            .unwrap_err()
            .starts_with("line 1:")
    );
}

#[test]
fn checkpoint_digests_are_the_bytes_the_earlier_implementation_signed() {
    use sha2::{Digest as _, Sha384};
    let before = |seq: u64, hash: &[u8; 48], time_ms: i64, prev: Option<&[u8; 48]>| {
        let mut h = Sha384::new();
        let tag: &[u8] = match prev {
            None => b"kastell-audit-checkpoint-v1",
            Some(_) => b"kastell-audit-checkpoint-v2",
        };
        h.update(u64::try_from(tag.len()).unwrap().to_be_bytes());
        h.update(tag);
        h.update(seq.to_be_bytes());
        h.update(hash);
        h.update(time_ms.to_be_bytes());
        if let Some(prev) = prev {
            h.update(prev);
        }
        <[u8; 48]>::from(h.finalize())
    };
    for prev in [None, Some(NO_CHECKPOINT), Some([9; 48])] {
        assert_eq!(
            checkpoint_digest(256, &[7; 48], 1_764_064_800_000, prev.as_ref()),
            before(256, &[7; 48], 1_764_064_800_000, prev.as_ref()),
            "{prev:?}"
        );
    }
}
