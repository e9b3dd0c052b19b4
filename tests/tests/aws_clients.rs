//! The AWS KMS-compatible endpoint (issue 18) driven by real AWS clients, boto3 and the
//! AWS CLI from the virtualenv `scripts/aws-env` makes (`KASTELL_TEST_AWS_VENV`), against
//! a real `kastell serve` with `[aws] listen` on loopback and access keys made with
//! `kastell access-key create`: keys of every spec with the metadata AWS returns,
//! encryption (symmetric and RSA-OAEP), re-encryption, data keys and data key pairs,
//! signatures, MACs, key agreement, aliases, tags, rotation and dry runs, each class of bad
//! input refused with AWS's exception name; ciphertexts, signatures, MACs and shared
//! secrets crossing between `/v1` and the AWS API both ways; keys' policies asked on this
//! API as on `/v1` (both of a re-encryption's), administration under the same quorum,
//! every call audited under the access key's principal; and the attacks on SigV4 (wrong secret, unknown and revoked access keys, a
//! body changed after signing, a stale date, another region or service in the scope),
//! each refused with AWS's exception name.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Command;

use base64::Engine as _;
use kastell::client::Client;
use kastell_tests::aws::{self, ACCOUNT, REGION, audit_trail, venv};
use kastell_tests::server::{Setup, TestServer};
use serde_json::{Value, json};

fn access_key(server: &TestServer, principal: &str, role: &str) -> (String, String) {
    access_key_of(server, principal, role, None)
}

fn access_key_of(
    server: &TestServer,
    principal: &str,
    role: &str,
    tenant: Option<&str>,
) -> (String, String) {
    let config = server.deployment().config().display().to_string();
    let mut args = vec![
        "access-key",
        "create",
        "--principal",
        principal,
        "--role",
        role,
        "--config",
        &config,
    ];
    if let Some(tenant) = tenant {
        args.extend(["--tenant", tenant]);
    }
    let out = server.kastell_ok(&args).unwrap();
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

/// `aws kms <args> --output json` as `key`: the answer, or the CLI's error output.
fn aws_cli(server: &TestServer, key: &(String, String), args: &[&str]) -> Result<Value, String> {
    let out = Command::new(venv().join("bin/aws"))
        .arg("kms")
        .args(args)
        .args([
            "--endpoint-url",
            &server.aws_url().unwrap(),
            "--output",
            "json",
        ])
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .env("HOME", server.deployment().data_dir())
        .output()
        .unwrap();
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        })
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn python(
    server: &TestServer,
    key: &(String, String),
    scenario: &str,
    extra: &[(&str, &str)],
) -> Value {
    aws::boto3(server, "drive.py", &[scenario], key, extra)
}

