//! m-of-n quorum for administrative operations, on a real SQLite file: an operation is
//! ready only once m distinct crypto-officers signed its canonical bytes with the keys of
//! their client certificates; it expires, runs once, survives reopening, and every step is
//! in the audit trail.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{KeyId, Role};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use kastell_attest::ca::{Owner, issue_root};
use kastell_attest::identity::{ClientIdentity, issue_client};
use kastell_attest::signer::SoftSigner;
use kastell_attest::x509::Certificate;
use kastell_core::audit::{GENESIS, Outcome, verify_chain};
use kastell_core::keys::Caller;
use kastell_core::quorum::{
    APPROVAL_DOMAIN, Approved, PendingOperation, Quorum, QuorumError, Submitted, canonical_bytes,
    digest,
};
use kastell_core::store::{ApprovalAdded, ApprovalRow, SqliteStore, Store};
use kastell_proto::{ClientRequest, OperationClass, PendingState, QuorumAction};
use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::{DerSignature, SigningKey};
use sha2::{Digest as _, Sha384};

const DAY: Duration = Duration::from_secs(86_400);

/// A test CA that issues officer certificates.
struct Ca {
    key: SoftSigner,
    root: Certificate,
}

impl Ca {
    fn new() -> Self {
        let key = SoftSigner::generate();
        let owner = Owner {
            common_name: "Example GmbH Kastell Root".into(),
            organization: "Example GmbH".into(),
            country: "DE".into(),
        };
        let root = issue_root(&key, &owner, minute_ago(), 365 * DAY).expect("root");
        Self { key, root }
    }

    /// A holder of `role` called `name`, with a fresh key and a certificate for it.
    fn person(&self, name: &str, role: &str, seed: u8) -> Person {
        let key = SigningKey::from_bytes(&[seed; 48].into()).expect("scalar");
        let certificate = self.certify(name, role, &key);
        let role = match role {
            "crypto-officer" => Role::CryptoOfficer,
            "crypto-user" => Role::CryptoUser,
            _ => Role::Auditor,
        };
        Person {
            caller: Caller {
                id: name.into(),
                roles: vec![role],
                tenant: None,
                evidence: None,
            },
            key,
            certificate,
        }
    }

    fn certify(&self, name: &str, role: &str, key: &SigningKey) -> Vec<u8> {
        let identity = ClientIdentity {
            principal: name.into(),
            role: role.into(),
            tenant: None,
        };
        let public = p384::PublicKey::from(key.verifying_key());
        issue_client(&self.key, &self.root, &public, &identity, minute_ago(), DAY)
            .expect("client certificate")
            .to_der_bytes()
            .expect("DER")
    }
}

fn minute_ago<T: From<SystemTime>>() -> T {
    (SystemTime::now() - Duration::from_secs(60)).into()
}

struct Person {
    caller: Caller,
    key: SigningKey,
    certificate: Vec<u8>,
}

impl Person {
    /// Signs `op`'s canonical bytes (DER ECDSA P-384/SHA-384).
    fn sign(&self, op: &PendingOperation) -> Vec<u8> {
        let signature: DerSignature = self.key.sign(&canonical_bytes(op));
        signature.as_bytes().to_vec()
    }

    fn approve(&self, quorum: &Quorum, op: &PendingOperation) -> Result<Approved, QuorumError> {
        quorum.approve(
            &self.caller,
            &self.certificate,
            &op.id,
            &self.sign(op),
            op.created_ms + 1,
        )
    }
}

/// A store on a fresh file, a quorum over it, a CA and three officers.
struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<dyn Store>,
    quorum: Quorum,
    ca: Ca,
    alice: Person,
    bob: Person,
    carol: Person,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kastell.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("open"));
    let ca = Ca::new();
    World {
        quorum: Quorum::new(Arc::clone(&store)),
        alice: ca.person("alice", "crypto-officer", 1),
        bob: ca.person("bob", "crypto-officer", 2),
        carol: ca.person("carol", "crypto-officer", 3),
        _dir: dir,
        path,
        store,
        ca,
    }
}

