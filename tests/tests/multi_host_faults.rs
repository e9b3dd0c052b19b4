//! Several `kastell serve` hosts on one PostgreSQL database under load and failure (issue
//! 20): both hosts under concurrent load form one audit chain that verifies and holds every
//! acknowledged request; checkpoints are signed by whichever host is due and never twice for
//! one head; `kill -9` of a host loses nothing it acknowledged while the other keeps
//! serving; the database stopped and restarted under load costs 503s (never 500s) and
//! nothing acknowledged; a connection dropped in the middle of a transaction leaves no
//! partial state; the token keys hosts reach (SoftHSM2 shared, the soft token copied).
//! Needs `KASTELL_TEST_POSTGRES_URL` (scripts/postgres-env); skipped with a printed reason
//! without it, required under CI.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kastell::client::{Client, RemoteError};
use kastell_core::audit::Outcome;
use kastell_core::store::Store;
use kastell_core::store::testing::TestStore;
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What one load thread saw.
#[derive(Debug, Default)]
struct Tally {
    principal: String,
    /// Requests answered 200: acknowledged, so their audit records must be in the trail.
    acked: u64,
    /// 503 `StoreUnavailable` answers.
    unavailable: u64,
    /// Requests that reached no server (connection refused or reset).
    unreachable: u64,
    /// Any other answer: always a failure.
    other: Vec<String>,
    /// When the last acknowledged request was answered.
    last_ack: Option<Instant>,
}

/// When a load thread stops.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// After this many acknowledged requests.
    Acked(u64),
    /// When the stop flag is raised.
    Stopped,
    /// When the stop flag is raised or its host cannot be reached (it was killed).
    StoppedOrUnreachable,
}