#[test]
fn boto3_and_the_aws_cli_use_kastell_keys_and_forged_requests_are_refused_by_aws_names() {
    let mut server = aws::serve(&Setup::soft()).unwrap();
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
    // A spec Kastell has not is AWS's refusal, never a key of another spec.
    assert_eq!(seen["sm2"], "UnsupportedOperationException");
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
    let encrypted = aws_cli(
        &server,
        &user,
        &[
            "encrypt",
            "--key-id",
            "alias/records",
            "--plaintext",
            "aGk=",
        ],
    )
    .unwrap();
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
    // Through the server: refused from the next request on (revoked on the store with
    // `--config`, within `[aws] access_key_recheck_ms`: `aws_revocation.rs`).
    server
        .kastell_ok(&[
            "access-key",
            "revoke",
            &revoked.0,
            "--reason",
            "left",
            "--profile",
            &server.officer().display().to_string(),
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

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `drive.py <scenario>` as `user`, with `officer`'s access key for the calls that
/// administer keys.
fn drive(
    server: &TestServer,
    user: &(String, String),
    officer: &(String, String),
    scenario: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut env = vec![
        ("KASTELL_OFFICER_KEY_ID", officer.0.as_str()),
        ("KASTELL_OFFICER_SECRET", officer.1.as_str()),
    ];
    env.extend_from_slice(extra);
    python(server, user, scenario, &env)
}

/// Whether the trail holds a record of `principal` doing `operation`, with `outcome` and a
/// reason containing `reason`.
fn audited(trail: &[Value], principal: &str, operation: &str, outcome: &str, reason: &str) -> bool {
    aws::audited(trail, ("principal", principal), operation, outcome, reason)
}

/// What the native API makes for the AWS API to check: a PSS and an ECDSA signature, an
/// RSA-OAEP ciphertext, a MAC, and the peer key of a key agreement.
struct Native {
    rsa_sign: String,
    ecc_sign: String,
    rsa_enc: String,
    hmac: String,
    ecdh: String,
    ecdh_peer_key: String,
    message: Vec<u8>,
}

impl Native {
    fn make(officer: &Client, user: &Client) -> (Self, Value) {
        let create = |spec: &str, usage: &str| -> String {
            let key: Value = officer
                .post("/v1/keys", &json!({"spec": spec, "usage": usage}))
                .unwrap();
            key["id"].as_str().unwrap().to_owned()
        };
        let native = Self {
            rsa_sign: create("RSA_2048", "SIGN_VERIFY"),
            ecc_sign: create("ECC_NIST_P256", "SIGN_VERIFY"),
            rsa_enc: create("RSA_2048", "ENCRYPT_DECRYPT"),
            hmac: create("HMAC_256", "GENERATE_VERIFY_MAC"),
            ecdh: create("ECC_NIST_P256", "KEY_AGREEMENT"),
            ecdh_peer_key: create("ECC_NIST_P256", "KEY_AGREEMENT"),
            message: b"made through /v1".to_vec(),
        };
        let message = b64(&native.message);
        let sign = |key: &str, algorithm: &str| -> Value {
            let signed: Value = user
                .post(
                    &format!("/v1/keys/{key}/sign"),
                    &json!({"message": message, "algorithm": algorithm}),
                )
                .unwrap();
            signed["signature"].clone()
        };
        let oaep: Value = user
            .post(
                &format!("/v1/keys/{}/encrypt", native.rsa_enc),
                &json!({"plaintext": b64(b"from v1 to rsa"), "algorithm": "RSAES_OAEP_SHA_256"}),
            )
            .unwrap();
        let mac: Value = user
            .post(
                &format!("/v1/keys/{}/mac", native.hmac),
                &json!({"message": message}),
            )
            .unwrap();
        let peer: Value = user
            .get(&format!("/v1/keys/{}/public-key", native.ecdh_peer_key))
            .unwrap();
        let given = json!({
            "rsa_sign": native.rsa_sign,
            "ecc_sign": native.ecc_sign,
            "rsa_enc": native.rsa_enc,
            "hmac": native.hmac,
            "ecdh": native.ecdh,
            "message": message,
            "pss_signature": sign(&native.rsa_sign, "RSASSA_PSS_SHA_256"),
            "ecdsa_signature": sign(&native.ecc_sign, "ECDSA_SHA_256"),
            "oaep_ciphertext": oaep["ciphertext"],
            "mac": mac["mac"],
            "ecdh_peer": peer["spki"],
        });
        (native, given)
    }

    /// What the AWS API made, checked through the native API.
    fn check(&self, user: &Client, aws: &Value) {
        let message = b64(&self.message);
        let valid = |key: &str, body: Value| -> bool {
            let answer: Value = user.post(&format!("/v1/keys/{key}/verify"), &body).unwrap();
            answer["valid"] == true
        };
        assert!(
            valid(
                &self.rsa_sign,
                json!({"message": message, "signature": aws["pss_signature"],
                       "algorithm": "RSASSA_PSS_SHA_256"})
            ),
            "an AWS PSS signature verifies through /v1"
        );
        assert!(
            valid(
                &self.rsa_sign,
                json!({"message": message, "signature": aws["pkcs1_digest_signature"],
                       "algorithm": "RSASSA_PKCS1_V1_5_SHA_384"})
            ),
            "an AWS signature over a DIGEST verifies through /v1 against the message"
        );
        let opened: Value = user
            .post(
                "/v1/decrypt",
                &json!({"ciphertext": aws["oaep_ciphertext"], "key": self.rsa_enc,
                        "algorithm": "RSAES_OAEP_SHA_1"}),
            )
            .unwrap();
        assert_eq!(opened["plaintext"], b64(b"from the AWS API"));
        let checked: Value = user
            .post(
                &format!("/v1/keys/{}/verify-mac", self.hmac),
                &json!({"message": message, "mac": aws["mac"]}),
            )
            .unwrap();
        assert_eq!(checked["valid"], true, "an AWS MAC verifies through /v1");
        let public: Value = user
            .get(&format!("/v1/keys/{}/public-key", self.ecc_sign))
            .unwrap();
        assert_eq!(public["spki"], aws["public_key"], "the same SPKI both ways");
        // ECDH: the AWS API derived with `ecdh` and the peer's public key; /v1 derives
        // with the peer's private key and `ecdh`'s public key: the same secret.
        let ours: Value = user
            .get(&format!("/v1/keys/{}/public-key", self.ecdh))
            .unwrap();
        let derived: Value = user
            .post(
                &format!("/v1/keys/{}/derive-shared-secret", self.ecdh_peer_key),
                &json!({"peer_public_key": ours["spki"]}),
            )
            .unwrap();
        assert_eq!(derived["shared_secret"], aws["shared_secret"]);
    }
}

const KEY_USAGES: &[(&str, &str, &[&str], &str)] = &[
    // (key, KeyUsage, algorithms, member)
    (
        "SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT",
        "ENCRYPT_DECRYPT",
        &["SYMMETRIC_DEFAULT"],
        "EncryptionAlgorithms",
    ),
    (
        "RSA_2048/ENCRYPT_DECRYPT",
        "ENCRYPT_DECRYPT",
        &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
        "EncryptionAlgorithms",
    ),
    (
        "RSA_3072/SIGN_VERIFY",
        "SIGN_VERIFY",
        &[
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
        ],
        "SigningAlgorithms",
    ),
    (
        "ECC_NIST_P256/SIGN_VERIFY",
        "SIGN_VERIFY",
        &["ECDSA_SHA_256"],
        "SigningAlgorithms",
    ),
    (
        "ECC_NIST_P384/SIGN_VERIFY",
        "SIGN_VERIFY",
        &["ECDSA_SHA_384"],
        "SigningAlgorithms",
    ),
    (
        "ECC_NIST_P521/KEY_AGREEMENT",
        "KEY_AGREEMENT",
        &["ECDH"],
        "KeyAgreementAlgorithms",
    ),
    (
        "ECC_SECG_P256K1/SIGN_VERIFY",
        "SIGN_VERIFY",
        &["ECDSA_SHA_256"],
        "SigningAlgorithms",
    ),
    (
        "HMAC_224/GENERATE_VERIFY_MAC",
        "GENERATE_VERIFY_MAC",
        &["HMAC_SHA_224"],
        "MacAlgorithms",
    ),
    (
        "HMAC_512/GENERATE_VERIFY_MAC",
        "GENERATE_VERIFY_MAC",
        &["HMAC_SHA_512"],
        "MacAlgorithms",
    ),
    (
        "ML_DSA_87/SIGN_VERIFY",
        "SIGN_VERIFY",
        &["ML_DSA_SHAKE_256"],
        "SigningAlgorithms",
    ),
];

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario through every operation, checked member by member"
)]
fn every_key_operation_answers_boto3_as_aws_does_and_refuses_each_bad_input_by_aws_name() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let alice = server.new_client("alice", "crypto-user", None).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let (native, given) = Native::make(&officer, &alice);
    let user = access_key_of(&server, "aws-user", "crypto-user", Some("acme"));
    let admin = access_key(&server, "aws-officer", "crypto-officer");
    let given = given.to_string();
    let seen = drive(
        &server,
        &user,
        &admin,
        "operations",
        &[("KASTELL_NATIVE", given.as_str())],
    );

    // CreateKey and DescribeKey: every spec, with the members AWS returns for it.
    let metadata = &seen["metadata"];
    assert_eq!(metadata.as_object().unwrap().len(), 18, "{metadata}");
    for (name, meta) in metadata.as_object().unwrap() {
        let (spec, _) = name.split_once('/').unwrap();
        let id = seen["keys"][name].as_str().unwrap();
        assert_eq!(meta["KeySpec"], spec, "{name}");
        assert_eq!(meta["KeyState"], "Enabled", "{name}");
        assert_eq!(meta["Enabled"], true, "{name}");
        assert_eq!(meta["Origin"], "AWS_KMS", "{name}");
        assert_eq!(meta["KeyManager"], "CUSTOMER", "{name}");
        assert_eq!(meta["MultiRegion"], false, "{name}");
        assert_eq!(meta["AWSAccountId"], ACCOUNT, "{name}");
        assert_eq!(
            meta["Arn"],
            format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}"),
            "{name}"
        );
        assert_eq!(meta["DeletionDate"], Value::Null, "{name}");
        let created = meta["CreationDate"].as_f64().unwrap();
        assert!(created > 1.7e9, "{name}: {created}");
        let deprecated = if spec.starts_with("ML_DSA") {
            Value::Null
        } else {
            json!(spec)
        };
        assert_eq!(meta["CustomerMasterKeySpec"], deprecated, "{name}");
        // Only the usage's own algorithm member is present.
        let members = [
            "EncryptionAlgorithms",
            "SigningAlgorithms",
            "MacAlgorithms",
            "KeyAgreementAlgorithms",
        ];
        let present: Vec<&str> = members
            .iter()
            .copied()
            .filter(|m| !meta[*m].is_null())
            .collect();
        assert_eq!(present.len(), 1, "{name}: {meta}");
    }
    for (name, usage, algorithms, member) in KEY_USAGES {
        let meta = &metadata[*name];
        assert_eq!(meta["KeyUsage"], *usage, "{name}");
        let mut listed: Vec<&str> = meta[*member]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        listed.sort_unstable();
        let mut expected = algorithms.to_vec();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{name}");
    }
    let bad = &seen["bad_creates"];
    for (case, exception) in [
        ("rsa_without_usage", "ValidationException"),
        ("hmac_for_signing", "ValidationException"),
        ("secp256k1_agreement", "ValidationException"),
        ("sm2", "UnsupportedOperationException"),
        ("unknown_spec", "ValidationException"),
        ("both_spec_names", "ValidationException"),
        // `{"Version": …}` without a Statement is not a key policy AWS stores.
        ("policy", "MalformedPolicyDocumentException"),
        ("multi_region", "UnsupportedOperationException"),
        ("external", "UnsupportedOperationException"),
        ("custom_store", "UnsupportedOperationException"),
        ("user_creates", "AccessDeniedException"),
        ("reserved_tag", "TagException"),
        ("too_many_tags", "LimitExceededException"),
    ] {
        assert_eq!(bad[case], exception, "CreateKey {case}: {bad}");
    }
    assert_eq!(bad["long_description"], json!([400, "ValidationException"]));

    // ListKeys: the pages of 3 together are the whole list.
    let listed = &seen["list_keys"];
    assert_eq!(listed["paged"], listed["all"]);
    let all = listed["all"].as_array().unwrap().len();
    // The native keys, the 18 specs, and the second symmetric key made for aliases later.
    assert!(all >= 24, "{all}");
    assert_eq!(listed["pages"], all.div_ceil(3), "{listed}");
    assert_eq!(listed["arns_match"], true);
    assert_eq!(listed["bad_marker"], json!([400, "InvalidMarkerException"]));
    assert_eq!(listed["limit_zero"], json!([400, "ValidationException"]));
    assert_eq!(listed["limit_over"], json!([400, "ValidationException"]));

    // Encrypt and Decrypt: RSA-OAEP both ways, each bad input by AWS's name.
    let enc = &seen["encryption"];
    for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        assert_eq!(
            enc["oaep"][algorithm],
            json!([algorithm, "to rsa", algorithm, 256]),
            "{enc}"
        );
    }
    assert_eq!(
        enc["rsa_longest"], 256,
        "190 bytes fit RSA_2048 with SHA-256"
    );
    for (case, exception) in [
        ("rsa_decrypt_without_key", "ValidationException"),
        ("rsa_without_algorithm", "InvalidKeyUsageException"),
        ("rsa_symmetric_default", "InvalidKeyUsageException"),
        ("oaep_on_symmetric", "InvalidKeyUsageException"),
        ("rsa_too_long", "ValidationException"),
        ("rsa_context", "ValidationException"),
        ("encrypt_with_signing_key", "InvalidKeyUsageException"),
        ("sm2pke", "InvalidKeyUsageException"),
        ("unknown_algorithm", "ValidationException"),
        ("plaintext_too_long", "ValidationException"),
        ("bad_ciphertext", "InvalidCiphertextException"),
        ("recipient", "ValidationException"),
        ("spec_and_bytes", "ValidationException"),
        ("data_key_on_rsa", "InvalidKeyUsageException"),
    ] {
        assert_eq!(enc[case], exception, "{case}: {enc}");
    }
    // Blob lengths are refused in AWS's words, without the value (moto checks these
    // texts against AWS in its test_kms_encrypt.py).
    assert_eq!(
        enc["plaintext_bounds"],
        json!([
            [
                "ValidationException",
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1"
            ],
            [
                "ValidationException",
                "1 validation error detected: Value at 'plaintext' failed to satisfy \
                 constraint: Member must have length less than or equal to 4096"
            ]
        ])
    );
    // A key id that is not a UUID names no key: NotFoundException, as at AWS (not a
    // validation error), bare or inside a key ARN.
    assert_eq!(
        enc["not_a_key_id"],
        json!([
            ["NotFoundException", "Invalid keyId not-a-uuid"],
            ["NotFoundException", "Invalid keyId invalid"],
            [
                "NotFoundException",
                "Invalid keyId arn:aws:kms:eu-central-1:111122223333:key/not-a-uuid"
            ]
        ]),
        "{enc}"
    );
    assert_eq!(enc["aes_128"], 16);
    assert_eq!(enc["bytes_64"], 64);

    // ReEncrypt: each side its own context and algorithm.
    let moved = &seen["re_encryption"];
    assert_eq!(
        moved["sym_to_sym"],
        json!([
            true,
            true,
            "SYMMETRIC_DEFAULT",
            "SYMMETRIC_DEFAULT",
            "moving"
        ])
    );
    assert_eq!(moved["sym_to_rsa"], json!(["RSAES_OAEP_SHA_256", "moving"]));
    assert_eq!(
        moved["rsa_to_sym"],
        json!(["RSAES_OAEP_SHA_256", true, "moving"])
    );
    for (case, exception) in [
        ("old_context_refused", "InvalidCiphertextException"),
        ("wrong_source_context", "InvalidCiphertextException"),
        ("wrong_source_key", "IncorrectKeyException"),
        ("rsa_source_unnamed", "ValidationException"),
        ("to_rsa_without_algorithm", "InvalidKeyUsageException"),
    ] {
        assert_eq!(moved[case], exception, "{case}: {moved}");
    }

    // GenerateDataKeyPair(WithoutPlaintext).
    let pairs = &seen["data_key_pairs"];
    for spec in [
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
    ] {
        assert_eq!(
            pairs["pairs"][spec],
            json!([spec, true, true, true]),
            "{spec}"
        );
    }
    assert_eq!(pairs["without_plaintext"], json!([false, "ECC_NIST_P256"]));
    assert_eq!(pairs["hmac_pair"], "ValidationException");
    assert_eq!(pairs["sm2_pair"], "UnsupportedOperationException");
    assert_eq!(pairs["pair_under_rsa"], "InvalidKeyUsageException");
    let pkcs8: Value = alice
        .post("/v1/decrypt", &json!({"ciphertext": pairs["for_v1"]}))
        .unwrap();
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(pkcs8["plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        pkcs8[0], 0x30,
        "the AWS pair's private key opens through /v1 as PKCS#8"
    );

    // Sign and Verify: every algorithm of every signing key, RAW and DIGEST.
    let signing = &seen["signing"];
    let signed = signing["signed"].as_object().unwrap();
    assert_eq!(signed.len(), 19, "{signing}");
    for (case, result) in signed {
        let result = result.as_array().unwrap();
        let (algorithm, rest) = result.split_at(1);
        assert!(case.ends_with(algorithm[0].as_str().unwrap()), "{case}");
        let (valid, refusals) = rest.split_at(rest.len() - 2);
        assert!(valid.iter().all(|v| *v == true), "{case}: {result:?}");
        assert_eq!(
            valid.len(),
            if case.contains("ML_DSA") { 1 } else { 3 },
            "{case}: RAW, and DIGEST both ways"
        );
        for refusal in refusals {
            assert_eq!(refusal, "KMSInvalidSignatureException", "{case}");
        }
    }
    for (name, public) in signing["public_keys"].as_object().unwrap() {
        let (spec, _) = name.split_once('/').unwrap();
        assert_eq!(public[0], spec);
        assert_eq!(public[1], "SIGN_VERIFY");
        assert_eq!(public[2], metadata[name]["SigningAlgorithms"]);
        assert_eq!(public[3], true, "DER SubjectPublicKeyInfo");
    }
    for (case, exception) in [
        ("ecdsa_on_rsa", "InvalidKeyUsageException"),
        ("other_curve_hash", "InvalidKeyUsageException"),
        ("digest_too_long", "ValidationException"),
        ("digest_too_short", "ValidationException"),
        ("mldsa_digest", "InvalidKeyUsageException"),
        ("external_mu", "InvalidKeyUsageException"),
        ("ed25519", "InvalidKeyUsageException"),
        ("message_too_long", "ValidationException"),
        ("sign_with_mac_key", "InvalidKeyUsageException"),
        ("public_key_of_symmetric", "InvalidKeyUsageException"),
    ] {
        assert_eq!(signing[case], exception, "{case}: {signing}");
    }
    assert_eq!(
        signing["rsa_encryption_public_key"],
        json!([
            "ENCRYPT_DECRYPT",
            ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        ])
    );
    assert_eq!(
        signing["agreement_public_key"],
        json!(["KEY_AGREEMENT", ["ECDH"]])
    );

    // GenerateMac and VerifyMac.
    let macs = &seen["macs"];
    for (size, len) in [("224", 28), ("256", 32), ("384", 48), ("512", 64)] {
        assert_eq!(
            macs["macs"][size],
            json!([
                len,
                format!("HMAC_SHA_{size}"),
                true,
                "KMSInvalidMacException"
            ]),
            "{size}"
        );
    }
    assert_eq!(macs["wrong_algorithm"], "InvalidKeyUsageException");
    assert_eq!(macs["mac_with_aes"], "InvalidKeyUsageException");

    // DeriveSharedSecret.
    let agreement = &seen["agreement"];
    assert_eq!(agreement["derived"], json!([32, "ECDH", "AWS_KMS", true]));
    assert_eq!(agreement["other_curve"], "ValidationException");
    assert_eq!(agreement["not_spki"], "ValidationException");
    assert_eq!(agreement["signing_key"], "InvalidKeyUsageException");

    // DryRun: DryRunOperationException when it would succeed, else the refusal itself.
    let dry = &seen["dry_runs"];
    for case in [
        "encrypt",
        "encrypt_rsa",
        "decrypt",
        "re_encrypt",
        "data_key",
        "data_key_pair",
        "sign",
        "verify",
        "generate_mac",
        "verify_mac",
        "derive",
    ] {
        assert_eq!(dry[case], "DryRunOperationException", "{case}: {dry}");
    }
    assert_eq!(dry["wrong_algorithm"], "InvalidKeyUsageException");
    assert_eq!(dry["bad_digest"], "ValidationException");
    assert_eq!(dry["officer"], "AccessDeniedException");
    assert_eq!(dry["unknown_key"], "NotFoundException");
    assert_eq!(dry["bad_ciphertext"], "InvalidCiphertextException");

    // A disabled key.
    let disabled = &seen["disabled"];
    assert_eq!(disabled["state"], "Disabled");
    for case in ["encrypt", "decrypt", "dry_run", "enable_rotation", "rotate"] {
        assert_eq!(disabled[case], "DisabledException", "{case}: {disabled}");
    }
    assert_eq!(disabled["after_enable"], "before");

    // Aliases.
    let aliases = &seen["aliases"];
    for case in ["by_alias", "by_alias_arn", "updated", "alias_arns"] {
        assert_eq!(aliases[case], true, "{case}: {aliases}");
    }
    for (case, exception) in [
        ("create_again", "AlreadyExistsException"),
        ("update_to_other_kind", "ValidationException"),
        ("update_missing", "NotFoundException"),
        ("reserved", "InvalidAliasNameException"),
        ("no_prefix", "InvalidAliasNameException"),
        ("bad_character", "ValidationException"),
        ("to_alias", "ValidationException"),
        ("user_creates", "AccessDeniedException"),
        ("user_deletes", "AccessDeniedException"),
        ("deleted_twice", "NotFoundException"),
        ("unknown_alias", "NotFoundException"),
        ("other_region_arn", "NotFoundException"),
        ("malformed_arn", "InvalidArnException"),
        ("filter_by_alias", "NotFoundException"),
        // DeleteAlias has no InvalidAliasNameException at AWS.
        ("delete_no_prefix", "ValidationException"),
        ("delete_reserved", "ValidationException"),
    ] {
        assert_eq!(aliases[case], exception, "{case}: {aliases}");
    }
    // A taken name and an unknown one in AWS's words, naming the alias's ARN.
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/ops");
    assert_eq!(
        aliases["create_again_words"],
        json!([
            "AlreadyExistsException",
            format!("An alias with the name {alias_arn} already exists")
        ])
    );
    assert_eq!(
        aliases["deleted_twice_words"],
        json!([
            "NotFoundException",
            format!("Alias {alias_arn} is not found.")
        ])
    );
    let page_aliases: Vec<String> = (0..5).map(|i| format!("alias/page-{i}")).collect();
    assert_eq!(aliases["paged"], json!(page_aliases));
    assert_eq!(aliases["pages"], 3, "5 aliases in pages of 2");
    assert_eq!(aliases["of_key"], json!([page_aliases, 3, true]));
    assert_eq!(aliases["limit_over"], json!([400, "ValidationException"]));
    assert_eq!(
        aliases["bad_marker"],
        json!([400, "InvalidMarkerException"])
    );

    // Tags and descriptions.
    let tags = &seen["tags"];
    assert_eq!(
        tags["listed"],
        json!([["empty", ""], ["env", "staging"], ["team", "billing"]])
    );
    assert_eq!(
        tags["after_untag"],
        json!([["empty", ""], ["env", "staging"]])
    );
    assert_eq!(tags["paged"], json!([["empty", "env"], 2]));
    assert_eq!(tags["description"], "described again");
    for (case, exception) in [
        ("reserved", "TagException"),
        ("reserved_upper", "TagException"),
        ("key_too_long", "TagException"),
        ("value_too_long", "TagException"),
        ("given_twice", "TagException"),
        ("too_many", "LimitExceededException"),
        ("by_alias", "NotFoundException"),
        ("untag_reserved", "TagException"),
        ("user_tags", "AccessDeniedException"),
        ("unknown_key", "NotFoundException"),
    ] {
        assert_eq!(tags[case], exception, "{case}: {tags}");
    }
    assert_eq!(
        tags["long_description"],
        json!([400, "ValidationException"])
    );
    assert_eq!(
        tags["missing_description"],
        json!([400, "ValidationException"])
    );
    assert_eq!(tags["bad_marker"], json!([400, "InvalidMarkerException"]));

    // Rotation.
    let rotation = &seen["rotation"];
    assert_eq!(rotation["initial"], false);
    assert_eq!(rotation["enabled"], json!([true, 180, 180, true]));
    assert_eq!(rotation["default_period"], 365);
    assert_eq!(rotation["disabled"], json!([false, false]));
    // RotateKeyOnDemand and GetKeyRotationStatus name the key by id, not ARN, as at AWS.
    assert_eq!(rotation["rotated"], true);
    assert_eq!(rotation["status_names_key_id"], true);
    assert_eq!(
        rotation["rotations"],
        json!([["ON_DEMAND", true], ["ON_DEMAND", true], 2])
    );
    assert_eq!(rotation["old_ciphertext"], "before rotation");
    assert_eq!(
        rotation["period_too_short"],
        json!([400, "ValidationException"])
    );
    assert_eq!(
        rotation["period_too_long"],
        json!([400, "ValidationException"])
    );
    for (case, exception) in [
        ("rsa_enable", "UnsupportedOperationException"),
        ("rsa_status", "UnsupportedOperationException"),
        ("hmac_rotate", "UnsupportedOperationException"),
        ("rsa_list", "UnsupportedOperationException"),
        ("by_alias", "NotFoundException"),
        ("user_enables", "AccessDeniedException"),
        ("user_rotates", "AccessDeniedException"),
    ] {
        assert_eq!(rotation[case], exception, "{case}: {rotation}");
    }
    assert_eq!(
        rotation["bad_marker"],
        json!([400, "InvalidMarkerException"])
    );
    assert_eq!(
        rotation["bad_material"],
        json!([400, "ValidationException"])
    );

    // What comes later, and what Kastell does not offer.
    let later = &seen["later"];
    // Grants are served: a principal that is not an ARN is AWS's InvalidArnException.
    assert_eq!(later["CreateGrant"], json!([400, "InvalidArnException"]));
    assert_eq!(
        later["grant_id"].as_str().map(str::len),
        Some(64),
        "{later}"
    );
    for op in [
        "GetParametersForImport",
        "ImportKeyMaterial",
        "CreateCustomKeyStore",
        "ReplicateKey",
        "Encapsulate",
    ] {
        assert_eq!(
            later[op],
            json!([400, "UnsupportedOperationException"]),
            "{op}"
        );
    }
    assert_eq!(
        later["NoSuchOperation"],
        json!([400, "UnknownOperationException"])
    );

    // The native API's output checked through the AWS API, and back.
    let crossed = &seen["native"];
    assert_eq!(crossed["verify_pss"], true);
    assert_eq!(crossed["verify_ecdsa"], true);
    assert_eq!(crossed["decrypt_oaep"], "from v1 to rsa");
    assert_eq!(crossed["verify_mac"], true);
    native.check(&alice, crossed);

    // Every call audited under the access key's principal; contexts only as HMACs.
    let trail = audit_trail(&auditor);
    for (principal, operation, outcome, reason) in [
        ("aws-officer", "create-key", "allowed", ""),
        (
            "aws-user",
            "create-key",
            "denied",
            "lacks the crypto-officer role",
        ),
        ("aws-user", "sign", "allowed", "RSASSA_PSS_SHA_512 DIGEST"),
        (
            "aws-user",
            "verify",
            "allowed",
            "ML_DSA_SHAKE_256 RAW: signature invalid",
        ),
        (
            "aws-user",
            "re-encrypt-from",
            "allowed",
            "RSAES_OAEP_SHA_256",
        ),
        ("aws-user", "re-encrypt-to", "allowed", "RSAES_OAEP_SHA_256"),
        ("aws-user", "derive-shared-secret", "allowed", "ECDH"),
        ("aws-user", "generate-data-key-pair", "allowed", ""),
        (
            "aws-user",
            "encrypt",
            "allowed",
            "dry run: would be allowed",
        ),
        (
            "aws-user",
            "sign",
            "denied",
            "ECC_NIST_P256 does not allow ECDSA_SHA_384",
        ),
        ("aws-user", "encrypt", "denied", "key disabled"),
        ("aws-officer", "update-alias", "allowed", "(created)"),
        ("aws-officer", "update-alias", "allowed", "deleted"),
        (
            "aws-officer",
            "update-alias",
            "denied",
            "no alias alias/missing",
        ),
        ("aws-officer", "update-tags", "denied", "at most 50"),
        (
            "aws-officer",
            "rotate-key",
            "allowed",
            "automatic rotation every 180 days",
        ),
        (
            "aws-officer",
            "rotate-key",
            "allowed",
            "automatic rotation off",
        ),
    ] {
        assert!(
            audited(&trail, principal, operation, outcome, reason),
            "no {outcome} {operation} by {principal} ({reason})"
        );
    }
    let text = serde_json::to_string(&trail).unwrap();
    assert!(
        !text.contains("\"stage\"") && !text.contains("moving"),
        "an encryption context or a plaintext in the audit trail"
    );
}

