//! Workloads: upload (crypto-officer; validated, stored by SHA-384), list, and invoke
//! (crypto-user): a fresh instance per call, its key calls gated by each key's policy with
//! the workload's measurement as evidence, every invocation audited with that measurement.

mod host;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use kastell_proto::api::{
    ErrorBody, InvokeRequest, InvokeResponse, SecretBase64, WorkloadList, WorkloadResponse,
};
use kastell_proto::{ErrorCode, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use host::Attester;

use super::auth::require;
use super::error::{ApiError, ApiJson, ApiPath, base64, base64_field, body_rejection};
use super::{Auth, Shared, blocking};
use kastell_core::audit::{AuditEntry, Outcome};
use kastell_core::registry::RegistryError;
use kastell_core::sandbox::WorkloadFailure;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(add_workload, list_workloads))
        .routes(routes!(invoke))
}

/// Uploads a workload component (`content-type: application/wasm`), validated against the
/// `workload` world; a refusal is returned verbatim as 400 InvalidWorkload.
#[utoipa::path(post, path = "/v1/workloads", tag = "workloads",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = WorkloadResponse, description = "Stored (or already there)"),
        (status = 400, body = ErrorBody, description = "Refused by validation"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
async fn add_workload(
    State(state): State<Shared>,
    Auth(caller): Auth,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WorkloadResponse>), ApiError> {
    let body = body.map_err(|e| body_rejection(e.status(), e.body_text()))?;
    require(&state, &caller, Role::CryptoOfficer, "workload-add").await?;
    super::error::require_wasm(&headers)?;
    blocking(move || {
        let service = &state.service;
        match state.workloads.add(service.sandbox(), &body) {
            Ok(measurement) => {
                service.record_entry(
                    AuditEntry::event(
                        &caller.id,
                        "workload-add",
                        None,
                        Outcome::Allowed,
                        String::new(),
                    )
                    .with_guest(Some(measurement)),
                )?;
                Ok((
                    StatusCode::CREATED,
                    Json(WorkloadResponse {
                        measurement: measurement.to_string(),
                    }),
                ))
            }
            Err(RegistryError::Invalid(refusal)) => {
                let message = refusal.to_string();
                service.record_event(
                    &caller.id,
                    "workload-add",
                    None,
                    Outcome::Denied,
                    message.clone(),
                )?;
                Err(ApiError::of(ErrorCode::InvalidWorkload, message))
            }
            Err(other) => Err(ApiError::internal(other)),
        }
    })
    .await
}

/// Lists the stored workloads' measurements (crypto-officer or crypto-user).
#[utoipa::path(get, path = "/v1/workloads", tag = "workloads",
    responses((status = 200, body = WorkloadList), (status = 403, body = ErrorBody)))]
async fn list_workloads(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Json<WorkloadList>, ApiError> {
    if !caller.roles.contains(&Role::CryptoUser) {
        require(&state, &caller, Role::CryptoOfficer, "workload-list").await?;
    }
    blocking(move || {
        let list = state.workloads.list().map_err(ApiError::internal)?;
        Ok(Json(WorkloadList {
            workloads: list.iter().map(ToString::to_string).collect(),
        }))
    })
    .await
}

/// Runs a stored workload once on `input` (crypto-user), in a fresh instance under the
/// workload limits. The workload's key calls run as the caller with the workload's
/// measurement as evidence. A workload that returns an error answers 422 WorkloadError;
/// one the sandbox stopped (trap, fuel, time, memory, malformed answer) 422 WorkloadFault.
#[utoipa::path(post, path = "/v1/workloads/{measurement}/invoke", tag = "workloads",
    params(("measurement" = String, Path, description = "`sha384:<hex>`")),
    request_body = InvokeRequest,
    responses((status = 200, body = InvokeResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "WorkloadError or WorkloadFault")))]
async fn invoke(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(measurement): ApiPath<String>,
    ApiJson(request): ApiJson<InvokeRequest>,
) -> Result<Json<InvokeResponse>, ApiError> {
    require(&state, &caller, Role::CryptoUser, "workload-invoke").await?;
    let measurement = super::keys::parse_measurement(&measurement)?;
    let input = base64_field("input", request.input.expose())?;
    // Workloads hold a pool slot (and a blocking thread) for up to their wall-clock bound:
    // at most half the pool at once, so policy evaluations always find a slot.
    let permit = std::sync::Arc::clone(&state.workload_slots)
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    blocking(move || {
        let _permit = permit;
        let service = &state.service;
        let workload = match state.workloads.load(service.sandbox(), &measurement) {
            Ok(workload) => workload,
            Err(RegistryError::NotFound(m)) => {
                let why = format!("no workload {m}");
                service.record_event(
                    &caller.id,
                    "workload-invoke",
                    None,
                    Outcome::Denied,
                    why.clone(),
                )?;
                return Err(ApiError::not_found(why));
            }
            Err(other) => return Err(ApiError::internal(other)),
        };
        let wall_clock = service.sandbox().limits().workload_wall_clock;
        let host = host::ServiceHost::new(
            std::sync::Arc::clone(&state),
            (*caller).clone(),
            measurement,
            wall_clock,
        );
        let invocation = service.sandbox().invoke(&workload, &input, Box::new(host));
        // A workload's own error text may carry what it decrypted: it goes to the caller
        // only; the trail keeps its length. Faults are the sandbox's own words.
        let (outcome, reason) = match &invocation.result {
            Ok(_) => (Outcome::Allowed, String::new()),
            Err(WorkloadFailure::Guest(text)) => (
                Outcome::Denied,
                format!("the workload returned an error ({} bytes)", text.len()),
            ),
            Err(failure) => (Outcome::Denied, failure.to_string()),
        };
        service.record_entry(
            AuditEntry::event(&caller.id, "workload-invoke", None, outcome, reason)
                .with_guest(Some(measurement)),
        )?;
        state.metrics.workload_invoked(invocation.elapsed);
        match invocation.result {
            Ok(output) => Ok(Json(InvokeResponse {
                output: SecretBase64::new(base64(&output)),
                fuel_consumed: invocation.fuel_consumed,
                elapsed_us: u64::try_from(invocation.elapsed.as_micros()).unwrap_or(u64::MAX),
            })),
            Err(failure) => Err(ApiError::of(failure.code(), failure.message())),
        }
    })
    .await
}
