//! The store, on every backend this machine runs (a SQLite file, and a PostgreSQL database
//! of its own when `KASTELL_TEST_POSTGRES_URL` is set; required under CI): keys, versions
//! and aliases persist across reopening; every multi-row change is atomic; damaged rows and
//! foreign or newer files are refused by name. The migrations from older SQLite schemas
//! are SQLite's own.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};
use std::collections::BTreeMap;

use kastell_attest::Measurement;
use kastell_core::keys::{Alias, AliasRow, KeyRecord, KeyState, KeyVersion, Material, token_label};
use kastell_core::store::testing::{Backend, TestStore, test_stores};
use kastell_core::store::{QueuedTokenObject, SqliteStore, Store, StoreError};

fn alias(name: &str) -> Alias {
    name.parse().expect("alias")
}

fn record(spec: KeySpec) -> KeyRecord {
    KeyRecord {
        id: KeyId::random(),
        spec,
        usage: KeyUsage::of(spec),
        origin: Origin::Wrapped,
        state: KeyState::Enabled,
        description: "payments".into(),
        tags: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
        policy: Some(Measurement::of(b"policy")),
        created: 1_764_064_800,
        min_decrypt_version: 1,
        versions: vec![KeyVersion {
            number: 1,
            created: 1_764_064_800,
            material: Material::Wrapped {
                master: "kastell-master-1".into(),
                wrapped: vec![7; 40],
            },
            automatic: false,
        }],
        releasable: false,
        revision: 0,
        seal: None,
        rotation: None,
        key_policy: None,
        grants: Vec::new(),
        imported: None,
        materials: Vec::new(),
    }
}

#[test]
fn keys_versions_and_aliases_survive_reopening() {
    for test in test_stores() {
        keys_versions_and_aliases_survive_reopening_on(&test);
    }
}