#[test]
fn aws_calls_are_gated_by_the_keys_policies_both_ends_of_a_re_encryption() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let officer = server.client(&server.officer()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let push = |name: &str| -> String {
        let answer: Value = officer
            .post_bytes(
                "/v1/policies",
                "application/wasm",
                kastell_tests::guest(name),
            )
            .unwrap();
        answer["measurement"].as_str().unwrap().to_owned()
    };
    let (pss_only, tenant_context) = (push("pss-only"), push("tenant-context"));
    let create = |body: Value| -> String {
        let key: Value = officer.post("/v1/keys", &body).unwrap();
        key["id"].as_str().unwrap().to_owned()
    };
    let pss = create(json!({"spec": "RSA_2048", "usage": "SIGN_VERIFY", "policy": pss_only}));
    let source = create(json!({"spec": "AES_256", "policy": tenant_context}));
    let destination = create(json!({"spec": "AES_256", "policy": tenant_context}));
    let user = access_key_of(&server, "acme-svc", "crypto-user", Some("acme"));
    let admin = access_key(&server, "aws-officer", "crypto-officer");
    let seen = drive(
        &server,
        &user,
        &admin,
        "policies",
        &[
            ("KASTELL_PSS_KEY", pss.as_str()),
            ("KASTELL_TENANT_KEY", source.as_str()),
            ("KASTELL_TENANT_DESTINATION", destination.as_str()),
        ],
    );
    assert_eq!(seen["pss"], "RSASSA_PSS_SHA_256");
    assert_eq!(seen["pkcs1"], "AccessDeniedException", "{seen}");
    assert_eq!(seen["pkcs1_dry_run"], "AccessDeniedException");
    assert_eq!(seen["pss_dry_run"], "DryRunOperationException");
    assert_eq!(seen["other_tenant"], "AccessDeniedException");
    assert_eq!(seen["moved"], "tenant data");
    assert_eq!(seen["to_other_tenant"], "AccessDeniedException");
    assert_eq!(seen["to_other_tenant_dry_run"], "AccessDeniedException");

    let trail = audit_trail(&auditor);
    let of = |key: &str, operation: &str, outcome: &str| {
        trail.iter().any(|r| {
            r["principal"] == "acme-svc"
                && r["key"] == key
                && r["operation"] == operation
                && r["outcome"] == outcome
        })
    };
    // Both ends of the re-encryption asked their own key's policy: the source allowed,
    // the destination refused the other tenant's context.
    assert!(of(&source, "re-encrypt-from", "allowed"));
    assert!(of(&destination, "re-encrypt-to", "allowed"));
    assert!(of(&destination, "re-encrypt-to", "denied"));
    assert!(of(&pss, "sign", "denied"));
    assert!(
        trail.iter().any(|r| r["key"] == pss
            && r["outcome"] == "denied"
            && r["policy"].as_str().is_some_and(|p| p == pss_only)),
        "the refusal names the policy"
    );
}