/// Sets `class` to need `m` approvals while the `quorum` class needs none, raising
/// `issue-officer` and `issue-client` to `m` first where they need fewer (no class may
/// need more approvals than those two).
fn require(world: &World, class: OperationClass, m: u32) {
    let ceilings: &[OperationClass] = match class {
        OperationClass::IssueOfficer => &[],
        OperationClass::IssueClient => &[OperationClass::IssueOfficer],
        _ => &[OperationClass::IssueOfficer, OperationClass::IssueClient],
    };
    for &ceiling in ceilings {
        if world.quorum.required(ceiling).expect("required") < m {
            set_required(world, ceiling, m);
        }
    }
    set_required(world, class, m);
}

fn set_required(world: &World, class: OperationClass, m: u32) {
    let submitted = world
        .quorum
        .submit(
            &world.alice.caller,
            QuorumAction::SetQuorum { class, required: m },
            DAY,
        )
        .expect("set required");
    assert_eq!(submitted, Submitted::Execute);
    world
        .quorum
        .apply_setting(class, m, &world.alice.caller)
        .expect("apply");
    assert_eq!(world.quorum.required(class).expect("required"), m);
}

fn delete_key(world: &World, key: KeyId, ttl: Duration) -> PendingOperation {
    let action = QuorumAction::ScheduleDeletion { key, days: 7 };
    match world
        .quorum
        .submit(&world.alice.caller, action, ttl)
        .expect("submit")
    {
        Submitted::Pending(op) => op,
        Submitted::Execute => panic!("delete-key needs approvals"),
    }
}

fn operations(store: &dyn Store) -> Vec<String> {
    store
        .audit_range(0, 1000)
        .expect("audit")
        .into_iter()
        .map(|r| r.entry.operation)
        .collect()
}

#[test]
fn without_a_requirement_an_operation_executes_at_once_and_nothing_is_stored() {
    let w = world();
    let action = QuorumAction::ScheduleDeletion {
        key: KeyId::random(),
        days: 30,
    };
    let submitted = w
        .quorum
        .submit(&w.alice.caller, action, DAY)
        .expect("submit");
    assert_eq!(submitted, Submitted::Execute);
    assert!(w.quorum.list(None, None, 10).expect("list").is_empty());
    assert!(operations(&*w.store).is_empty());
    for setting in w.quorum.settings().expect("settings") {
        assert_eq!(setting.required, 1, "{:?}", setting.class);
    }
}

#[test]
fn fewer_than_m_approvals_do_not_make_an_operation_ready() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 3);
    let key = KeyId::random();
    let op = delete_key(&w, key, DAY);
    assert_eq!(op.state, PendingState::Pending);

    let first = w.alice.approve(&w.quorum, &op).expect("alice");
    assert_eq!((first.have, first.need, first.ready), (1, 3, false));
    let second = w.bob.approve(&w.quorum, &op).expect("bob");
    assert_eq!((second.have, second.need, second.ready), (2, 3, false));
    let third = w.carol.approve(&w.quorum, &op).expect("carol");
    assert_eq!((third.have, third.need, third.ready), (3, 3, true));
    let officers: Vec<_> = third
        .operation
        .approvals
        .iter()
        .map(|a| a.officer.as_str())
        .collect();
    assert_eq!(officers, ["alice", "bob", "carol"]);

    // The audit records of the operation name the key its action names.
    let records = w.store.audit_range(0, 100).expect("audit");
    let approvals: Vec<_> = records
        .iter()
        .filter(|r| r.entry.operation == "approve")
        .collect();
    assert_eq!(approvals.len(), 3);
    assert!(approvals.iter().all(|r| r.entry.key == Some(key)));
    assert!(approvals[2].entry.reason.ends_with("3/3 approvals"));
}

#[test]
fn the_same_officer_approving_twice_counts_once() {
    let w = world();
    require(&w, OperationClass::BindPolicy, 2);
    let action = QuorumAction::BindPolicy {
        key: KeyId::random(),
        policy: None,
    };
    let Submitted::Pending(op) = w
        .quorum
        .submit(&w.alice.caller, action, DAY)
        .expect("submit")
    else {
        panic!("bind-policy needs approvals")
    };
    let once = w.alice.approve(&w.quorum, &op).expect("first");
    assert!(!once.duplicate && !once.ready);
    let twice = w.alice.approve(&w.quorum, &op).expect("second");
    assert_eq!(
        (twice.have, twice.need, twice.duplicate, twice.ready),
        (1, 2, true, false)
    );
    // Another certificate of the same principal is still the same officer.
    let again = Person {
        caller: w.alice.caller.clone(),
        key: SigningKey::from_bytes(&[9; 48].into()).expect("scalar"),
        certificate: Vec::new(),
    };
    let again = Person {
        certificate: w.ca.certify("alice", "crypto-officer", &again.key),
        ..again
    };
    let thrice = again.approve(&w.quorum, &op).expect("third");
    assert!(thrice.duplicate && !thrice.ready);
    let stored = w
        .store
        .pending_operation(&op.id)
        .expect("read")
        .expect("op");
    assert_eq!(stored.approvals.len(), 1);
    assert!(w.bob.approve(&w.quorum, &op).expect("bob").ready);
}

