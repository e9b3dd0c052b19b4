//! A write-only key: crypto-users may encrypt under it and re-encrypt ciphertexts of other
//! keys into it (`re-encrypt-to`); nothing leaves it, neither by `decrypt` nor by
//! re-encrypting out to another key (`re-encrypt-from`). The denials name the key on the
//! other side, which the request carries as `other-key`.

use kastell_guest::prelude::*;

struct WriteOnly;

impl Policy for WriteOnly {
    fn evaluate(req: Request) -> Decision {
        let other = req
            .other_key
            .as_ref()
            .map_or("no key", |key| key.id.as_str());
        match req.operation {
            Operation::Encrypt | Operation::GenerateDataKeyWithoutPlaintext => allow(),
            Operation::ReEncryptTo if req.other_key.is_some() => allow(),
            Operation::ReEncryptTo => deny("write-only: re-encrypt-to names no source key"),
            Operation::ReEncryptFrom => deny(format!(
                "write-only: nothing leaves this key (re-encrypt-from to {other})"
            )),
            Operation::Decrypt => deny("write-only: decrypt denied"),
            _ => deny("write-only: only encrypt and re-encrypt-to"),
        }
    }
}

export_policy!(WriteOnly);
