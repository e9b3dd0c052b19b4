//! Every `kastell key …` command is written once over the local deployment and a server
//! (`host/cli/src/cli/key.rs` over `key/local.rs` and `key/remote.rs`): run through the
//! server with `--profile` and then on the data directory, each gives the same output,
//! and what one made the other reads (a ciphertext made remotely decrypts locally, a
//! signature made remotely verifies locally, the same public key, the same MAC).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use kastell_tests::server::TestServer;
use kastell_tests::text;

fn run(server: &TestServer, args: &[&str]) -> Output {
    server.kastell(args).expect("kastell runs")
}

fn ok(server: &TestServer, args: &[&str]) -> String {
    server.kastell_ok(args).expect("kastell succeeds")
}

fn json(output: &str) -> serde_json::Value {
    serde_json::from_str(output).expect("JSON output")
}

/// Where a command runs: `--profile P` (a server) or `--config F` (the data directory).
struct Place {
    flag: &'static str,
    value: String,
}

impl Place {
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend([self.flag, self.value.as_str()]);
        all
    }
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

#[test]
fn every_key_command_gives_the_same_result_locally_and_through_the_server() {
    let mut server = TestServer::start_soft().expect("server");
    let officer = Place {
        flag: "--profile",
        value: server.officer().display().to_string(),
    };
    let app = Place {
        flag: "--profile",
        value: server
            .issue_client("app", "crypto-user", None)
            .expect("client")
            .display()
            .to_string(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let message = file(dir.path(), "message.txt", b"invoice 42");
    let remote = |name: &str| {
        dir.path()
            .join(format!("remote-{name}"))
            .display()
            .to_string()
    };

    // Administration through the server.
    let aes = json(&ok(
        &server,
        &officer.args(&[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/everywhere",
            "--tag",
            "team=billing",
        ]),
    ));
    let ec = json(&ok(
        &server,
        &officer.args(&["key", "create", "--spec", "ECC_NIST_P384"]),
    ));
    let hmac = json(&ok(
        &server,
        &officer.args(&["key", "create", "--spec", "HMAC_SHA384"]),
    ));
    let (aes_id, ec_id, hmac_id) = (
        aes["id"].as_str().unwrap().to_owned(),
        ec["id"].as_str().unwrap().to_owned(),
        hmac["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(aes["aliases"], serde_json::json!(["alias/everywhere"]));
    ok(
        &server,
        &officer.args(&["key", "alias", "alias/signing", &ec_id]),
    );
    let rotated = json(&ok(
        &server,
        &officer.args(&["key", "rotate", "alias/everywhere"]),
    ));
    assert_eq!(rotated["current_version"], 2, "{rotated}");
    let tagged = json(&ok(
        &server,
        &officer.args(&[
            "key",
            "tag",
            &aes_id,
            "--tag",
            "team=ledger",
            "--description",
            "d",
        ]),
    ));
    assert_eq!(tagged["tags"]["team"], "ledger", "{tagged}");
    let disabled = json(&ok(&server, &officer.args(&["key", "disable", &hmac_id])));
    assert_eq!(disabled["state"], "disabled", "{disabled}");
    ok(&server, &officer.args(&["key", "enable", &hmac_id]));
    let listed = json(&ok(&server, &officer.args(&["key", "list"])));
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let shown_remotely = json(&ok(
        &server,
        &officer.args(&["key", "show", "alias/everywhere"]),
    ));

    // Use through the server.
    let ct = remote("ciphertext");
    ok(
        &server,
        &app.args(&[
            "key",
            "encrypt",
            "alias/everywhere",
            "--in",
            &message,
            "--out",
            &ct,
            "--context",
            "tenant=acme",
        ]),
    );
    let re = remote("re-encrypted");
    ok(
        &server,
        &app.args(&[
            "key",
            "re-encrypt",
            "--to",
            "alias/everywhere",
            "--in",
            &ct,
            "--out",
            &re,
            "--context",
            "tenant=acme",
        ]),
    );
    let data_key = json(&ok(
        &server,
        &app.args(&["key", "generate-data-key", &aes_id]),
    ));
    assert!(data_key["plaintext"].is_string() && data_key["ciphertext"].is_string());
    let sealed_only = json(&ok(
        &server,
        &app.args(&["key", "generate-data-key", &aes_id, "--without-plaintext"]),
    ));
    assert!(sealed_only.get("plaintext").is_none(), "{sealed_only}");
    let signature = remote("signature");
    ok(
        &server,
        &app.args(&[
            "key",
            "sign",
            "alias/signing",
            "--in",
            &message,
            "--out",
            &signature,
        ]),
    );
    let public_remotely = ok(&server, &app.args(&["key", "public-key", "alias/signing"]));
    assert!(public_remotely.starts_with("-----BEGIN PUBLIC KEY-----"));
    let mac = remote("mac");
    ok(
        &server,
        &app.args(&["key", "mac", &hmac_id, "--in", &message, "--out", &mac]),
    );
    let random = ok(&server, &app.args(&["key", "random", "32"]));
    assert_eq!(random.trim().len(), 44, "32 bytes in base64: {random}");
    // `--json` prints the server's answer as it came.
    let answer = json(&ok(
        &server,
        &app.args(&[
            "key",
            "verify",
            "alias/signing",
            "--signature",
            &signature,
            "--in",
            &message,
            "--json",
        ]),
    ));
    assert_eq!(answer["valid"], true, "{answer}");
    // A tenant comes from the certificate, never from the command line.
    let out = run(
        &server,
        &app.args(&[
            "key", "encrypt", &aes_id, "--in", &message, "--tenant", "acme",
        ]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--tenant"),
        "{}",
        text(&out.stderr)
    );
    // A signature over another message is refused remotely with exit 1.
    let other = file(dir.path(), "other.txt", b"invoice 43");
    assert_eq!(verify(&server, &app, &signature, &other), Some(1));

    // The same deployment on the data directory reads what the server made.
    server.stop().expect("stop");
    let local = Place {
        flag: "--config",
        value: server.deployment().config().display().to_string(),
    };
    let shown_locally = json(&ok(
        &server,
        &local.args(&["key", "show", "alias/everywhere"]),
    ));
    assert_eq!(shown_locally, shown_remotely);
    for ciphertext in [&ct, &re] {
        let plaintext = ok(
            &server,
            &local.args(&[
                "key",
                "decrypt",
                "--in",
                ciphertext,
                "--context",
                "tenant=acme",
            ]),
        );
        assert_eq!(plaintext, "invoice 42");
    }
    assert_eq!(verify(&server, &local, &signature, &message), Some(0));
    assert_eq!(verify(&server, &local, &signature, &other), Some(1));
    assert_eq!(
        ok(
            &server,
            &local.args(&["key", "public-key", "alias/signing"])
        ),
        public_remotely
    );
    ok(
        &server,
        &local.args(&[
            "key",
            "verify-mac",
            &hmac_id,
            "--mac",
            &mac,
            "--in",
            &message,
        ]),
    );
    let local_mac = dir.path().join("local-mac").display().to_string();
    ok(
        &server,
        &local.args(&[
            "key", "mac", &hmac_id, "--in", &message, "--out", &local_mac,
        ]),
    );
    assert_eq!(
        std::fs::read(&local_mac).unwrap(),
        std::fs::read(&mac).unwrap()
    );
    // A plaintext written with --out is its owner's only, locally and through the server.
    let plaintext = dir.path().join("plaintext").display().to_string();
    ok(
        &server,
        &local.args(&[
            "key",
            "decrypt",
            "--in",
            &ct,
            "--context",
            "tenant=acme",
            "--out",
            &plaintext,
        ]),
    );
    assert_eq!(std::fs::read(&plaintext).unwrap(), b"invoice 42");
    for written in [&plaintext, &ct, &signature, &mac] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{written}: {mode:o}");
    }
    let listed_locally = json(&ok(&server, &local.args(&["key", "list"])));
    assert_eq!(
        listed_locally,
        listed_after(&listed, &shown_locally, &aes_id, &hmac_id)
    );
}

/// `kastell key verify alias/signing` of `signature` over the file `input`: its exit code.
fn verify(server: &TestServer, place: &Place, signature: &str, input: &str) -> Option<i32> {
    let args = place.args(&[
        "key",
        "verify",
        "alias/signing",
        "--signature",
        signature,
        "--in",
        input,
    ]);
    let out = run(server, &args);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("does not verify"),
        "kastell {args:?}: {stderr}"
    );
    out.status.code()
}

/// The remote listing, with the two keys changed after it was taken (the AES key was
/// re-tagged before the listing, the HMAC key re-enabled after it) as the local one shows
/// them now.
fn listed_after(
    listed: &serde_json::Value,
    aes_now: &serde_json::Value,
    aes_id: &str,
    hmac_id: &str,
) -> serde_json::Value {
    let keys = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            let mut key = key.clone();
            if key["id"] == aes_id {
                key = aes_now.clone();
            }
            if key["id"] == hmac_id {
                key["state"] = serde_json::Value::String("enabled".into());
            }
            key
        })
        .collect();
    serde_json::Value::Array(keys)
}
