//! Helpers for Kastell's end-to-end tests: locating the guest components that
//! `scripts/build-guests` built, and building requests.

use kastell_proto::{KeySpec, Operation, Role};
use std::path::PathBuf;

pub mod aws;
pub mod backup;
pub mod cluster;
pub mod relying;
pub mod server;
pub mod vault;

use kastell_core::sandbox::{KeyInfo, PolicyRequest, Principal};

/// Directory holding the built guests: `$CARGO_TARGET_DIR` (or the workspace's `target/`)
/// `/wasm32-wasip2/guest`.
#[must_use]
pub fn guest_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("wasm32-wasip2").join("guest")
}

/// A command's output as text (lossy UTF-8), for assertions and failure messages.
#[must_use]
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command running the `kastell` binary built beside the test executable.
///
/// # Panics
/// When the binary is missing: run `cargo build -p kastell` first (`scripts/test` does).
#[must_use]
pub fn kastell_command() -> std::process::Command {
    std::process::Command::new(kastell_path())
}

/// Runs `command` (standard input closed, standard output discarded, standard error into a
/// file of `dir`) and kills it when it runs past `limit`, so that a command expected to
/// refuse at once (a server that should not start) cannot hang a test. Returns how it
/// exited (`None`: killed for running too long) and its standard error.
///
/// # Panics
/// When the command cannot start or be waited for.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test helper: a failure is a failed test"
)]
pub fn run_within(
    mut command: std::process::Command,
    dir: &std::path::Path,
    limit: std::time::Duration,
) -> (Option<std::process::ExitStatus>, String) {
    use std::process::Stdio;
    let err_path = dir.join("run-within.stderr");
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("the command starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    (status, text(&stderr))
}

/// The path of the `kastell` binary built beside the test executable.
///
/// # Panics
/// When the binary is missing: run `cargo build -p kastell` first (`scripts/test` does).
#[must_use]
pub fn kastell_path() -> PathBuf {
    server::kastell_binary().unwrap_or_else(|err| panic!("{err}"))
}

/// The bytes of the guest built from crate `name` (e.g. `tenant-context`).
///
/// # Panics
/// When the guest has not been built: run `scripts/build-guests` first.
#[must_use]
pub fn guest(name: &str) -> Vec<u8> {
    let path = guest_dir().join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "guest `{name}` not found at {} ({err}); run scripts/build-guests first",
            path.display()
        )
    })
}

/// A request from principal `id` with `roles` and `tenant`, for `operation` on an AES key
/// tagged with `tags`, with encryption context `context`, at Unix time `time`.
#[must_use]
pub fn request(
    operation: Operation,
    principal: (&str, &[Role], Option<&str>),
    tags: &[(&str, &str)],
    context: &[(&str, &str)],
    time: u64,
) -> PolicyRequest {
    let (id, roles, tenant) = principal;
    let owned = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    PolicyRequest {
        operation,
        key: Some(KeyInfo {
            id: "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c".to_owned(),
            spec: KeySpec::Aes256,
            tags: owned(tags),
        }),
        other_key: None,
        algorithm: None,
        message_type: None,
        principal: Principal {
            id: id.to_owned(),
            roles: roles.to_vec(),
            tenant: tenant.map(str::to_owned),
        },
        context: kastell_proto::EncryptionContext(owned(context)),
        evidence: None,
        time,
    }
}

/// The canonical tenant-context request: crypto-user of `acme` decrypting `acme` data.
#[must_use]
pub fn tenant_request(context_tenant: &str) -> PolicyRequest {
    request(
        Operation::Decrypt,
        ("svc-billing", &[Role::CryptoUser], Some("acme")),
        &[],
        &[("tenant", context_tenant)],
        1_764_064_800,
    )
}

/// A new soft token file `soft.token` in `dir` (passphrase `correct horse`, the
/// interactive Argon2id cost), as the key tests use it.
///
/// # Errors
/// As [`kastell_core::token::SoftToken::create`].
pub fn soft_token(
    dir: &std::path::Path,
) -> Result<kastell_core::token::SoftToken, kastell_core::token::TokenError> {
    kastell_core::token::SoftToken::create(
        &dir.join("soft.token"),
        &"correct horse".to_owned().into(),
        kastell_core::token::KdfCost::Interactive,
    )
}

/// The SoftHSM2 token `scripts/test` prepares: module path, token label and user PIN from
/// `KASTELL_TEST_PKCS11_MODULE`, `KASTELL_TEST_TOKEN_LABEL` and `KASTELL_TEST_PIN`.
///
/// # Panics
/// When the variables are missing: PKCS#11 tests never pass by skipping.
#[must_use]
pub fn softhsm_config() -> kastell_core::token::Pkcs11Config {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the tests through scripts/test, which creates a SoftHSM2 token")
        })
    };
    kastell_core::token::Pkcs11Config {
        module: PathBuf::from(var("KASTELL_TEST_PKCS11_MODULE")),
        token_label: var("KASTELL_TEST_TOKEN_LABEL"),
        pin: var("KASTELL_TEST_PIN").into(),
    }
}

/// A label no earlier run on the same token used.
#[must_use]
pub fn unique_label(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// A key service over a real SQLite file and policy registry in `dir`, with `token`, the
/// RustCrypto provider and a default sandbox; `policies` (example or fixture names) are
/// added to the registry. Returns the service, its store and the policies' measurements.
///
/// # Panics
/// When a part cannot be opened: a test set-up failure.
#[must_use]
#[expect(
    clippy::expect_used,
    reason = "test set-up: a failure is a failed test"
)]
pub fn key_service(
    dir: &std::path::Path,
    token: std::sync::Arc<dyn kastell_core::token::Token>,
    keys: kastell_core::keys::ServiceKeys,
    policies: &[&str],
) -> (
    kastell_core::keys::KeyService,
    std::sync::Arc<kastell_core::store::SqliteStore>,
    Vec<kastell_attest::Measurement>,
) {
    use std::sync::Arc;
    let store = Arc::new(
        kastell_core::store::SqliteStore::open(&dir.join("kastell.db")).expect("store opens"),
    );
    let sandbox = Arc::new(
        kastell_core::sandbox::Sandbox::new(kastell_core::sandbox::SandboxLimits::default())
            .expect("sandbox"),
    );
    let registry =
        kastell_core::registry::PolicyRegistry::open(store.clone(), &dir.join("policies"))
            .expect("registry");
    let measurements = policies
        .iter()
        .map(|name| registry.add(&sandbox, &guest(name)).expect("policy added"))
        .collect();
    let service = kastell_core::keys::KeyService::new(
        store.clone(),
        token,
        Arc::new(kastell_core::crypto::RustCrypto),
        sandbox,
        registry,
        keys,
    );
    service.ensure_service_keys().expect("service keys");
    (service, store, measurements)
}
