//! Client certificates managed through the server: issued ones are listed with their
//! serial; a revoked one is refused from the next request on, after a restart too, and
//! an offline revocation reaches a running server within seconds.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell::client::{Client, RemoteError};
use kastell_tests::server::TestServer;
use serde_json::{Value, json};

fn encrypt(client: &Client) -> Result<Value, RemoteError> {
    client.post(
        "/v1/keys/alias%2Fk/encrypt",
        &json!({ "plaintext": BASE64.encode(b"x"), "context": {} }),
    )
}

fn serial_of(server: &TestServer, principal: &str) -> String {
    let officer = server.client(&server.officer()).expect("officer");
    let list: Value = officer.get("/v1/clients").expect("list clients");
    list["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["principal"] == principal)
        .and_then(|c| c["serial"].as_str())
        .unwrap_or_else(|| panic!("{principal} not listed: {list}"))
        .to_owned()
}

fn refused_as_revoked(result: Result<Value, RemoteError>) -> bool {
    matches!(
        result,
        Err(RemoteError::Api { status: 401, ref name, ref message })
            if name == "Unauthenticated" && message.contains("revoked")
    )
}

#[test]
fn a_revoked_client_certificate_is_refused_at_once_and_after_a_restart() {
    let mut server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    officer
        .post::<Value>(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/k" }),
        )
        .expect("create");
    let dir = server.deployment().data_dir().join("clients").join("app");
    server.user_key(&dir).expect("user key");
    let out = server
        .deployment()
        .command()
        .args([
            "user",
            "add",
            "--principal",
            "app",
            "--role",
            "crypto-user",
            "--out-dir",
        ])
        .arg(&dir)
        .arg("--public-key")
        .arg(dir.join("public.pem"))
        .arg("--profile")
        .arg(server.officer())
        .output()
        .expect("user add");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = server.client(&dir.join("profile.toml")).expect("app");
    encrypt(&app).expect("a fresh certificate works");

    let serial = serial_of(&server, "app");
    assert!(
        stdout.contains(&serial),
        "user add prints the serial: {stdout}"
    );
    assert!(
        serial_of(&server, "officer").len() >= 16,
        "init registered the first officer"
    );

    let as_user = server
        .issue_client("other-app", "crypto-user", None)
        .expect("user");
    let user = server.client(&as_user).expect("user client");
    let refused = user.post::<Value>(&format!("/v1/clients/{serial}/revoke"), &json!({}));
    assert!(
        matches!(refused, Err(RemoteError::Api { status: 403, .. })),
        "a crypto-user cannot revoke: {refused:?}"
    );
    let bad = officer.post::<Value>("/v1/clients/not-hex/revoke", &json!({}));
    assert!(
        matches!(bad, Err(RemoteError::Api { status: 400, .. })),
        "{bad:?}"
    );

    let out = server
        .deployment()
        .command()
        .args([
            "user",
            "revoke",
            &serial.to_uppercase(),
            "--reason",
            "laptop lost",
            "--profile",
        ])
        .arg(server.officer())
        .output()
        .expect("user revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        refused_as_revoked(encrypt(&app)),
        "refused from the next request on"
    );
    let again: Value = officer
        .post(&format!("/v1/clients/{serial}/revoke"), &json!({}))
        .expect("revoking twice is not an error");
    assert_eq!(again["revoked_now"], false);
    let list: Value = officer.get("/v1/clients").expect("list");
    let row = list["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .expect("listed");
    assert!(row["revoked_ms"].is_i64(), "{row}");

    server.restart().expect("restart");
    let app = server.client(&dir.join("profile.toml")).expect("app");
    assert!(
        refused_as_revoked(encrypt(&app)),
        "still refused after a restart"
    );
    let auditor_profile = server
        .issue_client("auditor", "auditor", None)
        .expect("auditor");
    let auditor = server.client(&auditor_profile).expect("auditor client");
    let records: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    let records = records["records"].as_array().expect("records");
    assert!(records.iter().any(|r| {
        r["operation"] == "revoke-client"
            && r["reason"]
                .as_str()
                .is_some_and(|t| t.contains("laptop lost"))
    }));
    assert!(records.iter().any(|r| r["operation"] == "authenticate"
        && r["outcome"] == "denied"
        && r["principal"] == "app"));
}

#[test]
fn an_offline_revocation_reaches_a_running_server_within_seconds() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    officer
        .post::<Value>(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/k" }),
        )
        .expect("create");
    let profile = server
        .issue_client("batch-job", "crypto-user", None)
        .expect("client");
    let job = server.client(&profile).expect("job");
    encrypt(&job).expect("works before");
    let serial = serial_of(&server, "batch-job");
    let config = server.deployment().config();
    let out = server
        .deployment()
        .command()
        .args(["ca", "revoke-client", &serial, "--config"])
        .arg(&config)
        .output()
        .expect("ca revoke-client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    loop {
        let job = server.client(&profile).expect("job");
        if refused_as_revoked(encrypt(&job)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the running server still accepts the revoked certificate"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
