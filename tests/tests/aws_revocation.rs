//! Revocation of access keys on the AWS endpoint while their rows are kept in memory (the
//! server reads an access key's row from the store at most once per
//! `[aws] access_key_recheck_ms`, so that a signed request costs no store read), as attacks
//! through the real listener with aws-sdk-rust: a key revoked through the server is refused
//! by AWS's name from the very next request, however long the row may be kept; a key
//! revoked on the store by another process (`kastell access-key revoke --config`) is
//! refused within the recheck time.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use kastell_tests::aws::{self, sdk};
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::{Value, json};

/// A deployment serving the AWS endpoint with `extra` lines in its `[aws]` table, a user's
/// access key of tenant acme, and the AES key alias/revocation.
fn serve(extra: &str) -> (TestServer, (String, String)) {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    aws::enable(&deployment, extra).unwrap();
    let server = TestServer::serve(deployment).unwrap();
    let officer = server.officer().display().to_string();
    server
        .kastell_ok(&[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/revocation",
            "--profile",
            &officer,
        ])
        .unwrap();
    let key = server
        .access_key("leaver", &["crypto-user"], Some("acme"))
        .unwrap();
    (server, key)
}

/// Encrypts a few bytes under alias/revocation: `Ok` or the exception's name.
fn encrypt(runtime: &tokio::runtime::Runtime, client: &aws_sdk_kms::Client) -> Result<(), String> {
    let context = HashMap::from([("tenant".to_owned(), "acme".to_owned())]);
    runtime
        .block_on(
            client
                .encrypt()
                .key_id("alias/revocation")
                .plaintext(Blob::new(b"still mine?".to_vec()))
                .set_encryption_context(Some(context))
                .send(),
        )
        .map(drop)
        .map_err(|e| e.code().unwrap_or("(no code)").to_owned())
}

/// With rows kept for a minute, only the revocation itself can make the next request fail:
/// the server forgets the row as it revokes the key.
#[test]
fn a_key_revoked_through_the_server_is_refused_from_the_next_request_though_rows_are_kept() {
    let (server, key) = serve("access_key_recheck_ms = 60000\n");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let leaver = sdk(&server, &key);
    // Used: its row is now kept for 60 s.
    encrypt(&runtime, &leaver).unwrap();
    encrypt(&runtime, &leaver).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let revoked: Value = officer
        .post(
            &format!("/v1/access-keys/{}/revoke", key.0),
            &json!({"reason": "left the company"}),
        )
        .unwrap();
    assert_eq!(
        revoked,
        json!({"access_key_id": key.0, "revoked_now": true})
    );
    let started = Instant::now();
    assert_eq!(
        encrypt(&runtime, &leaver),
        Err("UnrecognizedClientException".to_owned()),
        "the request right after the revocation"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the refusal came from the revocation, not from the row's recheck time"
    );
    // And every request after it.
    for _ in 0..3 {
        assert_eq!(
            encrypt(&runtime, &leaver),
            Err("UnrecognizedClientException".to_owned())
        );
    }
}

/// `kastell access-key revoke --config` writes the store from another process: the server
/// learns of it when it reads the row again, within `access_key_recheck_ms` (1 s here, the
/// default), and refuses the key by AWS's name from then on.
#[test]
fn a_key_revoked_on_the_store_by_another_process_is_refused_within_the_recheck_time() {
    let (server, key) = serve("");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let leaver = sdk(&server, &key);
    encrypt(&runtime, &leaver).unwrap();
    let config = server.deployment().config().display().to_string();
    let out = server
        .kastell_ok(&[
            "access-key",
            "revoke",
            &key.0,
            "--reason",
            "revoked offline",
            "--config",
            &config,
        ])
        .unwrap();
    assert!(
        out.contains(&format!("revoked access key {}", key.0)),
        "{out}"
    );
    let revoked_at = Instant::now();
    let refused_after = loop {
        match encrypt(&runtime, &leaver) {
            Ok(()) => {
                assert!(
                    revoked_at.elapsed() < Duration::from_secs(10),
                    "a key revoked on the store still works after 10 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(name) => {
                assert_eq!(name, "UnrecognizedClientException");
                break revoked_at.elapsed();
            }
        }
    };
    // 1 s of recheck time, and room for requests on a loaded machine.
    assert!(
        refused_after < Duration::from_secs(5),
        "refused only after {refused_after:?}"
    );
    assert_eq!(
        encrypt(&runtime, &leaver),
        Err("UnrecognizedClientException".to_owned())
    );
}
