//! The PostgreSQL store against a real cluster (`scripts/postgres-env`): group commit,
//! calls from the server's kind of threads, and bad connection settings refused by name.
//! Skipped with a printed reason when no cluster is configured, required under CI.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::sync::Arc;

use secrecy::SecretString;

use super::{PostgresOptions, PostgresStore};
use crate::audit::{AuditEntry, GENESIS, Outcome, verify_chain};
use crate::store::testing::TestStore;
use crate::store::{Store as _, StoreError};

fn entry(n: usize) -> AuditEntry {
    AuditEntry::event(
        &format!("caller-{n}"),
        "encrypt",
        None,
        Outcome::Allowed,
        String::new(),
    )
}

fn open(test: &TestStore) -> PostgresStore {
    PostgresStore::open(test.postgres_options().expect("postgres")).expect("open")
}

#[test]
fn concurrent_appends_are_committed_in_groups_and_chain_in_commit_order() {
    const THREADS: usize = 16;
    const EACH: usize = 40;
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let store = open(&test);
    let returned = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &store;
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| store.append_audit(entry(t * EACH + i)).expect("append"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect::<Vec<_>>()
    });
    assert!(
        store.group_commits() < (THREADS * EACH) as u64,
        "{} commits for {} records: none was grouped",
        store.group_commits(),
        THREADS * EACH
    );
    drop(store);
    let reopened = open(&test);
    let trail = reopened.audit_range(0, u32::MAX).expect("read");
    assert_eq!(trail.len(), THREADS * EACH);
    verify_chain(&trail, 0, GENESIS).expect("one chain");
    for record in &returned {
        let stored = &trail[usize::try_from(record.seq).unwrap() - 1];
        assert_eq!((stored.hash, &stored.entry), (record.hash, &record.entry));
    }
}

#[test]
fn a_batch_of_records_with_every_field_set_or_empty_reads_back_as_sealed() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let store = open(&test);
    let full = |n: u8| AuditEntry {
        time_ms: 1_764_064_800_000 + i64::from(n),
        principal: format!("svc-{n}"),
        operation: "decrypt".into(),
        key: Some(kastell_proto::KeyId::from_bytes([n; 16])),
        key_version: Some(u32::from(n)),
        policy: Some(kastell_attest::Measurement::of(&[n])),
        outcome: Outcome::Denied,
        reason: format!("reason {n}: ünïcödé"),
        context_hmac: Some([n; 48]),
        guest: Some(kastell_attest::Measurement::of(b"guest")),
    };
    // Queued together, so that most go in one group commit: rows of every shape in one
    // multi-row INSERT.
    let tickets: Vec<_> = (0..40u8)
        .map(|n| {
            store.queue_audit(if n % 2 == 0 {
                full(n)
            } else {
                entry(usize::from(n))
            })
        })
        .collect();
    let returned: Vec<_> = tickets
        .into_iter()
        .map(|t| t.wait().expect("committed"))
        .collect();
    assert!(store.group_commits() < 40, "nothing was grouped");
    drop(store);
    let trail = open(&test).audit_range(0, u32::MAX).expect("read");
    verify_chain(&trail, 0, GENESIS).expect("one chain");
    assert_eq!(trail, returned);
}

#[test]
fn a_group_commit_that_fails_leaves_its_connection_usable_for_the_next() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let store = PostgresStore::open(
        &test
            .postgres_options()
            .expect("postgres")
            .clone()
            .with_max_connections(2),
    )
    .expect("open");
    store.append_audit(entry(1)).expect("first record");
    // PostgreSQL refuses a NUL in text: the batch's INSERT fails inside its transaction.
    let err = store
        .append_audit(AuditEntry::event(
            "nul\0byte",
            "encrypt",
            None,
            Outcome::Allowed,
            String::new(),
        ))
        .expect_err("refused by the database");
    assert!(matches!(err, StoreError::GroupCommit(_)), "{err}");
    // The failed transaction was rolled back: the records after it commit on the same
    // connections and chain to the last committed record.
    for n in 2..10 {
        let record = store
            .append_audit(entry(n))
            .expect("appended after the failure");
        assert_eq!(record.seq, u64::try_from(n).unwrap());
    }
    let trail = store.audit_range(0, u32::MAX).expect("read");
    verify_chain(&trail, 0, GENESIS).expect("one chain");
    assert_eq!(trail.len(), 9);
}

/// The server calls the store from `spawn_blocking` threads and on its workers, and awaits
/// audit tickets on its workers; the last reference to the store may be dropped on a worker. None of it may
/// panic (the client runs a small runtime of its own per connection).
#[test]
fn the_store_works_from_blocking_threads_and_is_dropped_on_an_async_worker() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(open(&test));
    let seqs = runtime.block_on(async {
        let mut seqs = Vec::new();
        for n in 0..8 {
            let store = Arc::clone(&store);
            let ticket = tokio::task::spawn_blocking(move || {
                store.audit_head().expect("read from a blocking thread");
                store.queue_audit(entry(n))
            })
            .await
            .expect("blocking task");
            seqs.push(ticket.await.expect("committed").seq);
        }
        // On a worker itself, as key operations of an in-memory token run.
        let inline = Arc::clone(&store);
        tokio::spawn(async move { inline.audit_head().expect("read on a worker") })
            .await
            .expect("no panic on a worker");
        seqs
    });
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    runtime.block_on(async move {
        tokio::spawn(async move { drop(store) })
            .await
            .expect("dropped on a worker without a panic");
    });
}

#[test]
fn a_wrong_password_is_refused_as_credentials() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let options = test
        .postgres_options()
        .expect("postgres")
        .clone()
        .with_password(SecretString::from("not-the-password"));
    let err = PostgresStore::open(&options).expect_err("a wrong password");
    assert!(matches!(err, StoreError::Credentials(_)), "{err}");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-password"), "{err}");
}

#[test]
fn an_unreachable_database_is_unavailable() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let options =
        PostgresOptions::new(&format!("postgres://kastell@127.0.0.1:{port}/kastell")).expect("url");
    let err = PostgresStore::open(&options).expect_err("nothing listens");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().starts_with("store unavailable"), "{err}");
}

#[test]
fn a_database_of_a_newer_schema_is_refused_and_left_alone() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    drop(open(&test));
    test.sql("UPDATE kastell_schema SET version = 99")
        .expect("a newer schema");
    let err = PostgresStore::open(test.postgres_options().expect("postgres")).expect_err("newer");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported < 99),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Kastell"), "{err}");
}

#[test]
fn hosts_starting_together_upgrade_the_schema_once() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    let options = test.postgres_options().expect("postgres");
    let opened: Vec<_> = std::thread::scope(|scope| {
        let hosts: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PostgresStore::open(options)))
            .collect();
        hosts.into_iter().map(|h| h.join().expect("host")).collect()
    });
    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
    }
    drop(opened);
    test.sql(
        "DO $$ BEGIN IF (SELECT count(*) FROM kastell_schema) <> 1 THEN
             RAISE EXCEPTION 'schema recorded more than once'; END IF; END $$",
    )
    .expect("one schema version row");
}
