//! Release or decrypt only for an attested guest whose SHA-384 is on the key's allow-list
//! (tag `allowed-guests`: `sha384:<hex>` values separated by commas or spaces).

use kastell_guest::prelude::*;

struct AllowMeasured;

impl Policy for AllowMeasured {
    fn evaluate(req: Request) -> Decision {
        if !matches!(req.operation, Operation::Release | Operation::Decrypt) {
            return deny("allow-measured permits only release and decrypt");
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

export_policy!(AllowMeasured);
