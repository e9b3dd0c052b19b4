//! The AWS KMS-compatible endpoint (issue 18) driven by real AWS clients, boto3 and the
//! AWS CLI from the virtualenv `scripts/aws-env` makes (`KASTELL_TEST_AWS_VENV`), against
//! one real `kastell serve` with `[aws] listen` on loopback and access keys made with
//! `kastell access-key create`: keys, encryption both ways between `/v1` and the AWS API,
//! data keys, aliases; and the attacks on SigV4 (wrong secret, unknown and revoked access
//! keys, a body changed after signing, a stale date, another region or service in the
//! scope), each refused with AWS's exception name.

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

fn venv() -> PathBuf {
    PathBuf::from(std::env::var("KASTELL_TEST_AWS_VENV").expect(
        "KASTELL_TEST_AWS_VENV is unset: `source scripts/aws-env` makes the boto3/AWS CLI \
         virtualenv (scripts/test does)",
    ))
}

fn access_key(server: &TestServer, principal: &str, role: &str) -> (String, String) {
    let out = server
        .kastell_ok(&[
            "access-key",
            "create",
            "--principal",
            principal,
            "--role",
            role,
            "--config",
            &server.deployment().config().display().to_string(),
        ])
        .unwrap();
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        created["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/{principal}"),
        "{created}"
    );
    let id = created["access_key_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("KSTL") && id.len() == 20, "{id}");
    (
        id,
        created["secret_access_key"].as_str().unwrap().to_owned(),
    )
}

