//! m-of-n quorum over the API: administrative requests of a class that needs approvals
//! become pending operations (202); officers approve them by signing their canonical bytes
//! with their client certificate's key; the approval that completes the quorum executes
//! the action. Also the quorum settings and client certificates issued by the server.

use kastell_proto::Role;
use kastell_proto::api::{
    ActionResult, ApprovalDetail, ApprovalList, ApprovalQuery, ApproveRequest, ApproveResponse,
    ErrorBody, PendingResponse, QuorumSettings, SetQuorumRequest,
};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{execute_approved, gated};
use super::auth::{AuthCertificate, require};
use super::error::{ApiError, ApiJson, ApiPath, base64, base64_field};
use super::{Auth, Shared, blocking};
use kastell_core::quorum::{QuorumError, canonical_bytes};
use kastell_proto::{OperationClass, PendingState, QuorumAction};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval, approve))
        .routes(routes!(get_quorum))
        .routes(routes!(set_quorum))
}

impl From<QuorumError> for ApiError {
    fn from(error: QuorumError) -> Self {
        match error {
            QuorumError::Store(e) => Self::internal(e),
            other => Self::of(other.code(), other.to_string()),
        }
    }
}

/// Lists operations awaiting approval (or in another state).
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", params(ApprovalQuery),
    responses((status = 200, body = ApprovalList), (status = 403, body = ErrorBody)))]
async fn list_approvals(
    State(state): State<Shared>,
    Auth(caller): Auth,
    query: Result<Query<ApprovalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ApprovalList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_input(e.body_text()))?;
    require(&state, &caller, Role::CryptoOfficer, "approval-list").await?;
    let wanted = match query.state.as_deref() {
        None => Some(PendingState::Pending),
        Some("all") => None,
        Some(name) => Some(
            name.parse::<PendingState>()
                .map_err(|e| ApiError::invalid_input(e.to_string()))?,
        ),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    blocking(move || {
        let operations = state.quorum.list(wanted, query.after.as_deref(), limit)?;
        Ok(Json(ApprovalList { operations }))
    })
    .await
}

/// Shows an operation with its canonical bytes.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Operation id")),
    responses((status = 200, body = ApprovalDetail), (status = 404, body = ErrorBody)))]
async fn get_approval(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApprovalDetail>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "approval-get").await?;
    blocking(move || {
        let operation = state
            .quorum
            .operation(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no operation {id}")))?;
        let required = state.quorum.required(operation.class)?;
        Ok(Json(ApprovalDetail {
            canonical: base64(&canonical_bytes(&operation)),
            required,
            operation,
        }))
    })
    .await
}

/// Approves an operation; the approval that completes the quorum executes it.
#[utoipa::path(post, path = "/v1/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Operation id")),
    request_body = ApproveRequest,
    responses((status = 200, body = ApproveResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn approve(
    State(state): State<Shared>,
    AuthCertificate(caller, certificate): AuthCertificate,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApproveRequest>,
) -> Result<Json<ApproveResponse>, ApiError> {
    let signature = base64_field("signature", &body.signature)?;
    blocking(move || {
        let approved = state.quorum.approve(
            &caller,
            &certificate,
            &id,
            &signature,
            kastell_core::keys::unix_now_ms(),
        )?;
        if !approved.ready {
            return Ok(Json(ApproveResponse {
                operation: approved.operation,
                have: approved.have,
                need: approved.need,
                duplicate: approved.duplicate,
                result: None,
            }));
        }
        let (operation, result) = match execute_approved(&state, &approved.operation, &caller) {
            Ok(result) => (
                state.quorum.mark_executed(&id, &summary(&result))?,
                Some(result),
            ),
            Err(error) => {
                let operation = state.quorum.mark_failed(&id, &error.message)?;
                return Err(ApiError::of(
                    error.code,
                    format!("operation {} failed: {}", operation.id, error.message),
                ));
            }
        };
        Ok(Json(ApproveResponse {
            operation,
            have: approved.have,
            need: approved.need,
            duplicate: approved.duplicate,
            result,
        }))
    })
    .await
}

/// The outcome recorded for an executed operation: `serial <hex>` for an issued client
/// certificate (`GET /v1/clients/{serial}` has it whole), `access-key <id>` for an issued
/// access key, otherwise the result's JSON (its fields in name order, as outcomes have
/// always been recorded).
fn summary(result: &ActionResult) -> String {
    match result {
        ActionResult::Client(issued) => format!("serial {}", issued.serial),
        ActionResult::Revoked(revoked) => format!("revoked {}", revoked.serial),
        // The id only: the sealed secret is fetched again with
        // `GET /v1/access-keys/collect/{operation}`, never kept in the outcome.
        ActionResult::AccessKey(issued) => format!("access-key {}", issued.access_key_id),
        ActionResult::AccessKeyRevoked(revoked) => {
            format!("revoked access-key {}", revoked.access_key_id)
        }
        other => serde_json::to_value(other).map_or_else(|e| e.to_string(), |v| v.to_string()),
    }
}

/// The approvals each class of administrative operation needs.
#[utoipa::path(get, path = "/v1/quorum", tag = "approvals",
    responses((status = 200, body = QuorumSettings), (status = 403, body = ErrorBody)))]
async fn get_quorum(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Json<QuorumSettings>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "quorum-get").await?;
    blocking(move || {
        Ok(Json(QuorumSettings {
            settings: state.quorum.settings()?,
        }))
    })
    .await
}

/// Sets the approvals a class needs: itself an operation of class `quorum`, so it needs
/// that class's approvals (202 when it does).
#[utoipa::path(put, path = "/v1/quorum/{class}", tag = "approvals",
    params(("class" = String, Path,
        description = "delete-key, bind-policy, quorum, issue-officer, issue-client or export-backup")),
    request_body = SetQuorumRequest,
    responses((status = 200, description = "Applied"), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_quorum(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(class): ApiPath<String>,
    ApiJson(body): ApiJson<SetQuorumRequest>,
) -> Result<Response, ApiError> {
    let class: OperationClass = class
        .parse()
        .map_err(|e: kastell_proto::UnknownName| ApiError::invalid_input(e.to_string()))?;
    gated(
        state,
        caller,
        QuorumAction::SetQuorum {
            class,
            required: body.required,
        },
    )
    .await
}
