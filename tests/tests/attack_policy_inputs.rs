//! Attacks on what a bound policy reads (issue 16, point 2), performed by one officer
//! through the real server: policies decide on key tags (`allow-measured` reads
//! `allowed-guests`) and an alias decides which key (and so which policy) a caller
//! reaches, so changing either needs the `bind-policy` class's approvals, like binding a
//! policy does.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell::client::Client;
use kastell_tests::server::TestServer;
use kastell_tests::text;
use serde_json::{Value, json};

fn describe(client: &Client, key: &str) -> Value {
    client
        .get(&format!("/v1/keys/{}", kastell::client::segment(key)))
        .expect("describe")
}

/// With `bind-policy` at 2, one officer tags a guest's hash into `allowed-guests` (to
/// release the key to a workload of his own) and re-points an alias: both wait for a
/// second officer, and nothing changes until then.
#[test]
fn one_officer_cannot_change_tags_or_aliases_a_policy_reads() {
    let server = TestServer::start_soft().expect("server");
    let second = server
        .issue_client("officer-b", "crypto-officer", None)
        .expect("b");
    let alice = server.client(&server.officer()).expect("alice");
    for class in ["issue-officer", "issue-client", "bind-policy"] {
        alice
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({ "required": 2 }))
            .expect("harden");
    }
    let records: Value = alice
        .post(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/records", "releasable": true,
                     "tags": { "allowed-guests": "sha384:00" } }),
        )
        .expect("create");
    let decoy: Value = alice
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("decoy");
    let own_guest = format!("sha384:{}", "ab".repeat(48));

    let tagged: Value = alice
        .put(
            "/v1/keys/alias%2Frecords/tags",
            &json!({ "tags": { "allowed-guests": own_guest } }),
        )
        .expect("request");
    assert_eq!(tagged["status"], "pending", "{tagged}");
    assert_eq!(tagged["operation"]["class"], "bind-policy");
    assert_eq!(
        tagged["operation"]["action"]["update-tags"]["key"], records["id"],
        "officers approve the exact key"
    );
    let repointed: Value = alice
        .put("/v1/aliases/records", &json!({ "key": decoy["id"] }))
        .expect("request");
    assert_eq!(repointed["status"], "pending", "{repointed}");
    assert_eq!(repointed["operation"]["class"], "bind-policy");

    // Approving his own requests does not apply them.
    for answer in [&tagged, &repointed] {
        let id = answer["operation"]["id"].as_str().unwrap();
        let out = server
            .kastell(&[
                "approve",
                id,
                "--profile",
                server.officer().to_str().unwrap(),
            ])
            .expect("kastell runs");
        assert!(
            text(&out.stdout).contains("1 of 2"),
            "{}",
            text(&out.stdout)
        );
    }
    let now = describe(&alice, "alias/records");
    assert_eq!(now["id"], records["id"], "the alias still names the key");
    assert_eq!(now["tags"]["allowed-guests"], "sha384:00", "tags unchanged");

    // The CLI reports the same pending state.
    let out = server
        .kastell(&[
            "key",
            "tag",
            "alias/records",
            "--tag",
            "team=x",
            "--profile",
            server.officer().to_str().unwrap(),
        ])
        .expect("kastell runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("pending approval"),
        "{}",
        text(&out.stderr)
    );

    // A second officer's approval applies the tags.
    let id = tagged["operation"]["id"].as_str().unwrap();
    let out = server
        .kastell(&["approve", id, "--profile", second.to_str().unwrap()])
        .expect("kastell runs");
    assert!(
        text(&out.stdout).contains("the operation ran"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        describe(&alice, "alias/records")["tags"]["allowed-guests"],
        own_guest.as_str()
    );
}
