//! Writing a workload: a measured guest that runs key operations through key handles.
//!
//! Enabled by the cargo feature `workload` (off by default, so that a policy's bytes, and
//! so its measurement, do not depend on it). A workload is a `cdylib` built for
//! `wasm32-wasip2` that implements [`Workload`] and exports itself with
//! [`export_workload!`](crate::export_workload). Its one entry point, `run`, takes bytes
//! and returns bytes or a one-line error.
//!
//! What the host offers it, and nothing else:
//!
//! - [`KeyHandle`]: opens a key by id or `alias/<name>` and runs key operations on it. The
//!   key's bytes never enter the guest; every call is gated by the key's policy, with the
//!   workload's own SHA-384 as verified evidence.
//! - [`random`]: random bytes from the host's token (at most 1024 per call), the only
//!   source of randomness: `HashMap`'s random seed and `getrandom` import `wasi:random`,
//!   which the host refuses at load; use `BTreeMap`.
//! - [`attest`]: evidence binding the workload's SHA-384 to a public key it holds (and a
//!   nonce and user data), signed by the host's attestation CA.
//!
//! A workload instance is fresh for each invocation: whatever must outlive one `run` is
//! returned to the caller, sealed under a key only this workload's measurement may use.
//!
//! ```no_run
//! use kastell_guest::export_workload;
//! use kastell_guest::workload::{KeyHandle, Workload};
//!
//! /// Encrypts its input under the key `alias/notes`, for the tenant `acme`.
//! struct Notes;
//!
//! impl Workload for Notes {
//!     fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
//!         let context = [("tenant".to_owned(), "acme".to_owned())];
//!         let key = KeyHandle::open("alias/notes").map_err(|e| format!("open: {e}"))?;
//!         key.encrypt(&input, &context)
//!             .map_err(|e| format!("encrypt: {e}"))
//!     }
//! }
//!
//! export_workload!(Notes);
//! ```

/// Bindings generated from the `kastell:runtime/workload` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "workload",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_workload_world",
        default_bindings_module: "kastell_guest::workload::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::Guest as Workload;
pub use bindings::kastell::runtime::attestation::{AttestationEvidence, attest};
pub use bindings::kastell::runtime::keys::{DataKey, KeyError, KeyHandle, random};
pub use bindings::kastell::runtime::types::KeySpec;

/// Exports a type implementing [`Workload`] as the component's `run` function.
///
/// Use it once, at the crate root of a `cdylib` built for `wasm32-wasip2` with the
/// feature `workload`.
#[macro_export]
macro_rules! export_workload {
    ($workload:ident) => {
        $crate::workload::bindings::__export_workload_world!(
            $workload with_types_in $crate::workload::bindings
        );
    };
}
