//! m-of-n quorum over the real server: TLS on loopback, officers' client certificates,
//! approvals signed with their keys by `kastell approve` or by hand.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell::client::{Client, RemoteError};
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::{Value, json};

fn status<T: std::fmt::Debug>(result: Result<T, RemoteError>) -> (u16, String) {
    match result {
        Err(RemoteError::Api { status, name, .. }) => (status, name),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn key_state(client: &Client, key: &str) -> String {
    let description: Value = client
        .get(&format!("/v1/keys/{}", kastell::client::segment(key)))
        .expect("describe");
    description["state"].as_str().expect("state").to_owned()
}

fn requirement(client: &Client, class: &str) -> u64 {
    TestServer::requirement(client, class).expect("class listed")
}

/// `kastell approve ID --profile P`: its exit status and output.
fn approve_cli(server: &TestServer, id: &str, profile: &Path) -> (bool, String) {
    let out = server
        .deployment()
        .command()
        .args(["approve", id, "--profile"])
        .arg(profile)
        .output()
        .expect("run kastell approve");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A DER signature over `bytes` with the key of `profile`.
fn sign_with(profile: &Path, bytes: &[u8]) -> String {
    let profile = kastell_core::clients::ClientProfile::load(profile).expect("profile");
    let pem = std::fs::read_to_string(&profile.key).expect("key.pem");
    let secret: p384::SecretKey =
        p384::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem).expect("P-384 key");
    let signing = p384::ecdsa::SigningKey::from(&secret);
    let signature: p384::ecdsa::Signature = signature::Signer::sign(&signing, bytes);
    BASE64.encode(signature.to_der().as_bytes())
}

fn canonical(client: &Client, id: &str) -> Vec<u8> {
    let detail: Value = client
        .get(&format!("/v1/approvals/{id}"))
        .expect("approval detail");
    BASE64
        .decode(detail["canonical"].as_str().expect("canonical"))
        .expect("base64")
}

fn pending_id(answer: &Value) -> String {
    assert_eq!(answer["status"], "pending", "{answer}");
    answer["operation"]["id"]
        .as_str()
        .expect("operation id")
        .to_owned()
}

struct Officers {
    server: TestServer,
    first: std::path::PathBuf,
    second: std::path::PathBuf,
    third: std::path::PathBuf,
}

fn officers(server: TestServer) -> Officers {
    let second = server
        .issue_client("officer-b", "crypto-officer", None)
        .expect("officer b");
    let third = server
        .issue_client("officer-c", "crypto-officer", None)
        .expect("officer c");
    Officers {
        first: server.officer(),
        second,
        third,
        server,
    }
}

/// Raises `issue-officer` and `issue-client` to `m` (they apply at once while the `quorum`
/// class needs one approval): no class may need more approvals than they do.
fn raise_ceilings(client: &Client, m: u32) {
    for class in ["issue-officer", "issue-client"] {
        client
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({ "required": m }))
            .expect("raise a ceiling");
    }
}

#[test]
fn fewer_than_m_approvals_do_nothing_the_same_officer_counts_once_and_m_distinct_execute() {
    let o = officers(TestServer::start_soft().expect("server"));
    let a = o.server.client(&o.first).expect("client a");
    raise_ceilings(&a, 2);
    let set: Value = a
        .put("/v1/quorum/delete-key", &json!({ "required": 2 }))
        .expect("raise delete-key to 2 (quorum class needs 1)");
    assert_eq!(set["required"], 2, "{set}");
    let key: Value = a
        .post(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/old" }),
        )
        .expect("create");
    let id = key["id"].as_str().expect("id").to_owned();

    let answer: Value = a
        .post(
            "/v1/keys/alias%2Fold/schedule-deletion",
            &json!({ "days": 7 }),
        )
        .expect("request deletion");
    let op = pending_id(&answer);
    assert_eq!(answer["required"], 2);
    assert_eq!(
        answer["operation"]["action"]["schedule-deletion"]["key"], id,
        "officers approve the key id, not the alias"
    );
    assert_eq!(
        key_state(&a, &id),
        "enabled",
        "a request alone changes nothing"
    );

    let (ok, text) = approve_cli(&o.server, &op, &o.first);
    assert!(ok, "{text}");
    assert!(text.contains("approved: 1 of 2"), "{text}");
    assert_eq!(
        key_state(&a, &id),
        "enabled",
        "m-1 approvals change nothing"
    );

    let (ok, text) = approve_cli(&o.server, &op, &o.first);
    assert!(ok, "{text}");
    assert!(text.contains("already (1 of 2)"), "{text}");
    assert_eq!(
        key_state(&a, &id),
        "enabled",
        "the same officer counts once"
    );

    let (ok, text) = approve_cli(&o.server, &op, &o.second);
    assert!(ok, "{text}");
    assert!(
        text.contains("approved: 2 of 2; the operation ran"),
        "{text}"
    );
    assert_eq!(key_state(&a, &id), "pending-deletion");

    let (ok, text) = approve_cli(&o.server, &op, &o.third);
    assert!(!ok, "an executed operation takes no more approvals: {text}");
    assert!(text.contains("InvalidState"), "{text}");
    let listed: Value = a.get("/v1/approvals?state=executed").expect("list");
    assert_eq!(listed["operations"][0]["id"], op.as_str());
    assert_eq!(
        listed["operations"][0]["approvals"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_non_officer_a_foreign_key_and_other_bytes_are_refused() {
    let o = officers(TestServer::start_soft().expect("server"));
    let user = o
        .server
        .issue_client("app", "crypto-user", Some("acme"))
        .expect("user");
    let a = o.server.client(&o.first).expect("client a");
    let b = o.server.client(&o.second).expect("client b");
    raise_ceilings(&a, 2);
    a.put::<Value>("/v1/quorum/bind-policy", &json!({ "required": 2 }))
        .expect("bind-policy needs 2");
    a.post::<Value>(
        "/v1/keys",
        &json!({ "spec": "AES_256", "alias": "alias/k" }),
    )
    .expect("create");
    let answer: Value = a
        .put("/v1/keys/alias%2Fk/policy", &json!({ "policy": null }))
        .expect("request");
    let op = pending_id(&answer);
    let bytes = canonical(&a, &op);
    let path = format!("/v1/approvals/{op}");

    let as_user = o.server.client(&user).expect("user client");
    let (code, name) =
        status(as_user.post::<Value>(&path, &json!({ "signature": sign_with(&user, &bytes) })));
    assert_eq!(
        (code, name.as_str()),
        (403, "AccessDenied"),
        "a crypto-user cannot approve"
    );

    let foreign = sign_with(&o.first, &bytes);
    let (code, name) = status(b.post::<Value>(&path, &json!({ "signature": foreign })));
    assert_eq!(
        (code, name.as_str()),
        (400, "InvalidSignature"),
        "officer b cannot send officer a's signature"
    );

    let mut other = bytes.clone();
    other.push(b' ');
    let (code, name) =
        status(b.post::<Value>(&path, &json!({ "signature": sign_with(&o.second, &other) })));
    assert_eq!(
        (code, name.as_str()),
        (400, "InvalidSignature"),
        "a signature over other bytes"
    );

    let (code, name) = status(b.post::<Value>(&path, &json!({ "signature": "not base64!" })));
    assert_eq!((code, name.as_str()), (400, "InvalidBase64"));

    let detail: Value = a.get(&path).expect("detail");
    assert!(
        detail["operation"]["approvals"]
            .as_array()
            .expect("approvals")
            .is_empty(),
        "no refused approval counted: {detail}"
    );
    let audit_reader = o
        .server
        .issue_client("auditor", "auditor", None)
        .expect("auditor");
    let auditor = o.server.client(&audit_reader).expect("auditor client");
    let records: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    let refusals = records["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["operation"] == "approve" && r["outcome"] == "denied")
        .count();
    assert!(
        refusals >= 3,
        "each refused approval is audited: {refusals}"
    );
}

#[test]
fn an_expired_operation_cannot_be_approved_or_executed() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    let config = deployment.config();
    let mut text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("[server]"), "{text}");
    text.push_str("approval_ttl_secs = 1\n");
    std::fs::write(&config, text).expect("write config");
    let o = officers(TestServer::serve(deployment).expect("server"));
    let a = o.server.client(&o.first).expect("client a");
    raise_ceilings(&a, 2);
    a.put::<Value>("/v1/quorum/delete-key", &json!({ "required": 2 }))
        .expect("delete-key needs 2");
    let key: Value = a
        .post("/v1/keys", &json!({ "spec": "AES_256" }))
        .expect("create");
    let id = key["id"].as_str().expect("id").to_owned();
    let answer: Value = a
        .post(
            &format!("/v1/keys/{id}/schedule-deletion"),
            &json!({ "days": 7 }),
        )
        .expect("request");
    let op = pending_id(&answer);
    let (ok, text) = approve_cli(&o.server, &op, &o.first);
    assert!(ok, "{text}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (ok, text) = approve_cli(&o.server, &op, &o.second);
    assert!(!ok, "approved after expiry: {text}");
    assert!(text.contains("Expired"), "{text}");
    assert_eq!(
        key_state(&a, &id),
        "enabled",
        "an expired operation never runs"
    );
    let detail: Value = a.get(&format!("/v1/approvals/{op}")).expect("detail");
    assert_eq!(detail["operation"]["state"], "expired");
}

#[test]
fn the_quorum_setting_needs_quorum_to_lower_and_survives_a_restart() {
    let mut o = officers(TestServer::start_soft().expect("server"));
    let a = o.server.client(&o.first).expect("client a");
    raise_ceilings(&a, 3);
    a.put::<Value>("/v1/quorum/delete-key", &json!({ "required": 3 }))
        .expect("delete-key 3");
    a.put::<Value>("/v1/quorum/quorum", &json!({ "required": 2 }))
        .expect("quorum 2 (applies at once: quorum needed 1)");
    let answer: Value = a
        .put("/v1/quorum/delete-key", &json!({ "required": 1 }))
        .expect("request lowering");
    let op = pending_id(&answer);
    assert_eq!(
        requirement(&a, "delete-key"),
        3,
        "one officer cannot lower it"
    );
    let (ok, text) = approve_cli(&o.server, &op, &o.first);
    assert!(ok, "{text}");
    assert_eq!(
        requirement(&a, "delete-key"),
        3,
        "m-1 approvals do not lower it"
    );

    o.server.restart().expect("restart");
    let a = o.server.client(&o.first).expect("client a after restart");
    assert_eq!(requirement(&a, "quorum"), 2, "settings survive a restart");
    let (ok, text) = approve_cli(&o.server, &op, &o.second);
    assert!(ok, "a pending operation survives a restart: {text}");
    assert_eq!(requirement(&a, "delete-key"), 1);

    let (code, name) = status(a.put::<Value>("/v1/quorum/delete-key", &json!({ "required": 17 })));
    assert_eq!((code, name.as_str()), (400, "InvalidInput"));
    let (code, name) =
        status(a.put::<Value>("/v1/quorum/no-such-class", &json!({ "required": 2 })));
    assert_eq!((code, name.as_str()), (400, "InvalidInput"));
}

#[test]
fn an_officer_certificate_needs_the_issue_officer_quorum_and_then_works() {
    // A long principal and tenant make the certificate larger than an operation's
    // outcome text may be: it is collected through the client registry, whole.
    let long_name = format!("dora-{}", "x".repeat(120));
    let long_tenant = "t".repeat(120);
    let o = officers(TestServer::start_soft().expect("server"));
    let a = o.server.client(&o.first).expect("client a");
    a.put::<Value>("/v1/quorum/issue-officer", &json!({ "required": 2 }))
        .expect("issue-officer needs 2");
    let dir = o.server.deployment().data_dir().join("new-officer");
    o.server.user_key(&dir).expect("user key");
    let out = o
        .server
        .deployment()
        .command()
        .args([
            "user",
            "add",
            "--principal",
            &long_name,
            "--role",
            "crypto-officer",
            "--tenant",
            &long_tenant,
            "--out-dir",
        ])
        .arg(&dir)
        .arg("--public-key")
        .arg(dir.join("public.pem"))
        .arg("--profile")
        .arg(&o.first)
        .output()
        .expect("user add");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pending approval"), "{stderr}");
    assert!(
        !dir.join("cert.pem").exists(),
        "no certificate before approval"
    );
    let pending: Value = a.get("/v1/approvals").expect("pending list");
    let op = pending["operations"][0]["id"]
        .as_str()
        .expect("op")
        .to_owned();
    assert_eq!(pending["operations"][0]["class"], "issue-officer");

    for officer in [&o.first, &o.second] {
        let (ok, text) = approve_cli(&o.server, &op, officer);
        assert!(ok, "{text}");
    }
    let out = o
        .server
        .deployment()
        .command()
        .args(["user", "collect", &op, "--out-dir"])
        .arg(&dir)
        .arg("--profile")
        .arg(&o.first)
        .output()
        .expect("user collect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = std::fs::read(dir.join("cert.pem")).expect("collected certificate");
    assert!(
        pem.len() > 1024,
        "larger than an outcome's text: {} bytes",
        pem.len()
    );
    let dora = o
        .server
        .client(&dir.join("profile.toml"))
        .expect("dora's client");
    assert_eq!(
        requirement(&dora, "issue-officer"),
        2,
        "the new officer is an officer"
    );

    // A crypto-user certificate is not of class issue-officer: issued at once.
    let user_dir = o.server.deployment().data_dir().join("new-user");
    o.server.user_key(&user_dir).expect("user key");
    let out = o
        .server
        .deployment()
        .command()
        .args([
            "user",
            "add",
            "--principal",
            "eve",
            "--role",
            "crypto-user",
            "--tenant",
            "acme",
            "--out-dir",
        ])
        .arg(&user_dir)
        .arg("--public-key")
        .arg(user_dir.join("public.pem"))
        .arg("--profile")
        .arg(&o.third)
        .output()
        .expect("user add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eve = o
        .server
        .client(&user_dir.join("profile.toml"))
        .expect("eve");
    let (code, name) = status(eve.get::<Value>("/v1/quorum"));
    assert_eq!((code, name.as_str()), (403, "AccessDenied"));
}
