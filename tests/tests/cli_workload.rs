//! `kastell workload …` and `kastell release …`: what is refused before any request is
//! sent (exit 2), so no server is needed. The commands against a server are tested in the
//! end-to-end suite.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Output;

/// A valid nonce's form: 32 bytes, base64.
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn kastell(args: &[&str]) -> Output {
    kastell_tests::kastell_command()
        .args(args)
        .env_remove("KASTELL_PROFILE")
        .output()
        .expect("kastell runs")
}

fn refused(args: &[&str], expected: &str) {
    let out = kastell(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn invoke_refuses_a_malformed_measurement_and_two_inputs() {
    let profile = "/nonexistent/profile.toml";
    let measurement = format!("sha384:{}", "0".repeat(96));
    refused(
        &["workload", "invoke", "sha384:zz", "--profile", profile],
        "96 hex digits",
    );
    refused(
        &[
            "workload",
            "invoke",
            &measurement,
            "--profile",
            profile,
            "--input",
            "-",
            "--input-text",
            "x",
        ],
        "cannot be used with",
    );
    refused(
        &["workload", "invoke", &measurement, "--profile", profile],
        "profile",
    );
}

#[test]
fn release_needs_exactly_one_attestation() {
    let base = [
        "release",
        "key",
        "alias/k",
        "--profile",
        "p.toml",
        "--nonce",
        NONCE,
    ];
    refused(&base, "--certificate <CERTIFICATE>|--document <DOCUMENT>");
    refused(
        &[
            &base[..],
            &["--certificate", "a.pem", "--document", "d.cose"],
        ]
        .concat(),
        "cannot be used with",
    );
    refused(
        &[&base[..], &["--document", "d.cose", "--chain", "ca.pem"]].concat(),
        "cannot be used with",
    );
    refused(
        &[&base[..], &["--kind", "DataKey", "--document", "d.cose"]].concat(),
        "is not `key` or `data-key`",
    );
}

#[test]
fn release_refuses_options_the_server_would_ignore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let document = dir.path().join("doc.cose");
    std::fs::write(&document, [0xd2, 0x84]).expect("write");
    let document = document.display().to_string();
    let base = [
        "release",
        "key",
        "alias/k",
        "--profile",
        "p.toml",
        "--document",
        &document,
    ];
    refused(
        &[&base[..], &["--nonce", NONCE, "--context", "tenant=acme"]].concat(),
        "--context",
    );
    refused(
        &[
            &base[..],
            &["--nonce", NONCE, "--kind", "data-key", "--version", "2"],
        ]
        .concat(),
        "--version",
    );
    refused(
        &[&base[..], &["--nonce", "AAEC"]].concat(),
        "--nonce: 3 bytes",
    );
}
