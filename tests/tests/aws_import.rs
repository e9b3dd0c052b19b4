//! Imported key material (issue 19, AWS's "bring your own key") through the AWS
//! KMS-compatible endpoint, driven by boto3 and the `openssl` command line
//! (`tests/aws/byok.py`) against a real `kastell serve`: keys created with
//! `Origin=EXTERNAL` are pending import; material wrapped by `openssl` with the public key
//! of `GetParametersForImport` (every wrapping algorithm and key size) imports, and the key
//! then serves: an AES key decrypts what it encrypted, an HMAC key's MAC is Python's HMAC
//! under the imported material, an RSA key's public key is openssl's and it decrypts what
//! openssl encrypted. Deleting the material leaves the key pending import until the same
//! material is imported again; material past its `ValidTo` is refused, then erased by the
//! host's sweep. Every bad input is refused by AWS's exception name and audited. On the
//! soft token and on SoftHSM2 (whose RSA-OAEP takes SHA-1 only) the wrapping key is
//! wrapped by the token's master key.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_tests::aws::{self, audit_trail};
use kastell_tests::server::{Setup, SoftHsm, TestServer, expect_api_error};
use serde_json::{Value, json};

/// `byok.py <scenario>` as the crypto-user `user`, with the officer `officer`.
fn byok(
    server: &TestServer,
    user: &(String, String),
    officer: &(String, String),
    scenario: &str,
) -> Value {
    aws::boto3(
        server,
        "byok.py",
        &[scenario],
        user,
        &[
            ("KASTELL_OFFICER_KEY_ID", &officer.0),
            ("KASTELL_OFFICER_SECRET", &officer.1),
            ("KASTELL_OFFICER_NAME", "byok-officer"),
        ],
    )
}

/// Whether the trail holds a record of `operation` on `key` with `outcome` and a reason
/// containing `reason`.
fn audited(trail: &[Value], key: &str, operation: &str, outcome: &str, reason: &str) -> bool {
    aws::audited(trail, ("key", key), operation, outcome, reason)
}

/// An access key of `principal` with `role`.
fn access_key(server: &TestServer, principal: &str, role: &str) -> (String, String) {
    server.access_key(principal, &[role], None).unwrap()
}

/// The symmetric scenario's answers, each asserted.
fn assert_symmetric(seen: &Value) {
    assert_eq!(
        seen["created"],
        json!({"KeyState": "PendingImport", "Origin": "EXTERNAL", "Enabled": false}),
        "{seen}"
    );
    assert_eq!(seen["pending_encrypt"], "KMSInvalidStateException");
    assert_eq!(seen["user_parameters"], "AccessDeniedException");
    assert_eq!(seen["valid_for_hours"], 24);
    assert_eq!(seen["public_key_is_rsa_2048"], true);
    assert_eq!(seen["material_id_len"], 64);
    assert_eq!(
        seen["current_material_id"], true,
        "DescribeKey names the material: {seen}"
    );
    assert_eq!(
        seen["imported"],
        json!({"KeyState": "Enabled", "Origin": "EXTERNAL",
               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "Enabled": true,
               "has_valid_to": false})
    );
    assert_eq!(seen["decrypted"], "hello byok");
    for algorithm in [
        "RSAES_OAEP_SHA_1",
        "RSA_AES_KEY_WRAP_SHA_1",
        "RSA_AES_KEY_WRAP_SHA_256",
    ] {
        for spec in ["RSA_2048", "RSA_3072", "RSA_4096"] {
            assert_eq!(
                seen[format!("again {algorithm} {spec}")],
                true,
                "{algorithm} {spec}"
            );
        }
    }
    for (case, exception) in [
        ("token_for_another_key", "InvalidImportTokenException"),
        ("tampered_token", "InvalidImportTokenException"),
        ("wrong_algorithm", "InvalidCiphertextException"),
        ("garbage_ciphertext", "InvalidCiphertextException"),
        ("short_material", "IncorrectKeyMaterialException"),
        ("different_material", "IncorrectKeyMaterialException"),
        ("not_external_parameters", "UnsupportedOperationException"),
        ("not_external_import", "UnsupportedOperationException"),
        ("pkcs1_v15", "UnsupportedOperationException"),
        ("sm2", "UnsupportedOperationException"),
        ("valid_to_past", "ValidationException"),
        ("expires_without_valid_to", "ValidationException"),
        // New material must differ from the key's (here: the current material again);
        // rotation needs material pending (tests/tests/aws_import_rotation.rs).
        ("new_key_material", "IncorrectKeyMaterialException"),
        ("rotate_imported", "KMSInvalidStateException"),
        ("user_deletes", "AccessDeniedException"),
        ("material_id_own", "accepted"),
        ("material_id_other", "IncorrectKeyMaterialException"),
        ("material_id_with_new", "ValidationException"),
        ("first_import_new", "accepted"),
        ("delete_other_material_id", "NotFoundException"),
        ("decrypt_after_delete", "KMSInvalidStateException"),
        ("delete_twice", "KMSInvalidStateException"),
        (
            "other_material_after_delete",
            "IncorrectKeyMaterialException",
        ),
    ] {
        assert_eq!(seen[case], exception, "{case}: {seen}");
    }
    assert_eq!(seen["deleted_material_id"], true);
    assert_eq!(seen["after_delete"], "PendingImport");
    assert_eq!(seen["reimported"], "Enabled");
    assert_eq!(seen["decrypted_again"], "hello byok");
}

