//! The rows Kastell measures: the provider alone (the floor) and the key service on a soft
//! token and a SQLite store, with and without a bound policy.

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use kastell_core::crypto::{CryptoProvider, GCM_NONCE_LEN, RustCrypto};
use kastell_core::keys::{Caller, KeyService, NewKey, ServiceKeys, SignInput};
use kastell_core::registry::PolicyRegistry;
use kastell_core::sandbox::Sandbox;
use kastell_core::secret::SecretBytes;
use kastell_core::store::SqliteStore;
use kastell_core::token::{KdfCost, SoftToken};
use kastell_tests::guest;
use sha2::{Digest as _, Sha384};
use tempfile::TempDir;

use super::{AES_SIZES, MESSAGE_LEN, Reference, Row};

pub(crate) fn context(tenant: &str) -> EncryptionContext {
    EncryptionContext(BTreeMap::from([("tenant".to_owned(), tenant.to_owned())]))
}

pub(crate) fn officer() -> Caller {
    Caller {
        id: "bench-officer".into(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    }
}

pub(crate) fn user() -> Caller {
    Caller {
        id: "svc-billing".into(),
        roles: vec![Role::CryptoUser],
        tenant: Some("acme".into()),
        evidence: None,
    }
}

/// A key service on a soft token and a SQLite store in `dir`, with four wrapped keys:
/// AES and P-384, each without and with a policy.
pub(crate) struct Deployment {
    pub(crate) dir: TempDir,
    service: KeyService,
    pub(crate) aes: String,
    aes_gated: String,
    ec: String,
    ec_gated: String,
}

pub(crate) fn deploy(dir: TempDir, sandbox: &Arc<Sandbox>) -> Deployment {
    let token = SoftToken::create(
        &dir.path().join("token.kstl"),
        &String::from("bench passphrase").into(),
        KdfCost::Interactive,
    )
    .expect("soft token");
    let store = SqliteStore::open(&dir.path().join("kastell.db")).expect("store");
    let store: Arc<dyn kastell_core::store::Store> = Arc::new(store);
    let registry =
        PolicyRegistry::open(Arc::clone(&store), &dir.path().join("policies")).expect("registry");
    let tenant_context = registry
        .add(sandbox, &guest("tenant-context"))
        .expect("tenant-context");
    let office_hours = registry
        .add(sandbox, &guest("office-hours"))
        .expect("office-hours");
    let service = KeyService::new(
        store,
        Arc::new(token),
        Arc::new(RustCrypto),
        Arc::clone(sandbox),
        registry,
        ServiceKeys::default(),
    );
    service.ensure_service_keys().expect("service keys");
    let create = |spec, tags: &[(&str, &str)], policy| {
        let new = NewKey {
            spec,
            usage: None,
            origin: Origin::Wrapped,
            description: "benchmark".into(),
            tags: tags
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            policy,
            releasable: false,
        };
        let key = service.create_key(&officer(), new, None).expect("create");
        key.id.to_string()
    };
    // office-hours allows [start, end) and rejects 24:00: this window misses 23:59 UTC.
    let every_day = [
        ("office-hours.start", "00:00"),
        ("office-hours.end", "23:59"),
        ("office-hours.days", "mon-sun"),
    ];
    Deployment {
        aes: create(KeySpec::Aes256, &[], None),
        aes_gated: create(KeySpec::Aes256, &[], Some(tenant_context)),
        ec: create(KeySpec::EccNistP384, &[], None),
        ec_gated: create(KeySpec::EccNistP384, &every_day, Some(office_hours)),
        dir,
        service,
    }
}

/// The service rows of one deployment for encryption at `size`.
pub(crate) fn service_aes_rows<'a>(
    deployment: &'a Deployment,
    paths: [&'static str; 2],
    size: usize,
) -> Vec<Row<'a>> {
    let service = &deployment.service;
    let (caller, context) = (user(), context("acme"));
    let mut rows = Vec::new();
    for (key, path) in [&deployment.aes, &deployment.aes_gated]
        .into_iter()
        .zip(paths)
    {
        let plaintext = vec![0x5a; size];
        let sealed = service
            .encrypt(&caller, key, &plaintext, &context)
            .expect("encrypt is allowed");
        let (_, opened) = service
            .decrypt(&caller, Some(key), &sealed, &context)
            .expect("decrypt is allowed");
        assert_eq!(opened.expose(), plaintext);
        let (caller_e, context_e) = (caller.clone(), context.clone());
        rows.push(Row::new(
            format!("encrypt {}", size_name(size)),
            path,
            Reference::Aes(size),
            size,
            move || {
                black_box(
                    service
                        .encrypt(&caller_e, key, &plaintext, &context_e)
                        .expect("encrypt"),
                );
            },
        ));
        let (caller_d, context_d) = (caller.clone(), context.clone());
        rows.push(Row::new(
            format!("decrypt {}", size_name(size)),
            path,
            Reference::Aes(size),
            size,
            move || {
                black_box(
                    service
                        .decrypt(&caller_d, Some(key), &sealed, &context_d)
                        .expect("decrypt"),
                );
            },
        ));
    }
    rows
}

