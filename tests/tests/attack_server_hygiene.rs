//! The serving process's hygiene (issue 16, point 15), on the real `kastell serve`: it turns
//! core dumps off before it opens the token and says so in its log; and a revoked
//! certificate that keeps calling is refused by name every time while costing the audit
//! trail a few records (the first at once, then one summary per interval with the count),
//! not one fsynced record per request.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::{Duration, Instant};

use kastell::client::Client;
use kastell_tests::server::{Deployment, Setup, TestServer, expect_api_error};
use serde_json::{Value, json};

/// `/proc/<pid>/limits` of the running server says its core file size is 0 (soft and
/// hard), and its log says core dumps are off.
#[cfg(target_os = "linux")]
#[test]
fn kastell_serve_turns_core_dumps_off_and_says_so() {
    let server = TestServer::start_soft().expect("server");
    let pid = server.pid().expect("running");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.get(4..6), Some(&["0", "0"][..]), "{line}");
    // Not dumpable: the kernel hands /proc/<pid> to root. Seen only when the test runs
    // as another user (as root, the folder is root's anyway).
    let status = std::fs::read_to_string("/proc/self/status").expect("own status");
    let own_uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("effective uid");
    if own_uid != "0" {
        use std::os::unix::fs::MetadataExt as _;
        let owner = std::fs::metadata(format!("/proc/{pid}/status"))
            .expect("status")
            .uid();
        assert_eq!(owner, 0, "the server is still dumpable");
    }
    let log = server.log();
    assert!(log.contains("core dumps disabled"), "{log}");
}

fn audit(auditor: &Client) -> Vec<Value> {
    let page: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    page["records"].as_array().expect("records").clone()
}

/// How many refusals a record stands for: a summary says "refused N more times", the
/// first refusal is one.
fn refusals_in(record: &Value) -> u64 {
    let reason = record["reason"].as_str().unwrap();
    reason
        .split("; refused ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map_or(1, |n| n.parse().unwrap())
}

/// A revoked client sends 200 requests: every one is refused 401 `Unauthenticated` naming
/// the revocation; the audit trail gains the first refusal at once and then summaries
/// every 2 s whose counts add up to the 200, a few records in all.
#[test]
fn a_revoked_certificate_hammering_the_server_costs_a_few_audit_records_not_one_each() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    // `init` ends the file with its [server] table: the key lands in it.
    deployment
        .append_config("refusal_summary_secs = 2\n")
        .expect("config");
    let server = TestServer::serve(deployment).expect("serve");
    let officer = server.client(&server.officer()).expect("officer");
    let auditor = server
        .client(
            &server
                .issue_client("auditor", "auditor", None)
                .expect("auditor"),
        )
        .expect("auditor");
    let laptop = server
        .client(
            &server
                .issue_client("laptop", "crypto-user", None)
                .expect("user"),
        )
        .expect("user");
    laptop.get::<Value>("/v1/keys").expect("works before");
    let clients: Value = officer.get("/v1/clients").expect("clients");
    let serial = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["principal"] == "laptop")
        .and_then(|c| c["serial"].as_str())
        .expect("listed")
        .to_owned();
    officer
        .post::<Value>(
            &format!("/v1/clients/{serial}/revoke"),
            &json!({ "reason": "laptop lost" }),
        )
        .expect("revoke");

    for _ in 0..200 {
        let message = expect_api_error(laptop.get::<Value>("/v1/keys"), 401, "Unauthenticated");
        assert!(
            message.contains(&format!("{serial} is revoked")),
            "{message}"
        );
    }

    let started = Instant::now();
    let refusals = loop {
        let refusals: Vec<Value> = audit(&auditor)
            .into_iter()
            .filter(|r| {
                r["operation"] == "authenticate"
                    && r["outcome"] == "denied"
                    && r["principal"] == "laptop"
            })
            .collect();
        let counted: u64 = refusals.iter().map(refusals_in).sum();
        assert!(counted <= 200, "counted {counted}: {refusals:?}");
        if counted == 200 {
            break refusals;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "summaries count {counted} of 200 refusals: {refusals:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        refusals.len() <= 12,
        "{} audit records for 200 refusals",
        refusals.len()
    );
    assert_eq!(
        refusals[0]["reason"],
        format!("client certificate {serial} is revoked"),
        "the first refusal is audited as it is"
    );
    let last = refusals.last().unwrap()["reason"].as_str().unwrap();
    assert!(
        last.contains("more times since the last record"),
        "the last gives the count: {last}"
    );
    let verified: Value = auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("verify");
    assert_eq!(verified["intact"], true, "{verified}");
}
