//! Attacks on the audit trail's signed checkpoints (issue 16, point 6), each performed on a
//! real deployment's SQLite file with rusqlite while its server is stopped: cutting the
//! trail, rolling back the trail with its newest checkpoints, rewriting and re-hashing
//! records and then re-running the real checkpoint command, removing a checkpoint. Each is
//! refused by name: `kastell serve` does not start, `kastell audit verify` exits 1, both
//! with `TamperDetected` and the break's name. A rollback of the store together with the
//! anchor file is caught by the checkpoints an auditor kept elsewhere.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::PathBuf;

use kastell_core::audit::{AuditRecord, GENESIS};
use kastell_core::store::{SqliteStore, Store as _};
use kastell_tests::server::TestServer;
use kastell_tests::text;
use rusqlite::Connection;
use serde_json::{Value, json};

/// `n` keys created by the officer: records for the trail.
fn activity(server: &TestServer, n: usize) {
    let officer = server.client(&server.officer()).expect("officer");
    for _ in 0..n {
        officer
            .post::<Value>("/v1/keys", &json!({ "spec": "AES_256" }))
            .expect("create key");
    }
}

/// A served deployment whose trail carries three linked checkpoints: each stop signs the
/// head, so three rounds of activity, each ended by a stop (the server stays stopped).
fn three_checkpoints() -> TestServer {
    let mut server = TestServer::start_soft().expect("server");
    for round in 0..3 {
        activity(&server, 3);
        if round < 2 {
            server.restart().expect("restart");
        }
    }
    server.stop().expect("stop");
    assert_eq!(checkpoints(&server).len(), 3, "one checkpoint per stop");
    server
}

fn db_path(server: &TestServer) -> PathBuf {
    server.deployment().data_dir().join("kastell.db")
}

fn anchor_path(server: &TestServer) -> PathBuf {
    server.deployment().data_dir().join("audit-anchor.jsonl")
}

fn db(server: &TestServer) -> Connection {
    Connection::open(db_path(server)).expect("open the database")
}

