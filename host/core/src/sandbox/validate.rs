//! Checks a component before it may run: its header, size, world and imports.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The version of the `kastell:runtime` package guests are built against.
pub const RUNTIME_VERSION: &str = "0.2.0";

/// The world a policy component implements.
pub const POLICY_WORLD: &str = "kastell:runtime/policy@0.2.0";

/// The world of policies built against the old contract, still loaded (see
/// [`super::legacy`]).
pub const POLICY_WORLD_V0_1: &str = "kastell:runtime/policy@0.1.0";

/// Imports a policy may carry: the world's own type-only interface, and the namespaces a
/// std Rust guest for `wasm32-wasip2` carries. Functions in them are satisfied with
/// functions that trap, so nothing reaches the guest through them.
const ALLOWED_IMPORTS: &[&str] = &["kastell:runtime/types@", "wasi:cli/", "wasi:io/"];

/// The world a workload component implements.
pub const WORKLOAD_WORLD: &str = "kastell:runtime/workload@0.2.0";

/// Imports a workload may carry: the world's key and attestation interfaces (served by the
/// host) and what a policy may carry (denied at run time).
const WORKLOAD_IMPORTS: &[&str] = &[
    "kastell:runtime/types@",
    "kastell:runtime/keys@",
    "kastell:runtime/attestation@",
    "wasi:cli/",
    "wasi:io/",
];

/// Why a component was refused at load. Each message is one line naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Larger than the configured maximum component size.
    #[error("component is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Does not start with the WebAssembly magic number.
    #[error("not a WebAssembly binary (no \\0asm magic number)")]
    NotWasm,
    /// A core module, where a component is required.
    #[error(
        "a core WebAssembly module, not a component: build for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// A WebAssembly binary of a version or layer this host does not know.
    #[error("unsupported WebAssembly binary version/layer {0:#010x}")]
    UnknownVersion(u32),
    /// The component failed validation or compilation.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Imports something a policy may not have.
    #[error(
        "forbidden imports: {} (a policy may import only wasi:cli/* and wasi:io/*, which are denied at run time; no filesystem, network, clock or randomness)",
        .0.join(", ")
    )]
    ForbiddenImports(Vec<String>),
    /// Does not implement the `policy` world.
    #[error("does not implement {POLICY_WORLD}: {0}")]
    WrongWorld(String),
    /// A workload that imports something a workload may not have.
    #[error(
        "forbidden imports: {} (a workload may import only kastell:runtime/keys and attestation, and wasi:cli/* and wasi:io/*, which are denied at run time; no filesystem, network, clock or randomness but the host's `random`)",
        .0.join(", ")
    )]
    ForbiddenWorkloadImports(Vec<String>),
    /// Does not implement the `workload` world.
    #[error("does not implement {WORKLOAD_WORLD}: {0}")]
    NotWorkload(String),
    /// Built against a version of the `kastell:runtime` package this host does not run.
    #[error(
        "built against kastell:runtime@{found}, which this host does not load for a {kind}: rebuild it against kastell:runtime@{RUNTIME_VERSION} (the kastell-guest of this release)"
    )]
    RuntimeVersion {
        /// `policy` or `workload`.
        kind: &'static str,
        /// The version its imports name.
        found: String,
    },
}

/// Checks the size and the 8-byte header: magic number, then version and layer.
pub(crate) fn check_header(bytes: &[u8], limit: usize) -> Result<(), LoadError> {
    if bytes.len() > limit {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let Some((magic, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(LoadError::NotWasm);
    };
    if magic != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    let Some(version) = rest.first_chunk::<4>() else {
        return Err(LoadError::Invalid("truncated header".into()));
    };
    match version {
        [0x01, 0x00, 0x00, 0x00] => Err(LoadError::CoreModule),
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        _ => Err(LoadError::UnknownVersion(u32::from_le_bytes(*version))),
    }
}

/// Checks that `component` exports `evaluate` and imports nothing beyond what is denied at
/// run time. The export's type is checked when the instance is pre-linked.
pub(crate) fn check_policy_world(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let forbidden = forbidden(engine, component, ALLOWED_IMPORTS);
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenImports(forbidden));
    }
    check_versions(
        engine,
        component,
        "policy",
        &[RUNTIME_VERSION, super::legacy::VERSION],
    )?;
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if exports.contains(&"evaluate") {
        Ok(())
    } else if exports.contains(&"run") {
        Err(LoadError::WrongWorld(
            "it exports `run`: a workload (kastell:runtime/workload), not a policy".into(),
        ))
    } else {
        Err(LoadError::WrongWorld(format!(
            "no `evaluate` export (exports: {})",
            if exports.is_empty() {
                "none".to_owned()
            } else {
                exports.join(", ")
            }
        )))
    }
}