#[test]
fn a_signature_by_another_key_or_over_other_bytes_or_from_a_non_officer_is_refused() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 2);
    let op = delete_key(&w, KeyId::random(), DAY);
    let approve = |who: &Person, certificate: &[u8], signature: &[u8]| {
        w.quorum.approve(
            &who.caller,
            certificate,
            &op.id,
            signature,
            op.created_ms + 1,
        )
    };

    // Bob's certificate, signed with Carol's key.
    let forged = approve(&w.bob, &w.bob.certificate, &w.carol.sign(&op));
    assert!(
        matches!(forged, Err(QuorumError::BadSignature(_))),
        "{forged:?}"
    );
    // Bob's key over another operation's bytes.
    let mut other = op.clone();
    other.expires_ms += 1;
    let signature: DerSignature = w.bob.key.sign(&canonical_bytes(&other));
    let replayed = approve(&w.bob, &w.bob.certificate, signature.as_bytes());
    assert!(
        matches!(replayed, Err(QuorumError::BadSignature(_))),
        "{replayed:?}"
    );
    // Bob presenting Carol's certificate and signature.
    let borrowed = approve(&w.bob, &w.carol.certificate, &w.carol.sign(&op));
    let Err(QuorumError::BadSignature(why)) = borrowed else {
        panic!("{borrowed:?}")
    };
    assert!(why.contains("carol"), "{why}");
    // Not DER at all.
    let garbage = approve(&w.bob, &w.bob.certificate, b"not a signature");
    assert!(matches!(garbage, Err(QuorumError::BadSignature(_))));

    // A crypto-user with a valid certificate and signature of their own.
    let user = w.ca.person("dave", "crypto-user", 4);
    let refused = approve(&user, &user.certificate, &user.sign(&op));
    assert!(
        matches!(refused, Err(QuorumError::NotOfficer)),
        "{refused:?}"
    );
    // Claiming the officer role without an officer certificate.
    let pretender = Person {
        caller: Caller {
            roles: vec![Role::CryptoOfficer],
            ..user.caller.clone()
        },
        ..user
    };
    let refused = approve(&pretender, &pretender.certificate, &pretender.sign(&op));
    assert!(
        matches!(refused, Err(QuorumError::BadSignature(_))),
        "{refused:?}"
    );
    // Nor may a non-officer ask.
    let asked = w.quorum.submit(
        &w.ca.person("erin", "auditor", 5).caller,
        QuorumAction::ScheduleDeletion {
            key: KeyId::random(),
            days: 7,
        },
        DAY,
    );
    assert!(matches!(asked, Err(QuorumError::NotOfficer)));

    let stored = w
        .store
        .pending_operation(&op.id)
        .expect("read")
        .expect("op");
    assert!(stored.approvals.is_empty());
    let records = w.store.audit_range(0, 100).expect("audit");
    let denied = records
        .iter()
        .filter(|r| r.entry.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 7);
    // No signature or certificate bytes in any reason.
    let bob_signature = hex(&w.bob.sign(&op));
    assert!(
        records
            .iter()
            .all(|r| !r.entry.reason.contains(&bob_signature[..16]))
    );
}

