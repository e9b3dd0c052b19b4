//! The copy against real databases: SQLite always, PostgreSQL when the test cluster is up
//! (`scripts/postgres-env`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kastell_proto::{KeyId, KeySpec, KeyUsage, OperationClass, Origin};

use super::endpoint::Connection;
use super::*;
use crate::audit::{AuditEntry, Checkpoint, NO_CHECKPOINT, Outcome};
use crate::model::{Alias, KeyRecord, KeyState, KeyVersion, Material};
use crate::store::Store;
use crate::store::testing::{Backend, TestStore, test_stores};

fn location(store: &TestStore) -> StoreLocation {
    match store.backend {
        Backend::Sqlite => StoreLocation::Sqlite(store.sqlite_path()),
        Backend::Postgres => {
            StoreLocation::Postgres(Box::new(store.postgres_options().expect("pg").clone()))
        }
    }
}

fn key(n: u8, releasable: bool) -> KeyRecord {
    KeyRecord {
        id: KeyId::random(),
        spec: KeySpec::Aes256,
        usage: KeyUsage::of(KeySpec::Aes256),
        origin: Origin::Wrapped,
        state: KeyState::Enabled,
        description: format!("key {n} ünïcode"),
        tags: BTreeMap::from([("team".to_owned(), format!("t{n}"))]),
        policy: None,
        created: 1_764_064_800,
        min_decrypt_version: 1,
        versions: vec![KeyVersion {
            number: 1,
            created: 1_764_064_800,
            material: Material::Wrapped {
                master: "kastell-master".into(),
                wrapped: vec![n; 40],
            },
            automatic: false,
        }],
        releasable,
        revision: 0,
        seal: None,
        rotation: None,
        key_policy: None,
        grants: Vec::new(),
        imported: None,
        materials: Vec::new(),
    }
}

fn event(what: &str) -> AuditEntry {
    AuditEntry::event("cli:test", what, None, Outcome::Allowed, String::new())
}

/// A store with keys (one releasable: a boolean column), an alias, quorum settings, audit
/// records and a linked checkpoint.
fn fill(store: &Arc<dyn Store>) -> Vec<KeyRecord> {
    store.append_audit(event("init")).expect("record");
    let keys = vec![key(1, false), key(2, true)];
    for k in &keys {
        store.create_key(k, None).expect("key");
        store.append_audit(event("create-key")).expect("record");
    }
    let alias: Alias = "alias/copied".parse().expect("alias");
    store.set_alias(&alias, &keys[0].id).expect("alias");
    store
        .set_quorum_required(OperationClass::ExportBackup, 2, event("set-quorum"))
        .expect("quorum");
    let (seq, hash) = store.audit_head().expect("head").expect("records");
    let checkpoint = Checkpoint {
        seq,
        hash,
        time_ms: 1,
        key_label: "kastell-audit".into(),
        prev: Some(NO_CHECKPOINT),
        signature: vec![7; 96],
    };
    assert!(store.add_checkpoint(&checkpoint).expect("checkpoint"));
    keys
}

/// Every record, checkpoint, key and alias of `store`.
fn contents(store: &Arc<dyn Store>) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.audit_range(0, 1000).expect("trail"),
        store.checkpoints().expect("checkpoints"),
        store.list_keys(None, 100).expect("keys"),
        store.list_aliases(None, 100).expect("aliases"),
        store
            .quorum_required(OperationClass::ExportBackup)
            .expect("quorum"),
    )
}

#[test]
fn every_schema_table_is_in_the_copy_list() {
    for store in test_stores() {
        drop(store.open().expect("open"));
        let mut conn = Connection::open(&location(&store)).expect("connect");
        let mut side = conn.snapshot().expect("snapshot");
        let tables = side.tables().expect("tables");
        for table in &tables {
            assert!(
                COPIED_TABLES.contains(&table.as_str()) || NOT_COPIED.contains(&table.as_str()),
                "{}: table `{table}` is in the schema but not in store::copy::COPIED_TABLES \
                 (add it there, after the tables its foreign keys name)",
                store.name()
            );
        }
        for table in COPIED_TABLES {
            assert!(
                tables.iter().any(|t| t == table),
                "{}: COPIED_TABLES names `{table}`, which the schema lacks",
                store.name()
            );
        }
    }
}

#[test]
fn a_copy_holds_every_row_and_its_trail_verifies_on_both_sides() {
    let Some(pg) = TestStore::postgres() else {
        return;
    };
    let sqlite = TestStore::sqlite();
    let source = sqlite.open().expect("open");
    fill(&source);
    let before = contents(&source);
    drop(source);
    let report = copy(&location(&sqlite), &location(&pg), None, &()).expect("copy to pg");
    assert_eq!(report.audit_records, 4);
    assert_eq!(report.audit_head, 4);
    assert_eq!(report.checkpoints, 1);
    let rows: BTreeMap<_, _> = report
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    assert_eq!(rows["keys"], 2);
    assert_eq!(rows["key_versions"], 2);
    assert_eq!(rows["aliases"], 1);
    assert_eq!(rows["quorum_settings"], 1);
    assert_eq!(contents(&pg.open().expect("open pg")), before);

    // And back, into a new SQLite file.
    let back = TestStore::sqlite();
    copy(&location(&pg), &location(&back), None, &()).expect("copy back");
    assert_eq!(contents(&back.open().expect("open back")), before);
}

