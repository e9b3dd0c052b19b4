//! AWS's `Recipient` (issue 19, point 4) through aws-sdk-rust against a real `kastell
//! serve` with `[aws] listen` on loopback: a workload (the `attest-workload` guest, built
//! from `tests/guests`) has the host attest an RSA key made by `openssl`; its document in
//! `Recipient` on `Decrypt`, `GenerateDataKey` and `GenerateRandom` yields
//! `CiphertextForRecipient`, a CMS envelope that `openssl cms -decrypt` opens with the
//! workload's key, and no `Plaintext`; a P-384 document gets Kastell's HPKE seal. The
//! attacks: a document from another deployment's root, a tampered document and a wrong
//! `KeyEncryptionAlgorithm` are refused with `ValidationException`, audited, and answered
//! with no plaintext; a key policy on `kms:RecipientAttestation:ImageSha384` allows the
//! workload's image and refuses a key whose policy names another.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyEncryptionMechanism, RecipientInfo};
use kastell::client::{Client, segment};
use kastell_tests::aws::{self, ACCOUNT, sdk};
use kastell_tests::server::{Deployment, Setup, TestServer};
use kastell_tests::vault::{b64, push, unb64};
use serde_json::{Value, json};

const SECRET: &[u8] = b"payroll 2026: the enclave's eyes only";

/// Pushes the attest workload as the officer; its measurement (`sha384:…`).
fn push_workload(server: &TestServer) -> String {
    let officer = server.client(&server.officer()).unwrap();
    push(
        &officer,
        "/v1/workloads",
        kastell_tests::guest("attest-workload"),
    )
    .unwrap()
}

/// The attest workload run by `user` on `public_key`: the host's document attesting it.
fn attest_document(user: &Client, workload: &str, public_key: &[u8]) -> Vec<u8> {
    let answer: Value = user
        .post(
            &format!("/v1/workloads/{}/invoke", segment(workload)),
            &json!({"input": b64(public_key)}),
        )
        .unwrap();
    unb64(&answer["output"]).unwrap()
}

/// An RSA key made by `openssl` in `dir`: the PEM private key's path and the public key
/// as SubjectPublicKeyInfo DER.
fn rsa_key(dir: &Path) -> (PathBuf, Vec<u8>) {
    let pem = dir.join("workload.pem");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    (pem, out.stdout)
}