/// A crypto-user encrypting 64 bytes under `key` through `client` until `until`.
fn drive(
    principal: &str,
    client: Client,
    key: &str,
    until: Until,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<Tally> {
    let (principal, key, stop) = (principal.to_owned(), key.to_owned(), Arc::clone(stop));
    std::thread::spawn(move || {
        let mut tally = Tally {
            principal,
            ..Tally::default()
        };
        let body = json!({ "plaintext": b64(&[7u8; 64]), "context": { "tenant": "acme" } });
        loop {
            let done = match until {
                Until::Acked(n) => tally.acked >= n,
                Until::Stopped => stop.load(Ordering::Relaxed),
                Until::StoppedOrUnreachable => {
                    stop.load(Ordering::Relaxed) || tally.unreachable > 0
                }
            };
            if done {
                break tally;
            }
            match client.post::<Value>(&format!("/v1/keys/{key}/encrypt"), &body) {
                Ok(answer) if answer["ciphertext"].is_string() => {
                    tally.acked += 1;
                    tally.last_ack = Some(Instant::now());
                }
                Ok(answer) => tally.other.push(format!("no ciphertext: {answer}")),
                Err(RemoteError::Api {
                    status: 503,
                    name,
                    message,
                }) if name == "StoreUnavailable" && message.contains("store") => {
                    tally.unavailable += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(RemoteError::Transport(why)) => {
                    tally.unreachable += 1;
                    tally.other.push(format!("unreachable: {why}"));
                }
                Err(err) => tally.other.push(format!("{err:?}")),
            }
        }
    })
}

/// Two hosts of one deployment on the database `url`, both with `extra` appended to their
/// configuration (before either starts).
fn two_hosts(url: &str, password: Option<&str>, extra: &str) -> (TestServer, TestServer) {
    let deployment =
        Deployment::init(&Setup::soft().postgres(url, password)).expect("kastell init --store");
    deployment.append_config(extra).expect("configuration");
    let a = TestServer::serve(deployment).expect("host A serves");
    let b = a.another_host().expect("host B serves");
    (a, b)
}

fn two_hosts_on(db: &TestStore, extra: &str) -> (TestServer, TestServer) {
    let (url, password) = db.postgres_url().expect("postgres");
    two_hosts(&url, password.as_deref(), extra)
}

/// An AES key made on `a`, and `per_host` crypto-users of each host (`load-a-N`,
/// `load-b-N`) with their clients, issued once on A's deployment.
fn users(a: &TestServer, b: &TestServer, per_host: usize) -> (String, Vec<(String, Client)>) {
    let officer = a.client(&a.officer()).expect("officer");
    let key: Value = officer
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("key created");
    let key = key["id"].as_str().expect("key id").to_owned();
    let mut users = Vec::new();
    for (host, server) in [("a", a), ("b", b)] {
        for i in 0..per_host {
            let name = format!("load-{host}-{i}");
            let profile = a
                .issue_client(&name, "crypto-user", Some("acme"))
                .expect("user");
            users.push((name, server.client(&profile).expect("client")));
        }
    }
    (key, users)
}

/// The allowed records of `operation` in `store`'s trail, by principal.
fn allowed_records(store: &dyn Store, operation: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.audit_range(after, 1000).expect("the trail reads");
        let Some(last) = page.last() else {
            break counts;
        };
        after = last.seq;
        for record in &page {
            if record.entry.operation == operation && record.entry.outcome == Outcome::Allowed {
                *counts.entry(record.entry.principal.clone()).or_default() += 1;
            }
        }
    }
}

/// Every acknowledged encryption of every tally is in the trail (`exact`: and nothing
/// more, when no request can have been committed without an answer).
fn every_ack_recorded(store: &dyn Store, tallies: &[Tally], exact: bool) {
    let recorded = allowed_records(store, "encrypt");
    for tally in tallies {
        let found = recorded.get(&tally.principal).copied().unwrap_or(0);
        if exact {
            assert_eq!(
                found, tally.acked,
                "{}: records of its encryptions",
                tally.principal
            );
        } else {
            assert!(
                found >= tally.acked,
                "{}: {} acknowledged encryptions, only {found} in the trail",
                tally.principal,
                tally.acked
            );
        }
    }
}

/// The trail verifies on `server` (`POST /v1/audit/verify`, an auditor's client) and with
/// `kastell audit verify --config` of its deployment; the records verified.
fn verifies(server: &TestServer, auditor: &std::path::Path) -> u64 {
    let report: Value = server
        .client(auditor)
        .expect("auditor")
        .post("/v1/audit/verify", &json!({}))
        .expect("verified by the server");
    assert_eq!(report["intact"], true, "{report}");
    let config = server.deployment().config().display().to_string();
    let verified = server
        .kastell_ok(&["audit", "verify", "--config", &config])
        .expect("kastell audit verify");
    assert!(verified.contains("audit trail intact"), "{verified}");
    report["records"].as_u64().expect("records")
}

fn join(threads: Vec<JoinHandle<Tally>>) -> Vec<Tally> {
    threads
        .into_iter()
        .map(|t| t.join().expect("load thread"))
        .collect()
}

#[test]
fn both_hosts_under_concurrent_load_form_one_chain_holding_every_acknowledged_request() {
    const REQUESTS: u64 = 60;
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (a, b) = two_hosts_on(&db, "");
    let (key, users) = users(&a, &b, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = users
        .into_iter()
        .map(|(name, client)| drive(&name, client, &key, Until::Acked(REQUESTS), &stop))
        .collect();
    let tallies = join(threads);
    for tally in &tallies {
        assert!(tally.other.is_empty(), "{tally:?}");
        assert_eq!(tally.acked, REQUESTS, "{tally:?}");
    }

    let store = db.open().expect("the store opens");
    every_ack_recorded(&*store, &tallies, true);
    let auditor = a.issue_client("auditor", "auditor", None).expect("auditor");
    let on_a = verifies(&a, &auditor);
    let on_b = verifies(&b, &auditor);
    // B's verification reads A's (itself an audited request) too.
    assert!(
        on_b > on_a,
        "both hosts verify the same chain: {on_a}, then {on_b}"
    );
    assert!(on_a >= 6 * REQUESTS, "{on_a} records");
}

/// The sequence number of the newest checkpoint in `host`'s anchor file (the newest it
/// signed), once that checkpoint is among `stored`; `None` before.
fn anchored(host: &TestServer, stored: &[kastell_core::audit::Checkpoint]) -> Option<u64> {
    let path = kastell_core::keys::anchor_path(&host.deployment().data_dir());
    let kept = kastell_core::keys::KeptCheckpoints::read(&path).expect("anchor file reads")?;
    let newest = kept.checkpoints.last()?;
    stored
        .iter()
        .any(|c| c.digest() == newest.digest())
        .then_some(newest.seq)
}

#[test]
fn checkpoints_are_signed_by_whichever_host_is_due_and_never_twice_for_one_head() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (mut a, mut b) = two_hosts_on(&db, "\n[audit]\ncheckpoint_every = 5\n");
    let (key, users) = users(&a, &b, 2);
    let store = db.open().expect("the store opens");
    // B's data directory is a copy of A's: its anchor file may name A's checkpoint at first.
    let stored = store.checkpoints().expect("checkpoints");
    let first = anchored(&a, &stored)
        .max(anchored(&b, &stored))
        .unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = users
        .into_iter()
        .map(|(name, client)| drive(&name, client, &key, Until::Acked(40), &stop))
        .collect();
    for tally in join(threads) {
        assert!(tally.other.is_empty(), "{tally:?}");
    }
    // Checkpoints are signed after the answer (detached): wait for both hosts' to land.
    let started = Instant::now();
    let (seq_a, seq_b) = loop {
        let stored = store.checkpoints().expect("checkpoints");
        if let (Some(on_a), Some(on_b)) = (anchored(&a, &stored), anchored(&b, &stored))
            && on_a > first
            && on_b > first
        {
            break (on_a, on_b);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "each host signed a checkpoint it was due for, kept in its anchor file and in \
             the store ({} stored)",
            stored.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ne!(
        seq_a, seq_b,
        "each host signed the checkpoints it was due for"
    );

    // Both hosts asked at once to sign the same head (`kastell audit checkpoint`, three
    // times each, in parallel, while nothing else writes): exactly one checkpoint. First a
    // record no checkpoint covers yet.
    let user = b
        .client(
            &a.deployment()
                .data_dir()
                .join("clients/load-b-0/profile.toml"),
        )
        .expect("user");
    let before = loop {
        let _: Value = user
            .post(
                &format!("/v1/keys/{key}/encrypt"),
                &json!({ "plaintext": b64(b"uncovered"), "context": { "tenant": "acme" } }),
            )
            .expect("encrypted");
        std::thread::sleep(Duration::from_millis(500));
        let stored = store.checkpoints().expect("checkpoints");
        let (head, _) = store.audit_head().expect("head").expect("records");
        if stored.last().is_some_and(|newest| newest.seq < head) {
            break stored.len();
        }
    };
    let signers: Vec<_> = [&a, &b, &a, &b, &a, &b]
        .iter()
        .map(|host| {
            host.deployment()
                .command()
                .args(["audit", "checkpoint", "--config"])
                .arg(host.deployment().config())
                .spawn()
                .expect("kastell audit checkpoint")
        })
        .collect();
    for mut signer in signers {
        assert!(signer.wait().expect("waited").success(), "audit checkpoint");
    }
    let after = store.checkpoints().expect("checkpoints");
    assert_eq!(
        after.len(),
        before + 1,
        "six signers of one head store one checkpoint"
    );

    // Both stop, each signing its final checkpoint of the same head.
    a.stop().expect("A stops");
    b.stop().expect("B stops");
    let stored = store.checkpoints().expect("checkpoints");
    assert!(stored.len() >= 4, "{} checkpoints", stored.len());
    for pair in stored.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq && pair[0].hash != pair[1].hash,
            "two checkpoints for one head: #{} and #{}",
            pair[0].seq,
            pair[1].seq
        );
    }
    for host in [&a, &b] {
        let config = host.deployment().config().display().to_string();
        let verified = host
            .kastell_ok(&["audit", "verify", "--config", &config])
            .expect("kastell audit verify");
        assert!(
            verified.contains("audit trail intact")
                && verified.contains(&format!("{} signed checkpoints", stored.len())),
            "{verified}"
        );
    }
}

#[test]
fn kill_9_of_one_host_under_load_loses_nothing_it_acknowledged_and_the_other_keeps_serving() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (mut a, b) = two_hosts_on(&db, "");
    let (key, users) = users(&a, &b, 2);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = users
        .into_iter()
        .map(|(name, client)| {
            let until = if name.starts_with("load-a") {
                Until::StoppedOrUnreachable
            } else {
                Until::Stopped
            };
            drive(&name, client, &key, until, &stop)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    a.kill().expect("kill -9 of host A");
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let tallies = join(threads);
    for tally in &tallies {
        assert!(tally.acked > 0, "{tally:?}");
        if tally.principal.starts_with("load-b") {
            assert!(tally.other.is_empty(), "B served throughout: {tally:?}");
            assert!(
                tally.last_ack.is_some_and(|t| t > killed),
                "B served after A was killed: {tally:?}"
            );
        } else {
            assert!(tally.unreachable > 0, "A's clients saw it go: {tally:?}");
        }
    }

    let store = db.open().expect("the store opens");
    // A request A committed but did not answer before dying may be in the trail too.
    every_ack_recorded(&*store, &tallies, false);

    a.resume()
        .expect("A starts again: its start-up audit check passes");
    let user = a
        .client(
            &a.deployment()
                .data_dir()
                .join("clients/load-a-0/profile.toml"),
        )
        .expect("client of the restarted A");
    let again: Value = user
        .post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(b"after the crash"), "context": { "tenant": "acme" } }),
        )
        .expect("A serves again");
    assert!(again["ciphertext"].is_string(), "{again}");
    let auditor = a.issue_client("auditor", "auditor", None).expect("auditor");
    let on_a = verifies(&a, &auditor);
    assert!(
        verifies(&b, &auditor) > on_a,
        "one chain, read by both hosts"
    );
}

