//! Recurses without bound (the depth comes from the request, so it is not folded away).

use kastell_guest::prelude::*;

struct Recurse;

#[inline(never)]
fn descend(n: u64, salt: u64) -> u64 {
    if n == 0 {
        return salt;
    }
    let below = descend(std::hint::black_box(n - 1), salt.rotate_left(3));
    below ^ descend_tail(n, salt)
}

#[inline(never)]
fn descend_tail(n: u64, salt: u64) -> u64 {
    n.wrapping_mul(salt | 1)
}

impl Policy for Recurse {
    fn evaluate(req: Request) -> Decision {
        if descend(req.time, req.time) == 42 {
            allow()
        } else {
            deny("returned")
        }
    }
}

export_policy!(Recurse);
