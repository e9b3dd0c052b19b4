//! Attacks on key records by someone who can write `kastell.db` but cannot use the token
//! (issue 16): with the server stopped, the attacker edits a key's row with rusqlite to
//! widen what the key allows — binds a lenient policy, tags a guest into `allowed-guests`,
//! re-enables a disabled key, cancels or moves a scheduled deletion, re-points an alias,
//! copies another key's genuine seal — and starts the server again. Every key and alias
//! row carries a seal made by the token-held record key, so each edited row is refused
//! by name (409 `TamperDetected`, "changed outside Kastell") and the refusal is audited
//! (`verify-key-record`). A store from before seals is sealed once at the first start
//! (audited with the count); afterwards a row without a seal is refused too.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use kastell::client::{Client, RemoteError};
use kastell_core::deployment::{SOFT_TOKEN_FILE, STORE_FILE};
use kastell_core::keys::ServiceKeys;
use kastell_core::token::{SoftToken, Token as _};
use kastell_tests::guest;
use kastell_tests::server::{Setup, SoftHsm, TestServer, expect_api_error};
use kastell_tests::vault::{b64, create_key, encrypt, push};
use rusqlite::Connection;
use secrecy::SecretString;
use serde_json::{Value, json};

/// A served deployment with an officer, a tenant's crypto-user and an auditor.
struct Scene {
    server: TestServer,
    user_profile: PathBuf,
    auditor_profile: PathBuf,
}

impl Scene {
    fn new(server: TestServer) -> Self {
        let user_profile = server
            .issue_client("svc-acme", "crypto-user", Some("acme"))
            .unwrap();
        let auditor_profile = server.issue_client("audit", "auditor", None).unwrap();
        Self {
            server,
            user_profile,
            auditor_profile,
        }
    }

    fn officer(&self) -> Client {
        self.server.client(&self.server.officer()).unwrap()
    }

    fn user(&self) -> Client {
        self.server.client(&self.user_profile).unwrap()
    }

    fn auditor(&self) -> Client {
        self.server.client(&self.auditor_profile).unwrap()
    }

    fn db(&self) -> PathBuf {
        self.server.deployment().data_dir().join(STORE_FILE)
    }

    /// Stops the server, runs the attacker's `sql` on the store file, starts it again.
    fn tamper(&mut self, sql: &str, params: impl rusqlite::Params) {
        self.server.stop().expect("stop");
        let changed = Connection::open(self.db())
            .unwrap()
            .execute(sql, params)
            .expect("the attacker's edit");
        assert!(changed > 0, "the edit changed a row: {sql}");
        self.server.resume().expect("the server starts again");
    }

    /// The audit records refusing an edited row that names `key`.
    fn refusals(&self, key: &str) -> Vec<Value> {
        let page: Value = self.auditor().get("/v1/audit?limit=1000").expect("audit");
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["operation"] == "verify-key-record" && r["key"] == key)
            .cloned()
            .collect()
    }

    /// Asserts the refusal of `result` names an edited record, and that it was audited.
    #[track_caller]
    fn assert_refused(&self, result: Result<Value, RemoteError>, key: &str, what: &str) {
        let message = expect_api_error(result, 409, "TamperDetected");
        assert!(
            message.contains("changed outside Kastell"),
            "{what}: {message}"
        );
        let refusals = self.refusals(key);
        let last = refusals
            .last()
            .unwrap_or_else(|| panic!("{what}: not audited"));
        assert_eq!(last["outcome"], "denied", "{what}: {last}");
        assert_eq!(last["principal"], "kastell", "{what}: {last}");
        assert!(
            last["reason"].as_str().unwrap().contains("TamperDetected"),
            "{what}: {last}"
        );
    }
}

fn decrypt(user: &Client, ciphertext: &[u8], context: &Value) -> Result<Value, RemoteError> {
    user.post(
        "/v1/decrypt",
        &json!({ "ciphertext": b64(ciphertext), "context": context }),
    )
}

/// `key` (an id or `alias/…`) as a path segment.
fn segment(key: &str) -> String {
    key.replace('/', "%2F")
}

fn encrypt_value(user: &Client, key: &str) -> Result<Value, RemoteError> {
    user.post(
        &format!("/v1/keys/{}/encrypt", segment(key)),
        &json!({ "plaintext": b64(b"payroll"), "context": { "tenant": "acme" } }),
    )
}

