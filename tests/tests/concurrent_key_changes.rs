//! Lost updates, written as the race: officers change the same key at the same time, each
//! through its own key service and SQLite connection on one store file (as two servers, or
//! a server and `kastell key …`, would). Every writer owns one part of the key (tags,
//! enabled state, policy binding, minimum decryption version), so any other value seen in
//! its part is a change of its silently reverted by another writer's stale copy of the
//! key. None may be: a change either commits against the key as it was read, or is read
//! again and decided again, or fails with `Conflict`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use kastell_core::audit::{AuditEntry, AuditRecord, Checkpoint, GENESIS, Outcome, verify_chain};
use kastell_core::crypto::RustCrypto;
use kastell_core::keys::{
    Alias, AliasRow, Caller, KeyError, KeyRecord, KeyService, KeyState, KeyVersion, NewKey,
    RecordKey, ServiceKeys,
};
use kastell_core::registry::PolicyRegistry;
use kastell_core::sandbox::{Sandbox, SandboxLimits};
use kastell_core::store::{
    ApprovalAdded, ApprovalRow, AuditTicket, Change, PendingRow, QueuedTokenObject, Revocation,
    SqliteStore, Store, StoreError, StoredOperation,
};
use kastell_core::token::Token;
use kastell_proto::api::{ClientDetail, ClientInfo};
use kastell_proto::{
    ErrorCode, KeyId, KeySpec, KeyUsage, Measurement, OperationClass, Origin, PendingState, Role,
};
use kastell_tests::key_service;

/// Changes each writer makes.
const ROUNDS: u32 = 60;

fn officer(name: &str) -> Caller {
    Caller {
        id: name.into(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    }
}

/// One writer's part of the key: what it sets in round `n`, and what the key holds.
#[derive(Clone, Copy)]
enum Part {
    Tags,
    Enabled,
    /// Binds this policy and unbinds it, in turn.
    Policy(Measurement),
    MinVersion,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Tags => "tags",
            Self::Enabled => "enabled state",
            Self::Policy(_) => "policy binding",
            Self::MinVersion => "minimum decryption version",
        }
    }

    /// The part's value in `key`, as text.
    fn read(self, key: &KeyRecord) -> String {
        match self {
            Self::Tags => format!("{:?}", key.tags),
            Self::Enabled => format!("{:?}", key.state),
            Self::Policy(_) => format!("{:?}", key.policy),
            Self::MinVersion => key.min_decrypt_version.to_string(),
        }
    }

    /// Makes round `n`'s change through `service`; the value it sets, as [`Part::read`]
    /// shows it.
    fn change(self, service: &KeyService, key: &str, n: u32) -> Result<String, KeyError> {
        let caller = officer(self.name());
        let changed = match self {
            Self::Tags => {
                let tags = BTreeMap::from([("round".to_owned(), n.to_string())]);
                service.update_tags(&caller, key, tags, None)?
            }
            Self::Enabled => service.set_enabled(&caller, key, n.is_multiple_of(2))?,
            Self::Policy(policy) => {
                let bound = (!n.is_multiple_of(2)).then_some(policy);
                service.bind_policy(&caller, key, bound)?
            }
            Self::MinVersion => service.set_min_decryption_version(&caller, key, 1 + n % 2)?,
        };
        Ok(self.read(&changed))
    }
}

/// A writer: `ROUNDS` changes of `part`, each round started together with the other
/// writers' (SQLite's busy handler would otherwise let one writer run all its rounds while
/// the others wait) and preceded by a read of the stored key, which must show the writer's
/// last successful change. Returns the reverts it saw, the value of its last successful
/// change and how many changes gave up with `Conflict`.
fn writer(
    part: Part,
    service: &KeyService,
    store: &SqliteStore,
    key: &KeyRecord,
    round: &Barrier,
) -> (Vec<String>, String, u32) {
    let id = key.id.to_string();
    let mut last = part.read(key);
    let mut reverts = Vec::new();
    let mut conflicts = 0;
    for n in 1..=ROUNDS {
        round.wait();
        let stored = part.read(&store.key(&key.id).expect("read").expect("the key"));
        if stored != last {
            reverts.push(format!(
                "before round {n}: {} is {stored}, but the last change set {last}",
                part.name()
            ));
        }
        match part.change(service, &id, n) {
            Ok(set) => last = set,
            Err(err) if err.code() == ErrorCode::Conflict => conflicts += 1,
            Err(err) => panic!("{} round {n}: {err}", part.name()),
        }
    }
    let stored = part.read(&store.key(&key.id).expect("read").expect("the key"));
    if stored != last {
        reverts.push(format!(
            "at the end: {} is {stored}, but the last change set {last}",
            part.name()
        ));
    }
    (reverts, last, conflicts)
}

