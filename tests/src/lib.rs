//! Helpers for Kastell's end-to-end tests: locating the guest components that
//! `scripts/build-guests` built, and building requests.

use std::path::PathBuf;

use kastell::sandbox::{KeyInfo, KeySpec, Operation, PolicyRequest, Principal, Role};

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
        principal: Principal {
            id: id.to_owned(),
            roles: roles.to_vec(),
            tenant: tenant.map(str::to_owned),
        },
        context: kastell::sandbox::EncryptionContext(owned(context)),
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