fn keys_versions_and_aliases_survive_reopening_on(test: &TestStore) {
    let mut key = record(KeySpec::Aes256);
    {
        let store = test.open().expect("open");
        store
            .create_key(&key, Some(&alias("alias/payments")))
            .expect("create");
        let mut with_policy = record(KeySpec::Aes256);
        with_policy.key_policy = Some(r#"{"Version":"2012-10-17"}"#.to_owned());
        store
            .create_key(&with_policy, None)
            .expect("create with a key policy");
        assert_eq!(
            store
                .key(&with_policy.id)
                .expect("read")
                .map(|k| k.key_policy),
            Some(with_policy.key_policy.clone())
        );
        let v2 = KeyVersion {
            number: 2,
            created: 1_764_070_000,
            material: Material::Token,
            automatic: false,
        };
        store.add_version(&key.id, 0, &v2).expect("rotate");
        key.versions.push(v2);
        key.revision = 1;
        key.state = KeyState::PendingDeletion {
            delete_at: 1_765_000_000,
        };
        key.tags.insert("env".into(), "prod".into());
        key.policy = None;
        key.min_decrypt_version = 2;
        // An AWS key policy document is stored with the key (schema v18; PostgreSQL v1).
        key.key_policy = Some(r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned());
        // And its AWS grants (schema v20; PostgreSQL v3), constraints and all.
        key.grants = vec![kastell_proto::aws::grant::Grant {
            grant_id: "ab".repeat(32),
            name: Some("reader".into()),
            grantee_principal: "arn:aws:iam::111122223333:user/alice".into(),
            retiring_principal: None,
            issuing_principal: "arn:aws:iam::111122223333:user/olga".into(),
            operations: vec!["Decrypt".into()],
            constraints: Some(kastell_proto::aws::grant::GrantConstraints {
                encryption_context_equals: Some([("dept".into(), "IT".into())].into()),
                encryption_context_subset: None,
            }),
            created: 1_765_000_000,
        }];
        // Imported material (schema v21; PostgreSQL v4) and the key's materials, one
        // pending rotation with its wrapped bytes (schema v23; PostgreSQL v6).
        key.imported = Some(kastell_core::keys::ImportedMaterial {
            id: [3; 32],
            expires_at: Some(1_766_000_000),
        });
        key.materials = vec![
            kastell_core::keys::KeyMaterial {
                id: [3; 32],
                version: Some(2),
                description: Some("material A".into()),
                expires_at: Some(1_766_000_000),
                pending: None,
            },
            kastell_core::keys::KeyMaterial {
                id: [4; 32],
                version: None,
                description: None,
                expires_at: None,
                pending: Some(("kastell-master-1".into(), vec![9; 40])),
            },
        ];
        store.update_key(&key).expect("update");
        key.revision = 2;
    }
    let store = test.open().expect("reopen");
    assert_eq!(store.key(&key.id).expect("read"), Some(key.clone()));
    assert_eq!(
        store
            .resolve_alias(&alias("alias/payments"))
            .expect("resolve")
            .map(|row| row.key),
        Some(key.id)
    );
    assert_eq!(
        store.aliases(&key.id).expect("aliases"),
        vec![AliasRow {
            alias: alias("alias/payments"),
            key: key.id,
            seal: None,
        }]
    );
    assert_eq!(store.key(&KeyId::random()).expect("read"), None);
}

#[test]
fn aliases_are_unique_and_re_pointable() {
    for test in test_stores() {
        aliases_are_unique_and_re_pointable_on(&test);
    }
}

fn aliases_are_unique_and_re_pointable_on(test: &TestStore) {
    let store = test.open().expect("open");
    let (a, b) = (record(KeySpec::Aes256), record(KeySpec::EccNistP384));
    store
        .create_key(&a, Some(&alias("alias/current")))
        .expect("a");
    let err = store
        .create_key(&b, Some(&alias("alias/current")))
        .expect_err("taken");
    assert!(matches!(err, StoreError::AliasExists(_)), "{err}");
    assert_eq!(
        store.key(&b.id).expect("read"),
        None,
        "failed create left nothing behind"
    );

    store.create_key(&b, None).expect("b");
    store
        .set_alias(&alias("alias/current"), &b.id)
        .expect("re-point");
    assert_eq!(
        store
            .resolve_alias(&alias("alias/current"))
            .expect("resolve")
            .map(|row| row.key),
        Some(b.id)
    );
    assert!(store.aliases(&a.id).expect("aliases").is_empty());
    assert!(matches!(
        store.set_alias(&alias("alias/ghost"), &KeyId::random()),
        Err(StoreError::KeyNotFound(_))
    ));
    assert!(store.remove_alias(&alias("alias/current")).expect("remove"));
    assert!(!store.remove_alias(&alias("alias/current")).expect("remove"));
}

#[test]
fn duplicate_keys_and_versions_are_refused() {
    for test in test_stores() {
        duplicate_keys_and_versions_are_refused_on(&test);
    }
}

fn duplicate_keys_and_versions_are_refused_on(test: &TestStore) {
    let store = test.open().expect("open");
    let key = record(KeySpec::HmacSha384);
    store.create_key(&key, None).expect("create");
    assert!(matches!(store.create_key(&key, None), Err(StoreError::KeyExists(id)) if id == key.id));
    let again = key.versions[0].clone();
    assert!(matches!(
        store.add_version(&key.id, 0, &again),
        Err(StoreError::VersionExists { number: 1, .. })
    ));
    assert_eq!(
        store.key(&key.id).expect("read").expect("kept").revision,
        0,
        "a refused version leaves the revision as it was"
    );
    assert!(matches!(
        store.add_version(&KeyId::random(), 0, &again),
        Err(StoreError::KeyNotFound(_))
    ));
    let mut ghost = record(KeySpec::Aes256);
    ghost.description = "never stored".into();
    assert!(matches!(
        store.update_key(&ghost),
        Err(StoreError::KeyNotFound(_))
    ));
}

#[test]
fn listing_pages_through_every_key_once_in_id_order() {
    for test in test_stores() {
        listing_pages_through_every_key_once_in_id_order_on(&test);
    }
}

fn listing_pages_through_every_key_once_in_id_order_on(test: &TestStore) {
    let store = test.open().expect("open");
    let mut ids: Vec<KeyId> = (0..25)
        .map(|_| {
            let key = record(KeySpec::Aes256);
            store.create_key(&key, None).expect("create");
            key.id
        })
        .collect();
    ids.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_keys(after.as_ref(), 10).expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().map(|k| k.id);
        seen.extend(page.into_iter().map(|k| k.id));
    }
    assert_eq!(seen, ids);
}