fn describe(client: &Client, key: &str) -> Result<Value, RemoteError> {
    client.get(&format!("/v1/keys/{}", segment(key)))
}

/// (a) A key bound to `allow-measured` refuses a plain decrypt. The attacker binds
/// `tenant-context` (which lets the tenant decrypt) in the row, then clears the binding:
/// each time the decrypt is refused as tampering, never allowed.
fn bind_a_lenient_policy(server: TestServer) {
    let mut scene = Scene::new(server);
    let officer = scene.officer();
    let strict = push(&officer, "/v1/policies", guest("allow-measured")).unwrap();
    let lenient = push(&officer, "/v1/policies", guest("tenant-context")).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256", "policy": strict })).unwrap();
    let context = json!({ "tenant": "acme" });
    let ciphertext = encrypt(&scene.user(), &key, b"ledger", &context).expect("encrypt");
    expect_api_error(
        decrypt(&scene.user(), &ciphertext, &context),
        403,
        "AccessDenied",
    );

    scene.tamper(
        "UPDATE keys SET policy = ?1 WHERE id = ?2",
        [lenient.as_str(), &key],
    );
    let result = decrypt(&scene.user(), &ciphertext, &context);
    scene.assert_refused(result, &key, "a lenient policy bound in the row");

    scene.tamper("UPDATE keys SET policy = NULL WHERE id = ?1", [&key]);
    let result = decrypt(&scene.user(), &ciphertext, &context);
    scene.assert_refused(result, &key, "the binding cleared in the row");
    let result = describe(&scene.officer(), &key);
    scene.assert_refused(result, &key, "describe of the edited key");
}

#[test]
fn a_policy_bound_in_the_store_file_is_refused_as_tampering() {
    bind_a_lenient_policy(TestServer::start_soft().expect("server"));
}

/// The same with the record key on SoftHSM2, through PKCS#11 (`CKM_SHA384_HMAC`).
#[test]
fn a_policy_bound_in_the_store_file_is_refused_with_the_record_key_on_softhsm() {
    let hsm = SoftHsm::create("kastell-records").expect("softhsm");
    bind_a_lenient_policy(
        TestServer::start(&Setup::softhsm(&hsm).expect("setup")).expect("server"),
    );
}

/// (b) The attacker adds a guest's hash to the key's `allowed-guests` tag in the row.
#[test]
fn a_guest_tagged_into_allowed_guests_in_the_store_file_is_refused() {
    let mut scene = Scene::new(TestServer::start_soft().expect("server"));
    let officer = scene.officer();
    let strict = push(&officer, "/v1/policies", guest("allow-measured")).unwrap();
    let key = create_key(
        &officer,
        &json!({ "spec": "AES_256", "policy": strict,
                 "tags": { "allowed-guests": "sha384:00" } }),
    )
    .unwrap();
    encrypt_value(&scene.user(), &key).expect("usable before the attack");
    let own_guest = format!("sha384:{}", "ab".repeat(48));
    let tags = json!({ "allowed-guests": format!("sha384:00,{own_guest}") }).to_string();
    scene.tamper(
        "UPDATE keys SET tags = ?1 WHERE id = ?2",
        [tags.as_str(), &key],
    );
    let result = encrypt_value(&scene.user(), &key);
    scene.assert_refused(result, &key, "a guest tagged in the row");
    let result = describe(&scene.officer(), &key);
    scene.assert_refused(result, &key, "describe shows no forged tags");
}

