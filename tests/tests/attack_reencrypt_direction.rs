//! Attacks on re-encrypt's direction (issue 16, point 5), through the real server: a
//! caller who may not decrypt under a key tries to move its ciphertext out, by
//! re-encrypting it to a key the caller may decrypt under. The source key's policy is asked
//! `re-encrypt-from` and the destination's `re-encrypt-to`, each request naming the other
//! key; both must allow, before anything is decrypted. A policy of the old contract
//! (kastell:runtime@0.1.0, one `re-encrypt` for both keys) is asked `decrypt` too for the
//! source side.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use base64::Engine as _;
use kastell::client::{Client, RemoteError};
use kastell_tests::server::{TestServer, expect_api_error};
use serde_json::{Value, json};

const SECRET: &[u8] = b"the ledger's master secret";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn context() -> Value {
    json!({ "tenant": "acme" })
}

/// A deployment with a crypto-user of tenant `acme`, an officer and an auditor.
struct Setup {
    server: TestServer,
    officer: Client,
    user: Client,
    auditor: Client,
    /// The user's and the auditor's client profiles.
    profiles: [std::path::PathBuf; 2],
}

impl Setup {
    fn start() -> Self {
        let server = TestServer::start_soft().expect("server starts");
        let officer = server.client(&server.officer()).expect("officer");
        let profiles = [
            server
                .issue_client("svc-acme", "crypto-user", Some("acme"))
                .expect("user"),
            server
                .issue_client("audit", "auditor", None)
                .expect("auditor"),
        ];
        let user = server.client(&profiles[0]).expect("user client");
        let auditor = server.client(&profiles[1]).expect("auditor client");
        Self {
            server,
            officer,
            user,
            auditor,
            profiles,
        }
    }

    /// Restarts the server (on a new port) and connects the clients again.
    fn restart(&mut self) {
        self.server.restart().expect("server restarts");
        self.officer = self.server.client(&self.server.officer()).expect("officer");
        self.user = self.server.client(&self.profiles[0]).expect("user");
        self.auditor = self.server.client(&self.profiles[1]).expect("auditor");
    }

    /// An AES key bound to the built guest `policy`.
    fn key(&self, policy: &str) -> String {
        self.key_and_policy(policy).0
    }

    /// An AES key bound to the built guest `policy`, and the policy's measurement
    /// (`sha384:<hex>`).
    fn key_and_policy(&self, policy: &str) -> (String, String) {
        let stored: Value = self
            .officer
            .post_bytes(
                "/v1/policies",
                "application/wasm",
                kastell_tests::guest(policy),
            )
            .expect("policy stored");
        let key: Value = self
            .officer
            .post(
                "/v1/keys",
                &json!({ "spec": "AES_256", "policy": stored["measurement"] }),
            )
            .expect("key created");
        let measurement = stored["measurement"].as_str().expect("measurement");
        (
            key["id"].as_str().expect("key id").to_owned(),
            measurement.to_owned(),
        )
    }

    fn encrypt(&self, key: &str) -> String {
        let out: Value = self
            .user
            .post(
                &format!("/v1/keys/{key}/encrypt"),
                &json!({ "plaintext": b64(SECRET), "context": context() }),
            )
            .expect("the key's policy allows encrypt");
        out["ciphertext"].as_str().expect("ciphertext").to_owned()
    }

    fn decrypt(&self, ciphertext: &str) -> Result<Value, RemoteError> {
        self.user.post(
            "/v1/decrypt",
            &json!({ "ciphertext": ciphertext, "context": context() }),
        )
    }

    fn re_encrypt(&self, ciphertext: &str, destination: &str) -> Result<Value, RemoteError> {
        self.user.post(
            "/v1/re-encrypt",
            &json!({ "ciphertext": ciphertext, "context": context(), "destination": destination }),
        )
    }

    /// The audit records written after record `after`.
    fn records_after(&self, after: u64) -> Vec<Value> {
        let page: Value = self
            .auditor
            .get(&format!("/v1/audit?after={after}&limit=1000"))
            .expect("audit page");
        page["records"].as_array().expect("records").clone()
    }

    /// The sequence number of the last audit record.
    fn last_seq(&self) -> u64 {
        let report: Value = self
            .auditor
            .post("/v1/audit/verify", &json!({}))
            .expect("audit verified");
        assert_eq!(report["intact"], true, "{report}");
        report["records"].as_u64().expect("record count")
    }
}

