//! Key records edited to reach the service's own token keys, written as the attack: someone
//! who can write the data directory (but has no PIN, passphrase or client certificate
//! beyond a crypto-user's) edits the SQLite store `kastell.db` with SQLite itself, so that a
//! key version names the root CA key, the host CA key, the master key or an audit key, or
//! queues one of them for destruction; then uses the key API as an ordinary crypto-user, or
//! waits for the next start. Every such use is refused by name (`TamperDetected`), audited,
//! and never reaches the token: the service keys are untouched and still work. On the soft
//! token, on SoftHSM2 through PKCS#11, and through the HTTPS server.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kastell_core::audit::{AuditRecord, GENESIS, Outcome, verify_chain};
use kastell_core::ca::{HOST_CA_KEY, ROOT_KEY};
use kastell_core::deployment::{Deployment, STORE_FILE, TokenChoice};
use kastell_core::keys::{Caller, KeyError, KeyRecord, KeyService, NewKey, ServiceKeys, SignInput};
use kastell_core::store::Store as _;
use kastell_core::token::{KdfCost, Pkcs11Token, Token, TokenKeyKind};
use kastell_proto::{EncryptionContext, ErrorCode, KeySpec, Origin, Role};
use kastell_tests::{key_service, softhsm_config, unique_label};
use serial_test::serial;

const DIGEST: [u8; 48] = [7; 48];

fn officer() -> Caller {
    Caller {
        id: "officer".into(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    }
}

fn user() -> Caller {
    Caller {
        id: "svc-payments".into(),
        roles: vec![Role::CryptoUser],
        tenant: None,
        evidence: None,
    }
}

fn context() -> EncryptionContext {
    EncryptionContext(BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]))
}

/// What the attacker does: opens the store file with SQLite and changes rows.
fn attacker_edits(db: &Path, sql: &str, params: impl rusqlite::Params) {
    let conn = rusqlite::Connection::open(db).expect("the store file opens");
    conn.execute(sql, params).expect("the attacker's edit");
}

/// Seals the rows of `keys` as they now are, with the deployment's record key, as if the
/// attacker held it: an edited row is otherwise refused by its seal before anything reads
/// its versions (`attack_key_records.rs`). What these tests prove is the line behind the
/// seal: a version is named on the token only by its derived label, whatever its row says.
fn seal_as_if_genuine(service: &KeyService, db: &Path, keys: &[&KeyRecord]) {
    for key in keys {
        let mut stored = service.store().key(&key.id).expect("read").expect("stored");
        stored.seal = None;
        let seal = service.record_key().seal_key(&stored).expect("seal");
        attacker_edits(
            db,
            "UPDATE keys SET seal = ?1 WHERE id = ?2",
            rusqlite::params![seal, key.id.to_string()],
        );
    }
}

fn create(service: &KeyService, spec: KeySpec, origin: Origin) -> KeyRecord {
    let new = NewKey {
        spec,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    service.create_key(&officer(), new, None).expect("create")
}

/// Asserts that `result` is a refusal named `TamperDetected`.
#[track_caller]
fn assert_tamper_detected<T: std::fmt::Debug>(result: Result<T, KeyError>, what: &str) {
    match result {
        Err(err) => assert_eq!(err.code(), ErrorCode::TamperDetected, "{what}: {err}"),
        Ok(value) => panic!("{what} went through: {value:?}"),
    }
}

/// The token objects an edited record must never reach: the deployment's CA keys and the
/// key service's own keys.
fn protected_labels(keys: &ServiceKeys) -> Vec<String> {
    vec![
        ROOT_KEY.to_owned(),
        HOST_CA_KEY.to_owned(),
        keys.master.clone(),
        keys.audit_hmac.clone(),
        keys.audit_signing.clone(),
        keys.record_mac.clone(),
    ]
}

/// Creates the CA keys on `token` when missing (as `kastell init` and `kastell ca host-key`
/// do); the labels created, to remove again from a shared token.
fn ensure_ca_keys(token: &dyn Token) -> Vec<&'static str> {
    let mut created = Vec::new();
    for label in [ROOT_KEY, HOST_CA_KEY] {
        if !token.contains(label).expect("token") {
            token.generate(label, TokenKeyKind::EcP384).expect("CA key");
            created.push(label);
        }
    }
    created
}

fn denied_naming<'a>(
    trail: &'a [AuditRecord],
    operation: &str,
    label: &str,
) -> Vec<&'a AuditRecord> {
    trail
        .iter()
        .filter(|r| {
            r.entry.operation == operation
                && r.entry.outcome == Outcome::Denied
                && r.entry.reason.contains(label)
        })
        .collect()
}

