//! Encryption operations (encrypt, decrypt, data keys, re-encrypt in both directions) only
//! for a crypto-user whose tenant equals the encryption context's `tenant`; nothing else.
//! Re-encrypting out of the key (`re-encrypt-from`) is allowed under the same rule as
//! decrypt, since it lets the caller decrypt under the destination key.

// No std on wasm: no WASI imports, one core instance, a bump allocator (see
// `kastell_guest::bare`); a cheaper fresh instance per evaluation.
#![cfg_attr(target_arch = "wasm32", no_std)]

use kastell_guest::prelude::*;

struct TenantContext;

impl Policy for TenantContext {
    fn evaluate(req: Request) -> Decision {
        let encryption = matches!(
            req.operation,
            Operation::Encrypt
                | Operation::Decrypt
                | Operation::GenerateDataKey
                | Operation::GenerateDataKeyWithoutPlaintext
                | Operation::ReEncryptFrom
                | Operation::ReEncryptTo
        );
        if !encryption {
            return deny("tenant-context permits only encryption operations");
        }
        if !req.principal.has_role(Role::CryptoUser) {
            return deny("only the crypto-user role may use the key");
        }
        match (req.context_value("tenant"), req.principal.tenant.as_deref()) {
            (Some(wanted), Some(own)) if wanted == own => allow(),
            (None, _) => deny("encryption context has no tenant"),
            (Some(_), None) => deny("principal has no tenant"),
            (Some(_), Some(_)) => deny("tenant in context differs from the principal's"),
        }
    }
}

export_policy!(TenantContext, no_std);