#[test]
fn concurrent_officers_never_silently_revert_each_others_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token: Arc<dyn Token> =
        Arc::new(kastell_tests::soft_token(dir.path()).expect("soft token"));
    let keys = ServiceKeys::default();
    // One service, store and writing connection per officer, on the same file.
    let services: Vec<_> = (0..4)
        .map(|_| key_service(dir.path(), token.clone(), keys.clone(), &["tenant-context"]))
        .collect();
    let policy = services[0].2[0];
    let parts = [
        Part::Tags,
        Part::Enabled,
        Part::Policy(policy),
        Part::MinVersion,
    ];
    let (first, _, _) = &services[0];
    let new = contended_key();
    let key = first
        .create_key(&officer("creator"), new, None)
        .expect("create");
    assert_eq!(key.usage, KeyUsage::EncryptDecrypt);
    let key = first
        .rotate(&officer("creator"), &key.id.to_string())
        .expect("version 2, so that the minimum can move");

    let round = Barrier::new(parts.len());
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .iter()
            .zip(&services)
            .map(|(&part, (service, store, _))| {
                let (key, round) = (&key, &round);
                scope.spawn(move || writer(part, service, store, key, round))
            })
            .collect();
        running
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect()
    });

    let reverts: Vec<&String> = outcomes.iter().flat_map(|(r, _, _)| r).collect();
    assert!(
        reverts.is_empty(),
        "{} changes silently reverted:\n{}",
        reverts.len(),
        reverts
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let store = &services[0].1;
    let stored = store.key(&key.id).expect("read").expect("the key");
    for (part, (_, last, conflicts)) in parts.iter().zip(&outcomes) {
        assert_eq!(&part.read(&stored), last, "{}", part.name());
        // In a round a change is overtaken at most by the three others, so it goes through
        // within the service's attempts (8) and never ends in `Conflict` here.
        assert_eq!(*conflicts, 0, "{}: changes gave up", part.name());
    }
    assert!(matches!(
        stored.state,
        KeyState::Enabled | KeyState::Disabled
    ));

    // Every change that answered committed exactly one allowed record, and no more.
    let trail = store.audit_range(0, 100_000).expect("audit");
    verify_chain(&trail, 0, GENESIS).expect("the audit chain verifies");
    let operations: [&[&str]; 4] = [
        &["update-tags"],
        &["enable-key", "disable-key"],
        &["bind-policy"],
        &["set-min-decryption-version"],
    ];
    for ((operations, part), (_, _, conflicts)) in operations.iter().zip(parts).zip(&outcomes) {
        let allowed = trail
            .iter()
            .filter(|r| {
                r.entry.key == Some(key.id)
                    && r.entry.principal == part.name()
                    && r.entry.outcome == Outcome::Allowed
                    && operations.contains(&r.entry.operation.as_str())
            })
            .count();
        assert_eq!(
            allowed,
            (ROUNDS - conflicts) as usize,
            "{}: one allowed record per change that answered",
            part.name()
        );
    }
}

/// The store of an officer who is overtaken on every attempt: before each change to a key
/// commits, a rival changes the key's description (through the same file, sealed with the
/// deployment's record key, as another Kastell process would), so that the change always
/// finds the key at another revision than it read.
#[derive(Debug)]
struct Overtaken {
    inner: Arc<SqliteStore>,
    record_key: RecordKey,
    rivals: std::sync::atomic::AtomicU32,
}

impl Overtaken {
    fn rival_change(&self, id: &KeyId) -> Result<(), StoreError> {
        let n = self
            .rivals
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut rival = self.inner.key(id)?.ok_or(StoreError::KeyNotFound(*id))?;
        rival.description = format!("rival change {n}");
        let mut next = rival.clone();
        next.revision += 1;
        rival.seal = Some(self.record_key.seal_key(&next).expect("seal"));
        self.inner.update_key(&rival)
    }
}