#[test]
fn the_database_stopped_and_restarted_under_load_costs_503s_and_nothing_acknowledged() {
    let Some(mut cluster) = kastell_tests::cluster::Cluster::start(false).expect("a cluster")
    else {
        return;
    };
    let (url, password) = cluster.url();
    let (a, b) = two_hosts(&url, Some(&password), "");
    let (key, users) = users(&a, &b, 2);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = users
        .into_iter()
        .map(|(name, client)| drive(&name, client, &key, Until::Stopped, &stop))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    cluster.stop().expect("the database stops");
    std::thread::sleep(Duration::from_secs(3));
    cluster.resume().expect("the database starts again");
    let back = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let tallies = join(threads);
    let unavailable: u64 = tallies.iter().map(|t| t.unavailable).sum();
    assert!(unavailable > 0, "requests during the outage: {tallies:?}");
    for tally in &tallies {
        assert!(
            tally.other.is_empty(),
            "only 503 StoreUnavailable while the database is away: {tally:?}"
        );
        assert!(
            tally.last_ack.is_some_and(|t| t > back),
            "the host reconnected once the database was back: {tally:?}"
        );
    }

    // A restart while the hosts are idle: the first request to each host succeeds (the
    // pooled connections the database dropped are replaced, not handed out).
    cluster.restart().expect("pg_ctl restart");
    let profile = |name: &str| {
        a.deployment()
            .data_dir()
            .join(format!("clients/{name}/profile.toml"))
    };
    for (host, name) in [(&a, "load-a-0"), (&b, "load-b-0")] {
        let answer: Result<Value, _> = host.client(&profile(name)).expect("client").post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(b"after a restart"), "context": { "tenant": "acme" } }),
        );
        assert!(answer.is_ok(), "{name} after pg_ctl restart: {answer:?}");
    }

    let mut options = kastell_core::store::PostgresOptions::new(&url).expect("url");
    options = options.with_password(password.into());
    let store = kastell_core::store::PostgresStore::open(&options).expect("the store opens");
    every_ack_recorded(&store, &tallies, false);
    let auditor = a.issue_client("auditor", "auditor", None).expect("auditor");
    let on_a = verifies(&a, &auditor);
    assert!(
        verifies(&b, &auditor) > on_a,
        "one chain, read by both hosts"
    );
}

