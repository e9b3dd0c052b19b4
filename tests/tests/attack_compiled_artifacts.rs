//! Attacks on the compiled-artifact cache (issue 16, point 11), performed by someone who
//! can write the data directory but cannot use the token: a compiled artifact is native
//! code the server runs, so an artifact planted under a policy's name would decide for
//! that policy. Artifacts are authenticated with an HMAC key held by the token, bound to
//! the policy's measurement; a file that fails is not run, the policy is compiled again
//! from its source, and the refusal is audited by name.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use kastell::client::{Client, RemoteError};
use kastell_core::deployment::COMPILED_DIR;
use kastell_tests::guest;
use kastell_tests::server::{Setup, SoftHsm, TestServer};
use kastell_tests::vault::{b64, create_key, encrypt, push};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha384};

fn artifact(data_dir: &Path, measurement: &str) -> PathBuf {
    let hex = measurement.strip_prefix("sha384:").unwrap();
    data_dir.join(COMPILED_DIR).join(format!("{hex}.cwasm"))
}

fn decrypt(user: &Client, ciphertext: &[u8], context: &Value) -> Result<Value, RemoteError> {
    user.post(
        "/v1/decrypt",
        &json!({ "ciphertext": b64(ciphertext), "context": context }),
    )
}

/// Asserts that `result` is the API's policy refusal, and returns the reason the audit
/// trail gives for the latest decrypt (callers see only `AccessDenied`; the trail names
/// the policy's own reason, so it tells which policy decided).
fn denial(result: Result<Value, RemoteError>, auditor: &Client) -> String {
    match result {
        Err(RemoteError::Api {
            status,
            name,
            message,
        }) => assert_eq!((status, name.as_str()), (403, "AccessDenied"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let page: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    let last = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["operation"] == "decrypt")
        .expect("the decrypt is audited")
        .clone();
    assert_eq!(last["outcome"], "denied", "{last}");
    last["reason"].as_str().unwrap().to_owned()
}

/// The artifact file of the unauthenticated format older versions wrote: magic, then an
/// unkeyed SHA-384 over measurement and artifact — anyone can compute it.
fn unkeyed_seal(measurement: &str, native: &[u8]) -> Vec<u8> {
    let hex = measurement.strip_prefix("sha384:").unwrap();
    let mut hasher = Sha384::new();
    hasher.update(hex::decode(hex).unwrap());
    hasher.update(native);
    let mut file = b"KSTLCWA1".to_vec();
    file.extend_from_slice(&hasher.finalize());
    file.extend_from_slice(native);
    file
}

/// A key bound to `allow-measured` refuses a plain API decrypt (no attestation). The
/// attacker writes, under that policy's name, the artifact the server itself compiled for
/// `tenant-context` (which would let the tenant decrypt): first the file as it is (its tag
/// made by the token, but for the other policy), then re-sealed in the old unkeyed format.
/// Each time the server refuses the artifact, runs the genuine policy, and audits it.
#[test]
fn a_planted_compiled_artifact_is_refused_recompiled_and_audited() {
    planted_artifact_attack(TestServer::start_soft().expect("server"));
}

/// The same with the artifact key on SoftHSM2, through PKCS#11 (`CKM_SHA384_HMAC`).
#[test]
fn a_planted_compiled_artifact_is_refused_with_the_key_on_softhsm() {
    let hsm = SoftHsm::create("kastell-artifacts").expect("softhsm");
    planted_artifact_attack(
        TestServer::start(&Setup::softhsm(&hsm).expect("setup")).expect("server"),
    );
}

fn planted_artifact_attack(mut server: TestServer) {
    let data_dir = server.deployment().data_dir();
    let officer = server.client(&server.officer()).unwrap();
    let strict = push(&officer, "/v1/policies", guest("allow-measured")).unwrap();
    let lenient = push(&officer, "/v1/policies", guest("tenant-context")).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256", "policy": strict })).unwrap();
    let user_profile = server
        .issue_client("svc-acme", "crypto-user", Some("acme"))
        .unwrap();
    let auditor_profile = server.issue_client("audit", "auditor", None).unwrap();
    let (mut user, mut auditor) = (
        server.client(&user_profile).unwrap(),
        server.client(&auditor_profile).unwrap(),
    );
    let context = json!({ "tenant": "acme" });
    let ciphertext = encrypt(&user, &key, b"ledger", &context).expect("encrypt is allowed");
    let before = denial(decrypt(&user, &ciphertext, &context), &auditor);
    assert!(before.contains("no valid attestation evidence"), "{before}");

    let lenient_file = std::fs::read(artifact(&data_dir, &lenient)).expect("server cached it");
    let native = lenient_file[8 + 48..].to_vec();
    let forgeries = [
        ("another policy's artifact", lenient_file),
        ("an unkeyed seal", unkeyed_seal(&strict, &native)),
    ];
    for (what, forged) in forgeries {
        server.stop().expect("stop");
        std::fs::write(artifact(&data_dir, &strict), &forged).unwrap();
        server.resume().expect("start again");
        user = server.client(&user_profile).unwrap();
        auditor = server.client(&auditor_profile).unwrap();

        let after = denial(decrypt(&user, &ciphertext, &context), &auditor);
        assert!(
            after.contains("no valid attestation evidence"),
            "{what}: the genuine policy decided: {after}"
        );
        let log = server.log();
        assert!(log.contains("compiled artifact rejected"), "{what}: {log}");
        // The artifact was replaced by an authentic one: the next start loads it quietly.
        assert_ne!(
            std::fs::read(artifact(&data_dir, &strict)).unwrap(),
            forged,
            "{what}: recompiled and rewritten"
        );
    }

    let page: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    let rejected: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "reject-compiled-artifact")
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    for record in &rejected {
        assert_eq!(record["outcome"], "denied");
        assert_eq!(record["principal"], "kastell");
        assert_eq!(record["policy"], strict.as_str());
    }
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("authentication tag does not match"),
        "{rejected:#?}"
    );
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unauthenticated artifact format"),
        "{rejected:#?}"
    );
}
