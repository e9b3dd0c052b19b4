//! `kastell serve` on SoftHSM2 through PKCS#11: a token of its own (initialised by label in
//! a temporary directory), `kastell init --pkcs11-module`, keys generated in the token and
//! wrapped under its master key, encryption and signatures through the API, a restart, and
//! the audit trail verified.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell::client::Client;
use kastell_tests::server::{Setup, SoftHsm, TestServer};
use serde_json::{Value, json};
use serial_test::serial;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

fn create_key(officer: &Client, spec: &str, origin: &str) -> Value {
    officer
        .post("/v1/keys", &json!({ "spec": spec, "origin": origin }))
        .expect("key created")
}

fn decrypt(user: &Client, ciphertext: &str) -> Vec<u8> {
    let out: Value = user
        .post("/v1/decrypt", &json!({ "ciphertext": ciphertext }))
        .expect("decrypted");
    unb64(&out["plaintext"])
}

fn verify_audit(auditor: &Client) -> u64 {
    let report: Value = auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("audit verified");
    assert_eq!(report["intact"], true, "{report}");
    report["records"].as_u64().unwrap()
}

#[test]
#[serial(softhsm)]
fn serve_on_softhsm_encrypts_signs_and_survives_a_restart() {
    use p384::ecdsa::signature::Verifier as _;
    use p384::pkcs8::DecodePublicKey as _;

    if !std::path::Path::new(SoftHsm::MODULE).is_file() {
        eprintln!(
            "SKIPPED: {} is missing; install softhsm2 (apt-get install softhsm2) to run this test",
            SoftHsm::MODULE
        );
        return;
    }
    let hsm = SoftHsm::create("kastell-serve").expect("SoftHSM2 token");
    let mut server =
        TestServer::start(&Setup::softhsm(&hsm).expect("set-up")).expect("server starts");
    let config = std::fs::read_to_string(server.deployment().config()).unwrap();
    assert!(config.contains(SoftHsm::MODULE), "{config}");
    assert!(config.contains("kastell-serve"), "{config}");
    assert!(
        !server
            .deployment()
            .data_dir()
            .join("soft-token.kst")
            .exists(),
        "no soft token on a PKCS#11 deployment"
    );
    let user_profile = server.issue_client("svc", "crypto-user", None).unwrap();
    let auditor_profile = server.issue_client("audit", "auditor", None).unwrap();

    let officer = server.client(&server.officer()).unwrap();
    let user = server.client(&user_profile).unwrap();
    let auditor = server.client(&auditor_profile).unwrap();
    let in_token = create_key(&officer, "AES_256", "token");
    assert_eq!(in_token["origin"], "token", "{in_token}");
    assert_eq!(in_token["versions"][0]["material"], "token");
    let wrapped = create_key(&officer, "AES_256", "wrapped");
    assert_eq!(wrapped["origin"], "wrapped", "{wrapped}");
    let signer = create_key(&officer, "ECC_NIST_P384", "token");
    let signer_id = signer["id"].as_str().unwrap().to_owned();

    let mut ciphertexts = Vec::new();
    for key in [&in_token, &wrapped] {
        let id = key["id"].as_str().unwrap();
        let plaintext = format!("secret under {id}");
        let out: Value = user
            .post(
                &format!("/v1/keys/{id}/encrypt"),
                &json!({ "plaintext": b64(plaintext.as_bytes()) }),
            )
            .unwrap();
        assert_eq!(out["key_id"], id);
        let ciphertext = out["ciphertext"].as_str().unwrap().to_owned();
        assert_eq!(decrypt(&user, &ciphertext), plaintext.as_bytes());
        ciphertexts.push((ciphertext, plaintext));
    }

    let message = b"signed inside the token";
    let signed: Value = user
        .post(
            &format!("/v1/keys/{signer_id}/sign"),
            &json!({ "message": b64(message) }),
        )
        .unwrap();
    let signature = signed["signature"].as_str().unwrap().to_owned();
    let public: Value = user
        .get(&format!("/v1/keys/{signer_id}/public-key"))
        .unwrap();
    let verifying =
        p384::ecdsa::VerifyingKey::from_public_key_der(&unb64(&public["spki"])).unwrap();
    let der = unb64(&json!(signature));
    verifying
        .verify(message, &p384::ecdsa::Signature::from_der(&der).unwrap())
        .expect("p384 verifies the token's signature");
    let verified: Value = user
        .post(
            &format!("/v1/keys/{signer_id}/verify"),
            &json!({ "message": b64(message), "signature": signature }),
        )
        .unwrap();
    assert_eq!(verified["valid"], true);
    let records_before = verify_audit(&auditor);

    server
        .restart()
        .expect("the server stops gracefully and starts again");

    let user = server.client(&user_profile).unwrap();
    let auditor = server.client(&auditor_profile).unwrap();
    for (ciphertext, plaintext) in &ciphertexts {
        assert_eq!(decrypt(&user, ciphertext), plaintext.as_bytes());
    }
    let verified: Value = user
        .post(
            &format!("/v1/keys/{signer_id}/verify"),
            &json!({ "message": b64(message), "signature": signature }),
        )
        .unwrap();
    assert_eq!(verified["valid"], true);
    let public_after: Value = user
        .get(&format!("/v1/keys/{signer_id}/public-key"))
        .unwrap();
    assert_eq!(public_after["spki"], public["spki"]);
    let records_after = verify_audit(&auditor);
    assert!(
        records_after > records_before,
        "{records_before} records before the restart, {records_after} after"
    );
}
