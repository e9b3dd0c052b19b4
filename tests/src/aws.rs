//! What the tests of the AWS KMS-compatible endpoint share: the region and account they
//! serve, a deployment with `[aws] listen` on loopback, an aws-sdk-kms client that signs
//! with an access key and trusts only the deployment's root, the boto3/AWS CLI virtualenv
//! that `scripts/aws-env` makes, and the audit trail read through `/v1/audit`.

use std::path::PathBuf;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use kastell::client::Client;
use serde_json::Value;

use crate::server::{Deployment, Result, Setup, TestServer, fail};

/// The region the tests' deployments serve.
pub const REGION: &str = "eu-central-1";
/// The account id the tests' deployments serve.
pub const ACCOUNT: &str = "111122223333";

/// Adds an `[aws]` table to `deployment`'s configuration: the endpoint on a free port of
/// 127.0.0.1, [`REGION`], [`ACCOUNT`], then the lines of `extra`.
///
/// # Errors
/// When the configuration cannot be written.
pub fn enable(deployment: &Deployment, extra: &str) -> Result<()> {
    deployment.append_config(&format!(
        "\n[aws]\nlisten = \"127.0.0.1:0\"\nregion = \"{REGION}\"\naccount_id = \
         \"{ACCOUNT}\"\n{extra}"
    ))
}

/// A server of `setup` with the AWS endpoint on loopback ([`enable`]).
///
/// # Errors
/// When the deployment cannot be made or the server does not start.
pub fn serve(setup: &Setup) -> Result<TestServer> {
    let deployment = Deployment::init(setup)?;
    enable(&deployment, "")?;
    TestServer::serve(deployment)
}

/// An aws-sdk-kms client for `server`'s AWS endpoint signing with `key` (access key id,
/// secret) in [`REGION`], trusting only the deployment's root.
///
/// # Errors
/// When the root certificate cannot be read or the endpoint's URL is not printed.
pub fn try_sdk(server: &TestServer, key: &(String, String)) -> Result<aws_sdk_kms::Client> {
    let root = std::fs::read(server.deployment().root_certificate())
        .map_err(|e| fail(format!("the deployment's root certificate: {e}")))?;
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(root.as_slice()))
        .build()
        .map_err(|e| fail(format!("TLS context of the SDK client: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(server.aws_url()?)
        .credentials_provider(Credentials::new(&key.0, &key.1, None, None, "kastell"))
        .http_client(http)
        .build();
    Ok(aws_sdk_kms::Client::from_conf(config))
}

/// [`try_sdk`], for tests: a failure is a failed test.
///
/// # Panics
/// As [`try_sdk`] fails.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn sdk(server: &TestServer, key: &(String, String)) -> aws_sdk_kms::Client {
    try_sdk(server, key).expect("an SDK client of the AWS endpoint")
}

/// The virtualenv with boto3, the AWS CLI and moto that `scripts/aws-env` makes
/// (`KASTELL_TEST_AWS_VENV`).
///
/// # Panics
/// When `KASTELL_TEST_AWS_VENV` is unset.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn venv() -> PathBuf {
    PathBuf::from(std::env::var("KASTELL_TEST_AWS_VENV").expect(
        "KASTELL_TEST_AWS_VENV is unset: `source scripts/aws-env` makes the boto3/AWS CLI \
         virtualenv (scripts/test does)",
    ))
}

/// Runs `tests/aws/<script>` with `args` in [`venv`]'s Python against `server`'s AWS
/// endpoint, signing with `key`: the endpoint in `KASTELL_AWS_ENDPOINT`, the access key in
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, [`REGION`] in `AWS_DEFAULT_REGION`,
/// [`ACCOUNT`] in `KASTELL_ACCOUNT`, the deployment's root in `AWS_CA_BUNDLE`, then
/// `env`. Returns the JSON the script prints.
///
/// # Errors
/// When the script does not start, fails, or prints no JSON (with its output).
pub fn try_boto3(
    server: &TestServer,
    script: &str,
    args: &[&str],
    key: &(String, String),
    env: &[(&str, &str)],
) -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("aws")
        .join(script);
    let out = std::process::Command::new(venv().join("bin/python"))
        .arg(path)
        .args(args)
        .env("KASTELL_AWS_ENDPOINT", server.aws_url()?)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("KASTELL_ACCOUNT", ACCOUNT)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .envs(env.iter().copied())
        .output()
        .map_err(|e| fail(format!("{script} does not start: {e}")))?;
    let shown = || {
        format!(
            "{script} {}: {}\n{}",
            args.join(" "),
            crate::text(&out.stdout),
            crate::text(&out.stderr)
        )
    };
    if !out.status.success() {
        return Err(fail(shown()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("{e}: {}", shown())))
}

/// [`try_boto3`], for tests: a failure is a failed test.
///
/// # Panics
/// As [`try_boto3`] fails, with the script's output.
#[must_use]
pub fn boto3(
    server: &TestServer,
    script: &str,
    args: &[&str],
    key: &(String, String),
    env: &[(&str, &str)],
) -> Value {
    match try_boto3(server, script, args, key, env) {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// Every audit record `auditor` (an auditor's client) reads, oldest first.
///
/// # Errors
/// When a page cannot be read.
pub fn try_audit_trail(auditor: &Client) -> Result<Vec<Value>> {
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = auditor
            .get(&format!("/v1/audit?after={after}&limit=1000"))
            .map_err(|e| fail(format!("GET /v1/audit: {e}")))?;
        let batch = page["records"].as_array().cloned().unwrap_or_default();
        let Some(last) = batch.last() else {
            return Ok(records);
        };
        after = last["seq"]
            .as_u64()
            .ok_or_else(|| fail(format!("an audit record without seq: {last}")))?;
        records.extend(batch);
    }
}

/// [`try_audit_trail`], for tests: a failure is a failed test.
///
/// # Panics
/// As [`try_audit_trail`] fails.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn audit_trail(auditor: &Client) -> Vec<Value> {
    try_audit_trail(auditor).expect("the audit trail")
}

/// Waits up to 20 s (polling every 200 ms) for the trail `auditor` reads to hold a record
/// of `operation` on key `key` with `outcome` and a reason containing `reason` — a record a
/// server writes on its own, such as its sweep's after a restart.
///
/// # Panics
/// When no such record appears in time, or the trail cannot be read.
pub fn wait_audited(auditor: &Client, key: &str, operation: &str, outcome: &str, reason: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !audited(
        &audit_trail(auditor),
        ("key", key),
        operation,
        outcome,
        reason,
    ) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {outcome} {operation} record with `{reason}` for key {key}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Every audit record the auditor whose client profile is `auditor` reads on `server`,
/// oldest first (a client made anew, so that it follows the server across restarts).
///
/// # Panics
/// When the client cannot be made or a page cannot be read.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn trail_of(server: &TestServer, auditor: &std::path::Path) -> Vec<Value> {
    audit_trail(&server.client(auditor).expect("the auditor's client"))
}

/// Whether `trail` holds a record whose `field` (`principal` or `key`) is `who`, of
/// `operation`, with `outcome` and a reason containing `reason`.
#[must_use]
pub fn audited(
    trail: &[Value],
    (field, who): (&str, &str),
    operation: &str,
    outcome: &str,
    reason: &str,
) -> bool {
    trail.iter().any(|r| {
        r[field] == who
            && r["operation"] == operation
            && r["outcome"] == outcome
            && r["reason"].as_str().unwrap_or("").contains(reason)
    })
}