#[test]
fn an_expired_operation_can_be_neither_approved_nor_executed() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 2);
    let op = delete_key(&w, KeyId::random(), Duration::from_millis(1));
    let late = op.expires_ms + 1;
    let expired = w.quorum.approve(
        &w.bob.caller,
        &w.bob.certificate,
        &op.id,
        &w.bob.sign(&op),
        late,
    );
    assert!(
        matches!(&expired, Err(QuorumError::Expired(id)) if *id == op.id),
        "{expired:?}"
    );
    let now = w.quorum.operation(&op.id).expect("read").expect("op");
    assert_eq!(now.state, PendingState::Expired);
    assert!(now.approvals.is_empty());

    let again = w.quorum.approve(
        &w.carol.caller,
        &w.carol.certificate,
        &op.id,
        &w.carol.sign(&op),
        late,
    );
    assert!(matches!(
        again,
        Err(QuorumError::NotPending {
            state: PendingState::Expired,
            ..
        })
    ));
    assert!(matches!(
        w.quorum.mark_executed(&op.id, "deleted"),
        Err(QuorumError::NotPending {
            state: PendingState::Expired,
            ..
        })
    ));

    // The sweep expires the others once, and only those past their time.
    let stale = delete_key(&w, KeyId::random(), Duration::from_millis(1));
    let fresh = delete_key(&w, KeyId::random(), DAY);
    let swept = w.quorum.expire_due(stale.expires_ms + 1).expect("sweep");
    assert_eq!(swept, [stale.id.as_str()]);
    assert!(
        w.quorum
            .expire_due(stale.expires_ms + 1)
            .expect("sweep")
            .is_empty()
    );
    let pending = w
        .quorum
        .list(Some(PendingState::Pending), None, 10)
        .expect("list");
    assert_eq!(
        pending.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&fresh.id]
    );
}

#[test]
fn lowering_or_raising_a_requirement_needs_the_quorum_class_approvals() {
    let w = world();
    // Room to raise delete-key to 4: no class may need more than issue-officer and
    // issue-client.
    require(&w, OperationClass::IssueClient, 4);
    require(&w, OperationClass::DeleteKey, 3);
    require(&w, OperationClass::Quorum, 2);

    for (before, m, what) in [(3, 1, "lower"), (1, 4, "raise")] {
        let Submitted::Pending(op) = w
            .quorum
            .submit(
                &w.alice.caller,
                QuorumAction::SetQuorum {
                    class: OperationClass::DeleteKey,
                    required: m,
                },
                DAY,
            )
            .expect("ask")
        else {
            panic!("changing a setting needs the quorum class's approvals ({what})")
        };
        assert_eq!(op.class, OperationClass::Quorum);
        assert_eq!(
            op.action,
            QuorumAction::SetQuorum {
                class: OperationClass::DeleteKey,
                required: m
            }
        );
        let one = w.alice.approve(&w.quorum, &op).expect("alice");
        assert!(!one.ready);
        assert_eq!(
            w.quorum.required(OperationClass::DeleteKey).expect("m"),
            before,
            "one officer cannot {what} it"
        );
        let two = w.bob.approve(&w.quorum, &op).expect("bob");
        assert!(two.ready);
        let QuorumAction::SetQuorum { class, required } = two.operation.action.clone() else {
            panic!("a set-quorum action: {:?}", two.operation.action)
        };
        let setting = w
            .quorum
            .apply_setting(class, required, &w.bob.caller)
            .expect("apply");
        assert_eq!(setting.required, m);
        w.quorum
            .mark_executed(&op.id, &format!("delete-key requires {m}"))
            .expect("executed");
        assert_eq!(w.quorum.required(OperationClass::DeleteKey).expect("m"), m);
    }

    for m in [0, 17] {
        let refused = w.quorum.submit(
            &w.alice.caller,
            QuorumAction::SetQuorum {
                class: OperationClass::DeleteKey,
                required: m,
            },
            DAY,
        );
        assert!(
            matches!(refused, Err(QuorumError::InvalidSetting(_))),
            "{m}"
        );
    }
    let refused = w
        .quorum
        .apply_setting(OperationClass::Quorum, 0, &w.bob.caller);
    assert!(matches!(refused, Err(QuorumError::InvalidSetting(_))));
    assert_eq!(w.quorum.required(OperationClass::Quorum).expect("m"), 2);
}