impl Store for Overtaken {
    fn apply(&self, change: Change<'_>, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        if let Change::UpdateKey(key) = change {
            self.rival_change(&key.id)?;
        }
        self.inner.apply(change, audit)
    }
    fn create_key(&self, key: &KeyRecord, alias: Option<&Alias>) -> Result<(), StoreError> {
        self.inner.create_key(key, alias)
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.key(id)
    }
    fn list_keys(&self, after: Option<&KeyId>, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list_keys(after, limit)
    }
    fn update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.update_key(key)
    }
    fn add_version(&self, id: &KeyId, revision: u64, v: &KeyVersion) -> Result<(), StoreError> {
        self.inner.add_version(id, revision, v)
    }
    fn due_for_deletion(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        self.inner.due_for_deletion(now)
    }
    fn due_for_rotation(&self, now: i64) -> Result<Vec<KeyId>, StoreError> {
        self.inner.due_for_rotation(now)
    }
    fn list_aliases(&self, after: Option<&Alias>, limit: u32) -> Result<Vec<AliasRow>, StoreError> {
        self.inner.list_aliases(after, limit)
    }
    fn set_alias(&self, alias: &Alias, id: &KeyId) -> Result<(), StoreError> {
        self.inner.set_alias(alias, id)
    }
    fn remove_alias(&self, alias: &Alias) -> Result<bool, StoreError> {
        self.inner.remove_alias(alias)
    }
    fn resolve_alias(&self, alias: &Alias) -> Result<Option<AliasRow>, StoreError> {
        self.inner.resolve_alias(alias)
    }
    fn aliases(&self, id: &KeyId) -> Result<Vec<AliasRow>, StoreError> {
        self.inner.aliases(id)
    }
    fn unsealed_rows(&self) -> Result<(Vec<KeyRecord>, Vec<AliasRow>), StoreError> {
        self.inner.unsealed_rows()
    }
    fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.inner.append_audit(entry)
    }
    fn queue_audit(&self, entry: AuditEntry) -> AuditTicket {
        self.inner.queue_audit(entry)
    }
    fn audit_range(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_range(after, limit)
    }
    fn audit_head(&self) -> Result<Option<(u64, [u8; 48])>, StoreError> {
        self.inner.audit_head()
    }
    fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError> {
        self.inner.add_checkpoint(checkpoint)
    }
    fn last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.last_checkpoint()
    }
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.inner.checkpoints()
    }
    fn pending_token_destruction(&self) -> Result<Vec<QueuedTokenObject>, StoreError> {
        self.inner.pending_token_destruction()
    }
    fn token_object_destroyed(&self, label: &str) -> Result<(), StoreError> {
        self.inner.token_object_destroyed(label)
    }
    fn quorum_required(&self, class: OperationClass) -> Result<u32, StoreError> {
        self.inner.quorum_required(class)
    }
    fn set_quorum_required(
        &self,
        class: OperationClass,
        required: u32,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        self.inner.set_quorum_required(class, required, audit)
    }
    fn add_pending(&self, op: &PendingRow, audit: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.inner.add_pending(op, audit)
    }
    fn pending_operation(&self, id: &str) -> Result<Option<StoredOperation>, StoreError> {
        self.inner.pending_operation(id)
    }
    fn list_pending(
        &self,
        state: Option<PendingState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        self.inner.list_pending(state, after, limit)
    }
    fn add_approval(
        &self,
        op_id: &str,
        approval: &ApprovalRow,
        expected: u32,
        audit: AuditEntry,
    ) -> Result<ApprovalAdded, StoreError> {
        self.inner.add_approval(op_id, approval, expected, audit)
    }
    fn finish_pending(
        &self,
        id: &str,
        state: PendingState,
        outcome: &str,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        self.inner.finish_pending(id, state, outcome, audit)
    }
    fn add_client(
        &self,
        client: &ClientDetail,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        self.inner.add_client(client, audit)
    }
    fn clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<ClientInfo>, StoreError> {
        self.inner.clients(after, limit)
    }
    fn revoke_client(
        &self,
        revocation: &Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        self.inner.revoke_client(revocation, audit)
    }
    fn client(&self, serial: &str) -> Result<Option<ClientDetail>, StoreError> {
        self.inner.client(serial)
    }
    fn revoked_clients(&self) -> Result<Vec<String>, StoreError> {
        self.inner.revoked_clients()
    }

    fn client_roles(&self, principal: &str) -> Result<Vec<String>, StoreError> {
        self.inner.client_roles(principal)
    }
    fn last_setting_record(&self, prefix: &str) -> Result<Option<AuditRecord>, StoreError> {
        self.inner.last_setting_record(prefix)
    }
    fn add_access_key(
        &self,
        key: &kastell_core::store::AccessKeyRow,
        audit: AuditEntry,
    ) -> Result<AuditRecord, StoreError> {
        self.inner.add_access_key(key, audit)
    }
    fn access_key(
        &self,
        id: &str,
    ) -> Result<Option<kastell_core::store::AccessKeyRow>, StoreError> {
        self.inner.access_key(id)
    }
    fn access_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<kastell_proto::api::AccessKeyInfo>, StoreError> {
        self.inner.access_keys(after, limit)
    }
    fn revoke_access_key(
        &self,
        revocation: &kastell_core::store::Revocation,
        audit: AuditEntry,
    ) -> Result<Option<AuditRecord>, StoreError> {
        self.inner.revoke_access_key(revocation, audit)
    }
    fn change_seq(&self) -> Result<u64, StoreError> {
        self.inner.change_seq()
    }
    fn issue_challenge(
        &self,
        challenge: &kastell_core::store::ChallengeRow,
        limits: kastell_core::store::ChallengeLimits,
        now_ms: i64,
    ) -> Result<kastell_core::store::ChallengeIssue, StoreError> {
        self.inner.issue_challenge(challenge, limits, now_ms)
    }
    fn take_challenge(
        &self,
        nonce: &[u8],
        key: &KeyId,
        principal: &str,
        now_ms: i64,
    ) -> Result<kastell_core::store::ChallengeTake, StoreError> {
        self.inner.take_challenge(nonce, key, principal, now_ms)
    }
    fn purge_challenges(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.inner.purge_challenges(now_ms)
    }
    fn add_component(
        &self,
        kind: kastell_core::store::ComponentKind,
        measurement: &kastell_attest::Measurement,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.add_component(kind, measurement, bytes)
    }
    fn component(
        &self,
        kind: kastell_core::store::ComponentKind,
        measurement: &kastell_attest::Measurement,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.component(kind, measurement)
    }
    fn components(
        &self,
        kind: kastell_core::store::ComponentKind,
    ) -> Result<Vec<kastell_attest::Measurement>, StoreError> {
        self.inner.components(kind)
    }
}

