//! Spins until the sandbox stops it.

use kastell_guest::prelude::*;

struct Spin;

impl Policy for Spin {
    fn evaluate(req: Request) -> Decision {
        let mut n = req.time;
        while std::hint::black_box(n) != 0 {
            n = std::hint::black_box(n.wrapping_add(2) | 1);
        }
        allow()
    }
}

export_policy!(Spin);