/// The service sign rows (both keys) and the verify row (the key without policy: no
/// example policy allows verify).
pub(crate) fn service_ec_rows<'a>(
    deployment: &'a Deployment,
    paths: [&'static str; 2],
) -> Vec<Row<'a>> {
    let service = &deployment.service;
    let caller = user();
    let message = vec![0xa5; MESSAGE_LEN];
    let mut rows = Vec::new();
    for (key, path) in [&deployment.ec, &deployment.ec_gated]
        .into_iter()
        .zip(paths)
    {
        let signature = service
            .sign(&caller, key, SignInput::Message(&message))
            .expect("sign is allowed (office-hours misses 23:59 UTC)");
        let (caller_s, message_s) = (caller.clone(), message.clone());
        rows.push(Row::new(
            "P-384 sign".into(),
            path,
            Reference::Sign,
            0,
            move || {
                black_box(
                    service
                        .sign(&caller_s, key, SignInput::Message(&message_s))
                        .expect("sign (office-hours misses 23:59 UTC)"),
                );
            },
        ));
        {
            assert!(
                service
                    .verify(&caller, key, SignInput::Message(&message), &signature.der)
                    .expect("verify is allowed")
            );
            let (caller_v, message_v) = (caller.clone(), message.clone());
            rows.push(Row::new(
                "P-384 verify".into(),
                path,
                Reference::Verify,
                0,
                move || {
                    let valid = service
                        .verify(
                            &caller_v,
                            key,
                            SignInput::Message(&message_v),
                            &signature.der,
                        )
                        .expect("verify");
                    assert!(valid);
                },
            ));
        }
    }
    rows
}

pub(crate) fn size_name(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The floor: the provider on keys held in memory.
pub(crate) fn primitive_rows<'a>(crypto: &'a dyn CryptoProvider, aad: &'a [u8]) -> Vec<Row<'a>> {
    const PATH: &str = "primitive (floor)";
    let mut bytes = [0u8; 32];
    crypto.fill_random(&mut bytes).expect("random");
    let aes = Arc::new(SecretBytes::from_slice(&bytes));
    let mut rows = Vec::new();
    for size in AES_SIZES {
        let plaintext = vec![0x5a; size];
        let nonce = [7u8; GCM_NONCE_LEN];
        let sealed = crypto
            .aes256_gcm_seal(&aes, &nonce, aad, &plaintext)
            .expect("seal");
        let key = Arc::clone(&aes);
        rows.push(Row::new(
            format!("encrypt {}", size_name(size)),
            PATH,
            Reference::Aes(size),
            size,
            move || {
                let mut nonce = [0u8; GCM_NONCE_LEN];
                crypto.fill_random(&mut nonce).expect("random");
                black_box(
                    crypto
                        .aes256_gcm_seal(&key, &nonce, aad, black_box(&plaintext))
                        .expect("seal"),
                );
            },
        ));
        let key = Arc::clone(&aes);
        rows.push(Row::new(
            format!("decrypt {}", size_name(size)),
            PATH,
            Reference::Aes(size),
            size,
            move || {
                black_box(
                    crypto
                        .aes256_gcm_open(&key, &nonce, aad, black_box(&sealed))
                        .expect("open"),
                );
            },
        ));
    }
    let private = crypto.p384_generate().expect("P-384 key");
    let public = crypto.p384_public_key(&private).expect("public key");
    let message = vec![0xa5; MESSAGE_LEN];
    let digest: [u8; 48] = Sha384::digest(&message).into();
    let signature = crypto
        .p384_sign_digest(&private, &digest)
        .expect("signature");
    let message_s = message.clone();
    rows.push(Row::new(
        "P-384 sign".into(),
        PATH,
        Reference::Sign,
        0,
        move || {
            let digest: [u8; 48] = Sha384::digest(black_box(&message_s)).into();
            black_box(crypto.p384_sign_digest(&private, &digest).expect("sign"));
        },
    ));
    rows.push(Row::new(
        "P-384 verify".into(),
        PATH,
        Reference::Verify,
        0,
        move || {
            let digest: [u8; 48] = Sha384::digest(black_box(&message)).into();
            let valid = crypto
                .p384_verify_digest(&public, &digest, &signature)
                .expect("verify");
            assert!(valid);
        },
    ));
    rows
}