/// When a rival change wins every attempt, the officer's change gives up with `Conflict`
/// after a bounded number of attempts, audited, and writes nothing: every rival change
/// stands, none is overwritten.
#[test]
fn an_officer_overtaken_on_every_attempt_gets_conflict_and_overwrites_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token: Arc<dyn Token> =
        Arc::new(kastell_tests::soft_token(dir.path()).expect("soft token"));
    let (service, store, _) = key_service(dir.path(), token.clone(), ServiceKeys::default(), &[]);
    let new = contended_key();
    let key = service
        .create_key(&officer("creator"), new, None)
        .expect("create");
    let overtaken = Arc::new(Overtaken {
        inner: store.clone(),
        record_key: service.record_key().clone(),
        rivals: 0.into(),
    });
    let loser = KeyService::new(
        overtaken.clone(),
        token,
        Arc::new(RustCrypto),
        Arc::new(Sandbox::new(SandboxLimits::default()).expect("sandbox")),
        PolicyRegistry::open(overtaken.clone(), &dir.path().join("policies")).expect("registry"),
        ServiceKeys::default(),
    );

    let err = loser
        .set_enabled(&officer("loser"), &key.id.to_string(), false)
        .expect_err("overtaken every time");
    assert_eq!(err.code(), ErrorCode::Conflict, "{err}");
    let rivals = overtaken.rivals.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=16).contains(&rivals),
        "{rivals} attempts: bounded, and retried"
    );

    let stored = store.key(&key.id).expect("read").expect("the key");
    assert_eq!(
        stored.state,
        KeyState::Enabled,
        "the disable never committed"
    );
    assert_eq!(stored.description, format!("rival change {rivals}"));
    assert_eq!(
        stored.revision,
        u64::from(rivals),
        "every rival change stands"
    );
    let trail = store.audit_range(0, 100).expect("audit");
    let loser_records: Vec<_> = trail
        .iter()
        .filter(|r| r.entry.principal == "loser")
        .collect();
    assert_eq!(loser_records.len(), 1, "{loser_records:?}");
    assert_eq!(loser_records[0].entry.outcome, Outcome::Denied);
    assert!(
        loser_records[0]
            .entry
            .reason
            .contains("changed concurrently"),
        "{}",
        loser_records[0].entry.reason
    );
}

/// The AES-256 key the writers contend for.
fn contended_key() -> NewKey {
    NewKey {
        spec: KeySpec::Aes256,
        usage: None,
        origin: Origin::Wrapped,
        description: "contended".into(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    }
}
