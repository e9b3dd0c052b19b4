//! A deployment on PostgreSQL end to end: `kastell init --store postgres://…`, a real
//! `kastell serve`, a key created, encrypting and decrypting through the server, the trail
//! verified by the server and by `kastell audit verify`, state kept across a restart and
//! found in the database (none in a SQLite file). Bad store settings are refused by name:
//! a wrong password, an unreachable database, a password in the URL, a database that holds
//! a deployment already. Needs `KASTELL_TEST_POSTGRES_URL` (scripts/postgres-env); skipped
//! with a printed reason without it, required under CI.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell_core::deployment::STORE_PASSWORD_ENV;
use kastell_core::store::testing::TestStore;
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The deployment's setup on a fresh database of the test cluster.
fn on_postgres(db: &TestStore) -> (Setup, String) {
    let (url, password) = db.postgres_url().expect("postgres");
    (Setup::soft().postgres(&url, password.as_deref()), url)
}

#[test]
fn a_deployment_made_on_postgresql_serves_keys_and_keeps_its_trail_there() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (setup, url) = on_postgres(&db);
    let mut server = TestServer::start(&setup).expect("init --store and serve");
    let data = server.deployment().data_dir();
    let config = std::fs::read_to_string(server.deployment().config()).expect("kastell.toml");
    assert!(
        config.contains("[store]") && config.contains(&url),
        "{config}"
    );
    let (_, password) = db.postgres_url().expect("postgres");
    if let Some(password) = password {
        assert!(
            !config.contains(&password),
            "the password is not written: {config}"
        );
    }
    assert!(
        !data.join("kastell.db").exists(),
        "no SQLite store beside a PostgreSQL one"
    );

    let officer = server.client(&server.officer()).expect("officer");
    let key: Value = officer
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("key created");
    let key = key["id"].as_str().expect("key id").to_owned();
    let user = server
        .client(
            &server
                .issue_client("svc", "crypto-user", None)
                .expect("user"),
        )
        .expect("user client");
    let context = json!({ "tenant": "acme" });
    let encrypted: Value = user
        .post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(b"attack at dawn"), "context": context }),
        )
        .expect("encrypted");
    let ciphertext = encrypted["ciphertext"]
        .as_str()
        .expect("ciphertext")
        .to_owned();
    let decrypt = |user: &kastell::client::Client| -> Value {
        user.post(
            "/v1/decrypt",
            &json!({ "ciphertext": ciphertext, "context": context }),
        )
        .expect("decrypted")
    };
    assert_eq!(decrypt(&user)["plaintext"], b64(b"attack at dawn"));

    // The key and its trail are rows of the database.
    db.sql(&format!(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM keys WHERE id = '{key}') THEN
                 RAISE EXCEPTION 'key not in the database'; END IF;
             IF NOT EXISTS (SELECT 1 FROM audit WHERE operation = 'decrypt') THEN
                 RAISE EXCEPTION 'decrypt not audited in the database'; END IF;
         END $$"
    ))
    .expect("state in PostgreSQL");

    let auditor = server
        .client(
            &server
                .issue_client("auditor", "auditor", None)
                .expect("auditor"),
        )
        .expect("auditor client");
    let report: Value = auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("verified");
    assert_eq!(report["intact"], true, "{report}");

    server.restart().expect("restart");
    let user = server
        .client(&data.join("clients/svc/profile.toml"))
        .expect("user client");
    assert_eq!(
        decrypt(&user)["plaintext"],
        b64(b"attack at dawn"),
        "the key outlives the process"
    );
    let config = server.deployment().config().display().to_string();
    let verified = server
        .kastell_ok(&["audit", "verify", "--config", &config])
        .expect("kastell audit verify");
    assert!(verified.contains("audit trail intact"), "{verified}");
}

/// Runs `kastell args` with the deployment's environment and `env` over it: exit code and
/// standard error.
fn kastell(deployment: &Deployment, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = deployment
        .command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("kastell runs");
    (
        out.status.code().unwrap_or(-1),
        kastell_tests::text(&out.stderr),
    )
}

#[test]
fn bad_store_settings_are_refused_by_name() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (setup, url) = on_postgres(&db);
    let deployment = Deployment::init(&setup).expect("init --store");
    let config = deployment.config().display().to_string();

    // A wrong password: the operator's to fix (exit 2), named, and not echoed.
    let (code, stderr) = kastell(
        &deployment,
        &["audit", "verify", "--config", &config],
        &[(STORE_PASSWORD_ENV, "not-the-password")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // A database nothing listens for: unavailable (exit 3), named.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let away = format!("postgres://kastell@127.0.0.1:{port}/kastell");
    let (code, stderr) = kastell(
        &deployment,
        &["audit", "verify", "--config", &config, "--store", &away],
        &[],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("store unavailable"), "{stderr}");

    // A password in the URL is refused before anything is tried, and not echoed.
    let with_password = url.replacen("://kastell@", "://kastell:hunter2@", 1);
    let (code, stderr) = kastell(
        &deployment,
        &[
            "audit",
            "verify",
            "--config",
            &config,
            "--store",
            &with_password,
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("holds a password"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // `init` does not start a second deployment (and trail) in a used database.
    let again = tempfile::tempdir().expect("tempdir");
    let data = again.path().join("data").display().to_string();
    let (code, stderr) = kastell(
        &deployment,
        &[
            "init",
            "--org",
            "Other GmbH",
            "--country",
            "DE",
            "--data-dir",
            &data,
            "--store",
            &url,
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("already holds a Kastell deployment"),
        "{stderr}"
    );
}

/// The database away (connections dropped, new ones refused): a request that needs the store
/// fails with 503 `StoreUnavailable`, without the database's whereabouts; once the database
/// takes connections again, the server reconnects and the same request succeeds.
#[test]
fn requests_fail_with_503_while_the_store_is_away_and_succeed_after() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (setup, _) = on_postgres(&db);
    let server = TestServer::start(&setup).expect("init --store and serve");
    let officer = server.raw(&server.officer()).expect("officer");
    let create = || {
        officer
            .json(
                reqwest::Method::POST,
                "/v1/keys",
                &json!({ "spec": "AES_256" }),
            )
            .expect("answered")
    };
    assert_eq!(create().status, 201);

    let name = db.database_name().expect("postgres");
    db.cluster_sql(&format!(
        "ALTER DATABASE {name} CONNECTION LIMIT 0;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ))
    .expect("the database turns the server away");
    let away = create();
    let (error, message) = away.error().expect("a JSON error");
    assert_eq!(
        (away.status, error.as_str()),
        (503, "StoreUnavailable"),
        "{message}"
    );
    assert!(!message.contains("127.0.0.1"), "{message}");

    db.cluster_sql(&format!("ALTER DATABASE {name} CONNECTION LIMIT -1"))
        .expect("the database is back");
    let back = create();
    assert_eq!(
        back.status,
        201,
        "the server reconnected: {}\n{}",
        back.text(),
        server.log()
    );
}
