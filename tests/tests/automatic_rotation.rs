//! Automatic rotation in the key service (AWS KMS's `EnableKeyRotation`, issue 18): a key's
//! schedule is stored with its record (schema v16) and sealed with it; the host's sweep
//! (`rotate_due`) rotates enabled keys whose period has run, as the host, and moves the
//! schedule on; a disabled key waits until it is enabled again; only `AES_256` keys take a
//! schedule; and someone who edits the store to move, clear or fake a schedule gets the
//! key refused as `TamperDetected`, never a rotation it was not due. Also AWS's alias
//! operations (create, update, delete, list) on the same store.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kastell_core::keys::{Caller, KeyError, KeyService, NewKey, ServiceKeys, unix_now};
use kastell_core::token::Token;
use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use kastell_tests::{key_service, soft_token, unique_label};

const DAY: i64 = 86_400;

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
        id: "svc".into(),
        roles: vec![Role::CryptoUser],
        tenant: None,
        evidence: None,
    }
}

fn service(dir: &Path) -> KeyService {
    let token: Arc<dyn Token> = Arc::new(soft_token(dir).unwrap());
    key_service(
        dir,
        token,
        ServiceKeys::with_prefix(&unique_label("rot")),
        &[],
    )
    .0
}

fn create(service: &KeyService, spec: KeySpec) -> String {
    let new = NewKey {
        spec,
        usage: None,
        origin: Origin::Wrapped,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    service
        .create_key(&officer(), new, None)
        .unwrap()
        .id
        .to_string()
}

/// What the attacker does: opens the store file with SQLite and changes rows.
fn attacker_edits(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).expect("the store file opens");
    conn.execute(sql, []).expect("the attacker's edit");
}

#[test]
fn due_keys_are_rotated_by_the_host_and_the_schedule_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let key = create(&service, KeySpec::Aes256);
    let context = EncryptionContext::default();
    let before = service.encrypt(&user(), &key, b"before", &context).unwrap();

    let now = unix_now();
    let record = service.set_rotation(&officer(), &key, Some(90)).unwrap();
    let schedule = record.rotation.expect("on");
    assert_eq!(schedule.period_days, 90);
    assert!(
        (schedule.next_at - (now + 90 * DAY)).abs() <= 5,
        "{schedule:?}"
    );
    // The same period again keeps the schedule; another one counts from the last rotation.
    let again = service.set_rotation(&officer(), &key, Some(90)).unwrap();
    assert_eq!(again.rotation, Some(schedule));

    assert!(
        service.rotate_due(now + 89 * DAY).unwrap().is_empty(),
        "not due yet"
    );
    let rotated = service.rotate_due(schedule.next_at).unwrap();
    assert_eq!(rotated.len(), 1);
    let described = service.describe_key(&officer(), &key).unwrap();
    assert_eq!(described.current_version, 2);
    assert!(described.versions[1].automatic && !described.versions[0].automatic);
    let moved = described.rotation.expect("still on");
    assert_eq!(moved.period_days, 90);
    assert!(
        service.rotate_due(schedule.next_at).unwrap().is_empty(),
        "rotated once per period"
    );
    // The old version still decrypts; new ciphertexts use version 2.
    let (_, plaintext) = service.decrypt(&user(), None, &before, &context).unwrap();
    assert_eq!(plaintext.expose(), b"before");

    // Disabled keys wait; enabled again and overdue, they are rotated at the next sweep,
    // the schedule restarting from then.
    service.set_enabled(&officer(), &key, false).unwrap();
    let later = schedule.next_at + 200 * DAY;
    assert!(
        service.rotate_due(later).unwrap().is_empty(),
        "disabled keys wait"
    );
    service.set_enabled(&officer(), &key, true).unwrap();
    assert_eq!(service.rotate_due(later).unwrap().len(), 1);
    let after = service.describe_key(&officer(), &key).unwrap();
    assert_eq!(after.current_version, 3);

    // An on-demand rotation leaves the schedule as it was, and is not automatic.
    let schedule = service
        .set_rotation(&officer(), &key, Some(365))
        .unwrap()
        .rotation;
    let record = service.rotate(&officer(), &key).unwrap();
    assert_eq!(record.rotation, schedule);
    assert!(!record.versions.last().unwrap().automatic);

    // Off: the sweep leaves it alone for good.
    service.set_rotation(&officer(), &key, None).unwrap();
    assert!(service.rotate_due(i64::MAX / 2).unwrap().is_empty());
}

