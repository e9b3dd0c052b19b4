//! Shared state in the store (issue 20), on every backend this machine runs (SQLite, and
//! PostgreSQL when `KASTELL_TEST_POSTGRES_URL` is set; required under CI), each case through
//! two handles on one database as two hosts hold them: a release nonce is taken once
//! whichever handle issued it, with its limits and expiry; components are shared by
//! measurement; every change a host may cache moves the change counter, and on PostgreSQL
//! the other handle hears of it by notice.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use kastell_attest::Measurement;
use kastell_core::audit::{AuditEntry, Outcome};
use kastell_core::keys::{KeyRecord, KeyState, KeyVersion, Material};
use kastell_core::store::testing::{Backend, TestStore, test_stores};
use kastell_core::store::{
    ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake, Change, ChangeEvent, Changed,
    ComponentKind, Revocation, StoreError,
};
use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};

const NOW: i64 = 1_800_000_000_000;
const LIMITS: ChallengeLimits = ChallengeLimits {
    per_principal: 3,
    total: 5,
};

fn challenge(key: KeyId, principal: &str, nonce: u8) -> ChallengeRow {
    ChallengeRow {
        nonce: vec![nonce; 32],
        key,
        principal: principal.to_owned(),
        expires_ms: NOW + 60_000,
    }
}

#[test]
fn a_nonce_issued_through_one_handle_is_taken_once_through_either() {
    for test in test_stores() {
        let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
        let key = KeyId::random();
        assert_eq!(
            a.issue_challenge(&challenge(key, "app", 1), LIMITS, NOW)
                .expect("issue"),
            ChallengeIssue::Issued
        );
        assert_eq!(
            b.take_challenge(&[1; 32], &key, "app", NOW + 1)
                .expect("take on B"),
            ChallengeTake::Taken,
            "{}",
            test.name()
        );
        assert_eq!(
            a.take_challenge(&[1; 32], &key, "app", NOW + 2)
                .expect("replay on A"),
            ChallengeTake::Unknown,
            "{}: used up everywhere",
            test.name()
        );

        // Eight threads on both handles race for one nonce: exactly one gets it.
        a.issue_challenge(&challenge(key, "app", 2), LIMITS, NOW)
            .expect("issue");
        let barrier = Arc::new(Barrier::new(8));
        let winners: usize = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    store.take_challenge(&[2; 32], &key, "app", NOW + 1)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread").expect("take"))
            .filter(|taken| *taken == ChallengeTake::Taken)
            .count();
        assert_eq!(winners, 1, "{}: one taker of eight", test.name());
    }
}

#[test]
fn a_nonce_keeps_its_owner_key_expiry_and_limits_across_handles() {
    for test in test_stores() {
        let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
        let key = KeyId::random();
        a.issue_challenge(&challenge(key, "app", 1), LIMITS, NOW)
            .expect("issue");
        for _ in 0..2 {
            assert_eq!(
                b.take_challenge(&[1; 32], &key, "mallory", NOW + 1)
                    .expect("stolen"),
                ChallengeTake::OtherPrincipal
            );
        }
        assert_eq!(
            b.take_challenge(&[1; 32], &KeyId::random(), "app", NOW + 1)
                .expect("other key"),
            ChallengeTake::OtherKey
        );
        assert_eq!(
            a.take_challenge(&[1; 32], &key, "app", NOW + 1)
                .expect("gone"),
            ChallengeTake::Unknown,
            "presented by its owner for another key, it is used up"
        );
        a.issue_challenge(&challenge(key, "app", 3), LIMITS, NOW)
            .expect("issue");
        assert_eq!(
            b.take_challenge(&[3; 32], &key, "app", NOW + 60_000)
                .expect("expired"),
            ChallengeTake::Expired,
            "{}",
            test.name()
        );

        // Three for one principal, five in all, whichever handle issues.
        for n in 10..13 {
            let store = if n % 2 == 0 { &a } else { &b };
            assert_eq!(
                store
                    .issue_challenge(&challenge(key, "app", n), LIMITS, NOW)
                    .expect("issue"),
                ChallengeIssue::Issued
            );
        }
        assert_eq!(
            b.issue_challenge(&challenge(key, "app", 13), LIMITS, NOW)
                .expect("over quota"),
            ChallengeIssue::PrincipalFull { held: 3 }
        );
        for n in 20..22 {
            a.issue_challenge(&challenge(key, "other", n), LIMITS, NOW)
                .expect("issue");
        }
        assert_eq!(
            b.issue_challenge(&challenge(key, "third", 30), LIMITS, NOW)
                .expect("total reached"),
            ChallengeIssue::TotalFull
        );
        // Expired ones free their places: purged when the next is issued.
        assert_eq!(
            b.issue_challenge(&challenge(key, "third", 31), LIMITS, NOW + 60_000)
                .expect("after expiry"),
            ChallengeIssue::Issued,
            "{}",
            test.name()
        );
        assert_eq!(a.purge_challenges(NOW + 120_000).expect("purge"), 1);
    }
}