/// (c) A disabled key is re-enabled in the row; (d) a scheduled deletion is cancelled in
/// the row, and another key's deletion date is moved into the past (which would have the
/// start-up sweep destroy it): the edited keys are refused, the sweep destroys nothing on
/// an edited record's word.
#[test]
fn re_enabling_or_moving_a_deletion_in_the_store_file_is_refused() {
    let mut scene = Scene::new(TestServer::start_soft().expect("server"));
    let officer = scene.officer();
    let disabled = create_key(&officer, &json!({ "spec": "AES_256" })).unwrap();
    let doomed = create_key(&officer, &json!({ "spec": "AES_256" })).unwrap();
    let moved = create_key(&officer, &json!({ "spec": "AES_256" })).unwrap();
    let untouched = create_key(&officer, &json!({ "spec": "AES_256" })).unwrap();
    officer
        .post::<Value>(&format!("/v1/keys/{disabled}/disable"), &json!({}))
        .expect("disable");
    for key in [&doomed, &moved] {
        officer
            .post::<Value>(
                &format!("/v1/keys/{key}/schedule-deletion"),
                &json!({ "days": 30 }),
            )
            .expect("schedule deletion");
    }
    expect_api_error(encrypt_value(&scene.user(), &disabled), 409, "Disabled");

    scene.tamper(
        "UPDATE keys SET state = 'enabled' WHERE id = ?1",
        [&disabled],
    );
    let result = encrypt_value(&scene.user(), &disabled);
    scene.assert_refused(result, &disabled, "re-enabled in the row");

    scene.tamper(
        "UPDATE keys SET state = 'enabled', delete_at = NULL WHERE id = ?1",
        [&doomed],
    );
    let result = encrypt_value(&scene.user(), &doomed);
    scene.assert_refused(result, &doomed, "deletion cancelled in the row");

    scene.tamper("UPDATE keys SET delete_at = 1 WHERE id = ?1", [&moved]);
    // The start-up sweep found it due, refused the record (audited) and destroyed nothing.
    let state: String = Connection::open(scene.db())
        .unwrap()
        .query_row("SELECT state FROM keys WHERE id = ?1", [&moved], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        state, "pending-deletion",
        "not destroyed on an edited record"
    );
    assert!(
        !scene.refusals(&moved).is_empty(),
        "the sweep's refusal is audited"
    );
    let result = describe(&scene.officer(), &moved);
    scene.assert_refused(result, &moved, "deletion date moved in the row");

    encrypt_value(&scene.user(), &untouched).expect("other keys still work");
    let log = scene.server.log();
    assert!(log.contains("changed outside Kastell"), "logged: {log}");
}

/// (e) An alias used by the tenant is re-pointed in the row to another key (one whose
/// policy allows more); (f) a key's row gets another key's genuine seal (and that key's
/// policy column, so that it would read like the other key's).
#[test]
fn re_pointed_aliases_and_copied_seals_in_the_store_file_are_refused() {
    let mut scene = Scene::new(TestServer::start_soft().expect("server"));
    let officer = scene.officer();
    let strict = push(&officer, "/v1/policies", guest("allow-measured")).unwrap();
    let lenient = push(&officer, "/v1/policies", guest("tenant-context")).unwrap();
    let guarded = create_key(
        &officer,
        &json!({ "spec": "AES_256", "policy": strict, "alias": "alias/records" }),
    )
    .unwrap();
    let open = create_key(&officer, &json!({ "spec": "AES_256", "policy": lenient })).unwrap();
    encrypt_value(&scene.user(), "alias/records").expect("the alias works");

    scene.tamper(
        "UPDATE aliases SET key_id = ?1 WHERE alias = 'alias/records'",
        [&open],
    );
    let result = encrypt_value(&scene.user(), "alias/records");
    let message = expect_api_error(result, 409, "TamperDetected");
    assert!(
        message.contains("alias/records") && message.contains("changed outside Kastell"),
        "{message}"
    );
    assert!(!scene.refusals(&open).is_empty(), "audited, naming the key");
    let result = describe(&scene.officer(), &open);
    scene.assert_refused(result, &open, "the other key lists the forged alias");

    scene.tamper(
        "UPDATE keys SET policy = ?1, seal = (SELECT seal FROM keys WHERE id = ?2) WHERE id = ?3",
        [lenient.as_str(), &open, &guarded],
    );
    let result = encrypt_value(&scene.user(), &guarded);
    scene.assert_refused(result, &guarded, "another key's seal");
    encrypt_value(&scene.user(), &open).expect("the key whose seal was copied still works");
}

/// Opens the soft token of `server`'s deployment with its passphrase, as the host would.
fn soft_token_of(server: &TestServer) -> SoftToken {
    let data_dir = server.deployment().data_dir();
    let passphrase = std::fs::read_to_string(data_dir.join("soft-token.secret")).unwrap();
    SoftToken::open(
        &data_dir.join(SOFT_TOKEN_FILE),
        &SecretString::from(passphrase.trim().to_owned()),
    )
    .expect("the token file opens")
}

