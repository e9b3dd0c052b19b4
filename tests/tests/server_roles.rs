//! The HTTPS API's role matrix over real mutual TLS, endpoint by endpoint: a
//! crypto-officer administers keys and policies and cannot use keys; a crypto-user uses keys
//! and cannot administer; an auditor reads and verifies the audit trail; every role may
//! describe and list keys and read `/metrics` and `/v1/openapi.json`; `/healthz` needs no
//! certificate and everything else does. Refusals are 403 `AccessDenied` and audited.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell_core::clients::ClientProfile;
use kastell_tests::server::{Deployment, RawClient, RawResponse, Setup, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// The three roles a client certificate can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Officer,
    User,
    Auditor,
}

const EVERYONE: [Who; 3] = [Who::Auditor, Who::User, Who::Officer];
const OFFICER: &[Who] = &[Who::Officer];
const USER: &[Who] = &[Who::User];
const AUDITOR: &[Who] = &[Who::Auditor];
const ANY_ROLE: &[Who] = &[Who::Officer, Who::User, Who::Auditor];
const OFFICER_OR_USER: &[Who] = &[Who::Officer, Who::User];

enum Body {
    Empty,
    Json(Value),
    Wasm(Vec<u8>),
}

/// One call of one endpoint, and the roles that may make it.
struct Endpoint {
    name: &'static str,
    method: Method,
    path: String,
    body: Body,
    allowed: &'static [Who],
}

fn endpoint(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Body,
    allowed: &'static [Who],
) -> Endpoint {
    Endpoint {
        name,
        method,
        path: path.into(),
        body,
        allowed,
    }
}

/// A served deployment with a client per role and keys of every kind.
struct World {
    server: TestServer,
    officer: RawClient,
    user: RawClient,
    auditor: RawClient,
    endpoints: Vec<Endpoint>,
}

