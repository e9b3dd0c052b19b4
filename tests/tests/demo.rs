//! `kastell demo`, the README's one-command tour of the server, runs to the end on the
//! embedded default with nothing set up by hand.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_tests::server::kastell_binary;

#[test]
fn the_demo_runs_every_step_and_exits_zero() {
    let policy = kastell_tests::guest_dir().join("tenant_context.wasm");
    assert!(policy.is_file(), "run scripts/build-guests first");
    let out = std::process::Command::new(kastell_binary().expect("kastell binary"))
        .args(["demo", "--policy"])
        .arg(&policy)
        .env_remove("KASTELL_PROFILE")
        .env_remove("KASTELL_DATA_DIR")
        .env_remove("KASTELL_CONFIG")
        .output()
        .expect("run kastell demo");
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
        "Done: stopping the server",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
}