/// Each import step and each refusal in the audit trail, with its reason.
fn assert_audited(trail: &[Value], key: &str) {
    for (operation, outcome, reason) in [
        (
            "get-parameters-for-import",
            "allowed",
            "RSAES_OAEP_SHA_256 with a RSA_2048",
        ),
        (
            "import-key-material",
            "allowed",
            "imported with RSAES_OAEP_SHA_256",
        ),
        ("import-key-material", "denied", "InvalidImportToken"),
        ("import-key-material", "denied", "InvalidCiphertext"),
        ("import-key-material", "denied", "IncorrectKeyMaterial"),
        ("delete-imported-key-material", "allowed", "pending import"),
        ("delete-imported-key-material", "denied", "InvalidState"),
        (
            "delete-imported-key-material",
            "denied",
            "is not associated with key",
        ),
        (
            "import-key-material",
            "denied",
            "is not key material of key",
        ),
        (
            "import-key-material",
            "denied",
            "new key material must differ",
        ),
        (
            "rotate-key",
            "denied",
            "no imported key material pending rotation",
        ),
    ] {
        assert!(
            audited(trail, key, operation, outcome, reason),
            "no {outcome} {operation} record with `{reason}` for key {key}"
        );
    }
}

#[test]
fn material_openssl_wrapped_imports_serves_and_every_bad_import_is_refused_by_aws_name() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let user = access_key(&server, "byok-user", "crypto-user");
    let officer = access_key(&server, "byok-officer", "crypto-officer");

    let seen = byok(&server, &user, &officer, "symmetric");
    assert_symmetric(&seen);
    let trail = audit_trail(&auditor);
    assert_audited(&trail, seen["key"].as_str().unwrap());
    assert!(
        trail.iter().any(|r| r["reason"]
            .as_str()
            .unwrap_or("")
            .contains("wrapped by the master key")),
        "the soft token's wrapping key is wrapped by the master key"
    );

    let seen = byok(&server, &user, &officer, "asymmetric");
    assert_eq!(seen["mac_is_python_hmac"], true, "{seen}");
    assert_eq!(
        seen["hmac_current_material_id"], false,
        "AWS names the current material of symmetric encryption keys only"
    );
    assert_eq!(seen["public_key_is_openssls"], true, "{seen}");
    assert_eq!(seen["decrypted_openssl"], "sealed by openssl");
    assert_eq!(seen["rsa_of_another_size"], "IncorrectKeyMaterialException");
}

#[test]
fn material_past_its_valid_to_is_refused_at_once_and_erased_by_the_sweep() {
    let mut server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let user = access_key(&server, "byok-user", "crypto-user");
    let officer = access_key(&server, "byok-officer", "crypto-officer");
    let seen = byok(&server, &user, &officer, "expiring");
    assert_eq!(seen["model"], "KEY_MATERIAL_EXPIRES", "{seen}");
    assert_eq!(seen["valid_to"], true);
    assert_eq!(seen["state_before"], "Enabled");
    assert_eq!(seen["decrypted_before"], "soon gone");
    assert_eq!(seen["decrypt_after"], "KMSInvalidStateException");
    assert_eq!(seen["encrypt_after"], "KMSInvalidStateException");
    assert_eq!(seen["state_after"], "PendingImport");
    let key = seen["key"].as_str().unwrap().to_owned();
    assert!(audited(
        &audit_trail(&auditor),
        &key,
        "decrypt",
        "denied",
        "imported key material expired"
    ));
    // Someone who can write the store file clears the other key's expiry to revive its
    // material: the record no longer matches its seal and is refused as tampering. Then
    // the sweep at start erases the first key's expired material, audited.
    let tampered = seen["tamper_key"].as_str().unwrap().to_owned();
    let changed = server
        .edit_store_offline(
            "UPDATE keys SET material_expires = NULL WHERE id = ?1",
            [&tampered],
        )
        .unwrap();
    assert_eq!(changed, 1, "the attacker's edit");
    let auditor = server.new_client("audit2", "auditor", None).unwrap();
    aws::wait_audited(&auditor, &key, "expire-key-material", "allowed", "expired");
    let described: Value = server
        .client(&server.officer())
        .unwrap()
        .get(&format!("/v1/keys/{key}"))
        .unwrap();
    assert_eq!(described["state"], "pending-import", "{described}");
    assert_eq!(described["versions"][0]["material"], "destroyed");
    let revived = server
        .client(&server.officer())
        .unwrap()
        .get::<Value>(&format!("/v1/keys/{tampered}"));
    let message = expect_api_error(revived, 409, "TamperDetected");
    assert!(message.contains("changed outside Kastell"), "{message}");
}

