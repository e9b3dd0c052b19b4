//! The audit trail for auditors: read a range, verify chain and checkpoints, the
//! checkpoint signing key. Auditor only.

use axum::Json;
use axum::extract::{Query, State};
use kastell_proto::Role;
use kastell_proto::api::{AuditKeyResponse, AuditPage, ErrorBody, RangeQuery, VerifyReport};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require;
use super::error::ApiError;
use super::{Auth, Shared, blocking};
use kastell_core::audit::{Outcome, RecordJson};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(read_audit))
        .routes(routes!(verify_audit))
        .routes(routes!(audit_public_key))
}

/// Reads audit records in chain order.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(RangeQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn read_audit(
    State(state): State<Shared>,
    Auth(caller): Auth,
    query: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_input(e.body_text()))?;
    require(&state, &caller, Role::Auditor, "audit-read").await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_input(format!("limit {limit}: 1–1000")));
    }
    blocking(move || {
        let records = state
            .service
            .store()
            .audit_range(query.after.unwrap_or(0), limit)
            .map_err(ApiError::internal)?;
        let next = if records.len() == limit as usize {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(Json(AuditPage {
            records: records.iter().map(RecordJson::from).collect(),
            next,
        }))
    })
    .await
}

/// Verifies the whole chain and every signed checkpoint (audited).
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 403, body = ErrorBody)))]
async fn verify_audit(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Json<VerifyReport>, ApiError> {
    require(&state, &caller, Role::Auditor, "audit-verify").await?;
    blocking(move || {
        let report = match state.service.verify_audit(&[])? {
            Ok(report) => VerifyReport {
                intact: true,
                records: report.records,
                last_seq: report.last_seq,
                checkpoints: report.checkpoints,
                signed_through: report.signed_through,
                broken_at: None,
                problem: None,
                kind: None,
            },
            Err(broken) => VerifyReport {
                intact: false,
                records: 0,
                last_seq: 0,
                checkpoints: 0,
                signed_through: 0,
                broken_at: Some(broken.seq),
                problem: Some(broken.problem),
                kind: Some(broken.kind.as_str().to_owned()),
            },
        };
        let reason = match &report.problem {
            None => format!("intact through #{}", report.last_seq),
            Some(problem) => format!(
                "broken at #{} ({}): {problem}",
                report.broken_at.unwrap_or(0),
                report.kind.as_deref().unwrap_or_default()
            ),
        };
        state
            .service
            .record_event(&caller.id, "audit-verify", None, Outcome::Allowed, reason)?;
        Ok(Json(report))
    })
    .await
}

/// The public key that signs audit checkpoints, for offline verification.
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = AuditKeyResponse), (status = 403, body = ErrorBody)))]
async fn audit_public_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Json<AuditKeyResponse>, ApiError> {
    require(&state, &caller, Role::Auditor, "audit-public-key").await?;
    blocking(move || {
        Ok(Json(AuditKeyResponse {
            pem: state.service.audit_public_key_pem()?,
        }))
    })
    .await
}