/// `openssl cms -decrypt -inform DER -inkey <pem>` of `envelope`: the content.
fn openssl_open(dir: &Path, pem: &Path, envelope: &[u8]) -> Vec<u8> {
    let file = dir.join("envelope.der");
    std::fs::write(&file, envelope).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(&file)
        .arg("-inkey")
        .arg(pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl cms -decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn recipient(document: &[u8]) -> RecipientInfo {
    RecipientInfo::builder()
        .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
        .attestation_document(Blob::new(document))
        .build()
}

/// A served deployment with the AWS endpoint, the attest workload, an officer's and a
/// user's (`alice`) access keys, alice's native client and an auditor's.
struct Scene {
    server: TestServer,
    runtime: tokio::runtime::Runtime,
    officer: aws_sdk_kms::Client,
    alice: aws_sdk_kms::Client,
    /// Alice's access key, for boto3.
    alice_key: (String, String),
    user: Client,
    auditor: Client,
    workload: String,
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let server = aws::serve(&Setup::soft()).unwrap();
        let key = |name: &str, role: &str| server.access_key(name, &[role], None).unwrap();
        let officer = sdk(&server, &key("olga", "crypto-officer"));
        let alice_key = key("alice", "crypto-user");
        let alice = sdk(&server, &alice_key);
        let user = server.new_client("alice", "crypto-user", None).unwrap();
        let auditor = server.new_client("audit", "auditor", None).unwrap();
        let workload = push_workload(&server);
        Self {
            server,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            officer,
            alice,
            alice_key,
            user,
            auditor,
            workload,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn block<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A new symmetric key made by the officer, with `policy` if given.
    fn key(&self, policy: Option<&Value>) -> String {
        let created = self
            .block(
                self.officer
                    .create_key()
                    .set_policy(policy.map(Value::to_string))
                    .send(),
            )
            .unwrap();
        created.key_metadata().unwrap().key_id().to_owned()
    }

    /// [`SECRET`] encrypted under `key` by alice.
    fn ciphertext(&self, key: &str) -> Blob {
        let out = self
            .block(
                self.alice
                    .encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(SECRET))
                    .send(),
            )
            .unwrap();
        out.ciphertext_blob().unwrap().clone()
    }

    /// Alice's `Decrypt` of `ciphertext` with `document` in `Recipient`: the
    /// `CiphertextForRecipient`, or the exception's name and message and the raw answer.
    fn decrypt_for(
        &self,
        ciphertext: &Blob,
        recipient: RecipientInfo,
    ) -> Result<Vec<u8>, (String, String, String)> {
        match self.block(
            self.alice
                .decrypt()
                .ciphertext_blob(ciphertext.clone())
                .recipient(recipient)
                .send(),
        ) {
            Ok(out) => {
                assert!(out.plaintext().is_none(), "Plaintext with a Recipient");
                Ok(out.ciphertext_for_recipient().unwrap().as_ref().to_vec())
            }
            Err(err) => {
                let raw = err
                    .raw_response()
                    .and_then(|r| r.body().bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                let service = err.into_service_error();
                Err((
                    service.code().unwrap_or_default().to_owned(),
                    service.message().unwrap_or_default().to_owned(),
                    raw,
                ))
            }
        }
    }

    /// Whether the trail holds a record of `principal`'s `operation` with `outcome`, a
    /// reason containing `reason` and, if given, the guest `guest`.
    fn audited(
        &self,
        principal: &str,
        operation: &str,
        outcome: &str,
        reason: &str,
        guest: Option<&str>,
    ) -> bool {
        let page: Value = self.auditor.get("/v1/audit?after=0&limit=1000").unwrap();
        page["records"].as_array().unwrap().iter().any(|r| {
            r["principal"] == principal
                && r["operation"] == operation
                && r["outcome"] == outcome
                && r["reason"].as_str().unwrap_or("").contains(reason)
                && guest.is_none_or(|g| r["guest"] == g)
        })
    }
}

#[test]
fn a_workloads_document_in_recipient_gets_a_cms_envelope_only_its_key_opens() {
    let scene = Scene::new();
    let key = scene.key(None);
    let (pem, spki) = rsa_key(scene.dir.path());
    let document = attest_document(&scene.user, &scene.workload, &spki);

    // Decrypt: the plaintext comes back only inside the envelope, which openssl opens.
    let ciphertext = scene.ciphertext(&key);
    let envelope = scene
        .decrypt_for(&ciphertext, recipient(&document))
        .unwrap();
    assert_eq!(openssl_open(scene.dir.path(), &pem, &envelope), SECRET);
    // The decryption is audited with the attested guest.
    assert!(scene.audited("alice", "decrypt", "allowed", "", Some(&scene.workload)));

    // GenerateDataKey: the data key in the envelope is the one CiphertextBlob holds.
    let data_key = scene
        .block(
            scene
                .alice
                .generate_data_key()
                .key_id(&key)
                .key_spec(DataKeySpec::Aes256)
                .recipient(recipient(&document))
                .send(),
        )
        .unwrap();
    assert!(data_key.plaintext().is_none());
    let opened = openssl_open(
        scene.dir.path(),
        &pem,
        data_key.ciphertext_for_recipient().unwrap().as_ref(),
    );
    assert_eq!(opened.len(), 32);
    let again = scene
        .block(
            scene
                .alice
                .decrypt()
                .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
                .send(),
        )
        .unwrap();
    assert_eq!(again.plaintext().unwrap().as_ref(), opened.as_slice());

    // GenerateRandom: the bytes only in the envelope.
    let random = scene
        .block(
            scene
                .alice
                .generate_random()
                .number_of_bytes(48)
                .recipient(recipient(&document))
                .send(),
        )
        .unwrap();
    assert!(random.plaintext().is_none());
    let opened = openssl_open(
        scene.dir.path(),
        &pem,
        random.ciphertext_for_recipient().unwrap().as_ref(),
    );
    assert_eq!(opened.len(), 48);

    // A document attesting a P-384 key gets Kastell's HPKE seal: enc ‖ ciphertext, info
    // bound to the document, aad the operation's name.
    let p384 = kastell_attest::hpke::RecipientKey::generate().unwrap();
    let p384_document = attest_document(&scene.user, &scene.workload, &p384.public_key_sec1());
    let sealed = scene
        .decrypt_for(&ciphertext, recipient(&p384_document))
        .unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &p384_document);
    let mut info = b"kastell aws recipient v1\0".to_vec();
    info.extend_from_slice(digest.as_ref());
    let opened = kastell_attest::hpke::open_with_info(
        &p384,
        &info,
        b"Decrypt",
        &kastell_attest::hpke::Sealed {
            encapsulated_key: sealed[..97].to_vec(),
            ciphertext: sealed[97..].to_vec(),
        },
    )
    .unwrap();
    assert_eq!(opened.expose(), SECRET);
}

#[test]
fn recipient_documents_that_do_not_verify_are_refused_by_name_and_never_answered_in_plaintext() {
    let scene = Scene::new();
    let key = scene.key(None);
    let ciphertext = scene.ciphertext(&key);
    let (_, spki) = rsa_key(scene.dir.path());
    let plaintext_b64 = b64(SECRET);

    // The attack: a document from another deployment (another owner's root) attesting
    // the same workload.
    let other = TestServer::serve(Deployment::init(&Setup::soft()).unwrap()).unwrap();
    let other_workload = push_workload(&other);
    assert_eq!(other_workload, scene.workload);
    let other_user = other.new_client("alice", "crypto-user", None).unwrap();
    let foreign = attest_document(&other_user, &other_workload, &spki);
    let (code, message, raw) = scene
        .decrypt_for(&ciphertext, recipient(&foreign))
        .unwrap_err();
    assert_eq!(code, "ValidationException", "{message}");
    assert!(
        message.contains("Recipient.AttestationDocument is not accepted"),
        "{message}"
    );
    assert!(
        !raw.contains("Plaintext") && !raw.contains(&plaintext_b64),
        "{raw}"
    );
    assert!(scene.audited("alice", "decrypt", "denied", "Recipient refused", None));

    // The attack: this deployment's own document, one byte of it changed.
    let genuine = attest_document(&scene.user, &scene.workload, &spki);
    for at in [genuine.len() / 2, genuine.len() - 1] {
        let mut tampered = genuine.clone();
        tampered[at] ^= 0x01;
        let (code, message, raw) = scene
            .decrypt_for(&ciphertext, recipient(&tampered))
            .unwrap_err();
        assert_eq!(code, "ValidationException", "{message}");
        assert!(
            !raw.contains("Plaintext") && !raw.contains(&plaintext_b64),
            "{raw}"
        );
    }

    // Another key encryption algorithm than AWS's one.
    let wrong = RecipientInfo::builder()
        .key_encryption_algorithm(KeyEncryptionMechanism::from("RSAES_OAEP_SHA_1"))
        .attestation_document(Blob::new(genuine.clone()))
        .build();
    let (code, message, _) = scene.decrypt_for(&ciphertext, wrong).unwrap_err();
    assert_eq!(code, "ValidationException", "{message}");
    assert!(message.contains("RSAES_OAEP_SHA_256"), "{message}");

    // GenerateDataKey with a foreign document: refused, no data key made.
    let err = scene
        .block(
            scene
                .alice
                .generate_data_key()
                .key_id(&key)
                .key_spec(DataKeySpec::Aes256)
                .recipient(recipient(&foreign))
                .send(),
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));

    // The genuine document still works.
    assert!(scene.decrypt_for(&ciphertext, recipient(&genuine)).is_ok());
}

#[test]
fn a_key_policy_on_recipient_image_sha384_allows_that_image_and_refuses_another() {
    let scene = Scene::new();
    let image = scene.workload.trim_start_matches("sha384:").to_owned();
    let another = kastell_attest::Measurement::of(b"another enclave image").to_hex();
    let policy = |image: &str| {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Admin", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/olga")},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AliceEncrypts", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
                 "Action": "kms:Encrypt", "Resource": "*"},
                {"Sid": "EnclaveDecrypts", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
                 "Action": "kms:Decrypt", "Resource": "*",
                 "Condition": {"StringEqualsIgnoreCase": {
                     "kms:RecipientAttestation:ImageSha384": image}}},
            ],
        })
    };
    let (pem, spki) = rsa_key(scene.dir.path());
    let document = attest_document(&scene.user, &scene.workload, &spki);

    let matching = scene.key(Some(&policy(&image)));
    let ciphertext = scene.ciphertext(&matching);
    let envelope = scene
        .decrypt_for(&ciphertext, recipient(&document))
        .unwrap();
    assert_eq!(openssl_open(scene.dir.path(), &pem, &envelope), SECRET);
    // Without an attestation document, the condition has no value: refused.
    let err = scene
        .block(scene.alice.decrypt().ciphertext_blob(ciphertext).send())
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));

    let other = scene.key(Some(&policy(&another)));
    let ciphertext = scene.ciphertext(&other);
    let (code, message, raw) = scene
        .decrypt_for(&ciphertext, recipient(&document))
        .unwrap_err();
    assert_eq!(code, "AccessDeniedException", "{message}");
    assert!(!raw.contains("Plaintext"), "{raw}");
    assert!(scene.audited(
        "alice",
        "decrypt",
        "denied",
        "AWS key policy",
        Some(&scene.workload)
    ));
}