/// Token-resident keys of every spec, each version row edited to name each protected
/// label in turn: every key operation is refused as tampering; a wrapped key's row edited
/// to name another master key likewise. The protected keys are unchanged afterwards and
/// the keys work again once the rows are restored.
fn edited_versions_never_reach_the_service_keys(token: Arc<dyn Token>, keys: ServiceKeys) {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = ensure_ca_keys(&*token);
    let (service, store, _) = key_service(dir.path(), token.clone(), keys.clone(), &[]);
    let db = dir.path().join("kastell.db");
    let root_public = token.public_key(ROOT_KEY).expect("root key");
    let audit_public = token.public_key(&keys.audit_signing).expect("audit key");

    let signing = create(&service, KeySpec::EccNistP384, Origin::Token);
    let sealing = create(&service, KeySpec::Aes256, Origin::Token);
    let macing = create(&service, KeySpec::HmacSha384, Origin::Token);
    let wrapped = create(&service, KeySpec::Aes256, Origin::Wrapped);
    let [signing_id, sealing_id, macing_id, wrapped_id] =
        [&signing, &sealing, &macing, &wrapped].map(|k| k.id.to_string());
    // Before the attack, every key works.
    let signature = service
        .sign(&user(), &signing_id, SignInput::Digest(&DIGEST))
        .expect("sign")
        .der;
    let sealed = service
        .encrypt(&user(), &sealing_id, b"invoice 42", &context())
        .expect("encrypt");
    let mac = service
        .generate_mac(&user(), &macing_id, b"message")
        .expect("mac");

    for target in protected_labels(&keys) {
        for key in [&signing, &sealing, &macing] {
            attacker_edits(
                &db,
                "UPDATE key_versions SET token_label = ?1 WHERE key_id = ?2",
                [target.as_str(), &key.id.to_string()],
            );
        }
        seal_as_if_genuine(&service, &db, &[&signing, &sealing, &macing]);
        let user = user();
        let sign = service.sign(&user, &signing_id, SignInput::Digest(&DIGEST));
        assert_tamper_detected(sign, &format!("sign with {target}"));
        let verify = service.verify(&user, &signing_id, SignInput::Digest(&DIGEST), &signature);
        assert_tamper_detected(verify, &format!("verify with {target}"));
        let public = service.public_key(&user, &signing_id);
        assert_tamper_detected(public, &format!("public key of {target}"));
        let encrypt = service.encrypt(&user, &sealing_id, b"x", &context());
        assert_tamper_detected(encrypt, &format!("encrypt with {target}"));
        let decrypt = service.decrypt(&user, None, &sealed, &context());
        assert_tamper_detected(decrypt, &format!("decrypt with {target}"));
        let data_key = service.generate_data_key(&user, &sealing_id, &context(), true);
        assert_tamper_detected(data_key, &format!("data key under {target}"));
        let mac_with = service.generate_mac(&user, &macing_id, b"tenant=acme");
        assert_tamper_detected(mac_with, &format!("MAC with {target}"));
        let check = service.verify_mac(&user, &macing_id, b"message", &mac);
        assert_tamper_detected(check, &format!("MAC check with {target}"));
    }

    // A wrapped version whose row names another key as its master.
    for target in protected_labels(&keys) {
        attacker_edits(
            &db,
            "UPDATE key_versions SET master = ?1 WHERE key_id = ?2",
            [target.as_str(), &wrapped_id],
        );
        seal_as_if_genuine(&service, &db, &[&wrapped]);
        let encrypt = service.encrypt(&user(), &wrapped_id, b"x", &context());
        if target == keys.master {
            encrypt.expect("the deployment's own master key");
        } else {
            assert_tamper_detected(encrypt, &format!("unwrap under {target}"));
        }
    }

    // Each refusal is in the audit trail, naming what the record pointed at.
    let trail = store.audit_range(0, 100_000).expect("audit");
    verify_chain(&trail, 0, GENESIS).expect("the audit chain verifies");
    for target in protected_labels(&keys) {
        for operation in [
            "sign",
            "verify",
            "get-public-key",
            "encrypt",
            "decrypt",
            "generate-data-key",
            "generate-mac",
            "verify-mac",
        ] {
            assert!(
                !denied_naming(&trail, operation, &target).is_empty(),
                "no denied {operation} record names {target}"
            );
        }
    }

    // The protected keys are untouched; the keys work again with their own labels.
    assert_eq!(token.public_key(ROOT_KEY).expect("root key"), root_public);
    assert_eq!(
        token.public_key(&keys.audit_signing).expect("audit key"),
        audit_public
    );
    for label in protected_labels(&keys) {
        assert!(
            token.contains(&label).expect("token"),
            "{label} is still there"
        );
    }
    for key in [&signing, &sealing, &macing] {
        attacker_edits(
            &db,
            "UPDATE key_versions SET token_label = ?1 WHERE key_id = ?2",
            [format!("kastell-{}-v1", key.id), key.id.to_string()],
        );
    }
    attacker_edits(
        &db,
        "UPDATE key_versions SET master = ?1 WHERE key_id = ?2",
        [keys.master.as_str(), &wrapped_id],
    );
    seal_as_if_genuine(&service, &db, &[&signing, &sealing, &macing, &wrapped]);
    let signed = service
        .sign(&user(), &signing_id, SignInput::Digest(&DIGEST))
        .expect("the restored key signs");
    assert!(
        service
            .verify(
                &user(),
                &signing_id,
                SignInput::Digest(&DIGEST),
                &signed.der
            )
            .expect("verify"),
        "with its own key, not the root's"
    );
    let (_, plaintext) = service
        .decrypt(&user(), None, &sealed, &context())
        .expect("the restored key decrypts");
    assert_eq!(plaintext.expose(), b"invoice 42");
    service
        .encrypt(&user(), &wrapped_id, b"x", &context())
        .expect("the restored wrapped key encrypts");

    for label in created {
        token
            .destroy(label)
            .expect("leave the shared token as found");
    }
}

