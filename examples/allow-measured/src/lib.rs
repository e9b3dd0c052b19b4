//! Keys for measured guests only: decrypt and release only for an attested guest whose
//! SHA-384 is on the key's allow-list (tag `allowed-guests`: `sha384:<hex>` values
//! separated by commas or spaces); encrypt for any crypto-user.
//!
//! Encrypting reveals nothing, so services may encrypt records under such a key through
//! the API, and a workload (record-vault) may seal a secret it must carry from one
//! invocation to the next; only a guest on the allow-list can decrypt either, or have the
//! key released to it. Any other operation is denied.

// No std on wasm: no WASI imports, one core instance, a bump allocator (see
// `kastell_guest::bare`); a cheaper fresh instance per evaluation.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::format;

use kastell_guest::prelude::*;

struct AllowMeasured;

impl Policy for AllowMeasured {
    fn evaluate(req: Request) -> Decision {
        match req.operation {
            // The key service has already checked the crypto-user role.
            Operation::Encrypt => return allow(),
            Operation::Release | Operation::Decrypt => {}
            _ => {
                return deny(
                    "allow-measured permits only release and decrypt to listed guests, and encrypt",
                );
            }
        }
        let Some(evidence) = req.valid_evidence() else {
            return deny("no valid attestation evidence");
        };
        let Some(key) = &req.key else {
            return deny("no key in request");
        };
        if evidence.guest_in(key.tag_list("allowed-guests")) {
            allow()
        } else {
            deny(format!(
                "guest {} is not in the key's allowed-guests",
                evidence.guest_measurement()
            ))
        }
    }
}

export_policy!(AllowMeasured, no_std);