#[test]
fn an_executed_or_failed_operation_cannot_run_again() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 2);
    let op = delete_key(&w, KeyId::random(), DAY);
    let _ = w.alice.approve(&w.quorum, &op).expect("alice");
    assert!(w.bob.approve(&w.quorum, &op).expect("bob").ready);
    // A third approval does not make it ready a second time.
    let late = w.carol.approve(&w.quorum, &op);
    assert!(
        matches!(late, Err(QuorumError::AwaitingExecution(_))),
        "{late:?}"
    );

    let done = w
        .quorum
        .mark_executed(&op.id, "deletion scheduled")
        .expect("mark");
    assert_eq!(done.state, PendingState::Executed);
    assert_eq!(done.outcome, "deletion scheduled");
    for again in [
        w.quorum.mark_executed(&op.id, "again"),
        w.quorum.mark_failed(&op.id, "again"),
    ] {
        assert!(matches!(
            again,
            Err(QuorumError::NotPending {
                state: PendingState::Executed,
                ..
            })
        ));
    }
    let approve = w.carol.approve(&w.quorum, &op);
    assert!(matches!(approve, Err(QuorumError::NotPending { .. })));

    let failed = delete_key(&w, KeyId::random(), DAY);
    let _ = w.alice.approve(&w.quorum, &failed).expect("alice");
    let _ = w.bob.approve(&w.quorum, &failed).expect("bob");
    let failed = w
        .quorum
        .mark_failed(&failed.id, "key not found")
        .expect("mark");
    assert_eq!(failed.state, PendingState::Failed);
    assert!(matches!(
        w.quorum.mark_executed(&failed.id, "now"),
        Err(QuorumError::NotPending {
            state: PendingState::Failed,
            ..
        })
    ));
    assert!(matches!(
        w.quorum
            .mark_executed("0d5c8b5e-5b2c-4c5e-9a7e-3f0e7e0c1a2b", "x"),
        Err(QuorumError::NotFound(_))
    ));
}

#[test]
fn canonical_bytes_follow_the_documented_format_and_the_digest_is_recomputable() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 2);
    let key = KeyId::random();
    let op = delete_key(&w, key, DAY);
    // Written out by hand from the module documentation: members sorted, no whitespace.
    let expected = format!(
        "kastell-approval-v1\n{{\"action\":{{\"schedule-deletion\":{{\"days\":7,\"key\":\"{key}\"}}}},\
         \"class\":\"delete-key\",\"created_ms\":{},\"expires_ms\":{},\"id\":\"{}\",\
         \"requester\":\"alice\"}}",
        op.created_ms, op.expires_ms, op.id
    );
    let bytes = canonical_bytes(&op);
    assert_eq!(String::from_utf8(bytes.clone()).expect("UTF-8"), expected);
    assert!(bytes.starts_with(APPROVAL_DOMAIN));
    let recomputed: [u8; 48] = Sha384::digest(expected.as_bytes()).into();
    assert_eq!(digest(&op), recomputed);
    assert_eq!(op.digest, hex(&recomputed));

    // Read back, the operation gives the same bytes, and the store holds them as signed.
    let read = w.quorum.operation(&op.id).expect("read").expect("op");
    assert_eq!(canonical_bytes(&read), bytes);
    let stored = w
        .store
        .pending_operation(&op.id)
        .expect("read")
        .expect("op");
    assert_eq!(stored.row.canonical, bytes);
    assert_eq!(stored.row.digest, recomputed);
}

#[test]
fn pending_operations_and_approvals_survive_reopening() {
    let w = world();
    require(&w, OperationClass::IssueOfficer, 2);
    let action = QuorumAction::IssueClient(ClientRequest {
        principal: "frank".into(),
        role: "crypto-officer".into(),
        tenant: None,
        public_key: "-----BEGIN PUBLIC KEY-----".into(),
        days: None,
    });
    let Submitted::Pending(op) = w
        .quorum
        .submit(&w.alice.caller, action, DAY)
        .expect("submit")
    else {
        panic!("issue-officer needs approvals")
    };
    let _ = w.alice.approve(&w.quorum, &op).expect("alice");
    let World {
        quorum,
        store,
        path,
        _dir,
        bob,
        ..
    } = w;
    drop(quorum);
    drop(store);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("reopen"));
    let quorum = Quorum::new(Arc::clone(&store));
    assert_eq!(quorum.required(OperationClass::IssueOfficer).expect("m"), 2);
    let read = quorum.operation(&op.id).expect("read").expect("op");
    assert_eq!(read.approvals.len(), 1);
    assert_eq!(read.approvals[0].officer, "alice");
    assert_eq!(
        (read.digest.as_str(), &read.action),
        (op.digest.as_str(), &op.action)
    );
    assert!(bob.approve(&quorum, &read).expect("bob").ready);
    check_trail(&path);
}

