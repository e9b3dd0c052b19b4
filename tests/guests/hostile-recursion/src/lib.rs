//! Recurses without bound on the native (wasm) stack. The depth comes from the request and
//! the combination is not an accumulator, so the compiler cannot fold it into a loop; no
//! local has its address taken, so nothing lands on the shadow stack in linear memory.

use kastell_guest::prelude::*;

struct Recurse;

#[inline(never)]
fn descend(n: u64, salt: u64) -> u64 {
    if n == 0 {
        return salt;
    }
    let below = descend(n - 1, salt.rotate_left(3));
    below.rotate_left(1) ^ descend_tail(n, salt)
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
