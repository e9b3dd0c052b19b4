//! A `no_std` policy that allocates 64 MiB and touches every page, under a 16 MiB cap: the
//! bump allocator grows linear memory until the host refuses.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use kastell_guest::prelude::*;

struct Bomb;

impl Policy for Bomb {
    fn evaluate(req: Request) -> Decision {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        for _ in 0..64 {
            hoard.push(vec![u8::try_from(req.time % 251).unwrap_or(1); 1 << 20]);
        }
        let total: usize = hoard.iter().map(|chunk| usize::from(chunk[4095])).sum();
        if core::hint::black_box(total) == usize::MAX {
            allow()
        } else {
            deny("survived")
        }
    }
}

export_policy!(Bomb, no_std);
