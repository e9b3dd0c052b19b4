//! Attacks on release challenges (issue 16, point 13), through the real server: a client
//! that asks for challenges without end is refused by name (`Throttled`) once it holds its
//! quota, while another client still gets its own; a nonce another client learnt is refused
//! to it without being used up, and its owner still releases with it; every issue is in
//! the audit trail with the key and the expiry, never with the nonce.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell::client::{Client, RemoteError};
use kastell_tests::guest;
use kastell_tests::server::{Deployment, Setup, TestServer, expect_api_error};
use kastell_tests::vault::{Vault, attest, challenge, create_key, release_by_certificate};
use serde_json::{Value, json};

/// A server whose clients may hold 3 open challenges each.
fn server() -> TestServer {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    deployment
        .append_config("\n[release]\nchallenges_per_client = 3\n")
        .expect("config");
    TestServer::serve(deployment).expect("serve")
}

fn client(server: &TestServer, name: &str, role: &str) -> Client {
    server
        .client(&server.issue_client(name, role, None).expect("issue"))
        .expect("client")
}

fn ask(client: &Client, key: &str) -> Result<Value, RemoteError> {
    client.post(
        &format!(
            "/v1/keys/{}/release/challenge",
            kastell::client::segment(key)
        ),
        &json!({}),
    )
}

fn trail(auditor: &Client) -> Vec<Value> {
    let page: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    page["records"].as_array().expect("records").clone()
}

fn issues<'a>(trail: &'a [Value], principal: &str) -> Vec<&'a Value> {
    trail
        .iter()
        .filter(|r| {
            r["operation"] == "release-challenge"
                && r["outcome"] == "allowed"
                && r["principal"] == principal
        })
        .collect()
}

/// One client asks for challenges again and again: past its 3 it gets 429 `Throttled`
/// naming the quota, every time, while another client still gets challenges; the refusals
/// are not audited one by one, the issues are, with key and expiry and without the nonce.
#[test]
fn a_client_hoarding_challenges_is_throttled_while_another_still_gets_them() {
    let server = server();
    let officer = server.client(&server.officer()).expect("officer");
    let key = create_key(&officer, &json!({ "spec": "AES_256" })).expect("key");
    let hoarder = client(&server, "hoarder", "crypto-user");
    let patient = client(&server, "patient", "crypto-user");

    let nonces: Vec<String> = (0..3)
        .map(|_| challenge(&hoarder, &key).expect("within the quota"))
        .collect();
    for _ in 0..50 {
        let message = expect_api_error(ask(&hoarder, &key), 429, "Throttled");
        assert!(
            message.contains("holds 3 open release challenges")
                && message.contains("release.challenges_per_client"),
            "{message}"
        );
    }
    let theirs = challenge(&patient, &key).expect("another client is not held back");

    let auditor = client(&server, "auditor", "auditor");
    let trail = trail(&auditor);
    let hoarded = issues(&trail, "hoarder");
    assert_eq!(hoarded.len(), 3, "each issue audited");
    assert_eq!(issues(&trail, "patient").len(), 1);
    for record in &hoarded {
        assert_eq!(record["key"], key.as_str(), "{record}");
        let reason = record["reason"].as_str().unwrap();
        assert!(
            reason.contains("usable until") && reason.contains("nonce-sha384:"),
            "{record}"
        );
    }
    let whole = serde_json::to_string(&trail).unwrap();
    for nonce in nonces.iter().chain([&theirs]) {
        let bytes = BASE64.decode(nonce).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !whole.contains(nonce.as_str()) && !whole.contains(&hex),
            "a nonce is in the audit trail"
        );
    }
    let refused = trail
        .iter()
        .filter(|r| {
            r["operation"] == "release-challenge"
                && r["outcome"] == "denied"
                && r["principal"] == "hoarder"
        })
        .count();
    assert!(
        (1..5).contains(&refused),
        "the first refusal is audited, the 49 after it summed up later: {refused}"
    );
}

/// Another client presents a nonce it learnt (with its owner's attestation): refused as
/// another client's, without using it up, so the owner still releases with it.
#[test]
fn a_stolen_nonce_is_refused_and_still_works_for_its_owner() {
    let server = server();
    let officer = server.client(&server.officer()).expect("officer");
    let vault = Vault::set_up(&officer, guest("record-vault")).expect("vault");
    let owner = client(&server, "owner", "crypto-user");
    let thief = client(&server, "thief", "crypto-user");

    let nonce = challenge(&owner, &vault.records_key).expect("challenge");
    let evidence = attest(&owner, &vault, &vault.workload, &nonce).expect("attest");
    for _ in 0..3 {
        let message = expect_api_error(
            release_by_certificate(&thief, &vault.records_key, &nonce, &evidence),
            403,
            "InvalidNonce",
        );
        assert!(message.contains("issued to another client"), "{message}");
    }
    let released = release_by_certificate(&owner, &vault.records_key, &nonce, &evidence)
        .expect("the owner's nonce survived the theft");
    assert_eq!(released["key_id"], vault.records_key.as_str());
    let message = expect_api_error(
        release_by_certificate(&owner, &vault.records_key, &nonce, &evidence),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("already used"), "{message}");

    // Using a challenge gives its place in the quota back.
    for _ in 0..3 {
        challenge(&owner, &vault.records_key).expect("within the quota again");
    }
    expect_api_error(ask(&owner, &vault.records_key), 429, "Throttled");

    let auditor = client(&server, "auditor", "auditor");
    let trail = trail(&auditor);
    assert_eq!(issues(&trail, "owner").len(), 4);
    let thefts = trail
        .iter()
        .filter(|r| {
            r["operation"] == "release"
                && r["outcome"] == "denied"
                && r["principal"] == "thief"
                && r["reason"]
                    .as_str()
                    .is_some_and(|t| t.contains("issued to another client"))
        })
        .count();
    assert_eq!(thefts, 3, "each attempt audited");
}