/// The (operation, key, outcome) of each key-operation record among `records`.
fn steps(records: &[Value]) -> Vec<(String, String, String)> {
    records
        .iter()
        .filter(|r| {
            r["operation"]
                .as_str()
                .is_some_and(|op| op.starts_with("re-encrypt"))
        })
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_owned(),
                r["key"].as_str().unwrap_or("").to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Key `vault` is write-only to the caller (its policy denies `decrypt` and
/// `re-encrypt-from`); key `open` lets the caller decrypt. Re-encrypting a vault
/// ciphertext to `open` is refused by the vault's policy, whose reason names the
/// destination it saw; `open`'s policy is never asked and nothing is decrypted or
/// encrypted.
#[test]
fn re_encrypting_out_of_a_key_whose_policy_denies_decrypt_is_refused_by_that_policy() {
    let setup = Setup::start();
    let vault = setup.key("write-only");
    let open = setup.key("tenant-context");
    let sealed = setup.encrypt(&vault);
    expect_api_error(setup.decrypt(&sealed), 403, "AccessDenied");

    let before = setup.last_seq();
    expect_api_error(setup.re_encrypt(&sealed, &open), 403, "AccessDenied");
    let records = setup.records_after(before);
    assert_eq!(
        steps(&records),
        vec![(
            "re-encrypt-from".to_owned(),
            vault.clone(),
            "denied".to_owned()
        )],
        "only the source's refusal is recorded: {records:#?}"
    );
    let refusal = records
        .iter()
        .find(|r| r["operation"] == "re-encrypt-from")
        .unwrap();
    assert_eq!(
        refusal["reason"].as_str().unwrap(),
        format!("write-only: nothing leaves this key (re-encrypt-from to {open})"),
        "the vault's policy decided, and saw the destination"
    );

    // The vault's ciphertext is still only the vault's: nothing was re-encrypted.
    expect_api_error(setup.decrypt(&sealed), 403, "AccessDenied");
}

/// The allowed direction works: a ciphertext of `open` (whose policy allows
/// `re-encrypt-from`) moves into the write-only vault (whose policy allows
/// `re-encrypt-to`), and between two keys the caller may decrypt under it decrypts to the
/// same plaintext. A destination whose policy denies `re-encrypt-to` refuses before
/// anything is decrypted.
#[test]
fn re_encrypt_needs_re_encrypt_from_on_the_source_and_re_encrypt_to_on_the_destination() {
    let setup = Setup::start();
    let vault = setup.key("write-only");
    let open = setup.key("tenant-context");
    let other = setup.key("tenant-context");
    let signing_only = setup.key("office-hours");
    let readable = setup.encrypt(&open);

    let before = setup.last_seq();
    let moved = setup.re_encrypt(&readable, &vault).expect("moved in");
    assert_eq!(
        steps(&setup.records_after(before)),
        vec![
            (
                "re-encrypt-from".to_owned(),
                open.clone(),
                "allowed".to_owned()
            ),
            (
                "re-encrypt-to".to_owned(),
                vault.clone(),
                "allowed".to_owned()
            ),
        ]
    );
    let moved = moved["ciphertext"].as_str().unwrap();
    expect_api_error(setup.decrypt(moved), 403, "AccessDenied");

    let copied = setup.re_encrypt(&readable, &other).expect("re-encrypted");
    let copied = copied["ciphertext"].as_str().unwrap();
    assert_ne!(copied, readable);
    let plaintext = setup
        .decrypt(copied)
        .expect("decrypts under the destination");
    assert_eq!(plaintext["plaintext"], b64(SECRET));

    let before = setup.last_seq();
    expect_api_error(
        setup.re_encrypt(&readable, &signing_only),
        403,
        "AccessDenied",
    );
    let records = setup.records_after(before);
    assert_eq!(
        steps(&records),
        vec![(
            "re-encrypt-to".to_owned(),
            signing_only.clone(),
            "denied".to_owned()
        )],
        "the destination refused and nothing was decrypted: {records:#?}"
    );
    assert!(
        records.iter().any(|r| r["reason"]
            .as_str()
            .is_some_and(|why| why.contains("office-hours permits only"))),
        "{records:#?}"
    );
}

/// A policy built against the old contract, which denies `decrypt` and allows everything
/// else (`re-encrypt` included), is asked `decrypt` too when its key is the source of a
/// re-encrypt: the ciphertext stays in. As a destination it is asked `re-encrypt`, as
/// before.
#[test]
fn an_old_contract_policy_that_denies_decrypt_also_blocks_re_encrypt_from() {
    let setup = Setup::start();
    let legacy = setup.key("legacy-write-only");
    let open = setup.key("tenant-context");
    let sealed = setup.encrypt(&legacy);
    expect_api_error(setup.decrypt(&sealed), 403, "AccessDenied");

    let before = setup.last_seq();
    expect_api_error(setup.re_encrypt(&sealed, &open), 403, "AccessDenied");
    let records = setup.records_after(before);
    assert_eq!(
        steps(&records),
        vec![(
            "re-encrypt-from".to_owned(),
            legacy.clone(),
            "denied".to_owned()
        )],
        "{records:#?}"
    );
    assert_eq!(
        records
            .iter()
            .find(|r| r["operation"] == "re-encrypt-from")
            .unwrap()["reason"],
        "kastell:runtime@0.1.0 policy asked `decrypt` for `re-encrypt-from`: \
         legacy write-only: decrypt denied"
    );

    let readable = setup.encrypt(&open);
    setup
        .re_encrypt(&readable, &legacy)
        .expect("an old policy that allows re-encrypt accepts ciphertexts moved in");
}

/// Through the server, a workload built against the old contract is refused at upload
/// (400 `InvalidWorkload`), naming its version and the fix, rather than loaded with host
/// imports that would only trap.
#[test]
fn an_old_contract_workload_is_refused_at_upload_naming_its_version() {
    let setup = Setup::start();
    let message = expect_api_error(
        setup.officer.post_bytes::<Value>(
            "/v1/workloads",
            "application/wasm",
            kastell_tests::guest("legacy-workload"),
        ),
        400,
        "InvalidWorkload",
    );
    assert!(
        message.contains("built against kastell:runtime@0.1.0")
            && message.contains("rebuild it against kastell:runtime@0.2.0"),
        "{message}"
    );
}

/// A key whose bound policy no longer loads (its stored bytes damaged, then the server
/// restarted) denies every operation, those its policy allowed included: re-encrypting into
/// it and encrypting under it are refused, with "policy unavailable" in the audit trail.
#[test]
fn a_key_whose_policy_cannot_load_denies_every_operation() {
    let mut setup = Setup::start();
    let (vault, measurement) = setup.key_and_policy("write-only");
    let open = setup.key("tenant-context");
    let readable = setup.encrypt(&open);
    setup.encrypt(&vault);

    // The policy's bytes are a row of the store (content-addressed by their SHA-384).
    let hex = measurement.strip_prefix("sha384:").expect("sha384: prefix");
    let db = setup.server.deployment().data_dir().join("kastell.db");
    let conn = rusqlite::Connection::open(&db).expect("the store");
    let mut bytes: Vec<u8> = conn
        .query_row(
            "SELECT bytes FROM components WHERE kind = 'policy' AND measurement = ?1",
            [hex],
            |row| row.get(0),
        )
        .expect("stored policy");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    conn.execute(
        "UPDATE components SET bytes = ?1 WHERE kind = 'policy' AND measurement = ?2",
        rusqlite::params![bytes, hex],
    )
    .expect("damaged");
    drop(conn);
    setup.restart();

    let before = setup.last_seq();
    expect_api_error(setup.re_encrypt(&readable, &vault), 403, "AccessDenied");
    expect_api_error(
        setup.user.post::<Value>(
            &format!("/v1/keys/{vault}/encrypt"),
            &json!({ "plaintext": b64(SECRET), "context": context() }),
        ),
        403,
        "AccessDenied",
    );
    let records = setup.records_after(before);
    let unavailable = records
        .iter()
        .filter(|r| {
            r["key"] == vault.as_str()
                && r["outcome"] == "denied"
                && r["reason"]
                    .as_str()
                    .is_some_and(|why| why.starts_with("policy unavailable"))
        })
        .count();
    assert_eq!(unavailable, 2, "{records:#?}");
}