/// The advisory lock a transaction that appends an audit record takes as its last step
/// (`host/core/src/store/postgres/audit.rs`, `AUDIT_LOCK`). Held by the test, it stops a
/// host's transaction after its other writes; the test checks that it did stop there.
const AUDIT_LOCK: i64 = 0x6175_6469_7400;

/// A session of the test's own on `db`'s database.
fn session(db: &TestStore) -> postgres::Client {
    let (url, password) = db.postgres_url().expect("postgres");
    let mut config: postgres::Config = url.parse().expect("url");
    if let Some(password) = password {
        config.password(password);
    }
    config.connect(postgres::NoTls).expect("a session")
}

/// Runs `request` on a thread while the test holds the audit lock, waits until a backend
/// of the host is blocked on it inside a transaction (`after_writes`: one that has written
/// rows already, so it has a transaction id), terminates that backend
/// (`pg_terminate_backend`), releases the lock and returns the request's result.
fn dropped_mid_transaction<T: Send + 'static>(
    session: &mut postgres::Client,
    after_writes: bool,
    request: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    session
        .execute("SELECT pg_advisory_lock($1)", &[&AUDIT_LOCK])
        .expect("the test holds the audit lock");
    let request = std::thread::spawn(request);
    let started = Instant::now();
    let victim: i32 = loop {
        let waiting = session
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()
                    AND wait_event_type = 'Lock' AND wait_event = 'advisory'
                    AND state = 'active' AND (backend_xid IS NOT NULL OR NOT $1)",
                &[&after_writes],
            )
            .expect("pg_stat_activity");
        if let Some(row) = waiting {
            break row.get(0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30) && !request.is_finished(),
            "the host's transaction never waited for the audit lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let terminated: bool = session
        .query_one("SELECT pg_terminate_backend($1)", &[&victim])
        .expect("pg_terminate_backend")
        .get(0);
    assert!(terminated, "backend {victim} terminated");
    session
        .execute("SELECT pg_advisory_unlock($1)", &[&AUDIT_LOCK])
        .expect("the test releases the audit lock");
    request.join().expect("request thread")
}

