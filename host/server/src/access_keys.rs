//! Access keys of the AWS endpoint through the server (crypto-officer): issue (under the
//! `issue-officer` quorum for keys with the crypto-officer role, `issue-client` for the
//! others, as client certificates), list, revoke (an officer's key under `issue-officer`),
//! and collect a key issued after approvals. The secret is never in an answer in the
//! clear: it is sealed with HPKE to the P-384 public key of the request, which the officers
//! approve with the rest of it.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use kastell_core::audit::Outcome;
use kastell_proto::api::{
    AccessKeyIssued, AccessKeyList, AccessKeyQuery, AccessKeyRequest, AccessKeyRevoked, ErrorBody,
    PendingResponse, RevokeRequest,
};
use kastell_proto::{ErrorCode, PendingState, QuorumAction, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{check_access_key_principal, gated, recipient_point, revoke_access_key};
use super::auth::require;
use super::error::{ApiError, ApiJson, ApiPath};
use super::{Auth, Shared, blocking};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(issue_access_key, list_access_keys))
        .routes(routes!(revoke))
        .routes(routes!(collect))
}

/// Issues an access key for the AWS endpoint (crypto-officer): of class `issue-officer`
/// when it carries the crypto-officer role, `issue-client` otherwise; either may need
/// approvals (202, then `GET /v1/access-keys/collect/{operation}`). The secret comes back
/// sealed to `public_key`.
#[utoipa::path(post, path = "/v1/access-keys", tag = "approvals",
    request_body = AccessKeyRequest,
    responses((status = 200, body = AccessKeyIssued), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn issue_access_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<AccessKeyRequest>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "issue-access-key").await?;
    // Refused before officers are asked to approve (and again when it runs).
    recipient_point(&body.public_key)?;
    let checked = Shared::clone(&state);
    let request = body.clone();
    blocking(move || check_access_key_principal(&checked, &request)).await?;
    gated(state, caller, QuorumAction::IssueAccessKey(body)).await
}

/// Lists the access keys issued here (never their secrets), by id.
#[utoipa::path(get, path = "/v1/access-keys", tag = "approvals", params(AccessKeyQuery),
    responses((status = 200, body = AccessKeyList), (status = 403, body = ErrorBody)))]
async fn list_access_keys(
    State(state): State<Shared>,
    Auth(caller): Auth,
    query: Result<Query<AccessKeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccessKeyList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_input(e.body_text()))?;
    require(&state, &caller, Role::CryptoOfficer, "access-key-list").await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    blocking(move || {
        let access_keys = state
            .service
            .store()
            .access_keys(query.after.as_deref(), limit)
            .map_err(ApiError::internal)?;
        Ok(Json(AccessKeyList { access_keys }))
    })
    .await
}

/// Revokes an access key: the AWS endpoint refuses it from the next request on. A key with
/// the crypto-officer role is of class `issue-officer` and may need approvals (202), as an
/// officer's certificate.
#[utoipa::path(post, path = "/v1/access-keys/{id}/revoke", tag = "approvals",
    params(("id" = String, Path, description = "Access key id")),
    request_body = RevokeRequest,
    responses((status = 200, body = AccessKeyRevoked), (status = 202, body = PendingResponse),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "revoke-access-key").await?;
    let looked_up = Shared::clone(&state);
    let known = id.clone();
    let info = blocking(move || Ok(looked_up.service.access_key(&known)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no access key {id}")))?;
    if info.roles.iter().any(|r| r == Role::CryptoOfficer.as_str()) {
        let action = QuorumAction::RevokeAccessKey {
            id,
            reason: body.reason,
        };
        return gated(state, caller, action).await;
    }
    blocking(move || {
        Ok(Json(revoke_access_key(&state, &caller, &id, &body.reason)?).into_response())
    })
    .await
}

/// The access key an approved `POST /v1/access-keys` issued, its secret sealed (again) to
/// the public key of the approved request: only that key's holder opens it.
#[utoipa::path(get, path = "/v1/access-keys/collect/{operation}", tag = "approvals",
    params(("operation" = String, Path, description = "The approved operation's id")),
    responses((status = 200, body = AccessKeyIssued), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn collect(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(operation): ApiPath<String>,
) -> Result<Json<AccessKeyIssued>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "collect-access-key").await?;
    blocking(move || {
        let op = state
            .quorum
            .operation(&operation)?
            .ok_or_else(|| ApiError::not_found(format!("no operation {operation}")))?;
        let QuorumAction::IssueAccessKey(request) = &op.action else {
            return Err(ApiError::invalid_input(format!(
                "operation {operation} does not issue an access key"
            )));
        };
        let id = match op.outcome.strip_prefix("access-key ") {
            Some(id) if op.state == PendingState::Executed => id.to_owned(),
            _ => {
                return Err(ApiError::of(
                    ErrorCode::InvalidState,
                    format!(
                        "operation {operation} is {}; no access key to collect",
                        op.state
                    ),
                ));
            }
        };
        let recipient = recipient_point(&request.public_key)?;
        let (info, sealed_secret) = state.service.seal_access_key_secret(&id, &recipient)?;
        state.service.record_event(
            &caller.id,
            "collect-access-key",
            None,
            Outcome::Allowed,
            format!("access key {id} sealed to the public key approved in operation {operation}"),
        )?;
        Ok(Json(AccessKeyIssued {
            arn: kastell_proto::aws::user_arn(&state.aws_account_id, &info.principal),
            access_key_id: info.access_key_id,
            principal: info.principal,
            roles: info.roles,
            tenant: info.tenant,
            sealed_secret,
        }))
    })
    .await
}
