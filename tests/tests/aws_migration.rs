//! Migrating from AWS KMS by configuration alone (issue 18, the README's "From AWS KMS in
//! five minutes"): an application written for AWS KMS — boto3 without an `endpoint_url`,
//! the AWS Encryption SDK's KMS master key provider, the AWS CLI without `--endpoint-url` —
//! runs unchanged against a real `kastell serve` once its environment names the endpoint
//! (`AWS_ENDPOINT_URL_KMS`), the deployment's root (`AWS_CA_BUNDLE`) and a Kastell access
//! key. `tests/aws/migrate.py` is the application.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::PathBuf;
use std::process::Command;

use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::{Value, json};

const REGION: &str = "eu-central-1";
const ACCOUNT: &str = "111122223333";

#[test]
fn an_aws_kms_application_moves_to_kastell_by_its_environment_alone() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    deployment
        .append_config(&format!(
            "\n[aws]\nlisten = \"127.0.0.1:0\"\nregion = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n"
        ))
        .unwrap();
    let server = TestServer::serve(deployment).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let key: Value = officer
        .post("/v1/keys", &json!({"spec": "AES_256"}))
        .unwrap();
    let arn = format!(
        "arn:aws:kms:{REGION}:{ACCOUNT}:key/{}",
        key["id"].as_str().unwrap()
    );
    let user = server
        .access_key("billing", &["crypto-user"], None)
        .unwrap();
    let venv = PathBuf::from(std::env::var("KASTELL_TEST_AWS_VENV").expect(
        "KASTELL_TEST_AWS_VENV is unset: `source scripts/aws-env` makes the AWS virtualenv \
         (scripts/test does)",
    ));
    let out = Command::new(venv.join("bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/aws/migrate.py"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", server.deployment().data_dir())
        .env("AWS_ENDPOINT_URL_KMS", server.aws_url().unwrap())
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &user.0)
        .env("AWS_SECRET_ACCESS_KEY", &user.1)
        .env("KASTELL_KEY_ARN", &arn)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate.py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["boto3_key"], arn, "{seen}");
    assert_eq!(seen["boto3_roundtrip"], "moved");
    assert_eq!(seen["esdk_plaintext"], "envelope through kastell");
    assert_eq!(seen["esdk_context"], "acme");
    assert_eq!(seen["esdk_data_key_from"], json!([arn]));
    assert_eq!(seen["cli_status"], 0, "{seen}");
    assert_eq!(seen["cli_key_state"], "Enabled");
}
