//! Rotation of imported key material (issue 19) through the AWS KMS-compatible endpoint,
//! driven by boto3 and `openssl` (`tests/aws/byok_rotation.py`) against a real
//! `kastell serve`: material A imported, B imported with `ImportType NEW_KEY_MATERIAL`
//! waits pending rotation (A still encrypts), `RotateKeyOnDemand` makes B current and A's
//! ciphertexts still decrypt; every answer names the material it used (`KeyMaterialId`),
//! `ListKeyRotations` lists the materials as AWS does, a ciphertext sealed outside Kastell
//! with B's bytes decrypts, and each bad input is refused by AWS's exception name and
//! audited. The materials are sealed with the key record: an edit in the store file is
//! refused as tampering.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_tests::aws::{self, audit_trail};
use kastell_tests::server::{Setup, TestServer, expect_api_error};
use serde_json::{Value, json};

/// `byok_rotation.py <scenario>` as the crypto-user `byok-user`, with the officer
/// `byok-officer`.
fn scenario(server: &TestServer, name: &str) -> Value {
    let user = server
        .access_key("byok-user", &["crypto-user"], None)
        .unwrap();
    let officer = server
        .access_key("byok-officer", &["crypto-officer"], None)
        .unwrap();
    aws::boto3(
        server,
        "byok_rotation.py",
        &[name],
        &user,
        &[
            ("KASTELL_OFFICER_KEY_ID", &officer.0),
            ("KASTELL_OFFICER_SECRET", &officer.1),
            ("KASTELL_OFFICER_NAME", "byok-officer"),
        ],
    )
}

/// A `ListKeyRotations` row of material `id` as the script reduces it.
fn row(id: &Value, description: Option<&str>, import: &str, state: &str) -> Value {
    let mut row = json!({
        "KeyMaterialId": id,
        "ImportState": import,
        "KeyMaterialState": state,
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "dated": false,
    });
    if let Some(description) = description {
        row["KeyMaterialDescription"] = json!(description);
    }
    row
}

/// `row` as a rotation: dated, on demand.
fn rotated(mut row: Value) -> Value {
    row["RotationType"] = json!("ON_DEMAND");
    row["dated"] = json!(true);
    row
}

