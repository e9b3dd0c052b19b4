//! AWS KMS grants at the native API: list, create, retire and revoke the grants of a key
//! (`/v1/keys/{key}/grants`), the same grants the AWS endpoint serves. The key service
//! decides and audits each call (`kastell_core::keys::grants`): the key's AWS key policy
//! decides who may create, list and revoke grants; retiring is for the grant's retiring
//! principal, or its grantee when it allows `RetireGrant`.

use kastell_core::keys::GrantRef;
use kastell_proto::KeyId;
use kastell_proto::api::{CreateGrantBody, ErrorBody, GrantDescription, GrantList, GrantRemoved};
use kastell_proto::aws::grant::{Grant, GrantConstraints, NewGrant, grant_token};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiJson, ApiPath};
use super::{Auth, Shared, blocking};

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(list_grants, create_grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(retire_grant))
}

/// A grant as the API shows it.
fn describe(key: &KeyId, grant: Grant) -> GrantDescription {
    let constraints = grant.constraints.unwrap_or_default();
    GrantDescription {
        key: key.to_string(),
        grant_token: grant_token(&key.to_string(), &grant.grant_id),
        grant_id: grant.grant_id,
        name: grant.name,
        grantee_principal: grant.grantee_principal,
        retiring_principal: grant.retiring_principal,
        issuing_principal: grant.issuing_principal,
        operations: grant.operations,
        encryption_context_equals: constraints.encryption_context_equals,
        encryption_context_subset: constraints.encryption_context_subset,
        created: grant.created,
    }
}

/// Lists a key's grants (any role; the key policy must allow `kms:ListGrants`).
#[utoipa::path(get, path = "/v1/keys/{key}/grants", tag = "grants",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = GrantList), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_grants(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<GrantList>, ApiError> {
    blocking(move || {
        let (id, grants) = state.service.list_grants(&caller, &key, None, None)?;
        Ok(Json(GrantList {
            grants: grants.into_iter().map(|g| describe(&id, g)).collect(),
        }))
    })
    .await
}

/// Creates a grant (validated as AWS's `CreateGrant`; the key policy must allow
/// `kms:CreateGrant`).
#[utoipa::path(post, path = "/v1/keys/{key}/grants", tag = "grants",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = CreateGrantBody,
    responses((status = 201, body = GrantDescription), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_grant(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<CreateGrantBody>,
) -> Result<(StatusCode, Json<GrantDescription>), ApiError> {
    let constraints = (body.encryption_context_equals.is_some()
        || body.encryption_context_subset.is_some())
    .then_some(GrantConstraints {
        encryption_context_equals: body.encryption_context_equals,
        encryption_context_subset: body.encryption_context_subset,
    });
    let new = NewGrant {
        grantee_principal: body.grantee_principal,
        retiring_principal: body.retiring_principal,
        operations: body.operations,
        constraints,
        name: body.name,
    };
    blocking(move || {
        let (id, grant) = state.service.create_grant(&caller, &key, new)?;
        Ok((StatusCode::CREATED, Json(describe(&id, grant))))
    })
    .await
}

/// Revokes a grant (the key policy must allow `kms:RevokeGrant`).
#[utoipa::path(delete, path = "/v1/keys/{key}/grants/{grant}", tag = "grants",
    params(("key" = String, Path, description = "Key id or alias"),
        ("grant" = String, Path, description = "Grant id")),
    responses((status = 200, body = GrantRemoved), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn revoke_grant(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath((key, grant)): ApiPath<(String, String)>,
) -> Result<Json<GrantRemoved>, ApiError> {
    blocking(move || {
        let id = state.service.revoke_grant(&caller, &key, &grant)?;
        Ok(Json(GrantRemoved {
            key: id.to_string(),
            grant_id: grant,
            removed: "revoked".into(),
        }))
    })
    .await
}

/// Retires a grant (its retiring principal, or its grantee when it allows `RetireGrant`).
#[utoipa::path(post, path = "/v1/keys/{key}/grants/{grant}/retire", tag = "grants",
    params(("key" = String, Path, description = "Key id or alias"),
        ("grant" = String, Path, description = "Grant id")),
    responses((status = 200, body = GrantRemoved), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn retire_grant(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath((key, grant)): ApiPath<(String, String)>,
) -> Result<Json<GrantRemoved>, ApiError> {
    blocking(move || {
        let target = GrantRef {
            key,
            grant_id: grant.clone(),
        };
        let id = state.service.retire_grant(&caller, &target)?;
        Ok(Json(GrantRemoved {
            key: id.to_string(),
            grant_id: grant,
            removed: "retired".into(),
        }))
    })
    .await
}
