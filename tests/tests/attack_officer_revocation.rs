//! Attacks through revocation (issue 16, point 4), performed through the real server (TLS
//! on loopback, officers' client certificates, approvals signed by `kastell approve`):
//! one officer revoking the others to rule alone, and approvals that outlive the
//! certificate of the officer who gave them.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use kastell::client::{Client, RemoteError};
use kastell_tests::server::TestServer;
use kastell_tests::text;
use serde_json::{Value, json};

struct Officers {
    server: TestServer,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
}

/// A server with three officers and every class up to `issue-officer` at 2.
fn hardened(classes: &[&str]) -> Officers {
    let server = TestServer::start_soft().expect("server");
    let b = server
        .issue_client("officer-b", "crypto-officer", None)
        .expect("b");
    let c = server
        .issue_client("officer-c", "crypto-officer", None)
        .expect("c");
    let a = server.officer();
    let client = server.client(&a).expect("a");
    for class in classes {
        client
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({ "required": 2 }))
            .expect("harden");
    }
    Officers { server, a, b, c }
}

fn serial_of(client: &Client, principal: &str) -> String {
    let list: Value = client.get("/v1/clients").expect("list");
    list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["principal"] == principal)
        .and_then(|c| c["serial"].as_str())
        .expect("listed")
        .to_owned()
}

/// `kastell approve ID` as `profile`: its standard output.
fn approve(server: &TestServer, id: &str, profile: &Path) -> String {
    let out = server
        .kastell(&["approve", id, "--profile", profile.to_str().unwrap()])
        .expect("kastell runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn works(server: &TestServer, profile: &Path) -> bool {
    match server
        .client(profile)
        .expect("client")
        .get::<Value>("/v1/quorum")
    {
        Ok(_) => true,
        Err(RemoteError::Api { status: 401, .. }) => false,
        Err(other) => panic!("unexpected: {other:?}"),
    }
}

/// With `issue-officer` at 2, officer A revokes officer B's certificate: the revocation
/// waits for a second officer; A approving his own request does not make it happen.
#[test]
fn one_officer_cannot_revoke_another_alone() {
    let o = hardened(&["issue-officer"]);
    let a = o.server.client(&o.a).expect("a");
    let serial = serial_of(&a, "officer-b");
    let answer: Value = a
        .post(
            &format!("/v1/clients/{serial}/revoke"),
            &json!({ "reason": "taking over" }),
        )
        .expect("request");
    assert_eq!(answer["status"], "pending", "{answer}");
    assert_eq!(answer["operation"]["class"], "issue-officer");
    assert_eq!(
        answer["operation"]["action"]["revoke-officer"]["serial"],
        serial.as_str()
    );
    let id = answer["operation"]["id"].as_str().unwrap().to_owned();
    assert!(approve(&o.server, &id, &o.a).contains("1 of 2"));
    assert!(works(&o.server, &o.b), "one officer did not lock B out");
    // The CLI says the same: pending, not revoked.
    let out = o
        .server
        .kastell(&[
            "user",
            "revoke",
            &serial,
            "--profile",
            o.a.to_str().unwrap(),
        ])
        .expect("kastell runs");
    assert!(
        text(&out.stderr).contains("pending approval"),
        "{}",
        text(&out.stderr)
    );
    assert!(works(&o.server, &o.b));
    // With a second officer the revocation runs.
    assert!(approve(&o.server, &id, &o.c).contains("the operation ran"));
    assert!(!works(&o.server, &o.b), "revoked once two officers agreed");
    // A user's certificate is still revoked at once by one officer (an emergency).
    o.server
        .issue_client("app", "crypto-user", None)
        .expect("user");
    let revoked: Value = a
        .post(
            &format!("/v1/clients/{}/revoke", serial_of(&a, "app")),
            &json!({}),
        )
        .expect("revoke a user");
    assert_eq!(revoked["revoked_now"], true, "{revoked}");
}

/// Officer A approves a deletion, then A's certificate is revoked: A's approval no longer
/// counts, so B's approval alone does not execute it; C's does.
#[test]
fn an_approval_by_an_officer_revoked_before_execution_no_longer_counts() {
    let o = hardened(&["issue-officer", "issue-client", "delete-key"]);
    let a = o.server.client(&o.a).expect("a");
    let key: Value = a
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("create");
    let key_id = key["id"].as_str().unwrap().to_owned();
    let answer: Value = a
        .post(
            &format!("/v1/keys/{key_id}/schedule-deletion"),
            &json!({ "days": 7 }),
        )
        .expect("request");
    let id = answer["operation"]["id"].as_str().unwrap().to_owned();
    assert!(approve(&o.server, &id, &o.a).contains("1 of 2"));

    // A is revoked (offline, by the token's holder) before the operation runs.
    let a_serial = serial_of(&a, &principal_of(&a, &o.a));
    let out = o
        .server
        .kastell(&[
            "ca",
            "revoke-client",
            &a_serial,
            "--config",
            o.server.deployment().config().to_str().unwrap(),
        ])
        .expect("kastell runs");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let b_said = approve(&o.server, &id, &o.b);
    assert!(
        b_said.contains("1 of 2"),
        "A's approval no longer counts: {b_said}"
    );
    let b = o.server.client(&o.b).expect("b");
    let state: Value = b.get(&format!("/v1/keys/{key_id}")).expect("describe");
    assert_eq!(
        state["state"], "enabled",
        "not deleted on B's approval alone"
    );
    assert!(approve(&o.server, &id, &o.c).contains("the operation ran"));
    let state: Value = b.get(&format!("/v1/keys/{key_id}")).expect("describe");
    assert_eq!(state["state"], "pending-deletion");
}

/// The principal of the certificate `profile` names.
fn principal_of(client: &Client, profile: &Path) -> String {
    let pem = std::fs::read_to_string(
        kastell_core::clients::ClientProfile::load(profile)
            .expect("profile")
            .certificate,
    )
    .expect("certificate");
    let list: Value = client.get("/v1/clients").expect("list");
    list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            let detail: Value = client
                .get(&format!("/v1/clients/{}", c["serial"].as_str().unwrap()))
                .expect("detail");
            detail["certificate"].as_str().map(str::trim) == Some(pem.trim())
        })
        .and_then(|c| c["principal"].as_str())
        .expect("the profile's certificate is registered")
        .to_owned()
}
