//! The AWS KMS-compatible endpoint (issue 18) driven by aws-sdk-rust (`aws-sdk-kms`, its
//! own SigV4 signer and HTTPS client trusting the deployment's root), against one real
//! `kastell serve` with `[aws] listen` on loopback and access keys made with
//! `kastell access-key create`: an officer's key creates and describes keys, a user's key
//! encrypts, decrypts and makes data keys, a ciphertext made through `/v1` decrypts through
//! the SDK and back, and the SDK sees AWS's exception names for a wrong secret, a user
//! creating a key and a ciphertext under another encryption context.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::HashMap;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyState, KeyUsageType};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kastell_tests::aws::{self, ACCOUNT, REGION, sdk};
use kastell_tests::server::Setup;
use serde_json::{Value, json};

#[test]
fn aws_sdk_rust_uses_kastell_keys_and_sees_aws_exception_names() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let officer = sdk(
        &server,
        &server
            .access_key("olga", &["crypto-officer"], None)
            .unwrap(),
    );
    let user = sdk(
        &server,
        &server.access_key("alice", &["crypto-user"], None).unwrap(),
    );
    let alice = server
        .client(&server.issue_client("alice", "crypto-user", None).unwrap())
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // The officer creates a key; AWS's metadata comes back.
    let created = runtime
        .block_on(officer.create_key().description("sdk-rust").send())
        .unwrap();
    let metadata = created.key_metadata().unwrap();
    let key_id = metadata.key_id().to_owned();
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}");
    assert_eq!(metadata.arn(), Some(arn.as_str()));
    assert_eq!(metadata.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(metadata.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));
    let described = runtime
        .block_on(officer.describe_key().key_id(&arn).send())
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), key_id);

    // Separation of duties: a user's access key cannot create keys.
    let refused = runtime.block_on(user.create_key().send()).unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");

    // The user encrypts and decrypts under an encryption context.
    let context = HashMap::from([("tenant".to_owned(), "acme".to_owned())]);
    let encrypted = runtime
        .block_on(
            user.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"from the rust sdk".to_vec()))
                .set_encryption_context(Some(context.clone()))
                .send(),
        )
        .unwrap();
    assert_eq!(encrypted.key_id(), Some(arn.as_str()));
    let blob = encrypted.ciphertext_blob().unwrap().clone();
    let decrypted = runtime
        .block_on(
            user.decrypt()
                .ciphertext_blob(blob.clone())
                .set_encryption_context(Some(context.clone()))
                .send(),
        )
        .unwrap();
    assert_eq!(
        decrypted.plaintext().unwrap().as_ref(),
        b"from the rust sdk"
    );
    assert_eq!(decrypted.key_id(), Some(arn.as_str()));
    let wrong = runtime
        .block_on(
            user.decrypt()
                .ciphertext_blob(blob.clone())
                .encryption_context("tenant", "other")
                .send(),
        )
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Some("InvalidCiphertextException"),
        "{wrong:?}"
    );

    // The SDK's ciphertext decrypts through /v1, and a /v1 ciphertext through the SDK.
    let back: Value = alice
        .post(
            "/v1/decrypt",
            &json!({
                "ciphertext": STANDARD.encode(blob.as_ref()),
                "context": {"tenant": "acme"},
            }),
        )
        .unwrap();
    assert_eq!(
        back["plaintext"],
        STANDARD.encode(b"from the rust sdk"),
        "SDK ciphertext decrypted by /v1"
    );
    let native: Value = alice
        .post(
            &format!("/v1/keys/{key_id}/encrypt"),
            &json!({"plaintext": STANDARD.encode(b"from v1"), "context": {}}),
        )
        .unwrap();
    let native = STANDARD
        .decode(native["ciphertext"].as_str().unwrap())
        .unwrap();
    let from_v1 = runtime
        .block_on(user.decrypt().ciphertext_blob(Blob::new(native)).send())
        .unwrap();
    assert_eq!(from_v1.plaintext().unwrap().as_ref(), b"from v1");

    // Data keys: the plaintext key decrypts from its encrypted copy.
    let data_key = runtime
        .block_on(
            user.generate_data_key()
                .key_id(&key_id)
                .key_spec(DataKeySpec::Aes256)
                .send(),
        )
        .unwrap();
    let plaintext_key = data_key.plaintext().unwrap().as_ref().to_vec();
    assert_eq!(plaintext_key.len(), 32);
    let reopened = runtime
        .block_on(
            user.decrypt()
                .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
                .send(),
        )
        .unwrap();
    assert_eq!(reopened.plaintext().unwrap().as_ref(), plaintext_key);

    // A wrong secret is AWS's signature refusal.
    let forger = sdk(
        &server,
        &(
            server
                .access_key("mallory", &["crypto-user"], None)
                .unwrap()
                .0,
            "not-the-secret-not-the-secret-not-the-sec".to_owned(),
        ),
    );
    let forged = runtime
        .block_on(
            forger
                .encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send(),
        )
        .unwrap_err();
    assert_eq!(
        forged.code(),
        Some("InvalidSignatureException"),
        "{forged:?}"
    );
}