fn python(
    server: &TestServer,
    key: &(String, String),
    scenario: &str,
    extra: &[(&str, &str)],
) -> Value {
    let out = Command::new(venv().join("bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/aws/drive.py"))
        .arg(scenario)
        .env("KASTELL_AWS_ENDPOINT", server.aws_url().unwrap())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "drive.py {scenario}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn boto3_and_the_aws_cli_use_kastell_keys_and_forged_requests_are_refused_by_aws_names() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    deployment
        .append_config(&format!(
            "\n[aws]\nlisten = \"127.0.0.1:0\"\nregion = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n"
        ))
        .unwrap();
    let mut server = TestServer::serve(deployment).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let key: Value = officer
        .post(
            "/v1/keys",
            &json!({"spec": "AES_256", "alias": "alias/records"}),
        )
        .unwrap();
    let key_id = key["id"].as_str().unwrap().to_owned();
    let alice = server
        .client(&server.issue_client("alice", "crypto-user", None).unwrap())
        .unwrap();
    let native: Value = alice
        .post(
            &format!("/v1/keys/{key_id}/encrypt"),
            &json!({"plaintext": "ZnJvbSB2MQ==", "context": {}}),
        )
        .unwrap();
    let user = access_key(&server, "alice", "crypto-user");

    // boto3: the key as AWS describes it, encryption, data keys, aliases, /v1 interop.
    let seen = python(
        &server,
        &user,
        "roundtrip",
        &[
            ("KASTELL_KEY", key_id.as_str()),
            (
                "KASTELL_NATIVE_CIPHERTEXT",
                native["ciphertext"].as_str().unwrap(),
            ),
        ],
    );
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}");
    assert_eq!(seen["key_state"], "Enabled", "{seen}");
    assert_eq!(seen["key_spec"], "SYMMETRIC_DEFAULT");
    assert_eq!(seen["arn"], arn);
    assert_eq!(seen["decrypted"], "hello kastell");
    assert_eq!(seen["encrypted_key"], arn);
    assert_eq!(seen["data_key_matches"], true);
    assert_eq!(seen["data_key_len"], 32);
    assert_eq!(seen["without_has_plaintext"], false);
    assert_eq!(seen["random_len"], 16);
    assert_eq!(seen["aliases"], json!(["alias/records"]));
    assert_eq!(seen["by_alias_key"], arn);
    assert_eq!(seen["from_v1"], "from v1");
    assert_eq!(seen["wrong_context"], "InvalidCiphertextException");
    assert_eq!(seen["unsupported"], "UnsupportedOperationException");
    // A spec Kastell has not (yet) is AWS's refusal, never a key of another spec.
    assert_eq!(seen["rsa"], "UnsupportedOperationException");
    // Separation of duties: a crypto-user's access key cannot create keys.
    assert_eq!(seen["user_creates_key"], "AccessDeniedException");
    let back: Value = alice
        .post(
            "/v1/decrypt",
            &json!({"ciphertext": seen["for_v1"], "context": {"tenant": "acme"}}),
        )
        .unwrap();
    assert_eq!(
        back["plaintext"], "aGVsbG8ga2FzdGVsbA==",
        "AWS ciphertext decrypted by /v1"
    );

    // The AWS CLI.
    let cli = Command::new(venv().join("bin/aws"))
        .args([
            "kms",
            "encrypt",
            "--endpoint-url",
            &server.aws_url().unwrap(),
        ])
        .args([
            "--key-id",
            "alias/records",
            "--plaintext",
            "aGk=",
            "--output",
            "json",
        ])
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &user.0)
        .env("AWS_SECRET_ACCESS_KEY", &user.1)
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .env("HOME", server.deployment().data_dir())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let encrypted: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(encrypted["KeyId"], arn);

    // Attacks on the signature, each refused by AWS's exception name.
    let attacks = python(&server, &user, "attacks", &[]);
    assert_eq!(attacks["honest"], json!([200, "ok"]), "{attacks}");
    for (attack, exception) in [
        ("wrong_secret", "InvalidSignatureException"),
        ("tampered_body", "InvalidSignatureException"),
        ("stale_date", "InvalidSignatureException"),
        ("wrong_region", "InvalidSignatureException"),
        ("wrong_service", "InvalidSignatureException"),
    ] {
        assert_eq!(
            attacks[attack],
            json!([400, exception]),
            "{attack}: {attacks}"
        );
    }
    let unknown = ("KSTLAAAAAAAAAAAAAAAA".to_owned(), user.1.clone());
    assert_eq!(
        python(&server, &unknown, "refused", &[])["error"],
        "UnrecognizedClientException"
    );
    let revoked = access_key(&server, "bob", "crypto-user");
    assert_eq!(
        python(&server, &revoked, "refused", &[])["error"],
        "accepted"
    );
    server
        .kastell_ok(&[
            "access-key",
            "revoke",
            &revoked.0,
            "--reason",
            "left",
            "--config",
            &server.deployment().config().display().to_string(),
        ])
        .unwrap();
    assert_eq!(
        python(&server, &revoked, "refused", &[])["error"],
        "UnrecognizedClientException",
        "a revoked access key is refused from the next request on"
    );
    // Someone who writes the store makes a user's access key an officer's: the sealed
    // secret is bound to principal, role and tenant, so the key stops working (named in the
    // log) instead of administering.
    let promoted = access_key(&server, "carol", "crypto-user");
    server.stop().unwrap();
    rusqlite::Connection::open(server.deployment().data_dir().join("kastell.db"))
        .unwrap()
        .execute(
            "UPDATE access_keys SET role = 'crypto-officer' WHERE id = ?1",
            [&promoted.0],
        )
        .unwrap();
    server.resume().unwrap();
    assert_eq!(
        python(&server, &promoted, "refused", &[])["error"],
        "UnrecognizedClientException",
        "an access key whose role was edited in the store is refused"
    );
    assert!(
        server.log().contains("TamperDetected: access key refused"),
        "{}",
        server.log()
    );
    // A principal keeps one role for life: alice's name cannot get an officer's key.
    let out = server
        .kastell(&[
            "access-key",
            "create",
            "--principal",
            "alice",
            "--role",
            "crypto-officer",
            "--config",
            &server.deployment().config().display().to_string(),
        ])
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessDenied"),
        "{out:?}"
    );
}
