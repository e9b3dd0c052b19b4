//! Decrypt only for a crypto-user whose tenant equals the encryption context's `tenant`.

use kastell_guest::prelude::*;

struct TenantContext;

impl Policy for TenantContext {
    fn evaluate(req: Request) -> Decision {
        if req.operation != Operation::Decrypt {
            return deny("tenant-context permits only decrypt");
        }
        if !req.principal.has_role(Role::CryptoUser) {
            return deny("only the crypto-user role may decrypt");
        }
        match (req.context_value("tenant"), req.principal.tenant.as_deref()) {
            (Some(wanted), Some(own)) if wanted == own => allow(),
            (None, _) => deny("encryption context has no tenant"),
            (Some(_), None) => deny("principal has no tenant"),
            (Some(_), Some(_)) => deny("tenant in context differs from the principal's"),
        }
    }
}

export_policy!(TenantContext);
