//! A measurement, not a test (issue 22): the statements a `/v1` encrypt sends PostgreSQL in
//! the steady state. Run by `scripts/bench-statements`, which turns on `log_statement =
//! all` on a private test cluster, runs this, and counts the statements logged between the
//! two markers this sends around its requests.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed measurement"
)]

use base64::Engine as _;
use kastell_core::store::testing::TestStore;
use kastell_tests::server::{Setup, TestServer};
use serde_json::{Value, json};

/// Requests between the markers.
const REQUESTS: usize = 200;

#[test]
#[ignore = "a measurement, run by scripts/bench-statements"]
fn statements_of_encrypt_requests_on_postgres() {
    let Some(db) = TestStore::postgres() else {
        panic!("no PostgreSQL test cluster (source scripts/postgres-env)");
    };
    let (url, password) = db.postgres_url().unwrap();
    let server = TestServer::start(&Setup::soft().postgres(&url, password.as_deref())).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let user = server
        .new_client("svc-acme", "crypto-user", Some("acme"))
        .unwrap();
    let policy = kastell_tests::vault::push(
        &officer,
        "/v1/policies",
        kastell_tests::guest("tenant-context"),
    )
    .unwrap();
    let _: Value = officer
        .post(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/bench-aes", "policy": policy }),
        )
        .unwrap();
    let body = json!({
        "plaintext": base64::engine::general_purpose::STANDARD.encode([7u8; 64]),
        "context": { "tenant": "acme" }
    });
    let encrypt = || {
        let _: Value = user
            .post("/v1/keys/alias%2Fbench-aes/encrypt", &body)
            .unwrap();
    };
    for _ in 0..50 {
        encrypt();
    }
    db.sql("SELECT 'kastell-mark-start'").unwrap();
    let started = std::time::Instant::now();
    for _ in 0..REQUESTS {
        encrypt();
    }
    let elapsed = started.elapsed();
    db.sql("SELECT 'kastell-mark-end'").unwrap();
    println!("requests {REQUESTS} seconds {:.3}", elapsed.as_secs_f64());
}