/// The sequence numbers the checkpoints cover, oldest first.
fn checkpoints(server: &TestServer) -> Vec<i64> {
    let conn = db(server);
    let mut stmt = conn
        .prepare("SELECT seq FROM audit_checkpoints ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `kastell <args> --config <the deployment's>`: exit code, stdout, stderr.
fn kastell(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let config = server.deployment().config().display().to_string();
    let mut all = args.to_vec();
    all.extend(["--config", &config]);
    let out = server.kastell(&all).expect("run kastell");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `kastell audit verify` (with `extra` arguments) fails with exit 1, `TamperDetected` and
/// the break named `kind`.
fn verify_fails(server: &TestServer, extra: &[&str], kind: &str) -> String {
    let mut args = vec!["audit", "verify"];
    args.extend(extra);
    let (code, stdout, stderr) = kastell(server, &args);
    assert_eq!(code, 1, "audit verify must fail: {stdout}{stderr}");
    assert!(
        stderr.contains("TamperDetected: audit trail broken"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("({kind})")),
        "named {kind}: {stderr}"
    );
    stderr
}

fn verify_passes(server: &TestServer, extra: &[&str]) -> String {
    let mut args = vec!["audit", "verify"];
    args.extend(extra);
    let (code, stdout, stderr) = kastell(server, &args);
    assert_eq!(code, 0, "audit verify must pass: {stdout}{stderr}");
    assert!(stdout.contains("audit trail intact"), "{stdout}");
    stdout
}

/// The server does not start, naming `TamperDetected` and the break `kind`.
fn start_refused(server: &mut TestServer, kind: &str) {
    let refused = server
        .resume()
        .expect_err("the server must refuse to start")
        .to_string();
    assert!(refused.contains("TamperDetected"), "{refused}");
    assert!(
        refused.contains(&format!("({kind})")),
        "named {kind}: {refused}"
    );
    assert!(refused.contains("refusing to start"), "{refused}");
}

/// Deletes the records after `seq` and the checkpoints after it: a state the store alone
/// shows as consistent (as if the trail had stopped at `seq`).
fn roll_back_to(server: &TestServer, seq: i64) {
    let conn = db(server);
    conn.execute("DELETE FROM audit WHERE seq > ?1", [seq])
        .unwrap();
    conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?1", [seq])
        .unwrap();
}

fn records(server: &TestServer) -> Vec<AuditRecord> {
    let store = SqliteStore::open(&db_path(server)).expect("store");
    store.audit_range(0, 100_000).expect("records")
}

/// Rewrites record `seq` (its principal becomes `mallory`) and re-hashes every record from
/// there on, as someone with the database but without the signing key would: the record
/// chain alone verifies again.
fn rewrite_and_rehash(server: &TestServer, seq: u64) {
    let all = records(server);
    let conn = db(server);
    let mut prev = all
        .iter()
        .find(|r| r.seq == seq - 1)
        .map_or(GENESIS, |r| r.hash);
    for record in all.iter().filter(|r| r.seq >= seq) {
        let mut entry = record.entry.clone();
        if record.seq == seq {
            entry.principal = "mallory".into();
        }
        let sealed = entry.seal(record.seq - 1, prev);
        conn.execute(
            "UPDATE audit SET principal = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            rusqlite::params![
                sealed.entry.principal,
                sealed.prev_hash.to_vec(),
                sealed.hash.to_vec(),
                i64::try_from(sealed.seq).unwrap()
            ],
        )
        .unwrap();
        prev = sealed.hash;
    }
    let rewritten = records(server);
    assert!(
        kastell_core::audit::verify_chain(&rewritten, 0, GENESIS).is_ok(),
        "the re-hashed chain verifies on its own"
    );
}

/// After normal operation and restarts the trail verifies, with the anchor and with the
/// checkpoints an auditor exported; the server keeps starting; the chain is linked.
#[test]
fn the_trail_verifies_after_normal_operation_and_restarts() {
    let mut server = three_checkpoints();
    let kept = server.deployment().data_dir().join("../kept.jsonl");
    let kept_text = kept.display().to_string();
    kastell(&server, &["audit", "checkpoints", "--out", &kept_text]);
    let lines: Vec<Value> = std::fs::read_to_string(&kept)
        .expect("export written")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["prev"], "00".repeat(48), "the chain's first link");
    assert_eq!(lines[1]["prev"], lines[0]["digest"], "linked");
    assert_eq!(lines[2]["prev"], lines[1]["digest"], "linked");
    let anchor: Value = serde_json::from_str(
        std::fs::read_to_string(anchor_path(&server))
            .unwrap()
            .trim(),
    )
    .expect("anchor");
    assert_eq!(anchor, lines[2], "the anchor keeps the newest checkpoint");

    let stdout = verify_passes(&server, &["--checkpoints", &kept_text]);
    assert!(stdout.contains("3 signed checkpoints"), "{stdout}");
    server.resume().expect("starts again");
    activity(&server, 2);
    server.restart().expect("restarts");
    server.stop().expect("stop");
    assert_eq!(
        checkpoints(&server).len(),
        4,
        "one more: the last stop had nothing new to sign"
    );
    // Older kept checkpoints stay valid as the trail grows.
    verify_passes(&server, &["--checkpoints", &kept_text]);
    let (code, out, err) = kastell(&server, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already covers"), "{out}");
}

/// (a) The newest records and the newest checkpoint are deleted together: the store alone
/// is consistent, but the anchor file names the deleted checkpoint. A cut of the records
/// alone is named too.
#[test]
fn a_rolled_back_tail_with_its_newest_checkpoint_is_refused_by_name() {
    let mut server = three_checkpoints();
    let seqs = checkpoints(&server);

    let conn = db(&server);
    conn.execute("DELETE FROM audit WHERE seq > ?1", [seqs[2] - 2])
        .unwrap();
    drop(conn);
    start_refused(&mut server, "trail-cut");
    verify_fails(&server, &[], "trail-cut");

    roll_back_to(&server, seqs[1]);
    start_refused(&mut server, "rolled-back");
    let why = verify_fails(&server, &[], "rolled-back");
    assert!(
        why.contains("audit-anchor.jsonl"),
        "names the anchor: {why}"
    );
    // Verifying with the public key alone (no token) reads the anchor too.
    let pem = server.deployment().data_dir().join("../audit.pem");
    std::fs::write(&pem, kastell(&server, &["audit", "public-key"]).1).unwrap();
    verify_fails(
        &server,
        &["--public-key", &pem.display().to_string()],
        "rolled-back",
    );
    // The real checkpoint command refuses to sign over it.
    let (code, _, err) = kastell(&server, &["audit", "checkpoint"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refusing to sign") && err.contains("(rolled-back)"),
        "{err}"
    );
}

/// (b) A record inside the signed trail is rewritten and every later record re-hashed; then
/// the real `kastell audit checkpoint` is run to sign the new head. It refuses; so does the
/// server, and verification names the rewrite. Deleting the checkpoints over the rewritten
/// records as well does not help: the anchor names the newest of them.
#[test]
fn a_rewritten_and_rehashed_trail_is_never_re_signed() {
    let mut server = three_checkpoints();
    let seqs = checkpoints(&server);
    let target = u64::try_from(seqs[0]).unwrap() + 1;
    rewrite_and_rehash(&server, target);

    let (code, _, err) = kastell(&server, &["audit", "checkpoint"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("TamperDetected") && err.contains("refusing to sign"),
        "{err}"
    );
    assert!(err.contains("(trail-rewritten)"), "{err}");
    assert_eq!(checkpoints(&server), seqs, "nothing signed");
    start_refused(&mut server, "trail-rewritten");
    verify_fails(&server, &[], "trail-rewritten");

    // Drop every checkpoint over the rewritten records, then sign again.
    db(&server)
        .execute(
            "DELETE FROM audit_checkpoints WHERE seq >= ?1",
            [i64::try_from(target).unwrap()],
        )
        .unwrap();
    let (code, _, err) = kastell(&server, &["audit", "checkpoint"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refusing to sign") && err.contains("(rolled-back)"),
        "{err}"
    );
    assert_eq!(checkpoints(&server), vec![seqs[0]], "nothing signed");
    start_refused(&mut server, "rolled-back");
    verify_fails(&server, &[], "rolled-back");
}

/// (c) A checkpoint in the middle of the chain is deleted: the next one no longer links.
#[test]
fn a_removed_middle_checkpoint_breaks_the_chain_by_name() {
    let mut server = three_checkpoints();
    let seqs = checkpoints(&server);
    db(&server)
        .execute("DELETE FROM audit_checkpoints WHERE seq = ?1", [seqs[1]])
        .unwrap();
    start_refused(&mut server, "checkpoint-chain-broken");
    let why = verify_fails(&server, &[], "checkpoint-chain-broken");
    assert!(why.contains(&format!("record #{}", seqs[2])), "{why}");
}

/// (d) The store and the anchor file are rolled back together (as a restored snapshot of
/// the data directory would be): the deployment alone is consistent and starts, but the
/// checkpoints an auditor exported earlier and kept elsewhere name the rollback.
#[test]
fn checkpoints_kept_elsewhere_catch_a_rollback_the_deployment_cannot_see() {
    let mut server = three_checkpoints();
    let seqs = checkpoints(&server);
    let kept = server.deployment().data_dir().join("../auditor-kept.jsonl");
    let kept_text = kept.display().to_string();
    let (code, out, err) = kastell(&server, &["audit", "checkpoints", "--out", &kept_text]);
    assert_eq!(code, 0, "{out}{err}");

    // The attacker rolls the store back to the second checkpoint and writes the anchor
    // file as it was then.
    roll_back_to(&server, seqs[1]);
    let (_, older, _) = kastell(&server, &["audit", "checkpoints", "--newest"]);
    std::fs::write(anchor_path(&server), older).unwrap();

    verify_passes(&server, &[]);
    server
        .resume()
        .expect("the deployment alone sees nothing wrong");
    server.stop().expect("stop");
    let why = verify_fails(&server, &["--checkpoints", &kept_text], "rolled-back");
    assert!(
        why.contains("auditor-kept.jsonl"),
        "names the kept file: {why}"
    );
    assert!(why.contains(&format!("record #{}", seqs[2])), "{why}");
}

/// A deleted anchor file is refused once the store holds linked checkpoints (it is made
/// before the first one is stored), not silently recreated.
#[test]
fn a_deleted_anchor_file_is_refused() {
    let mut server = three_checkpoints();
    std::fs::remove_file(anchor_path(&server)).unwrap();
    start_refused(&mut server, "rolled-back");
    let why = verify_fails(&server, &[], "rolled-back");
    assert!(why.contains("is missing"), "{why}");
    // The documented repair: after checking against kept checkpoints, restore it.
    let anchor = anchor_path(&server).display().to_string();
    let (code, out, err) = kastell(
        &server,
        &["audit", "checkpoints", "--newest", "--out", &anchor],
    );
    assert_eq!(code, 0, "{out}{err}");
    server.resume().expect("starts with the anchor restored");
    server.stop().expect("stop");
}

/// A deployment upgraded from unlinked checkpoints (schema v11): the migration keeps them
/// as the chain's legacy start, each verified by its own signature; the first checkpoint
/// signed after the upgrade links to the last of them, so removing that one is named.
#[test]
fn unlinked_checkpoints_of_an_older_store_are_the_chains_legacy_start() {
    use kastell_core::audit::{AuditEntry, Outcome, checkpoint_digest};
    use kastell_core::keys::ServiceKeys;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let token: Arc<dyn kastell_core::token::Token> =
        Arc::new(kastell_tests::soft_token(dir.path()).unwrap());
    let keys = ServiceKeys::default();
    let event = |service: &kastell_core::keys::KeyService| {
        service
            .record_entry(AuditEntry::event(
                "ops",
                "test-event",
                None,
                Outcome::Allowed,
                String::new(),
            ))
            .unwrap()
    };
    let head = {
        let (service, _, _) =
            kastell_tests::key_service(dir.path(), Arc::clone(&token), keys.clone(), &[]);
        for _ in 0..3 {
            event(&service);
        }
        event(&service)
    };
    // The store as the previous release left it: version 11 (no v12 checkpoint link, no
    // v13 access keys, no v14 seals, no v15 usage, no v16 rotation), an unlinked checkpoint
    // signed over the v1 digest.
    let db = dir.path().join("kastell.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP INDEX keys_rotation_due; ALTER TABLE keys DROP COLUMN next_rotation; \
         ALTER TABLE keys DROP COLUMN rotation_period_days; \
         ALTER TABLE key_versions DROP COLUMN automatic; \
         ALTER TABLE audit_checkpoints DROP COLUMN prev; DROP TABLE access_keys; \
         ALTER TABLE keys DROP COLUMN seal; ALTER TABLE aliases DROP COLUMN seal; \
         ALTER TABLE keys DROP COLUMN usage; ALTER TABLE keys DROP COLUMN key_policy; \
         ALTER TABLE keys DROP COLUMN grants; DROP INDEX keys_with_materials; \
         ALTER TABLE keys DROP COLUMN materials; DROP INDEX keys_material_expiry; \
         ALTER TABLE keys DROP COLUMN material_expires; \
         ALTER TABLE keys DROP COLUMN material_id; \
         PRAGMA user_version = 11;",
    )
    .unwrap();
    let digest = checkpoint_digest(head.seq, &head.hash, 7, None);
    let signature = token.sign_digest(&keys.audit_signing, &digest).unwrap();
    conn.execute(
        "INSERT INTO audit_checkpoints (seq, hash, time_ms, key_label, signature) VALUES (?1, ?2, 7, ?3, ?4)",
        rusqlite::params![i64::try_from(head.seq).unwrap(), head.hash.to_vec(), keys.audit_signing, signature],
    )
    .unwrap();
    drop(conn);

    let (service, store, _) =
        kastell_tests::key_service(dir.path(), Arc::clone(&token), keys.clone(), &[]);
    let legacy = store
        .last_checkpoint()
        .unwrap()
        .expect("kept by the migration");
    assert_eq!(legacy.prev, None, "legacy");
    event(&service);
    let linked = service.checkpoint().unwrap().expect("signed");
    assert_eq!(
        linked.prev,
        Some(legacy.digest()),
        "links to the legacy start"
    );
    let report = service.verify_audit(&[]).unwrap().expect("verifies");
    assert_eq!(report.checkpoints, 2);
    service.check_audit().unwrap().expect("continuity holds");

    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM audit_checkpoints WHERE prev IS NULL", [])
        .unwrap();
    let broken = service.verify_audit(&[]).unwrap().unwrap_err();
    assert_eq!(
        broken.kind,
        kastell_core::audit::BreakKind::CheckpointChain,
        "{broken}"
    );
    let broken = service.check_audit().unwrap().unwrap_err();
    assert_eq!(
        broken.kind,
        kastell_core::audit::BreakKind::CheckpointChain,
        "{broken}"
    );
}
