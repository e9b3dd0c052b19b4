//! Compiled policies are cached by SHA-384 on disk and reused across restarts; the policy
//! registry stores validated components content-addressed and refuses damaged ones.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::fs;

use kastell_attest::Measurement;
use kastell_core::registry::{PolicyRegistry, RegistryError};
use kastell_core::sandbox::{ArtifactKey, LoadError, Sandbox, SandboxLimits, Verdict};
use kastell_core::store::ComponentKind;
use kastell_core::store::testing::{Backend, TestStore, test_stores};
use kastell_core::token::{SoftToken, Token, TokenKeyKind};
use kastell_tests::{guest, tenant_request};
use std::sync::Arc;

/// The artifact key: an HMAC key on a soft token in `dir` (opened again by each "host").
fn artifact_key(dir: &std::path::Path) -> ArtifactKey {
    let path = dir.join("soft.token");
    let token: Arc<dyn Token> = if path.exists() {
        Arc::new(SoftToken::open(&path, &"correct horse".to_owned().into()).expect("token"))
    } else {
        let token = kastell_tests::soft_token(dir).expect("token");
        token
            .generate("kastell-artifact-mac", TokenKeyKind::HmacSha384)
            .expect("key");
        Arc::new(token)
    };
    ArtifactKey::new(token, "kastell-artifact-mac")
}

fn sandbox_with(dir: &std::path::Path) -> Sandbox {
    let artifacts = dir.join("compiled");
    Sandbox::new(SandboxLimits::default())
        .expect("sandbox")
        .with_artifact_dir(&artifacts, artifact_key(dir))
        .expect("artifact dir")
}

#[test]
fn second_host_deserializes_the_artifact_the_first_compiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = guest("tenant-context");

    let first = sandbox_with(dir.path());
    let compiled = first.load_policy(&bytes).expect("loads");
    assert!(!compiled.from_artifact());
    let again = first.load_policy(&bytes).expect("loads");
    assert!(
        std::sync::Arc::ptr_eq(&compiled, &again),
        "in-memory cache hit"
    );

    let second = sandbox_with(dir.path());
    let cached = second.load_policy(&bytes).expect("loads");
    assert!(cached.from_artifact());
    assert_eq!(cached.measurement(), Measurement::of(&bytes));
    assert_eq!(
        second.evaluate(&cached, &tenant_request("acme")).verdict,
        Verdict::Allow
    );
}

#[test]
fn damaged_artifact_is_ignored_and_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = guest("tenant-context");
    drop(sandbox_with(dir.path()).load_policy(&bytes).expect("loads"));

    let artifact = dir
        .path()
        .join("compiled")
        .join(format!("{}.cwasm", Measurement::of(&bytes).to_hex()));
    let mut damaged = fs::read(&artifact).expect("artifact written");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    fs::write(&artifact, &damaged).expect("write");

    let sandbox = sandbox_with(dir.path());
    let policy = sandbox.load_policy(&bytes).expect("recompiles");
    assert!(!policy.from_artifact());
    assert_eq!(
        sandbox.evaluate(&policy, &tenant_request("acme")).verdict,
        Verdict::Allow
    );
    let rejections = sandbox.take_artifact_rejections();
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!(rejections[0].measurement, Measurement::of(&bytes));
    assert!(
        rejections[0]
            .reason
            .contains("authentication tag does not match"),
        "{rejections:?}"
    );
    assert!(sandbox.take_artifact_rejections().is_empty(), "taken once");
}

#[test]
fn registry_stores_by_measurement_and_refuses_invalid_or_damaged_policies() {
    for test in test_stores() {
        registry_stores_by_measurement_on(&test);
    }
}

fn registry_stores_by_measurement_on(test: &TestStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
    let store = test.open().expect("store");
    let registry = PolicyRegistry::open(Arc::clone(&store), dir.path()).expect("open");

    let bytes = guest("tenant-context");
    let measurement = registry.add(&sandbox, &bytes).expect("valid policy");
    assert_eq!(measurement, Measurement::of(&bytes));
    assert_eq!(
        registry.add(&sandbox, &bytes).expect("idempotent"),
        measurement
    );
    assert_eq!(registry.get(&measurement).expect("stored"), bytes);
    assert_eq!(registry.list().expect("list"), vec![measurement]);
    let loaded = registry.load(&sandbox, &measurement).expect("loads");
    assert_eq!(
        sandbox.evaluate(&loaded, &tenant_request("acme")).verdict,
        Verdict::Allow
    );
    // Another handle on the store (another host) finds it there: nothing is on disk.
    assert_eq!(
        fs::read_dir(dir.path()).expect("folder").count(),
        0,
        "{}: the policy lives in the store, not in the folder",
        test.name()
    );
    let elsewhere = PolicyRegistry::open(test.open().expect("reopen"), &dir.path().join("b"))
        .expect("another host's registry");
    assert_eq!(elsewhere.get(&measurement).expect("shared"), bytes);

    let refused = registry.add(&sandbox, &guest("hostile-filesystem"));
    assert!(matches!(
        refused,
        Err(RegistryError::Invalid(LoadError::ForbiddenImports(_)))
    ));
    assert_eq!(
        registry.list().expect("list"),
        vec![measurement],
        "nothing stored"
    );

    let missing = Measurement::of(b"never stored");
    assert!(matches!(registry.get(&missing), Err(RegistryError::NotFound(m)) if m == missing));

    // Someone with write access to the database swaps the bytes: refused by name.
    test.sql(&format!(
        "UPDATE components SET bytes = {} WHERE measurement = '{}'",
        match test.backend {
            Backend::Sqlite => "X'0061736d'".to_owned(),
            Backend::Postgres => "'\\x0061736d'::bytea".to_owned(),
        },
        measurement.to_hex()
    ))
    .expect("tamper");
    let err = registry.get(&measurement).expect_err("damaged row refused");
    assert!(
        matches!(&err, RegistryError::Corrupt { .. })
            && err.to_string().contains(&measurement.to_hex())
            && err.to_string().contains("does not hash to its name"),
        "{}: {err}",
        test.name()
    );
}

#[test]
fn policy_files_of_an_older_deployment_are_imported_and_damaged_ones_are_not() {
    for test in test_stores() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = guest("tenant-context");
        let good_m = Measurement::of(&good);
        fs::write(dir.path().join(format!("{}.wasm", good_m.to_hex())), &good).expect("file");
        let other = guest("office-hours");
        let other_m = Measurement::of(&other);
        let mut damaged = other.clone();
        damaged[100] ^= 1;
        fs::write(
            dir.path().join(format!("{}.wasm", other_m.to_hex())),
            damaged,
        )
        .expect("file");

        let store = test.open().expect("store");
        let registry = PolicyRegistry::open(Arc::clone(&store), dir.path()).expect("import");
        assert_eq!(
            registry.list().expect("list"),
            vec![good_m],
            "{}",
            test.name()
        );
        assert_eq!(
            store
                .component(ComponentKind::Policy, &good_m)
                .expect("read"),
            Some(good.clone()),
            "imported into the store"
        );
        assert!(matches!(
            registry.get(&other_m),
            Err(RegistryError::Corrupt { .. })
        ));
        // A file dropped in the folder while serving is imported on its first use.
        let late = guest("hostile-filesystem");
        let late_m = Measurement::of(&late);
        fs::write(dir.path().join(format!("{}.wasm", late_m.to_hex())), &late).expect("file");
        assert_eq!(registry.get(&late_m).expect("imported on use"), late);
    }
}
