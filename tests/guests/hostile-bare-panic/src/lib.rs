//! A `no_std` policy that panics while evaluating: with no stderr to write to, its panic
//! handler traps.

#![cfg_attr(target_arch = "wasm32", no_std)]

use kastell_guest::prelude::*;

struct Panics;

impl Policy for Panics {
    fn evaluate(req: Request) -> Decision {
        let tenant = req.principal.tenant.unwrap_or_default();
        panic!("policy bug for tenant {tenant}");
    }
}

export_policy!(Panics, no_std);
