//! Attacks on separation of duties through the quorum classes (issue 16, point 3), each
//! performed by one officer through the real server (TLS on loopback, client
//! certificates) and refused by name.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell::client::Client;
use kastell_core::clients::ClientKey;
use kastell_tests::server::{TestServer, expect_api_error};
use serde_json::{Value, json};

fn set(client: &Client, class: &str, required: u32) -> Result<Value, kastell::client::RemoteError> {
    client.put(
        &format!("/v1/quorum/{class}"),
        &json!({ "required": required }),
    )
}

fn requirement(client: &Client, class: &str) -> u64 {
    TestServer::requirement(client, class).expect("class listed")
}

/// The README's old hardening example set `delete-key` and `quorum` to 2 with
/// `issue-officer` at 1; then one officer could issue himself a second officer certificate
/// and approve alone. That setting is refused now, naming the class to raise first.
#[test]
fn an_officer_cannot_raise_a_class_above_the_certificate_issuing_classes() {
    let server = TestServer::start_soft().expect("server");
    let alice = server.client(&server.officer()).expect("alice");

    for class in ["delete-key", "quorum", "bind-policy", "issue-client"] {
        let message = expect_api_error(set(&alice, class, 2), 400, "InvalidInput");
        assert!(
            message.contains("issue-officer") && message.contains("raise issue-officer first"),
            "{class}: {message}"
        );
        assert_eq!(requirement(&alice, class), 1, "{class} unchanged");
    }
    // Raising the ceiling alone is not enough for the other classes: issue-client too.
    set(&alice, "issue-officer", 2).expect("issue-officer first");
    let message = expect_api_error(set(&alice, "delete-key", 2), 400, "InvalidInput");
    assert!(message.contains("raise issue-client first"), "{message}");
    set(&alice, "issue-client", 2).expect("then issue-client");
    set(&alice, "delete-key", 2).expect("then delete-key");
    // Lowering a ceiling under a class is refused as well.
    let message = expect_api_error(set(&alice, "issue-client", 1), 400, "InvalidInput");
    assert!(message.contains("lower delete-key first"), "{message}");
    assert_eq!(requirement(&alice, "issue-client"), 2);
}

/// Hardened from the top down (`issue-officer`, `issue-client`, `delete-key`, `quorum`
/// at 2), one officer asks for a second officer certificate for himself and approves it:
/// the certificate is not issued and no class can be lowered by him alone.
#[test]
fn one_officer_cannot_mint_himself_a_second_officer_certificate_after_hardening() {
    let server = TestServer::start_soft().expect("server");
    let alice = server.client(&server.officer()).expect("alice");
    for class in ["issue-officer", "issue-client", "delete-key", "quorum"] {
        set(&alice, class, 2).expect("harden from the top down");
    }
    let own_key = ClientKey::generate();
    let answer: Value = alice
        .post(
            "/v1/clients",
            &json!({
                "principal": "alice-second",
                "role": "crypto-officer",
                "public_key": own_key.public_key_pem().expect("pem"),
            }),
        )
        .expect("request");
    assert_eq!(answer["status"], "pending", "{answer}");
    assert_eq!(answer["operation"]["class"], "issue-officer", "{answer}");
    // A user certificate for himself is of class issue-client: pending too.
    let user: Value = alice
        .post(
            "/v1/clients",
            &json!({
                "principal": "alice-app",
                "role": "crypto-user",
                "public_key": own_key.public_key_pem().expect("pem"),
            }),
        )
        .expect("request");
    assert_eq!(user["status"], "pending", "{user}");
    assert_eq!(user["operation"]["class"], "issue-client", "{user}");
    // Lowering issue-officer under the others is refused outright; lowering delete-key
    // first needs the quorum class's two approvals.
    let message = expect_api_error(set(&alice, "issue-officer", 1), 400, "InvalidInput");
    assert!(message.contains("lower"), "{message}");
    let lower: Value = set(&alice, "delete-key", 1).expect("request lowering");
    assert_eq!(lower["status"], "pending", "{lower}");
    assert_eq!(requirement(&alice, "issue-officer"), 2);
    assert_eq!(requirement(&alice, "delete-key"), 2);
    let clients: Value = alice.get("/v1/clients").expect("list");
    assert!(
        clients["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .all(|c| c["principal"] != "alice-second" && c["principal"] != "alice-app"),
        "{clients}"
    );
}