impl World {
    fn client(&self, who: Who) -> &RawClient {
        match who {
            Who::Officer => &self.officer,
            Who::User => &self.user,
            Who::Auditor => &self.auditor,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn send(client: &RawClient, endpoint: &Endpoint) -> RawResponse {
    let request = client.request(endpoint.method.clone(), &endpoint.path);
    let request = match &endpoint.body {
        Body::Empty => request,
        Body::Json(value) => request.json(value),
        Body::Wasm(bytes) => request
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .body(bytes.clone()),
    };
    client
        .send(request)
        .unwrap_or_else(|e| panic!("{} {}: {e}", endpoint.method, endpoint.path))
}

/// Sends a JSON request (or none for `Value::Null`) and expects success; returns the body.
fn ok(client: &RawClient, method: Method, path: &str, body: Value) -> Value {
    let body = if body.is_null() {
        Body::Empty
    } else {
        Body::Json(body)
    };
    let call = endpoint("set-up", method, path, body, ANY_ROLE);
    let response = send(client, &call);
    assert!(
        (200..300).contains(&response.status),
        "{} {path}: {} {}",
        call.method,
        response.status,
        response.text()
    );
    response.json().expect("JSON answer")
}

/// A new P-384 public key as SPKI PEM (for issuing a client certificate).
fn fresh_public_key() -> String {
    let out = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout"])
        .output()
        .expect("openssl ecparam");
    let mut child = std::process::Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl pkey");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &out.stdout).expect("key");
    let public = child.wait_with_output().expect("public key");
    String::from_utf8(public.stdout).expect("PEM")
}

fn create_key(officer: &RawClient, spec: &str) -> String {
    let key = ok(officer, Method::POST, "/v1/keys", json!({ "spec": spec }));
    key["id"].as_str().expect("key id").to_owned()
}

/// Starts a server, issues a crypto-user and an auditor, creates an AES, an ECC, an HMAC
/// and a spare AES key, stores the tenant-context policy, and makes a ciphertext, a
/// signature and a MAC for the calls that check them.
fn world() -> World {
    let server = TestServer::start_soft().expect("server starts");
    let user_profile = server
        .issue_client("svc-user", "crypto-user", None)
        .expect("user issued");
    let auditor_profile = server
        .issue_client("audit-1", "auditor", None)
        .expect("auditor issued");
    let officer = server.raw(&server.officer()).expect("officer client");
    let user = server.raw(&user_profile).expect("user client");
    let auditor = server.raw(&auditor_profile).expect("auditor client");

    let policy = kastell_tests::guest("tenant-context");
    let stored = send(
        &officer,
        &endpoint(
            "upload",
            Method::POST,
            "/v1/policies",
            Body::Wasm(policy.clone()),
            OFFICER,
        ),
    );
    assert_eq!(stored.status, 201, "{}", stored.text());
    let measurement = stored.json().unwrap()["measurement"]
        .as_str()
        .unwrap()
        .to_owned();
    let workload = format!(
        "{}",
        kastell_attest::Measurement::of(&kastell_tests::guest("echo-workload"))
    );
    let ping = b64(br#"{"step":"ping"}"#);
    let aes = create_key(&officer, "AES_256");
    let ec = create_key(&officer, "ECC_NIST_P384");
    let mac_key = create_key(&officer, "HMAC_SHA384");
    let spare = create_key(&officer, "AES_256");

    let message = b64(b"the matrix");
    let encrypted = ok(
        &user,
        Method::POST,
        &format!("/v1/keys/{aes}/encrypt"),
        json!({ "plaintext": message }),
    );
    let ciphertext = encrypted["ciphertext"].as_str().unwrap().to_owned();
    let signed = ok(
        &user,
        Method::POST,
        &format!("/v1/keys/{ec}/sign"),
        json!({ "message": message }),
    );
    let signature = signed["signature"].as_str().unwrap().to_owned();
    let maced = ok(
        &user,
        Method::POST,
        &format!("/v1/keys/{mac_key}/mac"),
        json!({ "message": message }),
    );
    let mac = maced["mac"].as_str().unwrap().to_owned();

    let json = Body::Json;
    let endpoints = vec![
        // Key administration: the crypto-officer only. The spare key goes through its
        // life cycle in this order, so each allowed call finds it in a state it accepts.
        endpoint(
            "create key",
            Method::POST,
            "/v1/keys",
            json(json!({ "spec": "AES_256" })),
            OFFICER,
        ),
        endpoint(
            "rotate",
            Method::POST,
            format!("/v1/keys/{spare}/rotate"),
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "disable",
            Method::POST,
            format!("/v1/keys/{spare}/disable"),
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "enable",
            Method::POST,
            format!("/v1/keys/{spare}/enable"),
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "schedule deletion",
            Method::POST,
            format!("/v1/keys/{spare}/schedule-deletion"),
            json(json!({ "days": 7 })),
            OFFICER,
        ),
        endpoint(
            "cancel deletion",
            Method::POST,
            format!("/v1/keys/{spare}/cancel-deletion"),
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "alias",
            Method::PUT,
            "/v1/aliases/matrix",
            json(json!({ "key": spare })),
            OFFICER,
        ),
        endpoint(
            "tags",
            Method::PUT,
            format!("/v1/keys/{spare}/tags"),
            json(json!({ "tags": { "team": "matrix" } })),
            OFFICER,
        ),
        endpoint(
            "bind policy",
            Method::PUT,
            format!("/v1/keys/{spare}/policy"),
            json(json!({ "policy": measurement })),
            OFFICER,
        ),
        endpoint(
            "min decryption version",
            Method::PUT,
            format!("/v1/keys/{spare}/min-decryption-version"),
            json(json!({ "version": 1 })),
            OFFICER,
        ),
        // Policies: the crypto-officer only.
        endpoint(
            "policy upload",
            Method::POST,
            "/v1/policies",
            Body::Wasm(policy),
            OFFICER,
        ),
        endpoint(
            "policy list",
            Method::GET,
            "/v1/policies",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "policy get",
            Method::GET,
            format!("/v1/policies/{measurement}"),
            Body::Empty,
            OFFICER,
        ),
        // Workloads: officers upload, users invoke, both list.
        endpoint(
            "workload upload",
            Method::POST,
            "/v1/workloads",
            // A small workload: anonymous requests are refused before their body is read.
            Body::Wasm(kastell_tests::guest("echo-workload")),
            OFFICER,
        ),
        endpoint(
            "workload list",
            Method::GET,
            "/v1/workloads",
            Body::Empty,
            OFFICER_OR_USER,
        ),
        endpoint(
            "workload invoke",
            Method::POST,
            format!("/v1/workloads/{workload}/invoke"),
            json(json!({ "input": ping })),
            USER,
        ),
        endpoint(
            "release challenge",
            Method::POST,
            format!("/v1/keys/{aes}/release/challenge"),
            Body::Empty,
            USER,
        ),
        // Describing keys: any role (the key service's design: "any role; audited").
        endpoint("list keys", Method::GET, "/v1/keys", Body::Empty, ANY_ROLE),
        endpoint(
            "describe key",
            Method::GET,
            format!("/v1/keys/{aes}"),
            Body::Empty,
            ANY_ROLE,
        ),
        // Key use: the crypto-user only.
        endpoint(
            "encrypt",
            Method::POST,
            format!("/v1/keys/{aes}/encrypt"),
            json(json!({ "plaintext": message })),
            USER,
        ),
        endpoint(
            "decrypt",
            Method::POST,
            "/v1/decrypt",
            json(json!({ "ciphertext": ciphertext })),
            USER,
        ),
        endpoint(
            "re-encrypt",
            Method::POST,
            "/v1/re-encrypt",
            json(json!({ "ciphertext": ciphertext, "destination": aes })),
            USER,
        ),
        endpoint(
            "generate data key",
            Method::POST,
            format!("/v1/keys/{aes}/generate-data-key"),
            json(json!({})),
            USER,
        ),
        endpoint(
            "sign",
            Method::POST,
            format!("/v1/keys/{ec}/sign"),
            json(json!({ "message": message })),
            USER,
        ),
        endpoint(
            "verify",
            Method::POST,
            format!("/v1/keys/{ec}/verify"),
            json(json!({ "message": message, "signature": signature })),
            USER,
        ),
        endpoint(
            "public key",
            Method::GET,
            format!("/v1/keys/{ec}/public-key"),
            Body::Empty,
            USER,
        ),
        endpoint(
            "mac",
            Method::POST,
            format!("/v1/keys/{mac_key}/mac"),
            json(json!({ "message": message })),
            USER,
        ),
        endpoint(
            "verify mac",
            Method::POST,
            format!("/v1/keys/{mac_key}/verify-mac"),
            json(json!({ "message": message, "mac": mac })),
            USER,
        ),
        endpoint(
            "random",
            Method::POST,
            "/v1/random",
            json(json!({ "length": 32 })),
            USER,
        ),
        // The audit trail: the auditor only.
        endpoint("audit read", Method::GET, "/v1/audit", Body::Empty, AUDITOR),
        endpoint(
            "audit verify",
            Method::POST,
            "/v1/audit/verify",
            Body::Empty,
            AUDITOR,
        ),
        endpoint(
            "audit public key",
            Method::GET,
            "/v1/audit/public-key",
            Body::Empty,
            AUDITOR,
        ),
        // Quorum, approvals and client certificates: the crypto-officer only.
        endpoint(
            "approvals list",
            Method::GET,
            "/v1/approvals",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "quorum show",
            Method::GET,
            "/v1/quorum",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "quorum set",
            Method::PUT,
            "/v1/quorum/export-backup",
            json(json!({ "required": 1 })),
            OFFICER,
        ),
        endpoint(
            "backup create",
            Method::POST,
            "/v1/backups",
            json(json!({ "recipients": [fresh_public_key()] })),
            OFFICER,
        ),
        endpoint(
            "backup key create",
            Method::POST,
            "/v1/backup-key",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "backup key show",
            Method::GET,
            "/v1/backup-key",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "clients list",
            Method::GET,
            "/v1/clients",
            Body::Empty,
            OFFICER,
        ),
        endpoint(
            "issue client",
            Method::POST,
            "/v1/clients",
            json(json!({
                "principal": "matrix-app",
                "role": "crypto-user",
                "public_key": fresh_public_key(),
            })),
            OFFICER,
        ),
        endpoint(
            "revoke client",
            Method::POST,
            "/v1/clients/00c0ffee/revoke",
            json(json!({ "reason": "matrix" })),
            OFFICER,
        ),
        // System: any authenticated role.
        endpoint("metrics", Method::GET, "/metrics", Body::Empty, ANY_ROLE),
        endpoint(
            "openapi",
            Method::GET,
            "/v1/openapi.json",
            Body::Empty,
            ANY_ROLE,
        ),
    ];
    World {
        server,
        officer,
        user,
        auditor,
        endpoints,
    }
}

/// Every audit record, read by `auditor` a page at a time.
fn audit_records(auditor: &RawClient) -> Vec<Value> {
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let page = ok(
            auditor,
            Method::GET,
            &format!("/v1/audit?after={after}&limit=1000"),
            Value::Null,
        );
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next"].as_u64() {
            Some(next) => after = next,
            None => return records,
        }
    }
}

fn denied_by(records: &[Value], principal: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["principal"] == principal && r["outcome"] == "denied")
        .cloned()
        .collect()
}

#[test]
fn each_endpoint_admits_exactly_the_roles_designed_for_it() {
    let world = world();
    let mut wrong = Vec::new();
    for endpoint in &world.endpoints {
        // The refused roles first: a refusal changes nothing, so the allowed call after
        // them finds the key as the previous endpoint left it.
        let (allowed, refused): (Vec<Who>, Vec<Who>) = EVERYONE
            .iter()
            .partition(|who| endpoint.allowed.contains(who));
        for who in refused {
            let response = send(world.client(who), endpoint);
            match response.error() {
                Ok((name, _)) if response.status == 403 && name == "AccessDenied" => {}
                other => wrong.push(format!(
                    "{} as {who:?}: expected 403 AccessDenied, got {} {other:?}",
                    endpoint.name, response.status
                )),
            }
        }
        for who in allowed {
            let response = send(world.client(who), endpoint);
            if !(200..300).contains(&response.status) {
                wrong.push(format!(
                    "{} as {who:?}: expected success, got {} {}",
                    endpoint.name,
                    response.status,
                    response.text()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn without_a_client_certificate_only_healthz_answers() {
    let world = world();
    let anonymous = world.server.anonymous().expect("anonymous client");
    let health = ok(&anonymous, Method::GET, "/healthz", Value::Null);
    assert_eq!(health["status"], "ok");
    assert!(
        health["version"].as_str().unwrap().starts_with("kastell "),
        "{health}"
    );
    let mut wrong = Vec::new();
    for endpoint in &world.endpoints {
        let response = send(&anonymous, endpoint);
        match response.error() {
            Ok((name, _)) if response.status == 401 && name == "Unauthenticated" => {}
            other => wrong.push(format!(
                "{} without a certificate: expected 401 Unauthenticated, got {} {other:?}",
                endpoint.name, response.status
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_client_certificate_from_another_deployment_is_refused() {
    let server = TestServer::start_soft().expect("server starts");
    // Another deployment's first officer: the same principal `officer` and role, but its
    // certificate chains to another root. The client trusts this server's root, so the
    // only thing wrong is the client certificate.
    let other = Deployment::init(&Setup::soft()).expect("other deployment");
    let foreign = ClientProfile::load(&other.officer_profile()).expect("foreign profile");
    let profile = ClientProfile {
        server: server.url().to_owned(),
        ca: server.deployment().root_certificate(),
        certificate: foreign.certificate,
        key: foreign.key,
    };
    let client = kastell::client::Client::new(&profile).expect("client");
    for path in ["/v1/keys", "/v1/policies"] {
        match client.get::<Value>(path) {
            Ok(answer) => panic!("GET {path} with a foreign certificate succeeded: {answer}"),
            Err(kastell::client::RemoteError::Api { status, .. }) => {
                assert_eq!(status, 401, "GET {path} with a foreign certificate");
            }
            // The TLS handshake was refused (rustls: the signature does not verify
            // against this root).
            Err(kastell::client::RemoteError::Transport(_)) => {}
            Err(other) => panic!("GET {path} with a foreign certificate: {other}"),
        }
    }
    let created = client.post::<Value>("/v1/keys", &json!({ "spec": "AES_256" }));
    assert!(
        created.is_err(),
        "a foreign officer created a key: {created:?}"
    );
    // The deployment's own officer is still served, and no key was created.
    let officer = server.client(&server.officer()).expect("officer");
    let keys: Value = officer.get("/v1/keys").expect("own officer lists keys");
    assert_eq!(keys["keys"], json!([]), "{keys}");
}

#[test]
fn an_expired_client_certificate_is_refused() {
    let server = TestServer::start_soft().expect("server starts");
    // Valid for 0 days: expired as soon as it is issued (it is backdated).
    let dir = server.deployment().data_dir().join("clients/expired");
    let args = [
        "ca",
        "issue-client",
        "--principal",
        "expired",
        "--role",
        "crypto-officer",
        "--days",
        "0",
        "--server-url",
        server.url(),
        "--out-dir",
        &dir.display().to_string(),
        "--config",
        &server.deployment().config().display().to_string(),
    ]
    .map(str::to_owned);
    server.deployment().run(&args).expect("issued");
    let client = server.client(&dir.join("profile.toml")).expect("client");
    match client.get::<Value>("/v1/keys") {
        Ok(answer) => panic!("an expired certificate listed keys: {answer}"),
        Err(kastell::client::RemoteError::Api { status, .. }) => assert_eq!(status, 401),
        Err(kastell::client::RemoteError::Transport(_)) => {}
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn every_refused_call_appends_a_denied_audit_record() {
    let world = world();
    let before = audit_records(&world.auditor);
    let principals = [
        (Who::Officer, "officer"),
        (Who::User, "svc-user"),
        (Who::Auditor, "audit-1"),
    ];
    let mut refused = [0usize; 3];
    for endpoint in world
        .endpoints
        .iter()
        .filter(|e| e.name != "metrics" && e.name != "openapi")
    {
        for (i, (who, _)) in principals.iter().enumerate() {
            if endpoint.allowed.contains(who) {
                continue;
            }
            let response = send(world.client(*who), endpoint);
            assert_eq!(response.status, 403, "{} as {who:?}", endpoint.name);
            refused[i] += 1;
        }
    }
    let after = audit_records(&world.auditor);
    for (i, (who, principal)) in principals.iter().enumerate() {
        let new = denied_by(&after, principal).len() - denied_by(&before, principal).len();
        assert_eq!(
            new,
            refused[i],
            "{who:?} ({principal}) was refused {} times; denied records: {:#?}",
            refused[i],
            denied_by(&after, principal)
        );
    }
    // The records say who was refused what, and why.
    let user_denials = denied_by(&after, "svc-user");
    assert!(
        user_denials
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("crypto-officer")),
        "{user_denials:#?}"
    );
    assert!(
        user_denials.iter().any(|r| r["operation"] == "policy-list"),
        "{user_denials:#?}"
    );
    let officer_denials = denied_by(&after, "officer");
    assert!(
        officer_denials
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("crypto-user")),
        "{officer_denials:#?}"
    );
    let auditor_denials = denied_by(&after, "audit-1");
    assert!(!auditor_denials.is_empty());
}
