//! Several `kastell serve` hosts on one PostgreSQL database (issue 20): the second host is
//! a copy of the first one's data directory ([`Deployment::another_host`]), both serving
//! from the same store ([`TestServer::two_hosts`]). Needs `KASTELL_TEST_POSTGRES_URL` (scripts/postgres-env); skipped
//! with a printed reason without it, required under CI.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell_core::store::testing::TestStore;
use kastell_tests::server::TestServer;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_key_created_on_one_host_encrypts_on_the_other_and_decrypts_on_the_first() {
    let Some(db) = TestStore::postgres() else {
        return;
    };
    let (a, b) = TestServer::two_hosts(&db)
        .expect("two hosts")
        .expect("PostgreSQL");
    let officer = a.client(&a.officer()).expect("officer on A");
    let key: Value = officer
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("key created on A");
    let key = key["id"].as_str().expect("key id").to_owned();
    let profile = a.issue_client("svc", "crypto-user", None).expect("user");
    let on_a = a.client(&profile).expect("user on A");
    let on_b = b.client(&profile).expect("the same user on B");

    let context = json!({ "tenant": "acme" });
    let encrypted: Value = on_b
        .post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(b"attack at dawn"), "context": context }),
        )
        .expect("host B encrypts under the key made on A");
    let decrypted: Value = on_a
        .post(
            "/v1/decrypt",
            &json!({ "ciphertext": encrypted["ciphertext"], "context": context }),
        )
        .expect("host A decrypts what B encrypted");
    assert_eq!(decrypted["plaintext"], b64(b"attack at dawn"));
}