#[test]
fn the_aws_cli_creates_signs_verifies_tags_and_rotates_and_reads_refusals_by_aws_name() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let user = access_key(&server, "cli-user", "crypto-user");
    let admin = access_key(&server, "cli-officer", "crypto-officer");
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        format!("fileb://{}", path.display())
    };
    let created = aws_cli(
        &server,
        &admin,
        &[
            "create-key",
            "--key-spec",
            "ECC_NIST_P256",
            "--key-usage",
            "SIGN_VERIFY",
            "--description",
            "made by the AWS CLI",
            "--tags",
            "TagKey=team,TagValue=payments",
        ],
    )
    .unwrap();
    let meta = &created["KeyMetadata"];
    assert_eq!(meta["KeySpec"], "ECC_NIST_P256");
    assert_eq!(meta["SigningAlgorithms"], json!(["ECDSA_SHA_256"]));
    let key = meta["KeyId"].as_str().unwrap().to_owned();
    aws_cli(
        &server,
        &admin,
        &[
            "create-alias",
            "--alias-name",
            "alias/cli",
            "--target-key-id",
            &key,
        ],
    )
    .unwrap();

    let message = file("message", b"signed with the AWS CLI");
    let signed = aws_cli(
        &server,
        &user,
        &[
            "sign",
            "--key-id",
            "alias/cli",
            "--message",
            &message,
            "--message-type",
            "RAW",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ],
    )
    .unwrap();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signed["Signature"].as_str().unwrap())
        .unwrap();
    let signature = file("signature", &signature);
    let verified = aws_cli(
        &server,
        &user,
        &[
            "verify",
            "--key-id",
            &key,
            "--message",
            &message,
            "--signature",
            &signature,
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ],
    )
    .unwrap();
    assert_eq!(verified["SignatureValid"], true);
    let public = aws_cli(&server, &user, &["get-public-key", "--key-id", &key]).unwrap();
    assert_eq!(public["KeyUsage"], "SIGN_VERIFY");

    // Refusals come back with AWS's exception names.
    let refused = aws_cli(
        &server,
        &user,
        &[
            "sign",
            "--key-id",
            &key,
            "--message",
            &message,
            "--signing-algorithm",
            "ECDSA_SHA_384",
        ],
    )
    .unwrap_err();
    assert!(refused.contains("InvalidKeyUsageException"), "{refused}");
    let bad = file("bad-signature", b"\x30\x06\x02\x01\x01\x02\x01\x01");
    let invalid = aws_cli(
        &server,
        &user,
        &[
            "verify",
            "--key-id",
            &key,
            "--message",
            &message,
            "--signature",
            &bad,
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ],
    )
    .unwrap_err();
    assert!(
        invalid.contains("KMSInvalidSignatureException"),
        "{invalid}"
    );
    let dry = aws_cli(
        &server,
        &user,
        &[
            "sign",
            "--key-id",
            &key,
            "--message",
            &message,
            "--signing-algorithm",
            "ECDSA_SHA_256",
            "--dry-run",
        ],
    )
    .unwrap_err();
    assert!(dry.contains("DryRunOperationException"), "{dry}");

    // Tags, aliases and rotation (of a symmetric key).
    aws_cli(
        &server,
        &admin,
        &[
            "tag-resource",
            "--key-id",
            &key,
            "--tags",
            "TagKey=env,TagValue=prod",
        ],
    )
    .unwrap();
    let tags = aws_cli(&server, &user, &["list-resource-tags", "--key-id", &key]).unwrap();
    assert_eq!(
        tags["Tags"],
        json!([{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "payments"}])
    );
    let aliases = aws_cli(&server, &user, &["list-aliases", "--key-id", &key]).unwrap();
    assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/cli");
    let symmetric = aws_cli(&server, &admin, &["create-key"]).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    aws_cli(
        &server,
        &admin,
        &[
            "enable-key-rotation",
            "--key-id",
            &symmetric,
            "--rotation-period-in-days",
            "120",
        ],
    )
    .unwrap();
    let status = aws_cli(
        &server,
        &user,
        &["get-key-rotation-status", "--key-id", &symmetric],
    )
    .unwrap();
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 120);
    aws_cli(
        &server,
        &admin,
        &["rotate-key-on-demand", "--key-id", &symmetric],
    )
    .unwrap();
    let rotations = aws_cli(
        &server,
        &user,
        &["list-key-rotations", "--key-id", &symmetric],
    )
    .unwrap();
    assert_eq!(rotations["Rotations"][0]["RotationType"], "ON_DEMAND");
    let on_ecc = aws_cli(&server, &admin, &["enable-key-rotation", "--key-id", &key]).unwrap_err();
    assert!(on_ecc.contains("UnsupportedOperationException"), "{on_ecc}");
}

