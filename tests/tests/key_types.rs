//! Every key type through the real server (issue 17, phase 2): for each spec family a key
//! is created, used, rotated (the old version still verifies or decrypts), disabled and
//! scheduled for deletion on the soft token; `openssl` verifies signatures made through
//! the API with the exported public key and encrypts to an exported RSA key for the API to
//! decrypt; data key pairs come back as PKCS#8; and each bad input of issue 17, point 7 is
//! refused by name and audited as a refusal.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use kastell::client::{Client, RemoteError};
use kastell_tests::server::{TestServer, expect_api_error};
use serde_json::{Value, json};
use sha2::Digest as _;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("base64")
}

/// A soft-token server with an officer, a crypto-user and an auditor.
struct Setup {
    _server: TestServer,
    officer: Client,
    user: Client,
    auditor: Client,
}

impl Setup {
    fn start() -> Self {
        let server = TestServer::start_soft().expect("server starts");
        let officer = server.client(&server.officer()).expect("officer");
        let user = server
            .new_client("svc", "crypto-user", None)
            .expect("user client");
        let auditor = server
            .new_client("audit", "auditor", None)
            .expect("auditor client");
        Self {
            _server: server,
            officer,
            user,
            auditor,
        }
    }

    fn create(&self, body: &Value) -> Result<Value, RemoteError> {
        self.officer.post("/v1/keys", body)
    }

    fn key(&self, spec: &str, usage: &str) -> String {
        let key = self
            .create(&json!({ "spec": spec, "usage": usage }))
            .unwrap_or_else(|e| panic!("{spec} {usage}: {e}"));
        assert_eq!(key["spec"], spec);
        assert_eq!(key["usage"], usage);
        key["id"].as_str().unwrap().to_owned()
    }

    fn call(&self, key: &str, action: &str, body: &Value) -> Result<Value, RemoteError> {
        self.user.post(&format!("/v1/keys/{key}/{action}"), body)
    }

    fn officer_call(&self, key: &str, action: &str, body: &Value) -> Value {
        self.officer
            .post(&format!("/v1/keys/{key}/{action}"), body)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn public_key(&self, key: &str) -> Value {
        self.user
            .get(&format!("/v1/keys/{key}/public-key"))
            .expect("public key")
    }

    /// The audit records of `operation` on `key`.
    fn records(&self, key: &str, operation: &str) -> Vec<Value> {
        let page: Value = self
            .auditor
            .get("/v1/audit?after=0&limit=1000")
            .expect("audit page");
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["operation"] == operation && r["key"] == key)
            .cloned()
            .collect()
    }

    /// Asserts the last record of `operation` on `key` is a refusal whose reason holds
    /// `words`.
    #[track_caller]
    fn assert_refusal_audited(&self, key: &str, operation: &str, words: &str) {
        let records = self.records(key, operation);
        let last = records
            .last()
            .unwrap_or_else(|| panic!("no {operation} record"));
        assert_eq!(last["outcome"], "denied", "{last}");
        assert!(
            last["reason"].as_str().unwrap().contains(words),
            "{words}: {last}"
        );
    }
}

/// Signs `message` (RAW) with `algorithm`; the signature's bytes and version.
fn sign(setup: &Setup, key: &str, algorithm: &str, message: &[u8]) -> (Vec<u8>, u64) {
    let out = setup
        .call(
            key,
            "sign",
            &json!({ "message": b64(message), "algorithm": algorithm }),
        )
        .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
    assert_eq!(out["algorithm"], algorithm);
    (unb64(&out["signature"]), out["version"].as_u64().unwrap())
}

fn verify(setup: &Setup, key: &str, algorithm: &str, message: &[u8], signature: &[u8]) -> bool {
    let out = setup
        .call(
            key,
            "verify",
            &json!({
                "message": b64(message),
                "signature": b64(signature),
                "algorithm": algorithm,
            }),
        )
        .expect("verify");
    out["valid"].as_bool().unwrap()
}

/// Rotates, disables (every use then refused as Disabled) and schedules the deletion of
/// `key`; `use_key` is one use of it.
fn rotate_disable_delete(
    setup: &Setup,
    key: &str,
    use_key: impl Fn() -> Result<Value, RemoteError>,
) {
    let disabled = setup.officer_call(key, "disable", &json!({}));
    assert_eq!(disabled["state"], "disabled");
    expect_api_error(use_key(), 409, "Disabled");
    setup.officer_call(key, "enable", &json!({}));
    let scheduled = setup.officer_call(key, "schedule-deletion", &json!({ "days": 7 }));
    assert_eq!(scheduled["state"], "pending-deletion", "{scheduled}");
    expect_api_error(use_key(), 409, "InvalidState");
}