#[test]
fn components_are_stored_once_by_measurement_and_read_through_any_handle() {
    for test in test_stores() {
        let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
        let bytes = b"\0asm policy bytes".to_vec();
        let measurement = Measurement::of(&bytes);
        assert!(
            a.add_component(ComponentKind::Policy, &measurement, &bytes)
                .expect("add")
        );
        assert!(
            !b.add_component(ComponentKind::Policy, &measurement, &bytes)
                .expect("again"),
            "stored once"
        );
        assert_eq!(
            b.component(ComponentKind::Policy, &measurement)
                .expect("read"),
            Some(bytes.clone())
        );
        assert_eq!(
            b.component(ComponentKind::Workload, &measurement)
                .expect("read"),
            None,
            "a policy is not a workload"
        );
        assert_eq!(
            b.components(ComponentKind::Policy).expect("list"),
            vec![measurement]
        );
        assert!(
            b.components(ComponentKind::Workload)
                .expect("list")
                .is_empty()
        );
    }
}

fn record() -> KeyRecord {
    KeyRecord {
        id: KeyId::random(),
        spec: KeySpec::Aes256,
        usage: KeyUsage::of(KeySpec::Aes256),
        origin: Origin::Wrapped,
        state: KeyState::Enabled,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        created: 1_764_064_800,
        min_decrypt_version: 1,
        versions: vec![KeyVersion {
            number: 1,
            created: 1_764_064_800,
            material: Material::Wrapped {
                master: "kastell-master".into(),
                wrapped: vec![7; 40],
            },
            automatic: false,
        }],
        releasable: false,
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
    AuditEntry::event("officer", what, None, Outcome::Allowed, String::new())
}

#[test]
fn every_change_a_host_may_cache_moves_the_counter_and_a_refused_one_does_not() {
    for test in test_stores() {
        let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
        let start = b.change_seq().expect("counter");
        let key = record();
        a.apply(
            Change::CreateKey {
                key: &key,
                alias: None,
            },
            event("create-key"),
        )
        .expect("create");
        let mut disabled = key.clone();
        disabled.state = KeyState::Disabled;
        a.apply(Change::UpdateKey(&disabled), event("disable-key"))
            .expect("disable");
        assert_eq!(
            b.change_seq().expect("counter"),
            start + 2,
            "{}",
            test.name()
        );

        // Decided on the stale revision: refused, and nothing counted.
        let err = a
            .apply(Change::UpdateKey(&disabled), event("disable-key"))
            .expect_err("stale");
        assert!(matches!(err, StoreError::KeyChanged(_)), "{err}");
        assert_eq!(b.change_seq().expect("counter"), start + 2);

        let revocation = Revocation {
            serial: "0a1b".into(),
            revoked_ms: NOW,
            revoked_by: "officer".into(),
            reason: "key compromise".into(),
        };
        a.revoke_client(&revocation, event("revoke-client"))
            .expect("revoke");
        assert_eq!(b.change_seq().expect("counter"), start + 3);
        assert!(
            a.revoke_client(&revocation, event("revoke-client"))
                .expect("again")
                .is_none()
        );
        assert_eq!(
            b.change_seq().expect("counter"),
            start + 3,
            "a revocation found done counts nothing"
        );
    }
}

/// Issue 22: SQLite sends no notices, so another handle learns what changed from the
/// change log: each change after the value it saw, named, in order (a key, an alias, a
/// revocation); a handle further behind than the log is told it cannot know (and flushes).
#[test]
fn on_sqlite_the_change_log_names_each_change_after_a_value() {
    let test = TestStore::sqlite();
    let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
    let start = b.change_seq().expect("counter");
    let key = record();
    let alias_row = kastell_core::keys::AliasRow {
        alias: "alias/ledger".parse().unwrap(),
        key: key.id,
        seal: None,
    };
    a.apply(
        Change::CreateKey {
            key: &key,
            alias: None,
        },
        event("create-key"),
    )
    .expect("create");
    a.apply(Change::SetAlias(&alias_row), event("set-alias"))
        .expect("alias");
    let revocation = Revocation {
        serial: "0a1b".into(),
        revoked_ms: NOW,
        revoked_by: "officer".into(),
        reason: "key compromise".into(),
    };
    a.revoke_client(&revocation, event("revoke-client"))
        .expect("revoke");
    let found = b.changes_after(start).expect("changes");
    assert_eq!(found.counter, start + 3);
    assert_eq!(
        found.changes,
        Some(vec![
            (start + 1, Changed::Key(key.id.to_string())),
            (start + 2, Changed::Alias("alias/ledger".into())),
            (start + 3, Changed::Client("0a1b".into())),
        ])
    );
    assert_eq!(
        b.changes_after(start + 2).expect("changes").changes,
        Some(vec![(start + 3, Changed::Client("0a1b".into()))])
    );
    assert_eq!(
        b.changes_after(start + 3).expect("changes").changes,
        Some(Vec::new())
    );
    // Moved without a logged change (an edit behind Kastell's back, or a log pruned past
    // this value): the handle is told it cannot know what changed.
    test.sql("UPDATE kastell_changes SET seq = seq + 1")
        .expect("edit");
    let found = b.changes_after(start + 3).expect("changes");
    assert_eq!((found.counter, found.changes), (start + 4, None));
}

#[test]
fn a_listener_hears_each_committed_change_by_notice_and_nothing_rolled_back() {
    let Some(test) = TestStore::postgres() else {
        return;
    };
    assert_eq!(test.backend, Backend::Postgres);
    let (a, b) = (test.open().expect("host A"), test.open().expect("host B"));
    assert!(
        a.listen(Arc::new(|_: ChangeEvent| {}))
            .expect("listen")
            .is_some(),
        "PostgreSQL sends notices"
    );
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let _listener = b
        .listen(Arc::new(move |event: ChangeEvent| {
            let _ = tx.lock().unwrap().send(event);
        }))
        .expect("listen")
        .expect("a listener");
    // The listener's LISTEN runs on its own thread: wait until it hears a change.
    let key = record();
    std::thread::sleep(Duration::from_millis(500));
    a.apply(
        Change::CreateKey {
            key: &key,
            alias: None,
        },
        event("create-key"),
    )
    .expect("create");
    let heard = rx.recv_timeout(Duration::from_secs(5)).expect("a notice");
    let seq = a.change_seq().expect("counter");
    assert_eq!(
        heard,
        ChangeEvent::Changed {
            seq,
            what: Changed::Key(key.id.to_string())
        }
    );
    let err = a
        .apply(Change::UpdateKey(&key), event("update"))
        .map(|_| ())
        .and_then(|()| a.apply(Change::UpdateKey(&key), event("stale")).map(|_| ()));
    assert!(matches!(err, Err(StoreError::KeyChanged(_))), "{err:?}");
    let next = rx.recv_timeout(Duration::from_secs(5)).expect("one notice");
    assert!(
        matches!(next, ChangeEvent::Changed { seq: s, .. } if s == seq + 1),
        "{next:?}"
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "no notice for the change rolled back"
    );
}