fn count(session: &mut postgres::Client, sql: &str) -> i64 {
    session.query_one(sql, &[]).expect(sql).get(0)
}

#[test]
fn a_connection_dropped_mid_transaction_leaves_no_partial_state_and_the_next_request_works() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (url, password) = db.postgres_url().expect("postgres");
    let server =
        TestServer::start(&Setup::soft().postgres(&url, password.as_deref())).expect("serves");
    let officer = server.officer();
    let user = server
        .issue_client("svc", "crypto-user", Some("acme"))
        .expect("user");
    let mut session = session(&db);
    let counts = |session: &mut postgres::Client| {
        (
            count(session, "SELECT count(*) FROM keys"),
            count(session, "SELECT count(*) FROM key_versions"),
            count(session, "SELECT count(*) FROM aliases"),
            count(session, "SELECT count(*) FROM audit"),
        )
    };

    // A key created with its alias: key, version and alias rows written, the audit record
    // waiting for the chain's head, when the connection goes.
    let before = counts(&mut session);
    let client = server.client(&officer).expect("officer");
    let create = move || {
        client.post::<Value>(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/half-made" }),
        )
    };
    let refused = dropped_mid_transaction(&mut session, true, create);
    kastell_tests::server::expect_api_error(refused, 503, "StoreUnavailable");
    assert_eq!(
        counts(&mut session),
        before,
        "nothing of the creation is stored"
    );
    let officer_client = server.client(&officer).expect("officer");
    kastell_tests::server::expect_api_error(
        officer_client.get::<Value>("/v1/keys/alias%2Fhalf-made"),
        404,
        "NotFound",
    );
    let key: Value = officer_client
        .post(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/half-made" }),
        )
        .expect("the next creation works");
    let key = key["id"].as_str().expect("key id").to_owned();

    // An encryption whose audit record's group commit loses its connection: refused, and
    // the next one (on a new connection) is answered.
    let before = count(&mut session, "SELECT count(*) FROM audit");
    let client = server.client(&user).expect("user");
    let path = format!("/v1/keys/{key}/encrypt");
    let body = json!({ "plaintext": b64(b"lost"), "context": { "tenant": "acme" } });
    let encrypt = move || client.post::<Value>(&path, &body);
    let refused = dropped_mid_transaction(&mut session, false, encrypt);
    kastell_tests::server::expect_api_error(refused, 503, "StoreUnavailable");
    assert_eq!(
        count(&mut session, "SELECT count(*) FROM audit"),
        before,
        "no record of the refused encryption"
    );
    let encrypted: Value = server
        .client(&user)
        .expect("user")
        .post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(b"kept"), "context": { "tenant": "acme" } }),
        )
        .expect("the next encryption works");
    assert!(encrypted["ciphertext"].is_string());

    let auditor = server
        .issue_client("auditor", "auditor", None)
        .expect("auditor");
    let report: Value = server
        .client(&auditor)
        .expect("auditor")
        .post("/v1/audit/verify", &json!({}))
        .expect("verified");
    assert_eq!(report["intact"], true, "{report}");
}

