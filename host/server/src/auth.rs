//! The authenticated caller of a request, and role checks for the endpoints the key
//! service does not guard itself (policies, audit, metrics).

use kastell_proto::ErrorCode;
use kastell_proto::Role;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::tls::Peer;
use super::{Shared, blocking};
use kastell_core::audit::Outcome;
use kastell_core::keys::Caller;

/// The caller named by the connection's client certificate; 401 without one.
#[derive(Debug, Clone)]
pub struct Auth(pub Arc<Caller>);

/// The caller and its client certificate (DER), for approvals signed with its key.
#[derive(Debug, Clone)]
pub struct AuthCertificate(pub Arc<Caller>, pub Arc<[u8]>);

impl FromRequestParts<Shared> for AuthCertificate {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let Auth(caller) = Auth::from_request_parts(parts, state).await?;
        match parts.extensions.get::<Peer>() {
            Some(Peer::Known(_, certificate, _)) => Ok(Self(caller, Arc::clone(certificate))),
            _ => Err(unauthenticated("a client certificate is required".into())),
        }
    }
}

fn unauthenticated(message: String) -> ApiError {
    ApiError::of(ErrorCode::Unauthenticated, message)
}

impl FromRequestParts<Shared> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Peer>() {
            Some(Peer::Known(caller, _, serial)) if state.is_revoked(serial) => {
                let reason = format!("client certificate {serial} is revoked");
                state.metrics.denied("revoked-certificate");
                // The first refusal of this certificate is audited now, the ones after it
                // summed up every interval: a revoked client cannot buy an fsync a request.
                let first = state.refusals.note(
                    &format!("revoked {serial}"),
                    &caller.id,
                    "authenticate",
                    None,
                    &reason,
                );
                if let Some(entry) = first {
                    let audit_state = Arc::clone(state);
                    blocking(move || {
                        audit_state
                            .service
                            .record_entry(entry)
                            .map(drop)
                            .map_err(ApiError::from)
                    })
                    .await?;
                }
                Err(unauthenticated(reason))
            }
            Some(Peer::Known(caller, _, _)) => Ok(Self(Arc::clone(caller))),
            Some(Peer::Malformed(why)) => Err(unauthenticated(format!(
                "the client certificate names no usable identity: {why}"
            ))),
            _ => Err(unauthenticated(
                "a client certificate issued by this deployment's root is required".into(),
            )),
        }
    }
}

/// Refuses (403, audited as denied `operation`) unless the caller holds `role`.
///
/// # Errors
/// 403 AccessDenied; 500 when the refusal cannot be audited.
pub async fn require(
    state: &Shared,
    caller: &Arc<Caller>,
    role: Role,
    operation: &'static str,
) -> Result<(), ApiError> {
    if caller.roles.contains(&role) {
        return Ok(());
    }
    let reason = format!("caller lacks the {} role", role.as_str());
    state.metrics.denied("role");
    let (state, caller, audited) = (Arc::clone(state), Arc::clone(caller), reason.clone());
    blocking(move || {
        state
            .service
            .record_event(&caller.id, operation, None, Outcome::Denied, audited)
            .map_err(ApiError::from)
    })
    .await?;
    Err(ApiError::forbidden(reason))
}
