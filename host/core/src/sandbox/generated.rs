//! Host bindings generated from `wit/`, kept in one private module.

/// The `kastell:runtime/policy` world.
pub(crate) mod policy {
    #![allow(missing_docs, reason = "generated")]
    wasmtime::component::bindgen!({ world: "policy", path: "../../wit" });
}

/// The `kastell:runtime/policy@0.1.0` world: the frozen contract of policies built before
/// `re-encrypt` had a direction, loaded with the fail-closed mapping of
/// [`super::legacy`].
pub(crate) mod policy_v0_1 {
    #![allow(missing_docs, reason = "generated")]
    wasmtime::component::bindgen!({ world: "policy", path: "../../wit/legacy/policy-0.1.0.wit" });
}

/// The `kastell:runtime/workload` world. Key handles are host-side [`KeyRef`]s in the
/// store's resource table; every import may trap (a host fault ends the invocation).
///
/// [`KeyRef`]: super::workload::KeyRef
pub(crate) mod workload {
    #![allow(missing_docs, reason = "generated")]
    wasmtime::component::bindgen!({
        world: "workload",
        path: "../../wit",
        imports: { default: trappable },
        with: { "kastell:runtime/keys.key-handle": crate::sandbox::workload::KeyRef },
    });
}

/// The `kastell:runtime/aws-key-policy` world: the bundled AWS key policy evaluator.
pub(crate) mod aws_key_policy {
    #![allow(missing_docs, reason = "generated")]
    wasmtime::component::bindgen!({ world: "aws-key-policy", path: "../../wit" });
}
