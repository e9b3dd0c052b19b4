//! Host bindings generated from `wit/`, kept in one private module.

/// The `kastell:runtime/policy` world.
pub(crate) mod policy {
    #![allow(missing_docs, reason = "generated")]
    wasmtime::component::bindgen!({ world: "policy", path: "../wit" });
}

/// The `kastell:runtime/workload` world. Its host side lands with workload support; the
/// bindings are generated now so that a change to the WIT that breaks them fails the build.
pub(crate) mod workload {
    #![allow(
        missing_docs,
        dead_code,
        reason = "generated; used once workloads land"
    )]
    wasmtime::component::bindgen!({ world: "workload", path: "../wit" });
}
