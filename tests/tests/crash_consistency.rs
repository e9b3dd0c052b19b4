//! Crash consistency: a worker process creates, rotates, schedules, cancels and destroys
//! keys on a real SQLite file and the soft token, and is killed with SIGKILL at a random
//! moment, 50 times over the same deployment. After every kill the deployment opens,
//! everything the worker acknowledged is there (keys, versions, token objects, states, audit
//! records, including those of encryptions by concurrent threads, whose records are
//! committed in groups), and the audit trail with its signed checkpoints verifies.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::KeyId;
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kastell_core::deployment::{Deployment, TokenChoice};
use kastell_core::keys::{KeyState, Material};
use kastell_core::token::KdfCost;

const RUNS: u64 = 50;
const PASSPHRASE: &str = "crash test passphrase";

fn deployment(dir: &std::path::Path) -> Deployment {
    Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: dir.to_path_buf(),
        token: TokenChoice::Soft {
            passphrase: PASSPHRASE.to_owned().into(),
            cost: KdfCost::Interactive,
        },
    }
}

/// Starts a worker, kills it `delay` after it is ready, returns its acknowledged lines.
fn run_and_kill(dir: &std::path::Path, seed: u64, delay: Duration) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-worker"))
        .arg(dir)
        .arg(seed.to_string())
        .env("KASTELL_SOFT_TOKEN_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("worker output");
        panic!(
            "worker never became ready: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix.
    let status = child.wait().expect("worker reaped");
    assert!(!status.success(), "the worker was killed, not finished");
    reader.join().expect("reader")
}

#[derive(Debug, Default)]
struct Acked {
    origin_token: bool,
    versions: u32,
    last: &'static str,
}

#[test]
fn sigkill_at_random_points_loses_nothing_acknowledged_and_the_audit_chain_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let seed0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut acked: HashMap<KeyId, Acked> = HashMap::new();
    let mut total_acks = 0;
    let mut acked_encryptions = 0usize;

    for run in 0..RUNS {
        let seed = seed0.wrapping_add(run.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // 0–250 ms after start-up: from "before the first operation" to mid-stream.
        let delay = Duration::from_millis(seed % 251);
        let lines = run_and_kill(&data, seed, delay);
        for line in lines.iter().filter(|l| *l != "ready") {
            total_acks += 1;
            let mut words = line.split(' ');
            let verb = words.next().unwrap();
            let id: KeyId = words.next().unwrap().parse().unwrap();
            if verb == "encrypted" {
                acked_encryptions += 1;
                continue;
            }
            let entry = acked.entry(id).or_default();
            match verb {
                "created" => {
                    entry.origin_token = words.next() == Some("Token");
                    entry.versions = 1;
                    entry.last = "created";
                }
                "rotated" => entry.versions = words.next().unwrap().parse().unwrap(),
                "scheduled" => entry.last = "scheduled",
                "cancelled" => entry.last = "cancelled",
                "destroyed" => entry.last = "destroyed",
                other => panic!("unknown line {other}"),
            }
        }

        // The deployment opens after every kill, and holds everything acknowledged.
        let context = format!("run {run} (seed {seed}, killed after {delay:?})");
        let service = deployment(&data)
            .open()
            .unwrap_or_else(|e| panic!("{context}: deployment does not open: {e}"));
        let store = deployment(&data).open_store().expect("store");
        let token = deployment(&data).open_token().expect("token");
        let trail = store.audit_range(0, u32::MAX).expect("audit");
        for (id, expected) in &acked {
            let key = store
                .key(id)
                .expect("read")
                .unwrap_or_else(|| panic!("{context}: acknowledged key {id} is lost"));
            assert!(
                key.versions.len() >= expected.versions as usize,
                "{context}: key {id} has {} versions, {} were acknowledged",
                key.versions.len(),
                expected.versions
            );
            match expected.last {
                "destroyed" => assert_eq!(key.state, KeyState::Destroyed, "{context}: {id}"),
                "scheduled" => assert!(
                    matches!(
                        key.state,
                        KeyState::PendingDeletion { .. } | KeyState::Destroyed | KeyState::Disabled
                    ),
                    "{context}: {id} is {:?} after an acknowledged scheduling",
                    key.state
                ),
                "cancelled" => assert!(
                    matches!(
                        key.state,
                        KeyState::Disabled | KeyState::PendingDeletion { .. }
                    ),
                    "{context}: {id} is {:?} after an acknowledged cancellation",
                    key.state
                ),
                _ => {}
            }
            if expected.origin_token {
                for n in 1..=expected.versions {
                    let label = format!("kastell-{id}-v{n}");
                    let present = token.contains(&label).expect("token");
                    if key.state == KeyState::Destroyed {
                        assert!(!present, "{context}: {label} survived destruction");
                    } else {
                        assert!(present, "{context}: acknowledged token key {label} is lost");
                    }
                }
            }
            if key.state == KeyState::Destroyed {
                assert!(
                    key.versions
                        .iter()
                        .all(|v| v.material == Material::Destroyed),
                    "{context}: {id}"
                );
            }
            assert!(
                trail
                    .iter()
                    .any(|r| r.entry.key == Some(*id) && r.entry.operation == "create-key"),
                "{context}: the creation of {id} is not in the audit trail"
            );
        }
        let encryptions = trail
            .iter()
            .filter(|r| r.entry.operation == "encrypt")
            .count();
        assert!(
            encryptions >= acked_encryptions,
            "{context}: {acked_encryptions} encryptions were acknowledged, the audit trail records {encryptions}"
        );
        let report = service
            .verify_audit(&[])
            .expect("read trail")
            .unwrap_or_else(|broken| panic!("{context}: audit trail broken: {broken}"));
        assert_eq!(report.records, trail.len() as u64);
    }
    assert!(
        total_acks >= RUNS,
        "the workers acknowledged only {total_acks} operations in {RUNS} runs: the kills came too early to test anything"
    );
    assert!(
        acked.values().any(|a| a.last == "destroyed") && acked.values().any(|a| a.versions > 1),
        "the runs covered destruction and rotation"
    );
    assert!(
        acked_encryptions > 0,
        "the runs acknowledged no concurrent encryption"
    );
}