#[test]
fn foreign_newer_or_damaged_files_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, just some text long enough to matter".repeat(20),
    )
    .expect("write");
    let err = SqliteStore::open(&text).expect_err("not sqlite");
    assert!(err.to_string().contains("store:"), "{err}");

    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).expect("sqlite");
        conn.pragma_update(None, "user_version", 99)
            .expect("pragma");
    }
    // Whatever this build's version is (it grows with migrations), 99 is newer.
    assert!(matches!(
        SqliteStore::open(&newer),
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported,
        }) if (9..99).contains(&supported)
    ));

    let edited = dir.path().join("edited.db");
    let key = record(KeySpec::Aes256);
    SqliteStore::open(&edited)
        .expect("open")
        .create_key(&key, None)
        .expect("create");
    {
        let conn = rusqlite::Connection::open(&edited).expect("sqlite");
        conn.execute("UPDATE keys SET state = 'haunted'", [])
            .expect("edit");
    }
    let err = SqliteStore::open(&edited)
        .expect("open")
        .key(&key.id)
        .expect_err("corrupt");
    assert!(
        matches!(err, StoreError::Corrupt(ref what) if what.contains("state")),
        "{err}"
    );
}

/// A row edited behind the store's back is refused by name when read; a store whose schema
/// a newer Kastell wrote is refused at open, on every backend.
#[test]
fn damaged_rows_and_newer_schemas_are_refused_by_name() {
    for test in test_stores() {
        let key = record(KeySpec::Aes256);
        test.open()
            .expect("open")
            .create_key(&key, None)
            .expect("create");
        test.sql("UPDATE keys SET state = 'haunted'").expect("edit");
        let err = test
            .open()
            .expect("open")
            .key(&key.id)
            .expect_err("corrupt");
        assert!(
            matches!(err, StoreError::Corrupt(ref what) if what.contains("state")),
            "{}: {err}",
            test.name()
        );

        test.sql(match test.backend {
            Backend::Sqlite => "PRAGMA user_version = 99",
            Backend::Postgres => "UPDATE kastell_schema SET version = 99",
        })
        .expect("a newer schema");
        let err = test.open().expect_err("newer");
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, supported } if supported < 99),
            "{}: {err}",
            test.name()
        );
    }
}

fn audit_entry(n: u32) -> kastell_core::audit::AuditEntry {
    kastell_core::audit::AuditEntry {
        time_ms: 1_764_064_800_000 + i64::from(n),
        principal: format!("svc-{n}"),
        operation: "decrypt".into(),
        key: Some(KeyId::random()),
        key_version: Some(n),
        policy: Some(Measurement::of(b"policy")),
        outcome: if n.is_multiple_of(2) {
            kastell_core::audit::Outcome::Denied
        } else {
            kastell_core::audit::Outcome::Allowed
        },
        reason: if n.is_multiple_of(2) {
            "tenant mismatch".into()
        } else {
            String::new()
        },
        context_hmac: (!n.is_multiple_of(3)).then_some([n as u8; 48]),
        guest: n.is_multiple_of(5).then(|| Measurement::of(b"guest")),
    }
}

fn verify_trail(test: &TestStore) -> Result<u64, kastell_core::audit::ChainBreak> {
    let store = test.open().expect("open");
    let records = store.audit_range(0, 1000).expect("read");
    kastell_core::audit::verify_chain(&records, 0, kastell_core::audit::GENESIS).map(|(seq, _)| seq)
}

#[test]
fn audit_trail_persists_chained_and_tampering_in_the_file_is_named() {
    for test in test_stores() {
        audit_trail_persists_chained_and_tampering_is_named_on(&test);
    }
}

fn audit_trail_persists_chained_and_tampering_is_named_on(test: &TestStore) {
    {
        let store = test.open().expect("open");
        for n in 1..=8 {
            let record = store.append_audit(audit_entry(n)).expect("append");
            assert_eq!(record.seq, u64::from(n));
            assert_eq!(record.entry, audit_entry_without_key(n, record.entry.key));
        }
        let page = store.audit_range(3, 2).expect("page");
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    }
    assert_eq!(verify_trail(test), Ok(8), "{}", test.name());

    let tamper = |sql: &str| test.sql(sql).expect("tamper");
    tamper("UPDATE audit SET outcome = 'allowed' WHERE seq = 4");
    assert_eq!(verify_trail(test).unwrap_err().seq, 4);
    tamper("UPDATE audit SET outcome = 'denied' WHERE seq = 4");
    assert_eq!(
        verify_trail(test),
        Ok(8),
        "restoring the field restores the chain"
    );

    tamper("DELETE FROM audit WHERE seq = 6");
    let err = verify_trail(test).unwrap_err();
    assert_eq!(err.seq, 7);
    assert!(err.problem.contains("expected sequence number 6"), "{err}");
}

