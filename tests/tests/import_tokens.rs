//! Import tokens (issue 19, AWS's `GetParametersForImport`) at the key service: a token
//! past its 24 hours is refused as `ExpiredImportToken` (AWS's
//! `ExpiredImportTokenException`), audited, before the wrapped material is even looked at,
//! while the same request with a fresh token gets as far as unwrapping. The AWS endpoint
//! cannot be made to wait a day; the service takes the time a token is made at, as its
//! sweeps take the time they run at.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kastell_core::audit::Outcome;
use kastell_core::crypto::AwsLc;
use kastell_core::keys::import::{
    IMPORT_MATERIAL, IMPORT_TOKEN_TTL, MaterialImport, WrappingAlgorithm, WrappingKeySpec,
};
use kastell_core::keys::{Caller, KeyError, KeyService, KeyState, NewKey, ServiceKeys, unix_now};
use kastell_core::registry::PolicyRegistry;
use kastell_core::sandbox::{Sandbox, SandboxLimits};
use kastell_core::store::{SqliteStore, Store as _};
use kastell_core::token::Token;
use kastell_proto::aws::AwsException;
use kastell_proto::{ErrorCode, KeySpec, Origin, Role};

fn officer() -> Caller {
    Caller {
        id: "officer".into(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    }
}

#[test]
fn an_import_token_past_its_24_hours_is_refused_as_expired_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let token: Arc<dyn Token> = Arc::new(kastell_tests::soft_token(dir.path()).unwrap());
    let store = Arc::new(SqliteStore::open(&dir.path().join("kastell.db")).unwrap());
    let sandbox = Arc::new(Sandbox::new(SandboxLimits::default()).unwrap());
    let registry = PolicyRegistry::open(store.clone(), &dir.path().join("policies")).unwrap();
    let service = KeyService::new(
        store.clone(),
        token,
        Arc::new(AwsLc),
        sandbox,
        registry,
        ServiceKeys::default(),
    );
    service.ensure_service_keys().unwrap();
    let key = service
        .create_key(
            &officer(),
            NewKey {
                spec: KeySpec::Aes256,
                usage: None,
                origin: Origin::External,
                description: String::new(),
                tags: BTreeMap::new(),
                policy: None,
                releasable: false,
            },
            None,
        )
        .unwrap();
    assert_eq!(key.state, KeyState::PendingImport);
    assert!(key.versions.is_empty(), "no material before an import");
    let id = key.id.to_string();
    let made = |at| {
        service
            .parameters_for_import_at(
                &officer(),
                &id,
                WrappingAlgorithm::RsaesOaepSha256,
                WrappingKeySpec::Rsa2048,
                at,
            )
            .unwrap()
    };
    let import = |token: Vec<u8>| MaterialImport {
        token,
        encrypted: vec![1; 256],
        expiry: kastell_core::keys::import::Expiry::Never,
        import_type: kastell_core::keys::import::ImportType::Unstated,
        material_id: None,
        description: None,
    };

    let stale = made(unix_now() - IMPORT_TOKEN_TTL - 1);
    let refused = service
        .import_key_material(&officer(), &id, &import(stale.token))
        .unwrap_err();
    assert!(
        matches!(refused, KeyError::ExpiredImportToken(_)),
        "{refused}"
    );
    assert_eq!(refused.code(), ErrorCode::ExpiredImportToken);
    assert_eq!(
        AwsException::of(refused.code()).name(),
        "ExpiredImportTokenException"
    );

    // The same request with a token made now gets past the token, to the unwrapping.
    let fresh = made(unix_now());
    let refused = service
        .import_key_material(&officer(), &id, &import(fresh.token))
        .unwrap_err();
    assert!(matches!(refused, KeyError::InvalidCiphertext), "{refused}");

    let trail = store.audit_range(0, 1000).unwrap();
    let denied = |reason: &str| {
        trail.iter().any(|r| {
            r.entry.operation == IMPORT_MATERIAL
                && r.entry.outcome == Outcome::Denied
                && r.entry.key == Some(key.id)
                && r.entry.reason.contains(reason)
        })
    };
    assert!(denied("ExpiredImportToken"), "the expired token is audited");
    assert!(denied("InvalidCiphertext"), "the bad material is audited");
}