#[test]
fn new_material_waits_pending_rotation_then_rotates_and_older_material_still_decrypts() {
    let mut server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let seen = scenario(&server, "rotation");
    let (a, b) = (&seen["a_id"], &seen["b_id"]);

    // Pending: listed with ALL_KEY_MATERIAL only, A still current and encrypting.
    assert_eq!(seen["decrypt_a_material"], true, "{seen}");
    assert_eq!(seen["b_differs"], true);
    assert_eq!(
        seen["pending_rows"],
        json!([
            row(a, Some("material A"), "IMPORTED", "CURRENT"),
            row(b, Some("material B"), "IMPORTED", "PENDING_ROTATION"),
        ]),
        "{seen}"
    );
    assert_eq!(seen["pending_rotations_only"], json!([]));
    assert_eq!(seen["pending_encrypts_with_a"], true);
    assert_eq!(seen["pending_current"], true);

    // Rotated: B current; A's ciphertexts decrypt by A, new ones by B, and one sealed
    // outside Kastell with B's bytes too.
    assert_eq!(seen["rotated"], true);
    assert_eq!(seen["rotated_current"], true);
    assert_eq!(seen["decrypt_b"], json!(["under B", true]));
    assert_eq!(seen["decrypt_a_after"], json!(["under A", true]));
    assert_eq!(seen["re_encrypt_materials"], json!([true, true]));
    assert_eq!(seen["data_key_material"], true);
    assert_eq!(
        seen["decrypt_outside"],
        json!(["sealed outside Kastell", true])
    );
    assert_eq!(
        seen["rotated_rows"],
        json!([
            row(a, Some("material A"), "IMPORTED", "NON_CURRENT"),
            rotated(row(b, Some("material B"), "IMPORTED", "CURRENT")),
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["rotated_rotations_only"],
        json!([rotated(row(b, Some("material B"), "IMPORTED", "CURRENT"))])
    );

    // The older material deleted: the whole key waits for A (as at AWS), then serves both.
    assert_eq!(seen["deleted_a"], true);
    assert_eq!(seen["after_delete_a_state"], "PendingImport");
    assert_eq!(seen["after_reimport_a_state"], "Enabled");
    assert_eq!(seen["decrypt_b_reimported"], "under B");
    assert_eq!(
        seen["deleted_rows"][0],
        row(a, Some("material A"), "PENDING_IMPORT", "NON_CURRENT")
    );
    assert_eq!(seen["decrypt_a_reimported"], "under A");
    assert_eq!(
        seen["pending_deleted_rows"], 2,
        "dropped, not listed: {seen}"
    );

    for (case, exception) in [
        ("second_pending", "KMSInvalidStateException"),
        ("new_same_as_a", "IncorrectKeyMaterialException"),
        ("bad_description", "ValidationException"),
        ("rotate_without_pending", "KMSInvalidStateException"),
        ("existing_a_with_b", "IncorrectKeyMaterialException"),
        ("existing_a", "accepted"),
        ("unknown_material_import", "IncorrectKeyMaterialException"),
        ("unknown_material_delete", "NotFoundException"),
        ("decrypt_a_deleted", "KMSInvalidStateException"),
        ("decrypt_b_halted", "KMSInvalidStateException"),
        ("encrypt_halted", "KMSInvalidStateException"),
        ("rotate_after_pending_deleted", "KMSInvalidStateException"),
        ("hmac_new_material", "UnsupportedOperationException"),
        ("enable_rotation", "UnsupportedOperationException"),
    ] {
        assert_eq!(seen[case], exception, "{case}: {seen}");
    }

    // An older material past its ValidTo: the key is refused at once, the current
    // material's ciphertexts too (as at AWS).
    assert_eq!(
        seen["expiring_first_row"],
        json!(["KEY_MATERIAL_EXPIRES", true]),
        "{seen}"
    );
    assert_eq!(seen["older_expired"], "KMSInvalidStateException");
    assert_eq!(seen["newer_halted"], "KMSInvalidStateException");
    assert_eq!(seen["data_key_pair_material"], true);

    let key = seen["key"].as_str().unwrap();
    let trail = audit_trail(&auditor);
    for (on, operation, outcome, reason) in [
        (key, "import-key-material", "allowed", "pending rotation"),
        (key, "rotate-key", "allowed", "made current (version 2)"),
        (
            key,
            "import-key-material",
            "denied",
            "is pending rotation already",
        ),
        (
            key,
            "import-key-material",
            "denied",
            "new key material must differ",
        ),
        (
            key,
            "import-key-material",
            "denied",
            "only the same material",
        ),
        (
            key,
            "rotate-key",
            "denied",
            "no imported key material pending",
        ),
        (
            key,
            "delete-imported-key-material",
            "allowed",
            "version 1 no longer",
        ),
        (
            key,
            "delete-imported-key-material",
            "allowed",
            "pending rotation and is dropped",
        ),
        (
            key,
            "decrypt",
            "denied",
            "pending import: the imported key material of version 1 was deleted",
        ),
        (
            seen["expiring_key"].as_str().unwrap(),
            "decrypt",
            "denied",
            "of version 1 of key",
        ),
        (
            seen["mac_key"].as_str().unwrap(),
            "import-key-material",
            "denied",
            "only symmetric encryption keys",
        ),
    ] {
        assert!(
            aws::audited(&trail, ("key", on), operation, outcome, reason),
            "no {outcome} {operation} record with `{reason}` for key {on}"
        );
    }

    // Someone who can write the store file edits the pending material's description: the
    // record no longer matches its seal and is refused as tampering.
    let tampered = seen["tamper_key"].as_str().unwrap().to_owned();
    let changed = server
        .edit_store_offline(
            "UPDATE keys SET materials = replace(materials, 'material B', 'material C')
             WHERE id = ?1",
            [&tampered],
        )
        .unwrap();
    assert_eq!(changed, 1, "the attacker's edit");
    let read = server
        .client(&server.officer())
        .unwrap()
        .get::<Value>(&format!("/v1/keys/{tampered}"));
    let message = expect_api_error(read, 409, "TamperDetected");
    assert!(message.contains("changed outside Kastell"), "{message}");
    let untouched: Value = server
        .client(&server.officer())
        .unwrap()
        .get(&format!("/v1/keys/{key}"))
        .unwrap();
    assert_eq!(untouched["current_version"], 2, "{untouched}");

    // The sweep at start erased the expired older material: the key is pending import.
    let expiring = seen["expiring_key"].as_str().unwrap();
    let auditor = server.new_client("audit2", "auditor", None).unwrap();
    aws::wait_audited(
        &auditor,
        expiring,
        "expire-key-material",
        "allowed",
        "version 1 no longer decrypts",
    );
    let swept: Value = server
        .client(&server.officer())
        .unwrap()
        .get(&format!("/v1/keys/{expiring}"))
        .unwrap();
    assert_eq!(swept["state"], "pending-import", "{swept}");
    assert_eq!(swept["versions"][0]["material"], "destroyed");
    assert_eq!(swept["versions"][1]["material"], "wrapped");
}

#[test]
fn key_policies_decide_new_material_and_the_rotation_to_it_by_their_actions() {
    let server = aws::serve(&Setup::soft()).unwrap();
    let auditor = server.new_client("audit", "auditor", None).unwrap();
    let seen = scenario(&server, "policy");
    assert_eq!(
        seen["new_expiring_denied"], "AccessDeniedException",
        "{seen}"
    );
    assert_eq!(seen["new_allowed"], "accepted");
    assert_eq!(seen["rotate_denied"], "AccessDeniedException");
    let key = seen["key"].as_str().unwrap();
    let trail = audit_trail(&auditor);
    for operation in ["import-key-material", "rotate-key"] {
        assert!(
            aws::audited(&trail, ("key", key), operation, "denied", "AWS key policy"),
            "no key-policy refusal of {operation}: {seen}"
        );
    }
}