/// `audit_entry(n)` with the random key replaced by `key`, to compare a stored entry.
fn audit_entry_without_key(n: u32, key: Option<KeyId>) -> kastell_core::audit::AuditEntry {
    kastell_core::audit::AuditEntry {
        key,
        ..audit_entry(n)
    }
}

#[test]
fn a_change_and_its_audit_record_commit_together_or_not_at_all() {
    for test in test_stores() {
        a_change_and_its_audit_record_commit_together_or_not_at_all_on(&test);
    }
}

fn a_change_and_its_audit_record_commit_together_or_not_at_all_on(test: &TestStore) {
    use kastell_core::store::Change;
    let store = test.open().expect("open");
    let first = record(KeySpec::Aes256);
    let taken = AliasRow {
        alias: alias("alias/taken"),
        key: first.id,
        seal: Some(vec![7; 48]),
    };
    store
        .apply(
            Change::CreateKey {
                key: &first,
                alias: Some(&taken),
            },
            audit_entry(1),
        )
        .expect("create with audit");
    assert_eq!(store.audit_range(0, 10).expect("audit").len(), 1);
    assert_eq!(
        store.resolve_alias(&taken.alias).expect("resolve").as_ref(),
        Some(&taken),
        "the alias's seal is stored with it"
    );

    // The alias is taken: the key is not created and no audit record is appended.
    let second = record(KeySpec::Aes256);
    let taken = AliasRow {
        key: second.id,
        ..taken
    };
    let err = store
        .apply(
            Change::CreateKey {
                key: &second,
                alias: Some(&taken),
            },
            audit_entry(2),
        )
        .expect_err("alias taken");
    assert!(matches!(err, StoreError::AliasExists(_)), "{err}");
    assert_eq!(store.key(&second.id).expect("read"), None);
    assert_eq!(store.audit_range(0, 10).expect("audit").len(), 1);

    // Destruction: state, erased material, aliases and the token queue in one step.
    let mut token_key = record(KeySpec::Aes256);
    token_key.versions[0].material = Material::Token;
    store.create_key(&token_key, None).expect("create");
    let label = token_label(&token_key.id, 1);
    let labels = vec![label.clone()];
    for key in [&first, &token_key] {
        store
            .apply(
                Change::DestroyKey {
                    id: &key.id,
                    revision: 0,
                    token_labels: if key.id == token_key.id { &labels } else { &[] },
                    seal: None,
                },
                audit_entry(3),
            )
            .expect("destroy");
    }
    let destroyed = store.key(&first.id).expect("read").expect("kept");
    assert_eq!(destroyed.state, KeyState::Destroyed);
    assert_eq!(destroyed.versions[0].material, Material::Destroyed);
    assert_eq!(store.resolve_alias(&taken.alias).expect("resolve"), None);
    assert_eq!(
        store.pending_token_destruction().expect("queue"),
        vec![QueuedTokenObject {
            label: label.clone(),
            key: token_key.id.to_string(),
        }]
    );
    store.token_object_destroyed(&label).expect("confirm");
    assert!(store.pending_token_destruction().expect("queue").is_empty());
    match test.backend {
        Backend::Sqlite => {
            let path = test.sqlite_path();
            let bytes = std::fs::read(&path).expect("db");
            let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
            assert!(
                !bytes.windows(40).any(|w| w == [7; 40]) && !wal.windows(40).any(|w| w == [7; 40]),
                "the wrapped bytes are erased from the file"
            );
        }
        Backend::Postgres => test
            .sql(
                "DO $$ BEGIN IF EXISTS (SELECT 1 FROM key_versions WHERE wrapped IS NOT NULL)
                 THEN RAISE EXCEPTION 'wrapped material kept'; END IF; END $$",
            )
            .expect("the wrapped bytes are erased from the rows"),
    }
}

/// Compare-and-set: a change decided on a copy of a key that another change has since
/// overtaken writes nothing, not even its audit record, and says so; the current copy
/// goes through.
#[test]
fn a_change_decided_on_a_stale_copy_of_a_key_writes_nothing() {
    for test in test_stores() {
        a_change_decided_on_a_stale_copy_of_a_key_writes_nothing_on(&test);
    }
}

