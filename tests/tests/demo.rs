//! `kastell demo`, the README's one-command tour of the server, runs to the end on the
//! embedded default with nothing set up by hand: the tenant-context steps, then attested
//! key release with the real `record-vault` workload and `allow-measured` policy.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::Path;
use std::process::{Command, Output};

use kastell_attest::Measurement;
use kastell_attest::verify::{Expectations, Trust, verify_attestation};
use kastell_attest::x509::parse_certificates;
use kastell_tests::server::kastell_binary;

fn kastell_demo(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(kastell_binary().expect("kastell binary"))
        .arg("demo")
        .args(args)
        .env_remove("KASTELL_PROFILE")
        .env_remove("KASTELL_DATA_DIR")
        .env_remove("KASTELL_CONFIG")
        .output()
        .expect("run kastell demo")
}

/// The text of the step whose title starts with `title`, up to the next step.
fn step<'a>(stdout: &'a str, title: &str) -> &'a str {
    let start = stdout
        .find(&format!(". {title}"))
        .unwrap_or_else(|| panic!("no step `{title}` in:\n{stdout}"));
    let rest = &stdout[start..];
    rest[1..]
        .find("\n\x1b[1m== ")
        .map_or(rest, |end| &rest[..=end])
}

/// The value after `label` on its line.
fn after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"))
        .trim()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_demo_runs_every_step_and_exits_zero() {
    let guests = kastell_tests::guest_dir();
    for name in [
        "tenant_context",
        "allow_measured",
        "record_vault",
        "record_vault_modified",
    ] {
        assert!(
            guests.join(format!("{name}.wasm")).is_file(),
            "run scripts/build-guests first"
        );
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let kept = temp.path().join("demo");
    let out = kastell_demo(&[
        "--guests".as_ref(),
        guests.as_ref(),
        "--keep".as_ref(),
        kept.as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "kastell listening on https://127.0.0.1:",
        "patient 4711: blood type A+",
        "AccessDenied",
        "\"current_version\": 2",
        "audit trail intact",
        // The attested flow: evidence checked by the verifier, the records decrypted
        // inside the workload.
        "VALID attestation certificate",
        "VALID attestation document",
        "ok  nonce matches",
        "decrypted: record 1: alice, blood type A+",
        "decrypted: record 2: bob, blood type 0-",
        "Done: stopping the server",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }

    // The workload's measurement is the SHA-384 of its bytes, as anyone can compute.
    let original = Measurement::of(&read(&guests.join("record_vault.wasm"))).to_string();
    let modified = Measurement::of(&read(&guests.join("record_vault_modified.wasm"))).to_string();
    let refusal = step(&stdout, "A modified build");
    assert_eq!(after(refusal, "original:"), original);
    assert_eq!(after(refusal, "modified:"), modified);
    assert_ne!(original, modified);
    assert!(
        refusal.contains("error: AccessDenied"),
        "the modified build's release is not refused:\n{refusal}"
    );

    let audit = step(&stdout, "The audit trail records every release");
    assert!(
        audit.contains(&format!("outcome allowed, guest {original}")),
        "{audit}"
    );
    assert!(
        audit.contains(&format!("outcome denied, guest {modified}")),
        "{audit}"
    );
    assert!(audit.contains("not in the key's allowed-guests"), "{audit}");

    // The saved evidence verifies on its own against the deployment's root.
    let trust = Trust {
        anchors: parse_certificates(&read(&kept.join("ca/root.pem"))).expect("root"),
        intermediates: parse_certificates(&read(&kept.join("attestation-chain.pem")))
            .expect("chain"),
        crls: Vec::new(),
        at: time::OffsetDateTime::now_utc(),
    };
    let expect = Expectations {
        guests: vec![original.parse().expect("measurement")],
        ..Expectations::default()
    };
    let leaf = parse_certificates(&read(&kept.join("attestation.pem"))).expect("certificate");
    let verified = verify_attestation(&leaf[0], &trust, &expect).expect("saved evidence");
    assert_eq!(verified.claims.guest.to_string(), original);
    let leaf = parse_certificates(&read(&kept.join("attestation-modified.pem"))).expect("modified");
    assert!(
        verify_attestation(&leaf[0], &trust, &expect).is_err(),
        "the modified build's evidence names another guest"
    );
}

#[test]
fn without_the_guest_components_the_demo_names_the_script_that_builds_them() {
    let empty = tempfile::tempdir().expect("temp dir");
    let out = kastell_demo(&["--guests".as_ref(), empty.path().as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scripts/build-guests"), "{stderr}");
    assert!(stderr.contains("record_vault.wasm"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("kastell init"),
        "nothing ran"
    );
}