#[test]
fn edited_key_versions_never_reach_the_service_keys_on_the_soft_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = kastell_tests::soft_token(dir.path()).expect("soft token");
    edited_versions_never_reach_the_service_keys(Arc::new(token), ServiceKeys::default());
}

#[test]
#[serial(softhsm)]
fn edited_key_versions_never_reach_the_service_keys_on_softhsm() {
    let token = Pkcs11Token::open(&softhsm_config()).expect("SoftHSM2");
    // The shared test token: service keys of this test's own, the CA keys by their names.
    let keys = ServiceKeys::with_prefix(&unique_label("service"));
    edited_versions_never_reach_the_service_keys(Arc::new(token), keys);
}

/// The destruction queue edited: entries naming the master key, an audit key, the root CA
/// key and a live key's own token object. The next open destroys none of them, records
/// each refusal as tampering, and strikes it off the queue; a genuine entry (a destroyed
/// key's object) is still destroyed.
fn queued_destructions_of_service_keys_are_refused(deployment: &Deployment) {
    let service = deployment.open().expect("first open");
    let token = service.token();
    let created = ensure_ca_keys(&*token);
    let keys = ServiceKeys::default();
    let live = create(&service, KeySpec::EccNistP384, Origin::Token);
    let wrapped = create(&service, KeySpec::Aes256, Origin::Wrapped);
    let sealed = service
        .encrypt(&user(), &wrapped.id.to_string(), b"payroll", &context())
        .expect("encrypt under the master-wrapped key");
    let root_public = token.public_key(ROOT_KEY).expect("root key");
    // A key destroyed at the end of its window, whose token object a crash left behind
    // with its queue entry: the genuine case the queue exists for.
    let doomed = create(&service, KeySpec::EccNistP384, Origin::Token);
    service
        .schedule_deletion(&officer(), &doomed.id.to_string(), 7)
        .expect("schedule");
    let swept = service
        .destroy_due(kastell_core::keys::unix_now() + 8 * 86_400)
        .expect("sweep");
    assert_eq!(swept, vec![doomed.id]);
    let doomed_label = format!("kastell-{}-v1", doomed.id);
    token
        .generate(&doomed_label, TokenKeyKind::EcP384)
        .expect("the object a crash left behind");
    drop(service);

    let db = deployment.data_dir.join(STORE_FILE);
    attacker_edits(
        &db,
        "INSERT INTO token_destruction (label, key_id) VALUES (?1, ?2)",
        [doomed_label.as_str(), &doomed.id.to_string()],
    );
    let live_label = format!("kastell-{}-v1", live.id);
    let queued = [
        keys.master.as_str(),
        keys.audit_signing.as_str(),
        keys.audit_hmac.as_str(),
        ROOT_KEY,
        HOST_CA_KEY,
        live_label.as_str(),
    ];
    for label in queued {
        attacker_edits(
            &db,
            "INSERT INTO token_destruction (label, key_id) VALUES (?1, ?2)",
            [label, &live.id.to_string()],
        );
    }

    let service = deployment.open().expect("the next open still starts");
    let token = service.token();
    for label in queued {
        assert!(
            token.contains(label).expect("token"),
            "{label} was destroyed"
        );
    }
    assert!(
        !token.contains(&doomed_label).expect("token"),
        "the destroyed key's object is destroyed"
    );
    assert_eq!(token.public_key(ROOT_KEY).expect("root key"), root_public);
    let (_, plaintext) = service
        .decrypt(&user(), None, &sealed, &context())
        .expect("the master key still unwraps");
    assert_eq!(plaintext.expose(), b"payroll");
    service
        .sign(&user(), &live.id.to_string(), SignInput::Digest(&DIGEST))
        .expect("the live key still signs");

    let store = service.store();
    assert!(
        store.pending_token_destruction().expect("queue").is_empty(),
        "the refused entries are struck off the queue"
    );
    let trail = store.audit_range(0, 100_000).expect("audit");
    verify_chain(&trail, 0, GENESIS).expect("the audit chain verifies");
    for label in queued {
        let refusals = denied_naming(&trail, "destroy-key", label);
        assert_eq!(refusals.len(), 1, "one refusal naming {label}");
        assert!(
            refusals[0]
                .entry
                .reason
                .contains(ErrorCode::TamperDetected.as_str()),
            "{}",
            refusals[0].entry.reason
        );
    }
    assert!(denied_naming(&trail, "destroy-key", &doomed_label).is_empty());
    // The next open finds nothing left to report.
    drop(service);
    let service = deployment.open().expect("third open");
    let again = service.store().audit_range(0, 100_000).expect("audit");
    let refused = |trail: &[AuditRecord]| {
        trail
            .iter()
            .filter(|r| r.entry.operation == "destroy-key" && r.entry.outcome == Outcome::Denied)
            .count()
    };
    assert_eq!(refused(&again), refused(&trail));
    assert_eq!(refused(&again), queued.len());

    for label in created {
        token
            .destroy(label)
            .expect("leave the shared token as found");
    }
}

