//! Policy components: upload (validated, stored by SHA-384), list, download. Crypto-officer
//! only; uploads and refusals are audited.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kastell_proto::api::{ErrorBody, PolicyList, PolicyResponse};
use kastell_proto::{ErrorCode, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require;
use super::error::{ApiError, ApiPath, body_rejection};
use super::{Auth, Shared, blocking};
use kastell_core::audit::Outcome;
use kastell_core::registry::RegistryError;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(add_policy, list_policies))
        .routes(routes!(get_policy))
}

/// Uploads a policy component (`content-type: application/wasm`). It is validated as the
/// sandbox would load it; a refusal is returned verbatim as 400 InvalidPolicy.
#[utoipa::path(post, path = "/v1/policies", tag = "policies",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PolicyResponse, description = "Stored (or already there)"),
        (status = 400, body = ErrorBody, description = "Refused by validation"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
async fn add_policy(
    State(state): State<Shared>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PolicyResponse>), ApiError> {
    let body = body.map_err(|e| body_rejection(e.status(), e.body_text()))?;
    require(&state, &caller, Role::CryptoOfficer, "policy-add").await?;
    super::error::require_wasm(&headers)?;
    blocking(move || {
        let service = &state.service;
        match service.add_policy(&body) {
            Ok(measurement) => {
                service.record_event(
                    &caller.id,
                    "policy-add",
                    None,
                    Outcome::Allowed,
                    format!("stored {measurement}"),
                )?;
                Ok((
                    StatusCode::CREATED,
                    Json(PolicyResponse {
                        measurement: measurement.to_string(),
                    }),
                ))
            }
            Err(RegistryError::Invalid(refusal)) => {
                let message = refusal.to_string();
                service.record_event(
                    &caller.id,
                    "policy-add",
                    None,
                    Outcome::Denied,
                    message.clone(),
                )?;
                Err(ApiError::of(ErrorCode::InvalidPolicy, message))
            }
            Err(other) => Err(ApiError::internal(other)),
        }
    })
    .await
}

/// Lists the stored policies' measurements.
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    responses((status = 200, body = PolicyList), (status = 403, body = ErrorBody)))]
async fn list_policies(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Json<PolicyList>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "policy-list").await?;
    blocking(move || {
        let list = state
            .service
            .policies()
            .list()
            .map_err(ApiError::internal)?;
        Ok(Json(PolicyList {
            policies: list.iter().map(ToString::to_string).collect(),
        }))
    })
    .await
}

/// Downloads a stored policy's exact bytes (`application/wasm`).
#[utoipa::path(get, path = "/v1/policies/{measurement}", tag = "policies",
    params(("measurement" = String, Path, description = "`sha384:<hex>`")),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_policy(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(measurement): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "policy-get").await?;
    let measurement = super::keys::parse_measurement(&measurement)?;
    blocking(move || match state.service.policies().get(&measurement) {
        Ok(bytes) => Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes)),
        Err(RegistryError::NotFound(m)) => Err(ApiError::not_found(format!("no policy {m}"))),
        Err(other) => Err(ApiError::internal(other)),
    })
    .await
}
