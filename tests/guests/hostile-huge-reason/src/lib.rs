//! Answers deny with a 4 MiB reason.

use kastell_guest::prelude::*;

struct Chatty;

impl Policy for Chatty {
    fn evaluate(req: Request) -> Decision {
        let len = 4 << 20;
        deny("x".repeat(len + usize::try_from(req.time % 2).unwrap_or(0)))
    }
}

export_policy!(Chatty);
