//! Policy-gated key operations end to end, on a real SQLite file, a real policy component
//! and both tokens (SoftHSM2 through PKCS#11, and the soft token); every operation leaves
//! an audit record, and the trail verifies and never holds the encryption context.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use kastell_core::audit::{BreakKind, GENESIS, Outcome, verify_chain};
use kastell_core::keys::{Caller, KeyError, KeyService, KeyState, NewKey, ServiceKeys, SignInput};

use kastell_core::store::Store;
use kastell_core::token::{Pkcs11Token, Token};
use kastell_tests::{key_service, softhsm_config, unique_label};
use serial_test::serial;
use sha2::{Digest as _, Sha384};

fn context(tenant: &str) -> EncryptionContext {
    EncryptionContext(BTreeMap::from([("tenant".to_owned(), tenant.to_owned())]))
}

fn officer() -> Caller {
    Caller {
        id: "officer-1".into(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    }
}

fn user(tenant: &str) -> Caller {
    Caller {
        id: "svc-billing".into(),
        roles: vec![Role::CryptoUser],
        tenant: Some(tenant.into()),
        evidence: None,
    }
}

fn exercise(token: Arc<dyn Token>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = ServiceKeys::with_prefix(&unique_label("service"));
    let (service, store, policies) =
        key_service(dir.path(), token.clone(), keys, &["tenant-context"]);
    let service = service.with_checkpoint_every(25);
    let policy = policies[0];

    for origin in [Origin::Wrapped, Origin::Token] {
        let new = NewKey {
            spec: KeySpec::Aes256,
            usage: None,
            origin,
            description: "tenant data".into(),
            tags: BTreeMap::new(),
            policy: Some(policy),
            releasable: false,
        };
        let alias = format!("alias/{}", unique_label("tenant-data"));
        assert!(
            matches!(
                service.create_key(&user("acme"), new.clone(), None),
                Err(KeyError::AccessDenied)
            ),
            "a crypto-user cannot create keys"
        );
        let key = service
            .create_key(&officer(), new, Some(&alias))
            .expect("create");

        // tenant-context: acme may encrypt acme data, not globex data.
        let ciphertext = service
            .encrypt(&user("acme"), &alias, b"invoice 42", &context("acme"))
            .expect("same tenant");
        let (_, plaintext) = service
            .decrypt(&user("acme"), Some(&alias), &ciphertext, &context("acme"))
            .expect("same tenant");
        assert_eq!(plaintext.expose(), b"invoice 42");
        let refused = service
            .encrypt(&user("acme"), &alias, b"invoice 42", &context("globex"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("AccessDenied: not allowed by role or key policy"),
            "the policy's reason stays in the audit trail"
        );

        // A key without a policy, to produce ciphertexts; then bind-less decrypt checks.
        let plain_key = service
            .create_key(
                &officer(),
                NewKey {
                    spec: KeySpec::Aes256,
                    usage: None,
                    origin,
                    description: String::new(),
                    tags: BTreeMap::new(),
                    policy: None,
                    releasable: false,
                },
                None,
            )
            .expect("create");
        let id = plain_key.id.to_string();
        let ct = service
            .encrypt(&user("acme"), &id, b"invoice 42", &context("acme"))
            .expect("encrypt");
        let (decrypted_by, plaintext) = service
            .decrypt(&user("acme"), Some(&id), &ct, &context("acme"))
            .expect("decrypt");
        assert_eq!(decrypted_by, plain_key.id);
        assert_eq!(plaintext.expose(), b"invoice 42");

        assert!(
            matches!(
                service.decrypt(&user("acme"), None, &ct, &context("globex")),
                Err(KeyError::InvalidCiphertext)
            ),
            "wrong context"
        );
        let mut tampered = ct.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            service.decrypt(&user("acme"), None, &tampered, &context("acme")),
            Err(KeyError::InvalidCiphertext)
        ));
        assert!(matches!(
            service.decrypt(&user("acme"), None, &ct[..20], &context("acme")),
            Err(KeyError::InvalidCiphertext)
        ));
        assert!(matches!(
            service.decrypt(
                &user("acme"),
                Some(&key.id.to_string()),
                &ct,
                &context("acme")
            ),
            Err(KeyError::IncorrectKey)
        ));
        // Naming a key that does not exist is NotFound, not IncorrectKey.
        assert!(matches!(
            service.decrypt(
                &user("acme"),
                Some(&kastell_proto::KeyId::random().to_string()),
                &ct,
                &context("acme")
            ),
            Err(KeyError::NotFound(_))
        ));
        assert!(
            matches!(
                service.encrypt(&officer(), &id, b"x", &context("acme")),
                Err(KeyError::AccessDenied)
            ),
            "an officer cannot use keys"
        );
        assert!(matches!(
            service.encrypt(
                &user("acme"),
                "alias/does-not-exist",
                b"x",
                &context("acme")
            ),
            Err(KeyError::NotFound(_))
        ));
    }

    for origin in [Origin::Wrapped, Origin::Token] {
        signing_and_rotation(&service, origin, dir.path());
        data_keys_macs_random_and_deletion(&service, origin);
        re_encrypt_aliases_tags_and_policy_binding(&service, origin, policy);
        minimum_version_and_destruction(&service, &*store, &*token, origin);
    }

    let records = store.audit_range(0, 10_000).expect("audit");
    verify_chain(&records, 0, GENESIS).expect("audit chain verifies");
    assert!(
        records.iter().any(|r| r.entry.outcome == Outcome::Denied
            && r.entry.key.is_none()
            && r.entry.reason.contains("NotFound")),
        "a request for an unknown key is audited too"
    );
    assert!(records.iter().any(|r| {
        r.entry.outcome == Outcome::Denied
            && r.entry
                .reason
                .contains("tenant in context differs from the principal's")
    }));
    let acme: Vec<_> = records
        .iter()
        .filter(|r| r.entry.operation == "encrypt" && r.entry.outcome == Outcome::Allowed)
        .map(|r| r.entry.context_hmac)
        .collect();
    assert!(
        acme.len() >= 2 && acme.windows(2).all(|w| w[0] == w[1] && w[0].is_some()),
        "same context, same HMAC"
    );
    signed_checkpoints(&service, &dir.path().join("kastell.db"));
    let db = std::fs::read(dir.path().join("kastell.db")).expect("db");
    let wal = std::fs::read(dir.path().join("kastell.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(4).any(|w| w == b"acme"),
            "the encryption context never reaches the store"
        );
        assert!(
            !bytes.windows(10).any(|w| w == b"invoice 42"),
            "nor the plaintext"
        );
    }
}

