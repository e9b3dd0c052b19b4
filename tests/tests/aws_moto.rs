//! moto's own KMS test suite against Kastell (issue 18): the `tests/test_kms` folder of the
//! moto 5.2.6 source package (fetched and hash-checked by `scripts/aws-env`, which exports
//! `KASTELL_TEST_MOTO_TESTS`) runs in moto's server mode against real `kastell serve`
//! processes with `[aws] listen` on loopback. A deployment serves one region, as an AWS KMS
//! endpoint does, and the suite's clients use several: one deployment per region the suite
//! names, each with its own access key, and `tests/aws/kastell_moto.py` sends each client
//! to its region's endpoint signed with that key (instead of moto's fixed fake credentials)
//! and records which tests reached an endpoint.
//!
//! moto resets its backend before each test; a deployment keeps its keys and aliases. So
//! each test gets fresh deployments: before serving, each deployment's data directory
//! (made by `kastell init`, with the `[aws]` settings and the suite's access key) is copied
//! aside, and when a test makes its first client for a region an earlier test used, the
//! plugin asks this harness (over a loopback TCP connection) to stop that region's server,
//! put the copy back and serve it again: the same root and access key, nothing else.
//!
//! The test proves two things: at least [`REQUIRED`] of the moto tests that reach the
//! endpoint pass, and `docs/aws-moto.md` lists exactly the tests that do not, each with its
//! reason — a failure the document does not name fails this test, and so does a named one
//! that passes now (the document is then stale). The full report goes to
//! `target/moto-report.jsonl`, pytest's output to `target/moto-report.log`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, ErrorKind, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::Value;

/// moto's tests hard-code its default account; this is their default region.
const REGION: &str = "us-east-1";
/// The regions moto's KMS tests use, one deployment each.
const REGIONS: [&str; 7] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-central-1",
    "eu-west-1",
    "ap-northeast-1",
];
const ACCOUNT: &str = "123456789012";
/// The share of the tests reaching the endpoint that must pass: the figure measured with
/// key policies and grants in (113 of 209, 54.1 %; 114 before grants, which refuse a grant
/// token that is not one, as AWS does), so a regression fails. Issues 18 and 19 ask for 80 %
/// and 90 %; docs/aws-moto.md says why following AWS reaches at most 57.4 % (89 of the 95
/// failures test moto-only behaviour).
const REQUIRED: f64 = 0.54;
/// The whole suite's bound; it takes under three minutes here (2 cores).
const BOUND: Duration = Duration::from_secs(600);

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is unset: `source scripts/aws-env` makes it (scripts/test does)")
    }))
}

/// The failures `docs/aws-moto.md` names: table rows whose first cell is a test id in
/// backticks.
fn documented_failures() -> BTreeSet<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/aws-moto.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(id, _)| id.to_owned()))
        .filter(|id| id.starts_with("tests/test_kms/"))
        .collect()
}

/// A region's deployment: the server, and the copy of its data directory made before it
/// first served (what a reset puts back).
struct Region {
    name: &'static str,
    server: TestServer,
    pristine: PathBuf,
    /// The suite's access key (JSON: `access_key_id`, `secret_access_key`, `arn`).
    access_key: Value,
}

/// A deployment on the soft token serving `region` with moto's account, one identity
/// holding both roles as the suite expects; its data directory is copied aside before it
/// serves.
fn region_server(region: &'static str) -> Region {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    deployment
        .append_config(&format!(
            "\n[aws]\nlisten = \"127.0.0.1:0\"\nregion = \"{region}\"\naccount_id = \
             \"{ACCOUNT}\"\nseparation_of_duties = false\n"
        ))
        .unwrap();
    let config = deployment.config().display().to_string();
    let created = deployment
        .run(
            &[
                "access-key",
                "create",
                "--principal",
                "moto",
                "--role",
                "crypto-officer",
                "--role",
                "crypto-user",
                "--config",
                &config,
            ]
            .map(str::to_owned),
        )
        .unwrap();
    let access_key: Value = serde_json::from_str(created.trim()).unwrap();
    let data = deployment.data_dir();
    let pristine = data.with_file_name("pristine");
    copy_dir(&data, &pristine);
    Region {
        name: region,
        server: TestServer::serve(deployment).unwrap(),
        pristine,
        access_key,
    }
}

/// `cp -a from to`: modes kept (the server refuses a data directory others may write).
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// Serves `region` afresh: stops its server, puts the pristine data directory back and
/// serves it again; returns the new endpoint.
fn reset(region: &mut Region) -> String {
    region.server.stop().unwrap();
    let data = region.server.deployment().data_dir();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&region.pristine, &data);
    region.server.resume().unwrap();
    region.server.aws_url().unwrap()
}