/// Refuses a component whose `kastell:runtime` imports name a version not in `known`.
fn check_versions(
    engine: &Engine,
    component: &Component,
    kind: &'static str,
    known: &[&str],
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let unknown = ty
        .imports(engine)
        .filter_map(|(name, _)| runtime_version(name))
        .find(|version| !known.contains(version));
    match unknown {
        Some(found) => Err(LoadError::RuntimeVersion {
            kind,
            found: found.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The version in an import name `kastell:runtime/<interface>@<version>`.
fn runtime_version(import: &str) -> Option<&str> {
    import
        .strip_prefix("kastell:runtime/")
        .and_then(|rest| rest.split_once('@'))
        .map(|(_, version)| version)
}

fn forbidden(engine: &Engine, component: &Component, allowed: &[&str]) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !allowed.iter().any(|ns| name.starts_with(ns)))
        .map(str::to_owned)
        .collect()
}

/// Checks that `component` exports `run` and imports nothing beyond the workload world's
/// interfaces and what is denied at run time.
pub(crate) fn check_workload_world(
    engine: &Engine,
    component: &Component,
) -> Result<(), LoadError> {
    let forbidden = forbidden(engine, component, WORKLOAD_IMPORTS);
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenWorkloadImports(forbidden));
    }
    // Host imports of another version would be linked as traps: refuse them by name.
    check_versions(engine, component, "workload", &[RUNTIME_VERSION])?;
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if exports.contains(&"run") {
        Ok(())
    } else if exports.contains(&"evaluate") {
        Err(LoadError::NotWorkload(
            "it exports `evaluate`: a policy (kastell:runtime/policy), not a workload".into(),
        ))
    } else {
        Err(LoadError::NotWorkload(format!(
            "no `run` export (exports: {})",
            if exports.is_empty() {
                "none".to_owned()
            } else {
                exports.join(", ")
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_classifies_each_kind_of_input() {
        assert_eq!(check_header(b"", 100), Err(LoadError::NotWasm));
        assert_eq!(check_header(b"hello world", 100), Err(LoadError::NotWasm));
        assert_eq!(
            check_header(b"\0asm\x01\0\0\0", 100),
            Err(LoadError::CoreModule)
        );
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0", 100), Ok(()));
        assert_eq!(
            check_header(b"\0asm\x02\0\0\0", 100),
            Err(LoadError::UnknownVersion(2))
        );
        assert!(matches!(
            check_header(b"\0asm", 100),
            Err(LoadError::Invalid(_))
        ));
        assert_eq!(
            check_header(&[0; 101], 100),
            Err(LoadError::TooLarge {
                size: 101,
                limit: 100
            })
        );
    }

    #[test]
    fn runtime_version_is_read_from_kastell_imports_only() {
        assert_eq!(runtime_version("kastell:runtime/keys@0.1.0"), Some("0.1.0"));
        assert_eq!(
            runtime_version("kastell:runtime/types@0.2.0"),
            Some("0.2.0")
        );
        assert_eq!(runtime_version("wasi:io/streams@0.2.6"), None);
        assert_eq!(runtime_version("kastell:runtime/keys"), None);
        let text = LoadError::RuntimeVersion {
            kind: "workload",
            found: "0.1.0".into(),
        }
        .to_string();
        assert!(
            text.contains("kastell:runtime@0.1.0")
                && text.contains("rebuild it against kastell:runtime@0.2.0"),
            "{text}"
        );
    }

    #[test]
    fn forbidden_imports_message_names_each_import() {
        let err = LoadError::ForbiddenImports(vec![
            "wasi:filesystem/types@0.2.6".into(),
            "wasi:sockets/tcp@0.2.6".into(),
        ]);
        let text = err.to_string();
        assert!(text.contains("wasi:filesystem/types@0.2.6, wasi:sockets/tcp@0.2.6"));
    }
}
