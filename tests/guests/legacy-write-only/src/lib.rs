//! A policy as it could be written against the old contract (`kastell:runtime@0.1.0`, one
//! `re-encrypt` for both keys): "write-only", it denies `decrypt` and allows everything
//! else, `re-encrypt` included. Under that contract a caller could re-encrypt a ciphertext
//! out of the key to a key it may decrypt under; the host now asks such a policy `decrypt`
//! too for the source side of a re-encrypt.

/// Bindings of the frozen 0.1.0 policy world.
mod bindings {
    #![allow(missing_docs, reason = "generated")]
    #![allow(unsafe_code, reason = "wit-bindgen's generated canonical-ABI glue")]
    wit_bindgen::generate!({
        world: "policy",
        path: "../../../wit/legacy/policy-0.1.0.wit",
    });
}

use bindings::kastell::runtime::types::{Decision, Operation, Request};

struct LegacyWriteOnly;

impl bindings::Guest for LegacyWriteOnly {
    fn evaluate(req: Request) -> Decision {
        match req.operation {
            Operation::Decrypt => Decision::Deny("legacy write-only: decrypt denied".into()),
            _ => Decision::Allow,
        }
    }
}

/// The `evaluate` export. (kastell-guest's `export_policy!` does this for 0.2.0 policies.)
mod exported {
    #![allow(unsafe_code, reason = "wit-bindgen's generated export glue")]
    use super::{LegacyWriteOnly, bindings};
    bindings::export!(LegacyWriteOnly with_types_in bindings);
}