#[test]
fn boto3_passes_recipient_and_openssl_cms_opens_ciphertext_for_recipient() {
    let scene = Scene::new();
    let key = scene.key(None);
    let (pem, spki) = rsa_key(scene.dir.path());
    let document = attest_document(&scene.user, &scene.workload, &spki);
    let document_file = scene.dir.path().join("document.cbor");
    std::fs::write(&document_file, &document).unwrap();
    let out = scene.dir.path().join("answers");
    std::fs::create_dir(&out).unwrap();
    let seen = aws::boto3(
        &scene.server,
        "recipient.py",
        &[],
        &scene.alice_key,
        &[
            ("KASTELL_KEY", key.as_str()),
            ("KASTELL_DOCUMENT", document_file.to_str().unwrap()),
            ("KASTELL_OUT", out.to_str().unwrap()),
        ],
    );
    assert_eq!(seen["decrypt_plaintext"], false, "{seen}");
    assert_eq!(seen["data_key_plaintext"], false, "{seen}");
    assert!(
        seen["decrypt_key_id"].as_str().unwrap().ends_with(&key),
        "{seen}"
    );
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    assert_eq!(
        openssl_open(scene.dir.path(), &pem, &read("decrypt.der")),
        SECRET
    );
    let data_key = openssl_open(scene.dir.path(), &pem, &read("data-key.der"));
    assert_eq!(data_key.len(), 32);
    assert_eq!(
        data_key,
        read("data-key.bin"),
        "the envelope holds CiphertextBlob's key"
    );
    assert_eq!(seen["tampered_document"], "ValidationException", "{seen}");
    assert_eq!(seen["other_algorithm"], "ValidationException", "{seen}");
    assert!(scene.audited("alice", "decrypt", "allowed", "", Some(&scene.workload)));
    assert!(scene.audited("alice", "decrypt", "denied", "Recipient refused", None));
}