#[test]
fn every_step_is_audited_and_the_trail_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kastell.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("open"));
    let observed = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&observed);
    let quorum = Quorum::new(Arc::clone(&store)).with_audit_observer(move |record| {
        seen.store(record.seq, Ordering::SeqCst);
    });
    let ca = Ca::new();
    let (alice, bob) = (
        ca.person("alice", "crypto-officer", 1),
        ca.person("bob", "crypto-officer", 2),
    );
    // delete-key may need 2 approvals once issue-officer and issue-client do.
    for class in [
        OperationClass::IssueOfficer,
        OperationClass::IssueClient,
        OperationClass::DeleteKey,
    ] {
        assert_eq!(
            quorum
                .submit(
                    &alice.caller,
                    QuorumAction::SetQuorum { class, required: 2 },
                    DAY
                )
                .expect("ask"),
            Submitted::Execute
        );
        quorum
            .apply_setting(class, 2, &alice.caller)
            .expect("apply");
    }
    let Submitted::Pending(op) = quorum
        .submit(
            &alice.caller,
            QuorumAction::ScheduleDeletion {
                key: KeyId::random(),
                days: 7,
            },
            DAY,
        )
        .expect("submit")
    else {
        panic!("delete-key needs approvals")
    };
    let _ = alice.approve(&quorum, &op).expect("alice");
    let _ = alice.approve(&quorum, &op).expect("alice again");
    let _ = quorum.approve(
        &bob.caller,
        &bob.certificate,
        &op.id,
        b"junk",
        op.created_ms,
    );
    let _ = bob.approve(&quorum, &op).expect("bob");
    quorum
        .mark_executed(&op.id, "backup written")
        .expect("executed");

    assert_eq!(
        operations(&*store),
        [
            "set-quorum",
            "set-quorum",
            "set-quorum",
            "approval-request",
            "approve",
            "approve",
            "approve",
            "approve",
            "approval-execute"
        ]
    );
    let records = store.audit_range(0, 100).expect("audit");
    let outcomes: Vec<_> = records.iter().map(|r| r.entry.outcome).collect();
    assert_eq!(outcomes[6], Outcome::Denied);
    assert!(records[3].entry.reason.contains(&op.digest));
    assert_eq!(
        observed.load(Ordering::SeqCst),
        9,
        "the observer saw every record"
    );
    check_trail(&path);
}

#[test]
fn the_store_adds_an_approval_only_to_a_pending_operation_with_the_count_seen() {
    let w = world();
    require(&w, OperationClass::DeleteKey, 2);
    let op = delete_key(&w, KeyId::random(), DAY);
    let row = |officer: &str| ApprovalRow {
        officer: officer.into(),
        certificate: vec![1],
        signature: vec![2],
        at_ms: 1,
    };
    let audit = || kastell_core::audit::AuditEntry {
        time_ms: 1,
        principal: "test".into(),
        operation: "approve".into(),
        key: None,
        key_version: None,
        policy: None,
        outcome: Outcome::Allowed,
        reason: String::new(),
        context_hmac: None,
        guest: None,
    };
    let before = operations(&*w.store).len();
    assert!(matches!(
        w.store
            .add_approval(&op.id, &row("x"), 0, audit())
            .expect("add"),
        ApprovalAdded::Added(_)
    ));
    assert_eq!(
        w.store
            .add_approval(&op.id, &row("x"), 1, audit())
            .expect("dup"),
        ApprovalAdded::Duplicate
    );
    assert_eq!(
        w.store
            .add_approval(&op.id, &row("y"), 0, audit())
            .expect("stale"),
        ApprovalAdded::Changed { found: 1 }
    );
    assert_eq!(
        w.store
            .add_approval("nope", &row("y"), 0, audit())
            .expect("missing"),
        ApprovalAdded::NotFound
    );
    assert_eq!(
        operations(&*w.store).len(),
        before + 1,
        "only the added one is audited"
    );
    let finished = w
        .store
        .finish_pending(&op.id, PendingState::Failed, "gone", audit())
        .expect("finish");
    assert!(finished.is_some());
    assert!(
        w.store
            .finish_pending(&op.id, PendingState::Executed, "again", audit())
            .expect("finish")
            .is_none()
    );
    assert_eq!(
        w.store
            .add_approval(&op.id, &row("y"), 1, audit())
            .expect("late"),
        ApprovalAdded::NotPending(PendingState::Failed)
    );
}

/// The whole audit trail in the file at `path` verifies as a chain.
fn check_trail(path: &Path) {
    let store = SqliteStore::open(path).expect("open");
    let records = store.audit_range(0, 10_000).expect("audit");
    let (last, _) = verify_chain(&records, 0, GENESIS).expect("audit chain verifies");
    assert_eq!(last, records.len() as u64);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
