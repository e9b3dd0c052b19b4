//! Issue 22: the server holds key records and aliases in memory (no store transaction to
//! find a key in the steady state), and a change made on this host is honoured by the very
//! next request: a policy bound, a rotation, an alias re-pointed, a key disabled, a key
//! scheduled for deletion, each right after requests that had the key's record in memory.
//! A real `kastell serve` on SQLite and the soft token, over mutual TLS.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell::client::{Client, RemoteError, segment};
use kastell_tests::server::{TestServer, expect_api_error};
use serde_json::{Value, json};

fn encrypt(user: &Client, key: &str, context: &Value) -> Result<Value, RemoteError> {
    user.post(
        &format!("/v1/keys/{}/encrypt", segment(key)),
        &json!({
            "plaintext": base64::engine::general_purpose::STANDARD.encode(b"ledger"),
            "context": context
        }),
    )
}

/// The key version a Kastell ciphertext names (bytes 17..21 of its header, big-endian,
/// after the format byte and the 16-byte key id).
fn version_of(ciphertext: &Value) -> u32 {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ciphertext["ciphertext"].as_str().expect("ciphertext"))
        .expect("base64");
    let header = kastell_proto::ciphertext::Header::parse(&bytes).expect("a Kastell ciphertext");
    header.0.version
}

/// Many requests first, so that the key's record and alias are surely held.
fn warm(user: &Client, key: &str, context: &Value) {
    for _ in 0..20 {
        encrypt(user, key, context).expect("encrypts");
    }
}

#[test]
fn a_change_on_this_host_is_honoured_by_the_very_next_request() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let user = server
        .new_client("svc-acme", "crypto-user", Some("acme"))
        .unwrap();
    let first: Value = officer
        .post(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/live" }),
        )
        .expect("key created");
    let first = first["id"].as_str().unwrap().to_owned();
    let second: Value = officer
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("key created");
    let second = second["id"].as_str().unwrap().to_owned();
    let acme = json!({ "tenant": "acme" });
    let other = json!({ "tenant": "other" });

    // A policy bound: another tenant's context, allowed a moment ago, is refused at once.
    warm(&user, "alias/live", &other);
    let policy = kastell_tests::vault::push(
        &officer,
        "/v1/policies",
        kastell_tests::guest("tenant-context"),
    )
    .expect("policy stored");
    let _: Value = officer
        .put(
            &format!("/v1/keys/{first}/policy"),
            &json!({ "policy": policy }),
        )
        .expect("policy bound");
    expect_api_error(encrypt(&user, "alias/live", &other), 403, "AccessDenied");
    encrypt(&user, "alias/live", &acme).expect("its own tenant still encrypts");

    // A rotation: the next ciphertext is under version 2.
    warm(&user, &first, &acme);
    assert_eq!(version_of(&encrypt(&user, &first, &acme).unwrap()), 1);
    let _: Value = officer
        .post(&format!("/v1/keys/{first}/rotate"), &json!({}))
        .expect("rotated");
    assert_eq!(
        version_of(&encrypt(&user, &first, &acme).unwrap()),
        2,
        "the very next encrypt uses the new version"
    );

    // An alias re-pointed: the next request through it reaches the other key.
    warm(&user, "alias/live", &acme);
    let _: Value = officer
        .put("/v1/aliases/live", &json!({ "key": second }))
        .expect("alias re-pointed");
    let through = encrypt(&user, "alias/live", &acme).unwrap();
    assert_eq!(through["key_id"], second.as_str(), "{through}");

    // A key disabled, then enabled, then scheduled for deletion.
    warm(&user, &second, &acme);
    let none = json!({});
    let _: Value = officer
        .post(&format!("/v1/keys/{second}/disable"), &none)
        .expect("disabled");
    expect_api_error(encrypt(&user, &second, &acme), 409, "Disabled");
    expect_api_error(encrypt(&user, "alias/live", &acme), 409, "Disabled");
    let _: Value = officer
        .post(&format!("/v1/keys/{second}/enable"), &none)
        .expect("enabled");
    encrypt(&user, &second, &acme).expect("enabled again, at once");
    warm(&user, &second, &acme);
    let _: Value = officer
        .post(
            &format!("/v1/keys/{second}/schedule-deletion"),
            &json!({ "days": 7 }),
        )
        .expect("scheduled");
    expect_api_error(encrypt(&user, &second, &acme), 409, "InvalidState");

    // The policy's refusal above and these are in the trail like any other.
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let report: Value = auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("audit verified");
    assert_eq!(report["intact"], true, "{report}");
}

/// A change made by another process on the same SQLite file (the command line, offline)
/// reaches the server through the change counter and its log within
/// `[store] change_check_ms` (1 s by default).
#[test]
fn a_key_disabled_offline_on_the_same_store_is_refused_within_the_bound() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let user = server.new_client("svc", "crypto-user", None).unwrap();
    let key: Value = officer
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("key created");
    let key = key["id"].as_str().unwrap().to_owned();
    let none = json!({});
    warm(&user, &key, &none);
    let config = server.deployment().config().display().to_string();
    server
        .kastell_ok(&["key", "disable", &key, "--config", &config])
        .expect("disabled offline");
    let started = std::time::Instant::now();
    loop {
        match encrypt(&user, &key, &none) {
            Ok(_) if started.elapsed() < std::time::Duration::from_secs(20) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => {
                expect_api_error(other, 409, "Disabled");
                break;
            }
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused after {:?}",
        started.elapsed()
    );
}