/// Answers the plugin's requests on `connection` until it has no complete line: `reset
/// <region>` → `{"endpoint": …}` (or `{"error": …}`). Returns false once the plugin has
/// closed the connection.
fn answer(
    connection: &mut BufReader<TcpStream>,
    line: &mut String,
    regions: &mut [Region],
) -> bool {
    loop {
        match connection.read_line(line) {
            Ok(0) => return false,
            Ok(_) if line.ends_with('\n') => {
                let request = std::mem::take(line);
                let reply = match request.trim().strip_prefix("reset ") {
                    Some(name) => match regions.iter_mut().find(|r| r.name == name) {
                        Some(region) => serde_json::json!({ "endpoint": reset(region) }),
                        None => serde_json::json!({ "error": format!("no deployment for {name}") }),
                    },
                    None => serde_json::json!({ "error": format!("unknown request {request:?}") }),
                };
                let stream = connection.get_mut();
                stream.write_all(format!("{reply}\n").as_bytes()).unwrap();
                stream.flush().unwrap();
            }
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return true;
            }
            Err(err) => panic!("the plugin's control connection: {err}"),
        }
    }
}

/// pytest, killed if the harness fails (a panic) before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn moto_kms_suite_passes_against_kastell_and_every_failure_is_documented() {
    let mut regions: Vec<Region> = REGIONS.iter().map(|region| region_server(region)).collect();
    let mut described = serde_json::Map::new();
    for region in &regions {
        let mut entry = region.access_key.clone();
        entry["endpoint"] = Value::from(region.server.aws_url().unwrap());
        entry["ca_bundle"] = Value::from(
            region
                .server
                .deployment()
                .root_certificate()
                .display()
                .to_string(),
        );
        described.insert(region.name.to_owned(), entry);
    }
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    control.set_nonblocking(true).unwrap();
    let default = &regions[0].server;

    let moto = env_path("KASTELL_TEST_MOTO_TESTS");
    let report = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-report.jsonl");
    let log = report.with_extension("log");
    let _ = std::fs::remove_file(&report);
    let pytest = Command::new(env_path("KASTELL_TEST_AWS_VENV").join("bin/python"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "kastell_moto",
            "-p",
            "no:cacheprovider",
        ])
        .arg("tests/test_kms")
        // moto's own in-process Flask app, not an endpoint: nothing there reaches Kastell.
        .arg("--ignore=tests/test_kms/test_server.py")
        .current_dir(&moto)
        .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/aws"))
        .env("TEST_SERVER_MODE", "true")
        .env("TEST_SERVER_MODE_ENDPOINT", default.aws_url().unwrap())
        .env("MOTO_CALL_RESET_API", "false")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CA_BUNDLE", default.deployment().root_certificate())
        .env("KASTELL_MOTO_REGIONS", Value::Object(described).to_string())
        .env(
            "KASTELL_MOTO_CONTROL",
            control.local_addr().unwrap().to_string(),
        )
        .env("KASTELL_MOTO_REPORT", &report)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(pytest);
    let started = Instant::now();
    let mut connection: Option<BufReader<TcpStream>> = None;
    let mut line = String::new();
    while child.0.try_wait().unwrap().is_none() {
        if started.elapsed() > BOUND {
            panic!("moto's suite ran past {BOUND:?}");
        }
        if let Some(open) = connection.as_mut() {
            if !answer(open, &mut line, &mut regions) {
                connection = None;
            }
            continue;
        }
        match control.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                connection = Some(BufReader::new(stream));
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("the control listener: {err}"),
        }
    }
    let elapsed = started.elapsed();

    let results: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap_or_else(|err| {
            panic!(
                "no report from moto's suite ({err}); its output is in {}",
                log.display()
            )
        })
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let reached: Vec<&Value> = results.iter().filter(|r| r["reached"] == true).collect();
    let passed = reached.iter().filter(|r| r["outcome"] == "passed").count();
    let failed: BTreeSet<String> = reached
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| r["test"].as_str().unwrap().to_owned())
        .collect();
    let ratio = passed as f64 / reached.len().max(1) as f64;
    eprintln!(
        "moto 5.2.6 tests/test_kms in {elapsed:.0?}: {} run, {} reached the endpoint, \
         {passed} passed ({:.1} %), {} failed; report {}",
        results.len(),
        reached.len(),
        ratio * 100.0,
        failed.len(),
        report.display()
    );
    assert!(reached.len() >= 100, "too few tests reached the endpoint");

    let documented = documented_failures();
    let undocumented: Vec<String> = reached
        .iter()
        .filter(|r| r["outcome"] == "failed" && !documented.contains(r["test"].as_str().unwrap()))
        .map(|r| format!("{} — {}", r["test"], r["error"]))
        .collect();
    let now_passing: Vec<&String> = documented.difference(&failed).collect();
    assert!(
        undocumented.is_empty(),
        "failures docs/aws-moto.md does not name:\n{}",
        undocumented.join("\n")
    );
    assert!(
        now_passing.is_empty(),
        "docs/aws-moto.md names tests that no longer fail there: {now_passing:?}"
    );
    assert!(
        ratio >= REQUIRED,
        "{:.1} % of the moto tests reaching the endpoint pass, below {:.0} %",
        ratio * 100.0,
        REQUIRED * 100.0
    );
}