fn a_change_decided_on_a_stale_copy_of_a_key_writes_nothing_on(test: &TestStore) {
    use kastell_core::store::Change;
    let store = test.open().expect("open");
    let key = record(KeySpec::Aes256);
    store.create_key(&key, None).expect("create");

    let mut first = key.clone();
    first.tags.insert("owner".into(), "payments".into());
    store.update_key(&first).expect("the first change");
    let now = store.key(&key.id).expect("read").expect("the key");
    assert_eq!((now.revision, &now.tags), (1, &first.tags));

    let mut stale = key.clone();
    stale.state = KeyState::Disabled;
    let v2 = KeyVersion {
        number: 2,
        created: 1_764_070_000,
        material: Material::Token,
        automatic: false,
    };
    let changes = [
        Change::UpdateKey(&stale),
        Change::AddVersion {
            id: &key.id,
            revision: 0,
            version: &v2,
            seal: None,
            rotation: None,
        },
        Change::DestroyKey {
            id: &key.id,
            revision: 0,
            token_labels: &[],
            seal: None,
        },
    ];
    for change in changes {
        let err = store
            .apply(change, audit_entry(1))
            .expect_err("a stale revision");
        assert!(
            matches!(err, StoreError::KeyChanged(id) if id == key.id),
            "{change:?}: {err}"
        );
    }
    assert!(matches!(
        store.update_key(&stale),
        Err(StoreError::KeyChanged(_))
    ));
    assert_eq!(store.key(&key.id).expect("read"), Some(now.clone()));
    assert!(store.audit_range(0, 10).expect("audit").is_empty());

    let mut current = now;
    current.state = KeyState::Disabled;
    store
        .apply(Change::UpdateKey(&current), audit_entry(2))
        .expect("the current revision");
    let after = store.key(&key.id).expect("read").expect("the key");
    assert_eq!(
        (after.state, &after.tags, after.revision),
        (KeyState::Disabled, &first.tags, 2),
        "both changes hold"
    );
}

/// What schema version 16 added (automatic rotation), taken away again with the later
/// key policy (v18), grants (v20) and imported-material (v21) columns: a store as
/// version 15 left it (the later materials column, v23, too).
const UNDO_V16: &str = "DROP INDEX keys_with_materials; ALTER TABLE keys DROP COLUMN materials;
     DROP INDEX keys_material_expiry;
     ALTER TABLE keys DROP COLUMN material_expires;
     ALTER TABLE keys DROP COLUMN material_id;
     ALTER TABLE keys DROP COLUMN grants;
     ALTER TABLE keys DROP COLUMN key_policy;
     DROP INDEX keys_rotation_due;
     ALTER TABLE keys DROP COLUMN next_rotation;
     ALTER TABLE keys DROP COLUMN rotation_period_days;
     ALTER TABLE key_versions DROP COLUMN automatic;
     PRAGMA user_version = 15;";

/// Issue 18: a store of schema version 15 has no rotation columns. Migrating adds them
/// empty: every key reads back unchanged (no automatic rotation, no automatic version), and
/// a schedule and an automatic version are stored and read from then on.
#[test]
fn a_store_from_before_automatic_rotation_migrates_and_then_keeps_schedules() {
    use kastell_core::store::Change;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kastell.db");
    let mut key = record(KeySpec::Aes256);
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_key(&key, None).expect("create");
        let v2 = KeyVersion {
            number: 2,
            created: 1_764_070_000,
            material: Material::Token,
            automatic: false,
        };
        store.add_version(&key.id, 0, &v2).expect("rotate");
        key.versions.push(v2);
        key.revision = 1;
    }
    rusqlite::Connection::open(&path)
        .expect("sqlite")
        .execute_batch(UNDO_V16)
        .expect("back to schema version 15");
    let store = SqliteStore::open(&path).expect("migrates");
    assert_eq!(store.key(&key.id).expect("read").expect("kept"), key);
    // From now on a schedule, and a version the schedule made, are kept.
    let schedule = kastell_core::keys::RotationSchedule {
        period_days: 90,
        next_at: 1_770_000_000,
    };
    key.rotation = Some(schedule);
    store.update_key(&key).expect("schedule");
    key.revision = 2;
    let v3 = KeyVersion {
        number: 3,
        created: 1_770_000_000,
        material: Material::Token,
        automatic: true,
    };
    let moved = kastell_core::keys::RotationSchedule {
        period_days: 90,
        next_at: 1_770_000_000 + 90 * 86_400,
    };
    store
        .apply(
            Change::AddVersion {
                id: &key.id,
                revision: 2,
                version: &v3,
                seal: None,
                rotation: Some(moved),
            },
            audit_entry(1),
        )
        .expect("an automatic rotation");
    key.versions.push(v3);
    key.revision = 3;
    key.rotation = Some(moved);
    assert_eq!(store.key(&key.id).expect("read").expect("kept"), key);
    assert_eq!(
        store.due_for_rotation(1_770_000_000).expect("due"),
        Vec::<KeyId>::new()
    );
    assert_eq!(
        store.due_for_rotation(moved.next_at).expect("due"),
        vec![key.id]
    );
    // A disabled key is never due.
    key.state = KeyState::Disabled;
    store.update_key(&key).expect("disable");
    assert!(store.due_for_rotation(i64::MAX).expect("due").is_empty());
}

