//! A workload as built against the old contract (`kastell:runtime@0.1.0`): it imports the
//! host's `random` from `kastell:runtime/keys@0.1.0`. The host serves only 0.2.0 imports,
//! and would otherwise link these as traps; it refuses the component at load, naming the
//! version. Only the part of the old `keys` interface this guest calls is declared.

/// Bindings of the old workload world's `random`.
mod bindings {
    #![allow(missing_docs, reason = "generated")]
    #![allow(unsafe_code, reason = "wit-bindgen's generated canonical-ABI glue")]
    wit_bindgen::generate!({
        inline: r"
            package kastell:runtime@0.1.0;

            interface keys {
                variant key-error { internal(string) }
                random: func(len: u32) -> result<list<u8>, key-error>;
            }

            world workload {
                import keys;
                export run: func(input: list<u8>) -> result<list<u8>, string>;
            }
        ",
        world: "workload",
    });
}

struct LegacyWorkload;

impl bindings::Guest for LegacyWorkload {
    fn run(_input: Vec<u8>) -> Result<Vec<u8>, String> {
        bindings::kastell::runtime::keys::random(16).map_err(|_| "random failed".to_owned())
    }
}

/// The `run` export.
mod exported {
    #![allow(unsafe_code, reason = "wit-bindgen's generated export glue")]
    use super::{LegacyWorkload, bindings};
    bindings::export!(LegacyWorkload with_types_in bindings);
}
