#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
// Only the generated bindings and the allocator hold unsafe code.
// Policies may be `no_std` (see `export_policy!(Type, no_std)`); workloads and the release
// code use std.
#![cfg_attr(not(any(test, feature = "workload", feature = "release")), no_std)]

extern crate alloc;

pub mod bare;
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
///
/// `export_policy!(Type, no_std)`, in a crate marked
/// `#![cfg_attr(target_arch = "wasm32", no_std)]`, also installs the [`bare`] runtime on
/// wasm: a bump allocator and a panic handler that traps. Such a policy imports no WASI,
/// is a single core instance, and costs less per evaluation (BENCHMARKS.md, "the sandbox's
/// cost per evaluation").
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        $crate::bindings::__export_policy_world!($policy with_types_in $crate::bindings);
    };
    ($policy:ident, no_std) => {
        $crate::export_policy!($policy);

        #[cfg(target_arch = "wasm32")]
        #[global_allocator]
        static KASTELL_GUEST_ALLOCATOR: $crate::bare::BumpAllocator =
            $crate::bare::BumpAllocator::new();

        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "the canonical ABI's allocation entry point")]
        #[unsafe(export_name = "cabi_realloc")]
        unsafe extern "C" fn kastell_guest_cabi_realloc(
            old_ptr: *mut u8,
            old_len: usize,
            align: usize,
            new_len: usize,
        ) -> *mut u8 {
            // SAFETY: the host calls it as the canonical ABI's `realloc`.
            unsafe { $crate::bare::cabi_realloc(old_ptr, old_len, align, new_len) }
        }

        /// A panic traps: the host denies, naming the trap.
        #[cfg(target_arch = "wasm32")]
        #[panic_handler]
        fn kastell_guest_panic(_: &::core::panic::PanicInfo<'_>) -> ! {
            ::core::arch::wasm32::unreachable()
        }
    };
}