#[test]
fn a_target_that_holds_state_is_refused_and_left_as_it_was() {
    for target in test_stores() {
        let source = TestStore::sqlite();
        fill(&source.open().expect("open"));
        let existing = target.open().expect("open target");
        existing.append_audit(event("init")).expect("record");
        let before = contents(&existing);
        drop(existing);
        let err = copy(&location(&source), &location(&target), None, &()).expect_err("refused");
        assert!(
            matches!(&err, CopyError::TargetNotEmpty { table, .. } if table == "audit"),
            "{}: {err}",
            target.name()
        );
        assert_eq!(err.code(), ErrorCode::AlreadyExists);
        assert_eq!(contents(&target.open().expect("reopen")), before);
    }
}

#[test]
fn a_source_whose_trail_was_edited_is_refused_and_nothing_is_copied() {
    for source in test_stores() {
        fill(&source.open().expect("open"));
        source
            .sql("UPDATE audit SET principal = 'someone-else' WHERE seq = 2")
            .expect("edit");
        let target = TestStore::sqlite();
        let err = copy(&location(&source), &location(&target), None, &()).expect_err("refused");
        assert!(
            matches!(&err, CopyError::SourceTrail(b) if b.seq == 2),
            "{}: {err}",
            source.name()
        );
        assert_eq!(err.code(), ErrorCode::TamperDetected);
        assert!(
            !target.sqlite_path().exists(),
            "the SQLite target made for the copy is removed again"
        );
    }
}

#[test]
fn checkpoint_signatures_are_checked_when_a_key_is_given() {
    let source = TestStore::sqlite();
    fill(&source.open().expect("open"));
    let target = TestStore::sqlite();
    let reject = |_: &[u8; 48], _: &[u8]| false;
    let err = copy(&location(&source), &location(&target), Some(&reject), &())
        .expect_err("forged checkpoint");
    assert!(matches!(err, CopyError::SourceTrail(_)), "{err}");
    let accept = |_: &[u8; 48], _: &[u8]| true;
    let report = copy(&location(&source), &location(&target), Some(&accept), &()).expect("copied");
    assert!(report.signatures_verified);
}

#[test]
fn a_store_is_not_copied_onto_itself() {
    let store = TestStore::sqlite();
    fill(&store.open().expect("open"));
    let err = copy(&location(&store), &location(&store), None, &()).expect_err("refused");
    assert!(matches!(err, CopyError::SameStore(_)), "{err}");
}

#[test]
fn a_missing_sqlite_source_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = StoreLocation::Sqlite(dir.path().join("nothing.db"));
    let target = TestStore::sqlite();
    let err = copy(&missing, &location(&target), None, &()).expect_err("refused");
    assert!(err.to_string().contains("no SQLite store at"), "{err}");
    assert!(!dir.path().join("nothing.db").exists());
}

#[test]
fn locations_parse_and_bad_ones_are_named() {
    assert!(matches!(
        StoreLocation::parse("sqlite:/tmp/k.db").expect("sqlite"),
        StoreLocation::Sqlite(p) if p == std::path::Path::new("/tmp/k.db")
    ));
    assert!(matches!(
        StoreLocation::parse("postgres://kastell@127.0.0.1/k").expect("pg"),
        StoreLocation::Postgres(_)
    ));
    for (bad, says) in [
        ("sqlite:", "names no file"),
        ("/var/lib/kastell.db", "not a store location"),
        ("postgres://kastell:hunter2@127.0.0.1/k", "holds a password"),
    ] {
        let err = StoreLocation::parse(bad).expect_err(bad);
        assert!(err.to_string().contains(says), "{bad}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn a_postgres_snapshot_is_a_sqlite_store_with_the_same_state() {
    let Some(pg) = TestStore::postgres() else {
        return;
    };
    let store = pg.open().expect("open");
    fill(&store);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snapshot.db");
    store.snapshot_to(&path).expect("snapshot");
    let snapshot: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::open(&path).expect("open"));
    assert_eq!(contents(&snapshot), contents(&store));
    let err = store.snapshot_to(&path).expect_err("never replaces a file");
    assert!(err.to_string().contains("never replaces"), "{err}");
}

#[test]
fn a_postgres_snapshot_taken_while_records_are_appended_is_one_consistent_state() {
    let Some(pg) = TestStore::postgres() else {
        return;
    };
    let store = pg.open().expect("open");
    fill(&store);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.append_audit(event("encrypt")).expect("record");
                n += 1;
            }
            n
        })
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut heads = Vec::new();
    for i in 0..5 {
        let path = dir.path().join(format!("snapshot-{i}.db"));
        // The copy verifies the trail on both sides: a snapshot that caught half of the
        // concurrent commits would not verify.
        store.snapshot_to(&path).expect("snapshot under load");
        let snapshot = crate::store::SqliteStore::open(&path).expect("open");
        let (seq, _) = snapshot.audit_head().expect("head").expect("records");
        assert_eq!(
            snapshot.audit_range(0, 100_000).expect("trail").len() as u64,
            seq,
            "every record up to the snapshot's head, none after"
        );
        heads.push(seq);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = writer.join().expect("writer");
    assert!(appended > 0, "records were appended meanwhile");
    assert!(heads.windows(2).all(|w| w[0] <= w[1]), "{heads:?}");
}