/// Makes `db` look like a store of Kastell before seals (schema 13: no seal columns, no usage
/// column, no rotation columns).
fn downgrade(db: &Path) {
    Connection::open(db)
        .unwrap()
        .execute_batch(
            "DROP INDEX keys_rotation_due; ALTER TABLE keys DROP COLUMN next_rotation;
             ALTER TABLE keys DROP COLUMN rotation_period_days;
             ALTER TABLE key_versions DROP COLUMN automatic;
             ALTER TABLE keys DROP COLUMN seal; ALTER TABLE aliases DROP COLUMN seal;
             ALTER TABLE keys DROP COLUMN usage; ALTER TABLE keys DROP COLUMN key_policy;
             ALTER TABLE keys DROP COLUMN grants; DROP INDEX keys_with_materials;
             ALTER TABLE keys DROP COLUMN materials; DROP INDEX keys_material_expiry;
             ALTER TABLE keys DROP COLUMN material_expires;
             ALTER TABLE keys DROP COLUMN material_id;
             PRAGMA user_version = 13;",
        )
        .expect("downgrade");
}

/// (g) A deployment of a Kastell from before seals: its rows carry none, its token no
/// record key. The first start seals every row once, audited with the count, and the keys
/// work; a row whose seal is removed afterwards is refused like a wrong seal, and so is an
/// edit made after the upgrade. Only the token (the record key's absence) triggers the
/// sealing: removing seals from the store does not bring it back.
#[test]
fn a_store_from_before_seals_is_sealed_once_at_the_first_start_and_holds_afterwards() {
    let mut scene = Scene::new(TestServer::start_soft().expect("server"));
    let officer = scene.officer();
    let first = create_key(
        &officer,
        &json!({ "spec": "AES_256", "alias": "alias/old" }),
    )
    .unwrap();
    let second = create_key(&officer, &json!({ "spec": "AES_256" })).unwrap();
    let ciphertext = encrypt(&scene.user(), "alias/old", b"ledger", &json!({})).unwrap();

    scene.server.stop().expect("stop");
    downgrade(&scene.db());
    let token = soft_token_of(&scene.server);
    let label = ServiceKeys::default().record_mac;
    token.destroy(&label).expect("a token from before seals");
    assert!(!token.contains(&label).unwrap());
    drop(token);
    scene.server.resume().expect("the upgraded server starts");

    let page: Value = scene.auditor().get("/v1/audit?limit=1000").expect("audit");
    let sealings: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "seal-key-records")
        .collect();
    assert_eq!(sealings.len(), 1, "{sealings:#?}");
    assert_eq!(sealings[0]["principal"], "kastell");
    assert!(
        sealings[0]["reason"]
            .as_str()
            .unwrap()
            .contains("sealed 2 key records and 1 aliases"),
        "{sealings:#?}"
    );
    let plaintext =
        decrypt(&scene.user(), &ciphertext, &json!({})).expect("decrypts after the upgrade");
    assert_eq!(plaintext["plaintext"], b64(b"ledger"));
    encrypt_value(&scene.user(), "alias/old").expect("the alias works");
    describe(&scene.officer(), &second).expect("describe works");

    // A restart seals nothing more.
    scene.server.restart().expect("restart");
    let page: Value = scene.auditor().get("/v1/audit?limit=1000").expect("audit");
    let count = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "seal-key-records")
        .count();
    assert_eq!(count, 1, "sealed once");

    // Removing a seal (to have an edit sealed as if at the upgrade) is refused.
    scene.tamper(
        "UPDATE keys SET seal = NULL, state = 'disabled' WHERE id = ?1",
        [&second],
    );
    let result = describe(&scene.officer(), &second);
    scene.assert_refused(result, &second, "a row without a seal");
    let message = expect_api_error(encrypt_value(&scene.user(), &second), 409, "TamperDetected");
    assert!(message.contains("no seal"), "{message}");
    scene.tamper(
        "UPDATE aliases SET seal = NULL WHERE alias = 'alias/old'",
        (),
    );
    let message = expect_api_error(
        encrypt_value(&scene.user(), "alias/old"),
        409,
        "TamperDetected",
    );
    assert!(message.contains("alias/old"), "{message}");
    encrypt_value(&scene.user(), &first).expect("the key itself is untouched");
}
