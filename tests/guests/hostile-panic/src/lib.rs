//! Panics while evaluating.

use kastell_guest::prelude::*;

struct Panics;

impl Policy for Panics {
    fn evaluate(req: Request) -> Decision {
        let tenant = req.principal.tenant.unwrap_or_default();
        panic!("policy bug for tenant {tenant}");
    }
}

export_policy!(Panics);