#[test]
fn schedules_are_refused_by_name_for_what_aws_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let aes = create(&service, KeySpec::Aes256);
    let hmac = create(&service, KeySpec::HmacSha384);
    assert!(matches!(
        service.set_rotation(&officer(), &aes, Some(89)),
        Err(KeyError::InvalidInput(why)) if why.contains("90 to 2560 days, not 89")
    ));
    assert!(matches!(
        service.set_rotation(&officer(), &aes, Some(2561)),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.set_rotation(&officer(), &hmac, Some(365)),
        Err(KeyError::UnsupportedSpec(why)) if why.contains("AES_256")
    ));
    assert!(matches!(
        service.set_rotation(&user(), &aes, Some(365)),
        Err(KeyError::AccessDenied)
    ));
    service.set_enabled(&officer(), &aes, false).unwrap();
    assert!(matches!(
        service.set_rotation(&officer(), &aes, Some(365)),
        Err(KeyError::Disabled(_))
    ));
    service.set_enabled(&officer(), &aes, true).unwrap();
    service.schedule_deletion(&officer(), &aes, 7).unwrap();
    assert!(matches!(
        service.set_rotation(&officer(), &aes, Some(365)),
        Err(KeyError::InvalidState(_))
    ));
}

#[test]
fn a_schedule_edited_in_the_store_is_refused_as_tampering_and_never_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kastell.db");
    let service = service(dir.path());
    let key = create(&service, KeySpec::Aes256);
    service.set_rotation(&officer(), &key, Some(365)).unwrap();

    // Pulled forward to force a rotation now: the sweep reads the key, its seal fails, and
    // it is left as it was (the refusal audited).
    attacker_edits(
        &db,
        &format!("UPDATE keys SET next_rotation = 1 WHERE id = '{key}'"),
    );
    assert!(service.rotate_due(unix_now()).unwrap().is_empty());
    assert!(matches!(
        service.describe_key(&officer(), &key),
        Err(KeyError::TamperDetected(_))
    ));
    let trail = service.store().audit_range(0, 10_000).unwrap();
    assert!(
        trail
            .iter()
            .any(|r| r.entry.operation == "verify-key-record"
                && r.entry.reason.contains("changed outside Kastell")),
        "the refusal is audited"
    );

    // Cleared, to stop rotation without the officers knowing: refused the same way.
    let other = create(&service, KeySpec::Aes256);
    service.set_rotation(&officer(), &other, Some(365)).unwrap();
    attacker_edits(
        &db,
        &format!(
            "UPDATE keys SET rotation_period_days = NULL, next_rotation = NULL WHERE id = '{other}'"
        ),
    );
    assert!(matches!(
        service.describe_key(&officer(), &other),
        Err(KeyError::TamperDetected(_))
    ));

    // A version marked automatic that was not.
    let third = create(&service, KeySpec::Aes256);
    attacker_edits(
        &db,
        &format!("UPDATE key_versions SET automatic = 1 WHERE key_id = '{third}'"),
    );
    assert!(matches!(
        service.describe_key(&officer(), &third),
        Err(KeyError::TamperDetected(_))
    ));
}

#[test]
fn aliases_are_created_updated_deleted_and_listed_as_aws_does() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path());
    let (a, b) = (
        create(&service, KeySpec::Aes256),
        create(&service, KeySpec::Aes256),
    );
    let hmac = create(&service, KeySpec::HmacSha384);
    service.create_alias(&officer(), "alias/app", &a).unwrap();
    assert!(matches!(
        service.create_alias(&officer(), "alias/app", &b),
        Err(KeyError::AlreadyExists(_))
    ));
    service.update_alias(&officer(), "alias/app", &b).unwrap();
    assert_eq!(service.key_id("alias/app").unwrap().to_string(), b);
    assert!(matches!(
        service.update_alias(&officer(), "alias/app", &hmac),
        Err(KeyError::InvalidInput(why)) if why.contains("symmetric ENCRYPT_DECRYPT")
    ));
    assert!(matches!(
        service.update_alias(&officer(), "alias/none", &a),
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        service.delete_alias(&user(), "alias/app"),
        Err(KeyError::AccessDenied)
    ));
    for i in 0..3 {
        service
            .create_alias(&officer(), &format!("alias/more-{i}"), &a)
            .unwrap();
    }
    let names = |page: Vec<(kastell_core::keys::Alias, kastell_proto::KeyId)>| -> Vec<String> {
        page.into_iter()
            .map(|(alias, _)| alias.to_string())
            .collect()
    };
    assert_eq!(
        names(service.list_aliases(&user(), None, None, 10).unwrap()),
        ["alias/app", "alias/more-0", "alias/more-1", "alias/more-2"]
    );
    let after = "alias/more-0".parse().unwrap();
    assert_eq!(
        names(
            service
                .list_aliases(&user(), None, Some(&after), 1)
                .unwrap()
        ),
        ["alias/more-1"]
    );
    assert_eq!(
        names(service.list_aliases(&user(), Some(&b), None, 10).unwrap()),
        ["alias/app"]
    );
    assert_eq!(
        service
            .delete_alias(&officer(), "alias/app")
            .unwrap()
            .to_string(),
        b
    );
    assert!(matches!(
        service.delete_alias(&officer(), "alias/app"),
        Err(KeyError::NotFound(_))
    ));
    // A key pending deletion cannot be named.
    service.schedule_deletion(&officer(), &b, 7).unwrap();
    assert!(matches!(
        service.create_alias(&officer(), "alias/doomed", &b),
        Err(KeyError::InvalidState(_))
    ));
}
