//! Client certificates through the server: issue (under the `issue-officer` quorum for
//! officers, `issue-client` for users and auditors), list the ones issued here, revoke by
//! serial. Crypto-officer.

use kastell_proto::api::{
    ClientDetail, ClientList, ClientQuery, ClientRequest, ClientResponse, ErrorBody,
    PendingResponse, RevokeRequest, RevokeResponse,
};
use kastell_proto::{QuorumAction, Role};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kastell_attest::identity::ClientIdentity;

use super::admin::{check_principal, gated, revoke};
use super::auth::require;
use super::error::{ApiError, ApiJson, ApiPath};
use super::{Auth, Shared, blocking};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(issue_client, list_clients))
        .routes(routes!(get_client))
        .routes(routes!(revoke_client))
}

/// Issues a client certificate for a public key (crypto-officer): of class `issue-officer`
/// for the crypto-officer role, `issue-client` for the others; either may need approvals
/// (202).
#[utoipa::path(post, path = "/v1/clients", tag = "approvals", request_body = ClientRequest,
    responses((status = 200, body = ClientResponse), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn issue_client(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<ClientRequest>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "issue-client").await?;
    // Refused before officers are asked to approve (and again when it runs).
    let identity = ClientIdentity {
        principal: body.principal.clone(),
        role: body.role.clone(),
        tenant: body.tenant.clone(),
    };
    let checked = Shared::clone(&state);
    blocking(move || check_principal(&checked, &identity)).await?;
    gated(state, caller, QuorumAction::IssueClient(body)).await
}

/// Lists the client certificates this deployment issued, with revocation times.
#[utoipa::path(get, path = "/v1/clients", tag = "approvals", params(ClientQuery),
    responses((status = 200, body = ClientList), (status = 403, body = ErrorBody)))]
async fn list_clients(
    State(state): State<Shared>,
    Auth(caller): Auth,
    query: Result<Query<ClientQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ClientList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_input(e.body_text()))?;
    require(&state, &caller, Role::CryptoOfficer, "client-list").await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    blocking(move || {
        let clients = state
            .service
            .store()
            .clients(query.after.as_deref(), limit)
            .map_err(ApiError::internal)?;
        Ok(Json(ClientList { clients }))
    })
    .await
}

/// Revokes a client certificate by serial: from this moment the server refuses it (401).
/// An officer's certificate is of class `issue-officer` and may need approvals (202): one
/// officer must not lock the others out. Certificates issued elsewhere under the same
/// root can be revoked too (at once: their role is not known here).
#[utoipa::path(post, path = "/v1/clients/{serial}/revoke", tag = "approvals",
    params(("serial" = String, Path, description = "Serial number, hex")),
    request_body = RevokeRequest,
    responses((status = 200, body = RevokeResponse), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn revoke_client(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "revoke-client").await?;
    let serial = kastell_core::clients::parse_serial(&serial).map_err(ApiError::invalid_input)?;
    let looked_up = Shared::clone(&state);
    let known = serial.clone();
    let role = blocking(move || {
        Ok(looked_up
            .service
            .store()
            .client(&known)
            .map_err(ApiError::internal)?
            .map(|detail| detail.client.role))
    })
    .await?;
    if role.as_deref() == Some(Role::CryptoOfficer.as_str()) {
        let action = QuorumAction::RevokeOfficer {
            serial,
            reason: body.reason,
        };
        return gated(state, caller, action).await;
    }
    blocking(move || Ok(Json(revoke(&state, &caller, &serial, &body.reason)?).into_response()))
        .await
}

/// Shows one client certificate issued here, the certificate itself included (how
/// `kastell user collect` fetches a certificate issued after approvals).
#[utoipa::path(get, path = "/v1/clients/{serial}", tag = "approvals",
    params(("serial" = String, Path, description = "Serial number, hex")),
    responses((status = 200, body = ClientDetail), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_client(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(serial): ApiPath<String>,
) -> Result<Json<ClientDetail>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "client-get").await?;
    let serial = kastell_core::clients::parse_serial(&serial).map_err(ApiError::invalid_input)?;
    blocking(move || {
        let detail = state
            .service
            .store()
            .client(&serial)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no client certificate {serial}")))?;
        Ok(Json(detail))
    })
    .await
}
