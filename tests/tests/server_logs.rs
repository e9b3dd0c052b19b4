//! The server's logs, at the most verbose level, never carry plaintexts, data keys,
//! encryption context values or key material; and a server whose standard output was
//! closed after its first line keeps serving.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell::client::Client;
use kastell_core::clients::ClientProfile;
use kastell_tests::server::{Deployment, Setup};
use serde_json::{Value, json};

#[test]
fn trace_logs_of_the_server_hold_no_plaintext_context_or_data_key() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    let config = deployment.config().display().to_string();
    let mut child = deployment
        .command()
        .env("RUST_LOG", "trace")
        .env("KASTELL_LOG_FORMAT", "json")
        .args(["serve", "--config", &config, "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("readable");
    let url = first
        .strip_prefix("kastell listening on ")
        .expect("listening line")
        .to_owned();
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).expect("log");
        text
    });
    deployment.repoint_profiles(&url).expect("repoint");
    let user_profile = deployment
        .issue_client("app", "crypto-user", Some("acme"), &url)
        .expect("user");
    let officer = Client::new(&ClientProfile::load(&deployment.officer_profile()).expect("p"))
        .expect("officer");
    let user = Client::new(&ClientProfile::load(&user_profile).expect("p")).expect("user");

    officer
        .post::<Value>(
            "/v1/keys",
            &json!({ "spec": "AES_256", "alias": "alias/k" }),
        )
        .expect("create");
    let plaintext = b"CANARY-PLAINTEXT-7d1f0c";
    let context = "CANARY-CONTEXT-93ab2e";
    let sealed: Value = user
        .post(
            "/v1/keys/alias%2Fk/encrypt",
            &json!({ "plaintext": BASE64.encode(plaintext), "context": { "tenant": context } }),
        )
        .expect("encrypt");
    let opened: Value = user
        .post(
            "/v1/decrypt",
            &json!({ "ciphertext": sealed["ciphertext"], "context": { "tenant": context } }),
        )
        .expect("decrypt");
    assert_eq!(opened["plaintext"], BASE64.encode(plaintext));
    let data_key: Value = user
        .post(
            "/v1/keys/alias%2Fk/generate-data-key",
            &json!({ "context": { "tenant": context } }),
        )
        .expect("data key");
    let data_key_b64 = data_key["plaintext"]
        .as_str()
        .expect("plaintext")
        .to_owned();
    let data_key_hex = hex(&BASE64.decode(&data_key_b64).expect("base64"));

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(child.wait().expect("wait").success());
    let log = log.join().expect("log thread");
    assert!(
        log.contains("\"route\":\"POST /v1/keys/{key}/encrypt\""),
        "the trace log covers the requests: {}",
        &log[..log.len().min(2000)]
    );
    for secret in [
        String::from_utf8_lossy(plaintext).into_owned(),
        BASE64.encode(plaintext),
        context.to_owned(),
        data_key_b64,
        data_key_hex,
    ] {
        assert!(!log.contains(&secret), "the log holds `{secret}`");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