#[test]
fn on_softhsm_imports_work_the_same_with_the_wrapping_key_under_the_hsm_master_key() {
    let hsm = SoftHsm::create("kastell-byok").unwrap();
    let server = aws::serve(&Setup::softhsm(&hsm).unwrap()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let user = access_key(&server, "byok-user", "crypto-user");
    let officer = access_key(&server, "byok-officer", "crypto-officer");
    let seen = byok(&server, &user, &officer, "symmetric");
    assert_symmetric(&seen);
    let key = seen["key"].as_str().unwrap();
    let trail = audit_trail(&auditor);
    assert_audited(&trail, key);
    // SoftHSM2 2.6's CKM_RSA_PKCS_OAEP takes SHA-1 only, so the wrapping key is wrapped by
    // the HSM's master key rather than generated on it.
    assert!(
        audited(
            &trail,
            key,
            "get-parameters-for-import",
            "allowed",
            "wrapped by the master key"
        ),
        "the wrapping key is wrapped by the SoftHSM2 master key"
    );
}

#[test]
fn an_imported_p384_key_made_by_openssl_signs_what_openssl_verifies_and_bad_ec_material_is_refused()
{
    let server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let user = access_key(&server, "byok-user", "crypto-user");
    let officer = access_key(&server, "byok-officer", "crypto-officer");
    let seen = byok(&server, &user, &officer, "ecc");
    assert_eq!(
        seen["created"],
        json!({"KeyState": "PendingImport", "Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P384"}),
        "{seen}"
    );
    for (case, exception) in [
        ("other_curve", "IncorrectKeyMaterialException"),
        ("rsa_into_ecc", "IncorrectKeyMaterialException"),
        ("public_key_not_its_own", "IncorrectKeyMaterialException"),
        ("sec1_not_pkcs8", "IncorrectKeyMaterialException"),
        ("raw_scalar", "IncorrectKeyMaterialException"),
        ("wrong_wrapping_algorithm", "InvalidCiphertextException"),
        ("another_p384_later", "IncorrectKeyMaterialException"),
    ] {
        assert_eq!(seen[case], exception, "{case}: {seen}");
    }
    assert_eq!(seen["still_pending"], "PendingImport", "{seen}");
    assert_eq!(seen["material_id_len"], 64);
    assert_eq!(seen["state"], "Enabled");
    assert_eq!(seen["public_key_is_openssls"], true, "{seen}");
    assert_eq!(seen["openssl_verifies"], true, "{seen}");
    assert_eq!(seen["kastell_verifies"], true, "{seen}");
    assert_eq!(seen["same_again"], true, "{seen}");
    assert_eq!(seen["p256_openssl_verifies"], true, "{seen}");
    let key = seen["key"].as_str().unwrap();
    let trail = audit_trail(&auditor);
    for reason in [
        "on curve",
        "stated public key is not its private key's",
        "not a PKCS#8 DER private key",
        "not an EC key",
    ] {
        assert!(
            audited(&trail, key, "import-key-material", "denied", reason),
            "no refusal naming `{reason}`"
        );
    }
    assert!(audited(
        &trail,
        key,
        "import-key-material",
        "denied",
        "InvalidCiphertext"
    ));
}

#[test]
fn key_policies_decide_the_import_operations_and_a_deny_refuses_each_by_name() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let user = access_key(&server, "byok-user", "crypto-user");
    let officer = access_key(&server, "byok-officer", "crypto-officer");
    let seen = byok(&server, &user, &officer, "policy_actions");
    for (case, outcome) in [
        ("get_parameters", "AccessDeniedException"),
        ("import_parameters_allowed", "accepted"),
        ("import", "AccessDeniedException"),
        ("delete_import_allowed", "accepted"),
        ("delete", "AccessDeniedException"),
        ("sha1_parameters", "AccessDeniedException"),
        ("sha256_parameters", "accepted"),
        ("import_forever", "AccessDeniedException"),
        ("import_expiring", "accepted"),
    ] {
        assert_eq!(seen[case], outcome, "{case}: {seen}");
    }
    let trail = audit_trail(&auditor);
    for (key, operation) in [
        ("get_parameters_key", "get-parameters-for-import"),
        ("import_key", "import-key-material"),
        ("delete_key", "delete-imported-key-material"),
    ] {
        assert!(
            audited(
                &trail,
                seen[key].as_str().unwrap(),
                operation,
                "denied",
                "AWS key policy"
            ),
            "no key-policy refusal of {operation}: {seen}"
        );
    }
}