/// Creates a key of `spec` and `origin` through `officer`: its id.
fn create_key(officer: &Client, spec: &str, origin: &str) -> String {
    let key: Value = officer
        .post("/v1/keys", &json!({ "spec": spec, "origin": origin }))
        .expect("key created");
    assert_eq!(key["origin"], origin, "{key}");
    key["id"].as_str().expect("key id").to_owned()
}

#[test]
fn two_hosts_sharing_a_softhsm2_token_use_the_token_keys_either_one_makes() {
    use kastell_tests::server::SoftHsm;
    let Some(db) = TestStore::postgres() else {
        return;
    };
    if !std::path::Path::new(SoftHsm::MODULE).is_file() {
        eprintln!(
            "SKIPPED: {} is missing (apt-get install softhsm2)",
            SoftHsm::MODULE
        );
        return;
    }
    let hsm = SoftHsm::create("kastell-hosts").expect("SoftHSM2 token");
    let (url, password) = db.postgres_url().expect("postgres");
    let setup = Setup::softhsm(&hsm)
        .expect("set-up")
        .postgres(&url, password.as_deref());
    let a = TestServer::start(&setup).expect("host A on the token");
    let b = a.another_host().expect("host B on the same token");
    let user = a.issue_client("svc", "crypto-user", None).expect("user");
    let (officer_a, on_a, on_b) = (
        a.client(&a.officer()).expect("officer"),
        a.client(&user).expect("user on A"),
        b.client(&user).expect("user on B"),
    );
    // Made on A after B started: B finds them on the shared token.
    for origin in ["token", "wrapped"] {
        let key = create_key(&officer_a, "AES_256", origin);
        let encrypted: Value = on_b
            .post(
                &format!("/v1/keys/{key}/encrypt"),
                &json!({ "plaintext": b64(origin.as_bytes()) }),
            )
            .expect("B encrypts under A's key");
        let decrypted: Value = on_a
            .post(
                "/v1/decrypt",
                &json!({ "ciphertext": encrypted["ciphertext"] }),
            )
            .expect("A decrypts");
        assert_eq!(decrypted["plaintext"], b64(origin.as_bytes()), "{origin}");
    }
    let signer = create_key(&officer_a, "ECC_NIST_P384", "token");
    let signed: Value = on_b
        .post(
            &format!("/v1/keys/{signer}/sign"),
            &json!({ "message": b64(b"shared token") }),
        )
        .expect("B signs with A's token key");
    let verified: Value = on_a
        .post(
            &format!("/v1/keys/{signer}/verify"),
            &json!({ "message": b64(b"shared token"), "signature": signed["signature"] }),
        )
        .expect("A verifies");
    assert_eq!(verified["valid"], true);
}

#[test]
fn hosts_with_copied_soft_tokens_share_wrapped_keys_and_refuse_a_token_key_made_after_by_name() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (a, b) = two_hosts_on(&db, "");
    let user = a.issue_client("svc", "crypto-user", None).expect("user");
    let (officer_a, on_b) = (
        a.client(&a.officer()).expect("officer"),
        b.client(&user).expect("user on B"),
    );
    // Wrapped keys: their master key was on the token when B's copy was made.
    let wrapped = create_key(&officer_a, "AES_256", "wrapped");
    let encrypted: Result<Value, _> = on_b.post(
        &format!("/v1/keys/{wrapped}/encrypt"),
        &json!({ "plaintext": b64(b"wrapped") }),
    );
    assert!(encrypted.is_ok(), "{encrypted:?}");
    // A key generated in A's soft token after the copy is not in B's.
    let resident = create_key(&officer_a, "AES_256", "token");
    let refused = on_b.post::<Value>(
        &format!("/v1/keys/{resident}/encrypt"),
        &json!({ "plaintext": b64(b"resident") }),
    );
    let message = kastell_tests::server::expect_api_error(refused, 500, "KeyUnavailable");
    assert!(
        message.contains(&resident) && message.contains("token"),
        "{message}"
    );
}