/// A store written before key revisions (schema version 10, no `revision` column) opens,
/// migrates, and its keys start at revision 0 and take changes as before.
#[test]
fn a_store_from_before_key_revisions_migrates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kastell.db");
    let key = record(KeySpec::Aes256);
    SqliteStore::open(&path)
        .expect("open")
        .create_key(&key, None)
        .expect("create");
    {
        // As the previous release left it (without what later versions add: v11's key
        // revisions, v12's checkpoint links, v13's access keys, v14's seals, v15's key usage,
        // v16's rotation).
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(UNDO_V16)
            .expect("back to schema version 15");
        conn.execute_batch(
            "ALTER TABLE keys DROP COLUMN revision;
             ALTER TABLE audit_checkpoints DROP COLUMN prev;
             DROP TABLE access_keys;
             ALTER TABLE keys DROP COLUMN seal;
             ALTER TABLE aliases DROP COLUMN seal;
             ALTER TABLE keys DROP COLUMN usage;
             PRAGMA user_version = 10;",
        )
        .expect("back to schema version 10");
    }
    let store = SqliteStore::open(&path).expect("migrates");
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("sqlite")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert!(version > 10, "schema version {version}");
    let stored = store.key(&key.id).expect("read").expect("kept");
    assert_eq!(stored, key, "revision 0, no seal, nothing else changed");
    let mut changed = stored;
    changed.description = "migrated".into();
    store.update_key(&changed).expect("update");
    assert_eq!(store.key(&key.id).expect("read").expect("kept").revision, 1);
}

/// Issue 17: a store of schema version 12 holds `HMAC_SHA384` keys and no usage column.
/// Migrating renames them `HMAC_384` in the stored row and stores every key's usage (its
/// spec's only one then); the keys read back unchanged.
#[test]
fn hmac_sha384_rows_are_renamed_hmac_384_and_usages_stored_by_the_schema_15_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kastell.db");
    let (hmac, ec) = (record(KeySpec::HmacSha384), record(KeySpec::EccNistP384));
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_key(&hmac, None).expect("create");
        store.create_key(&ec, None).expect("create");
    }
    {
        // As schema 14 left them.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(UNDO_V16)
            .expect("back to schema version 15");
        conn.execute_batch(
            "UPDATE keys SET spec = 'HMAC_SHA384' WHERE spec = 'HMAC_384';
             ALTER TABLE keys DROP COLUMN usage;
             PRAGMA user_version = 14;",
        )
        .expect("back to schema version 14");
    }
    let store = SqliteStore::open(&path).expect("migrates");
    assert_eq!(store.key(&hmac.id).expect("read").expect("kept"), hmac);
    assert_eq!(store.key(&ec.id).expect("read").expect("kept"), ec);
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    let row = |id: &KeyId| -> (String, String) {
        conn.query_row(
            "SELECT spec, usage FROM keys WHERE id = ?1",
            [id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row")
    };
    assert_eq!(
        row(&hmac.id),
        ("HMAC_384".to_owned(), "GENERATE_VERIFY_MAC".to_owned())
    );
    assert_eq!(
        row(&ec.id),
        ("ECC_NIST_P384".to_owned(), "SIGN_VERIFY".to_owned())
    );
}
