//! `kastell policy check|eval|add|list` as a user runs them: output and exit codes.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use kastell_tests::guest_dir;

fn kastell(args: &[&str]) -> Output {
    kastell_tests::kastell_command()
        .args(args)
        .env_remove("KASTELL_DATA_DIR")
        .output()
        .expect("kastell runs")
}

fn wasm(name: &str) -> String {
    let path: PathBuf = guest_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "{} missing: run scripts/build-guests",
        path.display()
    );
    path.display().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path.display().to_string()
}

#[test]
fn check_prints_measurement_and_world_for_a_valid_policy() {
    let out = kastell(&["policy", "check", &wasm("tenant-context")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let measurement = lines.next().expect("measurement line");
    assert!(
        measurement.starts_with("sha384:") && measurement.len() == 7 + 96,
        "{measurement}"
    );
    assert_eq!(lines.next(), Some("world: kastell:runtime/policy@0.2.0"));
}

/// A policy built against the old contract (kastell:runtime@0.1.0) still loads, and
/// `policy check` says which contract it implements.
#[test]
fn check_names_the_old_contract_of_a_0_1_0_policy() {
    let out = kastell(&["policy", "check", &wasm("legacy-write-only")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().nth(1),
        Some("world: kastell:runtime/policy@0.1.0"),
        "{stdout}"
    );
}

#[test]
fn check_fails_with_a_one_line_reason_for_each_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let random = write(dir.path(), "random.wasm", &[0x5a; 300]);
    let core = write(
        dir.path(),
        "core.wasm",
        &wat::parse_str(include_str!("../guests/core-module.wat")).expect("wat"),
    );
    let big = write(dir.path(), "big.wasm", &vec![0; (4 << 20) + 1]);
    let cases = [
        (random, "not a WebAssembly binary"),
        (core, "core WebAssembly module"),
        (wasm("echo-workload"), "not a policy"),
        (wasm("hostile-filesystem"), "forbidden imports: "),
        (big, "the limit is 4194304 bytes"),
    ];
    for (file, reason) in cases {
        let out = kastell(&["policy", "check", &file]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(reason), "{file}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let missing = kastell(&["policy", "check", "/nonexistent/policy.wasm"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn eval_prints_the_decision_as_json_and_exits_zero_either_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let request = |tenant: &str| {
        format!(
            r#"{{"operation":"decrypt","key":{{"id":"k1","spec":"AES_256"}},
                "principal":{{"id":"svc","roles":["crypto-user"],"tenant":"acme"}},
                "context":{{"tenant":"{tenant}"}},"time":"2026-11-25T10:00:00Z"}}"#
        )
    };
    let allow = write(dir.path(), "allow.json", request("acme").as_bytes());
    let out = kastell(&[
        "policy",
        "eval",
        &wasm("tenant-context"),
        "--request",
        &allow,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), r#"{"decision":"allow"}"#);

    let deny = write(dir.path(), "deny.json", request("globex").as_bytes());
    let out = kastell(&[
        "policy",
        "eval",
        &wasm("tenant-context"),
        "--request",
        &deny,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["decision"], "deny");
    assert!(
        json["reason"]
            .as_str()
            .is_some_and(|r| r.contains("differs"))
    );

    let out = kastell(&["policy", "eval", &wasm("hostile-loop"), "--request", &allow]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["decision"], "deny");
    assert!(
        json["reason"]
            .as_str()
            .is_some_and(|r| r.contains("out of fuel"))
    );
}

#[test]
fn eval_rejects_malformed_request_json_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(
        dir.path(),
        "bad.json",
        br#"{"operation":"decrypt","principal":{"id":"a"},"tennant":"x"}"#,
    );
    let out = kastell(&["policy", "eval", &wasm("tenant-context"), "--request", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown field `tennant`"),
        "{}",
        text(&out.stderr)
    );
    let truncated = write(dir.path(), "truncated.json", br#"{"operation":"decr"#);
    let out = kastell(&[
        "policy",
        "eval",
        &wasm("tenant-context"),
        "--request",
        &truncated,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid request"));
}

#[test]
fn add_then_list_shows_the_stored_measurement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let out = kastell(&["policy", "add", &wasm("office-hours"), "--data-dir", &data]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let added = text(&out.stdout);
    let out = kastell(&["policy", "list", "--data-dir", &data]);
    assert_eq!(text(&out.stdout), added);

    let out = kastell(&[
        "policy",
        "add",
        &wasm("hostile-filesystem"),
        "--data-dir",
        &data,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = kastell(&["policy", "list", "--data-dir", &data]);
    assert_eq!(text(&out.stdout), added, "refused policy not stored");
}
