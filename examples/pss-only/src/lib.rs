//! RSA signatures with RSASSA-PSS only: `sign` is allowed with `RSASSA_PSS_SHA_256`,
//! `_384` or `_512` and denied with any other algorithm, PKCS#1 v1.5 included (its
//! signatures are deterministic and the scheme is the one Bleichenbacher-style attacks
//! keep finding ways into). Verifying and reading the public key are public acts, allowed
//! with any algorithm (old PKCS#1 v1.5 signatures still verify); everything else is
//! denied.

// No std on wasm: no WASI imports, one core instance, a bump allocator (see
// `kastell_guest::bare`); a cheaper fresh instance per evaluation.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::format;

use kastell_guest::prelude::*;

struct PssOnly;

impl Policy for PssOnly {
    fn evaluate(req: Request) -> Decision {
        match req.operation {
            Operation::Verify | Operation::GetPublicKey => allow(),
            Operation::Sign => match req.algorithm.as_deref() {
                Some(algorithm) if algorithm.starts_with("RSASSA_PSS_") => allow(),
                Some(algorithm) => deny(format!(
                    "pss-only signs with RSASSA-PSS only, not {algorithm}"
                )),
                None => deny("pss-only: the request names no algorithm"),
            },
            _ => deny("pss-only permits only sign, verify and get-public-key"),
        }
    }
}

export_policy!(PssOnly, no_std);
