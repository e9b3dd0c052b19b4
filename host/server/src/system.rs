//! Health, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use kastell_proto::api::{ErrorBody, Health};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{Auth, Shared};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// Liveness; the only endpoint that needs no client certificate.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: kastell_core::ca::runtime_version(),
    })
}

/// Prometheus metrics (text format), for any authenticated role.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody)))]
async fn metrics(State(state): State<Shared>, Auth(_caller): Auth) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3.1 document, generated from the handlers.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "system",
    responses((status = 200, content_type = "application/json", body = Object),
        (status = 401, body = ErrorBody)))]
async fn openapi(
    State(state): State<Shared>,
    Auth(_caller): Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    ))
}