#[test]
fn queued_destructions_of_service_keys_are_refused_on_the_soft_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    queued_destructions_of_service_keys_are_refused(&Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: dir.path().to_path_buf(),
        token: TokenChoice::Soft {
            passphrase: "correct horse".to_owned().into(),
            cost: KdfCost::Interactive,
        },
    });
}

#[test]
#[serial(softhsm)]
fn queued_destructions_of_service_keys_are_refused_on_softhsm() {
    let dir = tempfile::tempdir().expect("tempdir");
    queued_destructions_of_service_keys_are_refused(&Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: dir.path().to_path_buf(),
        token: TokenChoice::Pkcs11(softhsm_config()),
    });
}

/// The same attack on a running server: a crypto-user's signature request for a key whose
/// version row now names the root CA key (or the host CA, master or audit signing key) is
/// answered 409 `TamperDetected` once the server reads the row again (it holds the record
/// it verified until the store's change counter moves, within `[store] change_check_ms`), and so is its public key (the edited row no longer
/// matches its seal, so it is refused before its versions are read); the root still
/// certifies clients afterwards.
#[test]
fn through_the_server_a_key_edited_to_name_the_root_ca_key_is_refused() {
    use base64::Engine as _;
    use kastell_tests::server::{TestServer, expect_api_error};
    use serde_json::{Value, json};

    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let user = server
        .client(&server.issue_client("signer", "crypto-user", None).unwrap())
        .unwrap();
    let key: Value = officer
        .post(
            "/v1/keys",
            &json!({ "spec": "ECC_NIST_P384", "origin": "token" }),
        )
        .expect("key created");
    let id = key["id"].as_str().expect("key id").to_owned();
    let digest = base64::engine::general_purpose::STANDARD.encode(DIGEST);
    let sign = || user.post::<Value>(&format!("/v1/keys/{id}/sign"), &json!({ "digest": digest }));
    sign().expect("the key signs before the attack");

    let db = server.deployment().data_dir().join(STORE_FILE);
    let keys = ServiceKeys::default();
    for target in [
        ROOT_KEY,
        HOST_CA_KEY,
        &keys.master,
        &keys.audit_signing,
        &keys.artifact_mac,
        &keys.record_mac,
    ] {
        attacker_edits(
            &db,
            "UPDATE key_versions SET token_label = ?1 WHERE key_id = ?2",
            [target, id.as_str()],
        );
        // The server holds the record it verified (and keeps using it: the edit is not
        // applied) until the store's change counter tells it the store changed; the
        // attacker moves the counter so that the edited row is read.
        attacker_edits(&db, "UPDATE kastell_changes SET seq = seq + 1", []);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let refused = loop {
            match sign() {
                Ok(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other,
            }
        };
        let message = expect_api_error(refused, 409, "TamperDetected");
        assert!(
            message.contains(&id) && message.contains("changed outside Kastell"),
            "{target}: {message}"
        );
        expect_api_error(
            user.get::<Value>(&format!("/v1/keys/{id}/public-key")),
            409,
            "TamperDetected",
        );
    }
    server
        .issue_client("after", "crypto-user", None)
        .expect("the root CA key still certifies clients");
}