fn signing_and_rotation(service: &KeyService, origin: Origin, dir: &std::path::Path) {
    let plain = |spec| NewKey {
        spec,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    let signer = service
        .create_key(&officer(), plain(KeySpec::EccNistP384), None)
        .expect("signing key");
    let id = signer.id.to_string();
    let signed = service
        .sign(&user("acme"), &id, SignInput::Message(b"release 1.2.3"))
        .expect("sign");
    assert_eq!(signed.version, 1);
    assert!(
        service
            .verify(
                &user("acme"),
                &id,
                SignInput::Message(b"release 1.2.3"),
                &signed.der
            )
            .expect("verify")
    );
    assert!(
        !service
            .verify(
                &user("acme"),
                &id,
                SignInput::Message(b"release 6.6.6"),
                &signed.der
            )
            .expect("verify")
    );
    assert!(
        !service
            .verify(
                &user("acme"),
                &id,
                SignInput::Message(b"release 1.2.3"),
                b"\x30\x00junk"
            )
            .expect("verify")
    );
    let digest: [u8; 48] = Sha384::digest(b"release 1.2.3").into();
    assert!(
        service
            .verify(&user("acme"), &id, SignInput::Digest(&digest), &signed.der)
            .expect("verify")
    );
    assert!(matches!(
        service.sign(&user("acme"), &id, SignInput::Digest(&digest[..32])),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.encrypt(&user("acme"), &id, b"x", &context("acme")),
        Err(KeyError::InvalidKeyUsage { .. })
    ));

    // Cross-check with OpenSSL: the exported SPKI verifies Kastell's DER signature.
    let public = service.public_key(&user("acme"), &id).expect("public key");
    assert!(public.spki_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let (pem, sig, msg) = (
        dir.join("pub.pem"),
        dir.join("sig.der"),
        dir.join("msg.txt"),
    );
    std::fs::write(&pem, &public.spki_pem).expect("pem");
    std::fs::write(&sig, &signed.der).expect("sig");
    std::fs::write(&msg, b"release 1.2.3").expect("msg");
    let out = Command::new("openssl")
        .args(["dgst", "-sha384", "-verify"])
        .arg(&pem)
        .arg("-signature")
        .arg(&sig)
        .arg(&msg)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Rotation: new version signs, old signatures still verify.
    assert!(matches!(
        service.rotate(&user("acme"), &id),
        Err(KeyError::AccessDenied)
    ));
    let rotated = service.rotate(&officer(), &id).expect("rotate");
    assert_eq!(rotated.current().map(|v| v.number), Some(2));
    let newer = service
        .sign(&user("acme"), &id, SignInput::Message(b"release 2.0"))
        .expect("sign");
    assert_eq!(newer.version, 2);
    assert!(
        service
            .verify(
                &user("acme"),
                &id,
                SignInput::Message(b"release 1.2.3"),
                &signed.der
            )
            .expect("old verifies")
    );

    // Rotation of an encryption key: old ciphertexts still decrypt.
    let aes = service
        .create_key(&officer(), plain(KeySpec::Aes256), None)
        .expect("aes key")
        .id
        .to_string();
    let old = service
        .encrypt(&user("acme"), &aes, b"v1 data", &context("acme"))
        .expect("encrypt");
    service.rotate(&officer(), &aes).expect("rotate");
    let new = service
        .encrypt(&user("acme"), &aes, b"v2 data", &context("acme"))
        .expect("encrypt");
    assert_eq!(&new[17..21], &2u32.to_be_bytes(), "header names version 2");
    for (ct, text) in [(&old, b"v1 data"), (&new, b"v2 data")] {
        let (_, plaintext) = service
            .decrypt(&user("acme"), Some(&aes), ct, &context("acme"))
            .expect("decrypt");
        assert_eq!(plaintext.expose(), text);
    }

    // Disable and enable.
    service
        .set_enabled(&officer(), &aes, false)
        .expect("disable");
    assert!(matches!(
        service.decrypt(&user("acme"), None, &old, &context("acme")),
        Err(KeyError::Disabled(_))
    ));
    service.set_enabled(&officer(), &aes, true).expect("enable");
    assert!(
        service
            .decrypt(&user("acme"), None, &old, &context("acme"))
            .is_ok()
    );
}

fn data_keys_macs_random_and_deletion(service: &KeyService, origin: Origin) {
    let plain = |spec| NewKey {
        spec,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    let aes = service
        .create_key(&officer(), plain(KeySpec::Aes256), None)
        .expect("aes")
        .id
        .to_string();

    // Data keys: the ciphertext decrypts to the returned plaintext; without-plaintext
    // returns none.
    let data_key = service
        .generate_data_key(&user("acme"), &aes, &context("acme"), true)
        .expect("data key");
    let plaintext = data_key.plaintext.expect("plaintext");
    assert_eq!(plaintext.len(), 32);
    let (_, again) = service
        .decrypt(
            &user("acme"),
            Some(&aes),
            &data_key.ciphertext,
            &context("acme"),
        )
        .expect("decrypt");
    assert_eq!(again, plaintext);
    let sealed_only = service
        .generate_data_key(&user("acme"), &aes, &context("acme"), false)
        .expect("data key");
    assert!(sealed_only.plaintext.is_none());
    assert_eq!(
        service
            .decrypt(
                &user("acme"),
                None,
                &sealed_only.ciphertext,
                &context("acme")
            )
            .expect("decrypt")
            .1
            .len(),
        32
    );

    // MACs: deterministic, verified in constant time, wrong usage refused.
    let hmac = service
        .create_key(&officer(), plain(KeySpec::HmacSha384), None)
        .expect("hmac")
        .id
        .to_string();
    let tag = service
        .generate_mac(&user("acme"), &hmac, b"payload")
        .expect("mac");
    assert_eq!(
        service
            .generate_mac(&user("acme"), &hmac, b"payload")
            .expect("mac"),
        tag
    );
    assert!(
        service
            .verify_mac(&user("acme"), &hmac, b"payload", &tag)
            .expect("verify")
    );
    assert!(
        !service
            .verify_mac(&user("acme"), &hmac, b"payloaD", &tag)
            .expect("verify")
    );
    assert!(
        !service
            .verify_mac(&user("acme"), &hmac, b"payload", &tag[..47])
            .expect("verify")
    );
    service.rotate(&officer(), &hmac).expect("rotate");
    assert!(
        service
            .verify_mac(&user("acme"), &hmac, b"payload", &tag)
            .expect("old MAC still verifies")
    );
    assert!(matches!(
        service.generate_mac(&user("acme"), &aes, b"x"),
        Err(KeyError::InvalidKeyUsage { .. })
    ));

    // Random bytes: bounded, crypto-users only.
    let a = service.generate_random(&user("acme"), 32).expect("random");
    assert_eq!(a.len(), 32);
    assert_ne!(
        a,
        service.generate_random(&user("acme"), 32).expect("random")
    );
    assert!(matches!(
        service.generate_random(&user("acme"), 0),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.generate_random(&user("acme"), 1025),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.generate_random(&officer(), 8),
        Err(KeyError::AccessDenied)
    ));

    // Deletion window: 7–30 days, refuses use while pending, cancel leaves it disabled.
    assert!(matches!(
        service.schedule_deletion(&officer(), &aes, 6),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.schedule_deletion(&officer(), &aes, 31),
        Err(KeyError::InvalidInput(_))
    ));
    assert!(matches!(
        service.schedule_deletion(&user("acme"), &aes, 7),
        Err(KeyError::AccessDenied)
    ));
    let pending = service
        .schedule_deletion(&officer(), &aes, 7)
        .expect("schedule");
    let KeyState::PendingDeletion { delete_at } = pending.state else {
        panic!("{:?}", pending.state)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (delete_at - now - 7 * 86_400).abs() < 60,
        "{delete_at} vs {now}"
    );
    assert!(matches!(
        service.encrypt(&user("acme"), &aes, b"x", &context("acme")),
        Err(KeyError::InvalidState(_))
    ));
    assert!(matches!(
        service.schedule_deletion(&officer(), &aes, 7),
        Err(KeyError::InvalidState(_))
    ));
    let cancelled = service.cancel_deletion(&officer(), &aes).expect("cancel");
    assert_eq!(cancelled.state, KeyState::Disabled);
    assert!(matches!(
        service.cancel_deletion(&officer(), &aes),
        Err(KeyError::InvalidState(_))
    ));
    service.set_enabled(&officer(), &aes, true).expect("enable");
    assert!(
        service
            .encrypt(&user("acme"), &aes, b"x", &context("acme"))
            .is_ok()
    );
}

fn re_encrypt_aliases_tags_and_policy_binding(
    service: &KeyService,
    origin: Origin,
    policy: kastell_attest::Measurement,
) {
    let plain = |spec| NewKey {
        spec,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    let a = service
        .create_key(&officer(), plain(KeySpec::Aes256), None)
        .expect("a")
        .id
        .to_string();
    let b = service
        .create_key(&officer(), plain(KeySpec::Aes256), None)
        .expect("b")
        .id
        .to_string();
    let ct = service
        .encrypt(&user("acme"), &a, b"moving data", &context("acme"))
        .expect("encrypt");
    let moved = service
        .re_encrypt(&user("acme"), &ct, &context("acme"), &b)
        .expect("re-encrypt");
    let (by, text) = service
        .decrypt(&user("acme"), None, &moved, &context("acme"))
        .expect("decrypt");
    assert_eq!(by.to_string(), b);
    assert_eq!(text.expose(), b"moving data");
    assert!(matches!(
        service.re_encrypt(&user("acme"), &ct, &context("globex"), &b),
        Err(KeyError::InvalidCiphertext)
    ));

    // Aliases re-point; only officers manage them.
    let alias = format!("alias/{}", unique_label("moving"));
    service.set_alias(&officer(), &alias, &a).expect("alias");
    assert!(matches!(
        service.set_alias(&user("acme"), &alias, &b),
        Err(KeyError::AccessDenied)
    ));
    service.set_alias(&officer(), &alias, &b).expect("re-point");
    let via_alias = service
        .encrypt(&user("acme"), &alias, b"x", &context("acme"))
        .expect("encrypt");
    assert!(
        service
            .decrypt(&user("acme"), Some(&b), &via_alias, &context("acme"))
            .is_ok()
    );
    assert!(matches!(
        service.set_alias(&officer(), "no-prefix", &a),
        Err(KeyError::InvalidInput(_))
    ));

    // Tags and description.
    let tags = BTreeMap::from([("owner".to_owned(), "billing".to_owned())]);
    let updated = service
        .update_tags(&officer(), &a, tags.clone(), Some("invoices".into()))
        .expect("tags");
    assert_eq!(
        (updated.tags, updated.description.as_str()),
        (tags, "invoices")
    );

    // Binding tenant-context: encrypt and decrypt allowed for the caller's own tenant only;
    // an unknown policy cannot be bound; unbinding restores.
    let ct = service
        .encrypt(&user("acme"), &a, b"tenant data", &context("acme"))
        .expect("encrypt");
    service
        .bind_policy(&officer(), &a, Some(policy))
        .expect("bind");
    assert!(matches!(
        service.encrypt(&user("globex"), &a, b"x", &context("acme")),
        Err(KeyError::AccessDenied)
    ));
    let (_, text) = service
        .decrypt(&user("acme"), None, &ct, &context("acme"))
        .expect("policy allows own tenant");
    assert_eq!(text.expose(), b"tenant data");
    assert!(matches!(
        service.decrypt(&user("globex"), None, &ct, &context("acme")),
        Err(KeyError::AccessDenied)
    ));
    assert!(matches!(
        service.bind_policy(
            &officer(),
            &a,
            Some(kastell_attest::Measurement::of(b"not uploaded"))
        ),
        Err(KeyError::InvalidInput(_))
    ));
    service.bind_policy(&officer(), &a, None).expect("unbind");
    assert!(
        service
            .encrypt(&user("globex"), &a, b"x", &context("acme"))
            .is_ok()
    );
}

/// Checkpoints signed by the token's audit key: made every 25 records and on request,
/// verified with the real signature, and they catch a forged signature and a cut tail.
fn signed_checkpoints(service: &KeyService, db: &std::path::Path) {
    service.checkpoint().expect("checkpoint");
    assert!(
        service.checkpoint().expect("checkpoint").is_none(),
        "nothing new to sign"
    );
    let report = service
        .verify_audit(&[])
        .expect("read")
        .expect("trail verifies");
    assert!(report.checkpoints >= 2, "{report:?}");
    assert_eq!(report.signed_through, report.last_seq);

    let conn = rusqlite::Connection::open(db).expect("open db");
    let genuine: Vec<u8> = conn
        .query_row(
            "SELECT signature FROM audit_checkpoints WHERE seq = 25",
            [],
            |r| r.get(0),
        )
        .expect("signature");
    let forged: usize = conn
        .execute(
            "UPDATE audit_checkpoints SET signature = zeroblob(96) WHERE seq = 25",
            [],
        )
        .expect("forge");
    assert_eq!(forged, 1);
    let broken = service.verify_audit(&[]).expect("read").unwrap_err();
    assert_eq!(broken.seq, 25);
    assert_eq!(broken.kind, BreakKind::CheckpointForged, "{broken}");
    assert!(broken.problem.contains("does not verify"), "{broken}");
    conn.execute(
        "UPDATE audit_checkpoints SET signature = ?1 WHERE seq = 25",
        [genuine],
    )
    .expect("restore the signature");

    let last = report.last_seq;
    conn.execute(
        "DELETE FROM audit WHERE seq > ?1",
        [i64::try_from(last).unwrap() - 3],
    )
    .expect("cut the tail");
    let broken = service.verify_audit(&[]).expect("read").unwrap_err();
    assert_eq!(broken.seq, last - 2);
    assert_eq!(broken.kind, BreakKind::TrailCut, "{broken}");
    assert!(broken.problem.contains("deleted from its end"), "{broken}");
}

fn minimum_version_and_destruction(
    service: &KeyService,
    store: &dyn Store,
    token: &dyn Token,
    origin: Origin,
) {
    let new = NewKey {
        spec: KeySpec::Aes256,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    let alias = format!("alias/{}", unique_label("doomed"));
    let key = service
        .create_key(&officer(), new, Some(&alias))
        .expect("create");
    let id = key.id.to_string();
    let old = service
        .encrypt(&user("acme"), &id, b"v1 data", &context("acme"))
        .expect("encrypt v1");
    service.rotate(&officer(), &id).expect("rotate");
    let new_ct = service
        .encrypt(&user("acme"), &id, b"v2 data", &context("acme"))
        .expect("encrypt v2");

    // Minimum decryption version: old ciphertexts refused, re-admitted when lowered.
    for bad in [0, 3] {
        assert!(
            matches!(
                service.set_min_decryption_version(&officer(), &id, bad),
                Err(KeyError::InvalidInput(_))
            ),
            "version {bad} does not exist"
        );
    }
    assert!(matches!(
        service.set_min_decryption_version(&user("acme"), &id, 2),
        Err(KeyError::AccessDenied)
    ));
    let raised = service
        .set_min_decryption_version(&officer(), &id, 2)
        .expect("raise minimum");
    assert_eq!(raised.min_decrypt_version, 2);
    assert!(matches!(
        service.decrypt(&user("acme"), None, &old, &context("acme")),
        Err(KeyError::InvalidState(_))
    ));
    assert!(
        service
            .decrypt(&user("acme"), None, &new_ct, &context("acme"))
            .is_ok()
    );
    service
        .set_min_decryption_version(&officer(), &id, 1)
        .expect("lower minimum");
    let (_, plaintext) = service
        .decrypt(&user("acme"), None, &old, &context("acme"))
        .expect("version 1 decrypts again");
    assert_eq!(plaintext.expose(), b"v1 data");

    // Destruction: nothing happens before the window ends, everything after.
    let scheduled = service
        .schedule_deletion(&officer(), &id, 7)
        .expect("schedule");
    let KeyState::PendingDeletion { delete_at } = scheduled.state else {
        panic!("{:?}", scheduled.state)
    };
    let destroyed = service.destroy_due(delete_at - 1).expect("sweep");
    assert!(!destroyed.contains(&key.id), "not before the window ends");
    assert!(service.cancel_deletion(&officer(), &id).is_ok());
    service
        .schedule_deletion(&officer(), &id, 7)
        .expect("schedule again");
    let destroyed = service.destroy_due(delete_at + 86_400).expect("sweep");
    assert_eq!(destroyed, vec![key.id]);
    assert!(
        service
            .destroy_due(delete_at + 86_400)
            .expect("sweep")
            .is_empty(),
        "a second sweep finds nothing"
    );

    let after = store.key(&key.id).expect("read").expect("record kept");
    assert_eq!(after.state, KeyState::Destroyed);
    assert!(
        after
            .versions
            .iter()
            .all(|v| v.material == kastell_core::keys::Material::Destroyed),
        "{:?}",
        after.versions
    );
    for version in &key.versions {
        if version.material == kastell_core::keys::Material::Token {
            let label = kastell_core::keys::token_label(&key.id, version.number);
            assert!(!token.contains(&label).expect("token"), "{label} destroyed");
        }
    }
    assert!(matches!(
        service.decrypt(&user("acme"), None, &new_ct, &context("acme")),
        Err(KeyError::InvalidState(_))
    ));
    assert!(
        matches!(
            service.encrypt(&user("acme"), &alias, b"x", &context("acme")),
            Err(KeyError::NotFound(_))
        ),
        "the alias is gone with the key"
    );
    assert!(matches!(
        service.cancel_deletion(&officer(), &id),
        Err(KeyError::InvalidState(_))
    ));
    assert!(matches!(
        service.rotate(&officer(), &id),
        Err(KeyError::InvalidState(_))
    ));
    let trail = store.audit_range(0, 100_000).expect("audit");
    assert!(trail.iter().any(|r| r.entry.operation == "destroy-key"
        && r.entry.key == Some(key.id)
        && r.entry.principal == kastell_core::keys::SYSTEM_PRINCIPAL));
}

#[test]
#[serial(softhsm)]
fn key_operations_on_softhsm() {
    exercise(Arc::new(
        Pkcs11Token::open(&softhsm_config()).expect("SoftHSM2"),
    ));
}

#[test]
fn key_operations_on_the_soft_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = kastell_tests::soft_token(dir.path()).expect("soft token");
    exercise(Arc::new(token));
}

#[test]
fn releasable_is_fixed_at_creation_shown_and_refused_for_token_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = kastell_tests::soft_token(dir.path()).expect("soft token");
    let (service, store, _) = key_service(
        dir.path(),
        Arc::new(token),
        ServiceKeys::with_prefix(&unique_label("service")),
        &[],
    );
    let new = |origin, releasable| NewKey {
        spec: KeySpec::Aes256,
        usage: None,
        origin,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable,
    };
    let released = service
        .create_key(&officer(), new(Origin::Wrapped, true), None)
        .expect("a wrapped key may be releasable");
    assert!(released.releasable);
    let stored = store.key(&released.id).expect("read").expect("stored");
    assert!(stored.releasable, "the flag survives the store");
    let shown = service
        .describe_key(&officer(), &released.id.to_string())
        .expect("describe");
    assert!(shown.releasable);
    let plain = service
        .create_key(&officer(), new(Origin::Wrapped, false), None)
        .expect("create");
    assert!(
        !store
            .key(&plain.id)
            .expect("read")
            .expect("stored")
            .releasable
    );
    match service.create_key(&officer(), new(Origin::Token, true), None) {
        Err(KeyError::InvalidInput(why)) => assert!(why.contains("token-resident"), "{why}"),
        other => panic!("a token-resident key cannot be releasable: {other:?}"),
    }
}