/// Signing keys of every signing family (RSA with PSS and PKCS#1 v1.5, the NIST curves
/// and secp256k1, ML-DSA): a signature verifies, a rotation signs with version 2 while
/// version 1's signature still verifies, a tampered message does not; then disabled and
/// scheduled for deletion.
#[test]
fn signing_keys_of_every_family_sign_rotate_verify_old_signatures_and_are_deleted() {
    let setup = Setup::start();
    for (spec, algorithm) in [
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_NIST_P521", "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("ML_DSA_44", "ML_DSA_SHAKE_256"),
    ] {
        let key = setup.key(spec, "SIGN_VERIFY");
        let public = setup.public_key(&key);
        assert_eq!(public["spec"], spec);
        assert!(
            public["signing_algorithms"]
                .as_array()
                .unwrap()
                .contains(&json!(algorithm)),
            "{public}"
        );
        let (first, version) = sign(&setup, &key, algorithm, b"release 1.0");
        assert_eq!(version, 1);
        assert!(
            verify(&setup, &key, algorithm, b"release 1.0", &first),
            "{spec}"
        );
        assert!(
            !verify(&setup, &key, algorithm, b"release 1.1", &first),
            "{spec}"
        );
        let rotated = setup.officer_call(&key, "rotate", &json!({}));
        assert_eq!(rotated["current_version"], 2);
        let (second, version) = sign(&setup, &key, algorithm, b"release 2.0");
        assert_eq!(version, 2, "{spec}");
        assert!(
            verify(&setup, &key, algorithm, b"release 2.0", &second),
            "{spec}"
        );
        assert!(
            verify(&setup, &key, algorithm, b"release 1.0", &first),
            "{spec}: version 1's signature still verifies"
        );
        rotate_disable_delete(&setup, &key, || {
            setup.call(
                &key,
                "sign",
                &json!({ "message": b64(b"m"), "algorithm": algorithm }),
            )
        });
    }
}