/// The pending operation's id in an AWS refusal's message ("approval pending: operation
/// <id> needs …").
fn pending_operation(refusal: &Value) -> String {
    assert_eq!(refusal[0], "KMSInvalidStateException", "{refusal}");
    let message = refusal[1].as_str().unwrap();
    message
        .split_once("approval pending: operation ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pending operation in {message}"))
        .to_owned()
}

#[test]
fn an_officers_access_key_cannot_tag_or_alias_past_the_bind_policy_quorum() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let first = server.officer();
    let second = server
        .issue_client("officer-b", "crypto-officer", None)
        .unwrap();
    let admin = access_key(&server, "aws-officer", "crypto-officer");
    let user = access_key(&server, "aws-user", "crypto-user");
    let officer = server.client(&first).unwrap();
    let key: Value = officer
        .post(
            "/v1/keys",
            &json!({"spec": "AES_256", "alias": "alias/existing", "tags": {"team": "payments"}}),
        )
        .unwrap();
    let id = key["id"].as_str().unwrap().to_owned();
    let other: Value = officer
        .post("/v1/keys", &json!({"spec": "AES_256"}))
        .unwrap();
    officer
        .put::<Value>("/v1/aliases/existing", &json!({"key": other["id"]}))
        .unwrap();
    for class in ["issue-officer", "issue-client", "bind-policy"] {
        officer
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({"required": 2}))
            .unwrap();
    }

    let seen = drive(
        &server,
        &user,
        &admin,
        "quorum",
        &[("KASTELL_KEY", id.as_str())],
    );
    // Nothing changed: each change is a pending operation naming its class.
    assert_eq!(
        seen["tags_now"],
        json!([{"TagKey": "team", "TagValue": "payments"}]),
        "{seen}"
    );
    let described: Value = officer.get(&format!("/v1/keys/{id}")).unwrap();
    assert_eq!(described["description"], "");
    assert_eq!(seen["delete_alias"], json!(["accepted", ""]));
    let tag = pending_operation(&seen["tag"]);
    for case in ["untag", "describe", "create_alias", "update_alias"] {
        pending_operation(&seen[case]);
    }
    let pending: Value = officer.get(&format!("/v1/approvals/{tag}")).unwrap();
    assert_eq!(pending["operation"]["class"], "bind-policy", "{pending}");
    assert_eq!(
        pending["operation"]["requester"], "aws-officer",
        "{pending}"
    );

    // Two officers approve: the tag change runs, as the access key's principal.
    for profile in [&first, &second] {
        let out = server
            .deployment()
            .command()
            .args(["approve", &tag, "--profile"])
            .arg(profile)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let described: Value = officer.get(&format!("/v1/keys/{id}")).unwrap();
    assert_eq!(
        described["tags"],
        json!({"allowed-guests": "sha384:00", "team": "payments"})
    );
}
