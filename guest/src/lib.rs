#![doc = include_str!("../README.md")]
#![deny(unsafe_code)] // Only the generated bindings below hold unsafe code.

mod helpers;
#[cfg(feature = "release")]
pub mod release;
#[cfg(feature = "workload")]
pub mod workload;

/// Bindings generated from the `kastell:runtime/policy` world.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "kastell_guest::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::Guest as Policy;
pub use bindings::kastell::runtime::types::{
    Decision, Evidence, KeyInfo, KeySpec, MessageType, Operation, Principal, Request, Role,
};
pub use helpers::{allow, deny, hex_sha384};

/// Everything a policy usually needs, in one import.
pub mod prelude {
    pub use crate::{
        Decision, Evidence, KeyInfo, KeySpec, MessageType, Operation, Policy, Principal, Request,
        Role, allow, deny, export_policy,
    };
}

/// Exports a type implementing [`Policy`] as the component's `evaluate` function.
///
/// Use it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        $crate::bindings::__export_policy_world!($policy with_types_in $crate::bindings);
    };
}