/// RSA encryption keys, HMAC keys of each size and ECDH keys: used, rotated (old
/// ciphertexts and MACs still accepted), disabled, scheduled for deletion.
#[test]
fn encryption_mac_and_key_agreement_keys_work_across_a_rotation_and_are_deleted() {
    let setup = Setup::start();

    let rsa = setup.key("RSA_2048", "ENCRYPT_DECRYPT");
    let encrypt = |plaintext: &[u8]| {
        setup.call(
            &rsa,
            "encrypt",
            &json!({ "plaintext": b64(plaintext), "algorithm": "RSAES_OAEP_SHA_256" }),
        )
    };
    let decrypt = |ciphertext: &Value, algorithm: &str| -> Result<Value, RemoteError> {
        setup.user.post(
            "/v1/decrypt",
            &json!({ "ciphertext": ciphertext, "key": rsa, "algorithm": algorithm }),
        )
    };
    let old = encrypt(b"v1 secret").expect("encrypt");
    assert_eq!(old["algorithm"], "RSAES_OAEP_SHA_256");
    assert_eq!(unb64(&old["ciphertext"]).len(), 256, "the raw OAEP output");
    setup.officer_call(&rsa, "rotate", &json!({}));
    let new = encrypt(b"v2 secret").expect("encrypt");
    for (sealed, plaintext) in [(&old, b"v1 secret"), (&new, b"v2 secret")] {
        let opened = decrypt(&sealed["ciphertext"], "RSAES_OAEP_SHA_256").expect("decrypt");
        assert_eq!(unb64(&opened["plaintext"]), plaintext);
    }
    expect_api_error(
        decrypt(&new["ciphertext"], "RSAES_OAEP_SHA_1"),
        400,
        "InvalidCiphertext",
    );
    rotate_disable_delete(&setup, &rsa, || encrypt(b"x"));

    for (spec, algorithm, len) in [
        ("HMAC_224", "HMAC_SHA_224", 28),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ] {
        let key = setup.key(spec, "GENERATE_VERIFY_MAC");
        let mac = |message: &[u8]| {
            setup.call(
                &key,
                "mac",
                &json!({ "message": b64(message), "algorithm": algorithm }),
            )
        };
        let first = unb64(&mac(b"m1").expect("mac")["mac"]);
        assert_eq!(first.len(), len, "{spec}");
        setup.officer_call(&key, "rotate", &json!({}));
        let second = unb64(&mac(b"m1").expect("mac")["mac"]);
        assert_ne!(first, second, "{spec}: version 2 has other material");
        for tag in [&first, &second] {
            let valid = setup
                .call(
                    &key,
                    "verify-mac",
                    &json!({ "message": b64(b"m1"), "mac": b64(tag) }),
                )
                .expect("verify-mac");
            assert_eq!(valid["valid"], true, "{spec}");
        }
        rotate_disable_delete(&setup, &key, || mac(b"m"));
    }

    // ECDH: the API's shared secret with a peer equals the peer's with the API's key.
    let ecdh = setup.key("ECC_NIST_P256", "KEY_AGREEMENT");
    let dir = tempfile::tempdir().unwrap();
    let (peer_key, peer_public) = openssl_ec_key(dir.path(), "prime256v1");
    let ours = dir.path().join("ours.pem");
    std::fs::write(&ours, setup.public_key(&ecdh)["pem"].as_str().unwrap()).unwrap();
    let derive = || {
        setup.call(
            &ecdh,
            "derive-shared-secret",
            &json!({ "peer_public_key": b64(&peer_public) }),
        )
    };
    let secret = unb64(&derive().expect("derive")["shared_secret"]);
    let expected = openssl(&[
        "pkeyutl",
        "-derive",
        "-inkey",
        peer_key.to_str().unwrap(),
        "-peerkey",
        ours.to_str().unwrap(),
    ]);
    assert_eq!(secret, expected, "openssl derives the same secret");
    let records = setup.records(&ecdh, "derive-shared-secret");
    assert_eq!(records.last().unwrap()["outcome"], "allowed");
    assert!(
        records.last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("ECDH")
    );
    rotate_disable_delete(&setup, &ecdh, derive);

    // The old name still creates a key, described by the new one.
    let legacy = setup
        .create(&json!({ "spec": "HMAC_SHA384" }))
        .expect("HMAC_SHA384 is read as HMAC_384");
    assert_eq!(legacy["spec"], "HMAC_384");
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A new EC key made by openssl on `curve`: its PEM file and its SPKI DER.
fn openssl_ec_key(dir: &Path, curve: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join(format!("{curve}.pem"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        &format!("ec_paramgen_curve:{curve}"),
        "-out",
        path.to_str().unwrap(),
    ]);
    let spki = openssl(&[
        "pkey",
        "-in",
        path.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    (path, spki)
}

/// OpenSSL verifies, with the public key exported through the API, RSA-PSS, PKCS#1 v1.5
/// and ECDSA signatures made through the API; and encrypts with RSA-OAEP (SHA-256 and
/// SHA-1) to an exported RSA key, which the API decrypts.
#[test]
fn openssl_verifies_api_signatures_and_encrypts_to_an_exported_rsa_key() {
    let setup = Setup::start();
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("message");
    std::fs::write(&message, b"signed through the API").unwrap();
    let rsa = setup.key("RSA_3072", "SIGN_VERIFY");
    let ec = setup.key("ECC_NIST_P256", "SIGN_VERIFY");
    for (key, algorithm, digest, options) in [
        (
            &rsa,
            "RSASSA_PSS_SHA_256",
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
        ),
        (&rsa, "RSASSA_PKCS1_V1_5_SHA_384", "-sha384", &[][..]),
        (&ec, "ECDSA_SHA_256", "-sha256", &[][..]),
    ] {
        let pem = dir.path().join(format!("{algorithm}.pem"));
        std::fs::write(&pem, setup.public_key(key)["pem"].as_str().unwrap()).unwrap();
        let (signature, _) = sign(&setup, key, algorithm, b"signed through the API");
        let signature_file = dir.path().join(format!("{algorithm}.sig"));
        std::fs::write(&signature_file, &signature).unwrap();
        let mut args = vec![
            "dgst",
            digest,
            "-verify",
            pem.to_str().unwrap(),
            "-signature",
            signature_file.to_str().unwrap(),
        ];
        args.extend_from_slice(options);
        args.push(message.to_str().unwrap());
        let out = openssl(&args);
        assert!(
            String::from_utf8_lossy(&out).contains("Verified OK"),
            "{algorithm}"
        );
    }
    // A DIGEST made by the caller signs the same as the message.
    let digest = sha2::Sha256::digest(b"signed through the API");
    let out = setup
        .call(
            &ec,
            "sign",
            &json!({ "message": b64(&digest), "message_type": "DIGEST" }),
        )
        .expect("sign a digest");
    assert!(verify(
        &setup,
        &ec,
        "ECDSA_SHA_256",
        b"signed through the API",
        &unb64(&out["signature"])
    ));

    let rsa_enc = setup.key("RSA_2048", "ENCRYPT_DECRYPT");
    let pem = dir.path().join("rsa-enc.pem");
    let exported = setup.public_key(&rsa_enc);
    assert_eq!(
        exported["encryption_algorithms"],
        json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
    );
    std::fs::write(&pem, exported["pem"].as_str().unwrap()).unwrap();
    for (algorithm, hash) in [
        ("RSAES_OAEP_SHA_256", "sha256"),
        ("RSAES_OAEP_SHA_1", "sha1"),
    ] {
        let ciphertext = openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            pem.to_str().unwrap(),
            "-in",
            message.to_str().unwrap(),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{hash}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{hash}"),
        ]);
        let opened: Value = setup
            .user
            .post(
                "/v1/decrypt",
                &json!({ "ciphertext": b64(&ciphertext), "key": rsa_enc, "algorithm": algorithm }),
            )
            .expect("the API decrypts openssl's ciphertext");
        assert_eq!(unb64(&opened["plaintext"]), b"signed through the API");
    }
}

/// A data key pair: its private key (PKCS#8) decrypts back from its ciphertext under the
/// AES key, and openssl derives the returned public key from it; without plaintext, no
/// private key comes back.
#[test]
fn data_key_pairs_return_a_pkcs8_private_key_wrapped_under_the_symmetric_key() {
    let setup = Setup::start();
    let aes = setup.key("AES_256", "ENCRYPT_DECRYPT");
    let dir = tempfile::tempdir().unwrap();
    for spec in ["ECC_NIST_P256", "RSA_2048", "ECC_SECG_P256K1"] {
        let pair = setup
            .call(
                &aes,
                "generate-data-key-pair",
                &json!({ "key_pair_spec": spec, "context": { "app": "tls" } }),
            )
            .expect("data key pair");
        assert_eq!(pair["key_pair_spec"], spec);
        let private = unb64(&pair["private_key_plaintext"]);
        let opened: Value = setup
            .user
            .post(
                "/v1/decrypt",
                &json!({ "ciphertext": pair["private_key_ciphertext"], "context": { "app": "tls" } }),
            )
            .expect("the private key decrypts");
        assert_eq!(unb64(&opened["plaintext"]), private, "{spec}");
        let der = dir.path().join(format!("{spec}.der"));
        std::fs::write(&der, &private).unwrap();
        let public = openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert_eq!(public, unb64(&pair["public_key"]), "{spec}");
    }
    let pair = setup
        .call(
            &aes,
            "generate-data-key-pair",
            &json!({ "key_pair_spec": "ECC_NIST_P384", "without_plaintext": true }),
        )
        .expect("data key pair");
    assert!(pair.get("private_key_plaintext").is_none(), "{pair}");
    let records = setup.records(&aes, "generate-data-key-pair-without-plaintext");
    assert_eq!(records.last().unwrap()["outcome"], "allowed");
    let refused = setup.call(
        &aes,
        "generate-data-key-pair",
        &json!({ "key_pair_spec": "HMAC_256" }),
    );
    expect_api_error(refused, 400, "UnsupportedSpec");
    setup.assert_refusal_audited(
        &aes,
        "generate-data-key-pair",
        "RSA or ECC key pairs, not HMAC_256",
    );
}

/// Issue 17, point 7, as attacks through the real server: a digest of the wrong length,
/// an algorithm the spec does not allow, a plaintext too long for RSA-OAEP, a peer key on
/// another curve; each refused by name (error code and message) and audited as a
/// refusal. So are an RSA key used without naming its algorithm, a spec/usage pair the
/// spec does not allow, a spec the token cannot hold, and release of a new spec.
#[test]
fn bad_inputs_for_the_new_key_types_are_refused_by_name_and_audited_as_refusals() {
    let setup = Setup::start();
    let p256 = setup.key("ECC_NIST_P256", "SIGN_VERIFY");

    // A DIGEST of the wrong length.
    let message = expect_api_error(
        setup.call(&p256, "sign", &json!({ "digest": b64(&[7; 31]) })),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("a DIGEST for ECDSA_SHA_256 is 32 bytes, not 31"),
        "{message}"
    );
    setup.assert_refusal_audited(&p256, "sign", "is 32 bytes, not 31");

    // An algorithm the spec does not allow.
    let message = expect_api_error(
        setup.call(
            &p256,
            "sign",
            &json!({ "message": b64(b"m"), "algorithm": "RSASSA_PSS_SHA_256" }),
        ),
        400,
        "UnsupportedAlgorithm",
    );
    assert_eq!(message, "ECC_NIST_P256 does not allow RSASSA_PSS_SHA_256");
    setup.assert_refusal_audited(
        &p256,
        "sign",
        "ECC_NIST_P256 does not allow RSASSA_PSS_SHA_256",
    );

    // A plaintext too long for RSA-OAEP under RSA_2048 with SHA-256 (190 bytes at most).
    let rsa = setup.key("RSA_2048", "ENCRYPT_DECRYPT");
    let encrypt = |len: usize, algorithm: Option<&str>| {
        setup.call(
            &rsa,
            "encrypt",
            &json!({ "plaintext": b64(&vec![1; len]), "algorithm": algorithm }),
        )
    };
    encrypt(190, Some("RSAES_OAEP_SHA_256")).expect("190 bytes fit");
    let message = expect_api_error(
        encrypt(191, Some("RSAES_OAEP_SHA_256")),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("encrypts at most 190 bytes of plaintext, not 191"),
        "{message}"
    );
    setup.assert_refusal_audited(&rsa, "encrypt", "at most 190 bytes of plaintext, not 191");

    // An RSA key with no algorithm named.
    let message = expect_api_error(encrypt(10, None), 400, "UnsupportedAlgorithm");
    assert!(
        message.contains("RSA_2048 keys need the encryption algorithm named"),
        "{message}"
    );
    setup.assert_refusal_audited(&rsa, "encrypt", "need the encryption algorithm named");

    // A peer key on another curve.
    let ecdh = setup.key("ECC_NIST_P256", "KEY_AGREEMENT");
    let dir = tempfile::tempdir().unwrap();
    let (_, p384_peer) = openssl_ec_key(dir.path(), "secp384r1");
    let message = expect_api_error(
        setup.call(
            &ecdh,
            "derive-shared-secret",
            &json!({ "peer_public_key": b64(&p384_peer) }),
        ),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("the peer public key is on P-384, not P-256"),
        "{message}"
    );
    setup.assert_refusal_audited(&ecdh, "derive-shared-secret", "is on P-384, not P-256");
    // A signing key is not a key agreement key.
    expect_api_error(
        setup.call(
            &p256,
            "derive-shared-secret",
            &json!({ "peer_public_key": b64(&p384_peer) }),
        ),
        400,
        "InvalidKeyUsage",
    );

    // A spec/usage pair the spec does not allow, and a spec the token cannot hold.
    let message = expect_api_error(
        setup.create(&json!({ "spec": "ECC_SECG_P256K1", "usage": "KEY_AGREEMENT" })),
        400,
        "UnsupportedSpec",
    );
    assert_eq!(
        message,
        "ECC_SECG_P256K1 keys allow SIGN_VERIFY, not KEY_AGREEMENT"
    );
    let message = expect_api_error(
        setup.create(&json!({ "spec": "ML_DSA_65", "origin": "token" })),
        400,
        "UnsupportedSpec",
    );
    assert!(message.contains("cannot hold ML_DSA_65 keys"), "{message}");
    assert!(
        message.contains("create it wrapped (the default)"),
        "{message}"
    );
    // The soft token holds the original three only.
    let message = expect_api_error(
        setup.create(&json!({ "spec": "ECC_SECG_P256K1", "origin": "token" })),
        400,
        "UnsupportedSpec",
    );
    assert!(
        message.contains("cannot hold ECC_SECG_P256K1 keys for SIGN_VERIFY (it holds token-resident AES_256, ECC_NIST_P384 signing and HMAC_384 keys only)"),
        "{message}"
    );
    let page: Value = setup.auditor.get("/v1/audit?after=0&limit=1000").unwrap();
    let refusals: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "create-key" && r["outcome"] == "denied")
        .collect();
    assert!(
        refusals
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("not KEY_AGREEMENT")),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().any(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("cannot hold ML_DSA_65")),
        "{refusals:?}"
    );
}
