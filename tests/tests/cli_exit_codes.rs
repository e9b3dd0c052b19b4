//! The same failure exits with the same code whether a command runs on the data directory
//! or through the server with `--profile`: both read it from the error code table
//! (`kastell_proto::ErrorCode`): refusals 1, bad input 2, failures 3.

#![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use kastell_tests::server::TestServer;
use kastell_tests::text;

fn run(server: &TestServer, args: &[&str]) -> Output {
    server.kastell(args).expect("kastell runs")
}

/// Runs and asserts exit `code` with `name` first on standard error; returns stderr.
fn fails(server: &TestServer, args: &[&str], code: i32, name: &str) -> String {
    let out = run(server, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "kastell {args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {name}")),
        "kastell {args:?}: {stderr}"
    );
    stderr
}

fn ok(server: &TestServer, args: &[&str]) -> String {
    server.kastell_ok(args).expect("kastell succeeds")
}

/// Flips the last byte (inside the GCM tag) of the ciphertext in `path`, raw or base64.
fn tamper(path: &Path) {
    let bytes = std::fs::read(path).expect("ciphertext");
    let trimmed = String::from_utf8_lossy(&bytes).trim().to_owned();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&trimmed)
        .unwrap_or(bytes);
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    std::fs::write(path, raw).expect("write tampered");
}

#[test]
fn refusals_bad_input_and_failures_exit_alike_locally_and_with_a_profile() {
    let mut server = TestServer::start_soft().expect("server");
    let officer = server.officer().display().to_string();
    let app = server
        .issue_client("app", "crypto-user", None)
        .expect("client")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, b"invoice 42").expect("plaintext");
    let ct = dir.path().join("tampered.ct");
    let (plain, ct) = (plain.display().to_string(), ct.display().to_string());

    ok(
        &server,
        &[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/exit",
            "--profile",
            &officer,
        ],
    );
    ok(
        &server,
        &[
            "key",
            "encrypt",
            "alias/exit",
            "--in",
            &plain,
            "--out",
            &ct,
            "--profile",
            &app,
        ],
    );
    tamper(Path::new(&ct));

    // Refused (1): a ciphertext that is not authentic. Before the error code table, the
    // remote command exited 2 here (its status, 400, was read as bad input).
    fails(
        &server,
        &["key", "decrypt", "--in", &ct, "--profile", &app],
        1,
        "InvalidCiphertext",
    );
    // Bad input (2): an alias without its `alias/` prefix.
    let bad_alias = ["key", "create", "--spec", "AES_256", "--alias", "records"];
    let remote: Vec<&str> = bad_alias
        .iter()
        .copied()
        .chain(["--profile", &officer])
        .collect();
    fails(&server, &remote, 2, "InvalidInput");

    // Refused (1): a component that is not a policy, pushed to the server and checked
    // locally (`InvalidPolicy`, exit 1 in the error table, as `policy check` documents).
    let not_a_policy = dir.path().join("not-a-policy.wasm");
    std::fs::write(&not_a_policy, b"\0asm but not really").expect("file");
    let not_a_policy = not_a_policy.display().to_string();
    for args in [
        vec!["policy", "push", &not_a_policy, "--profile", &officer],
        vec!["policy", "check", &not_a_policy],
    ] {
        let out = run(&server, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "kastell {args:?}: {stderr}");
        assert!(stderr.contains(&not_a_policy), "kastell {args:?}: {stderr}");
    }

    // Failure (3): the server is gone.
    server.stop().expect("stop");
    fails(
        &server,
        &["key", "decrypt", "--in", &ct, "--profile", &app],
        3,
        "cannot reach",
    );

    // The same commands on the data directory.
    let config = server.deployment().config().display().to_string();
    fails(
        &server,
        &["key", "decrypt", "--in", &ct, "--config", &config],
        1,
        "InvalidCiphertext",
    );
    let local: Vec<&str> = bad_alias
        .iter()
        .copied()
        .chain(["--config", &config])
        .collect();
    fails(&server, &local, 2, "InvalidInput");
}
