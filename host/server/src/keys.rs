//! Key administration: create, list, describe, rotate, enable, disable, deletion, aliases,
//! tags, policy binding, minimum decryption version. The key service checks the
//! crypto-officer role and audits every call.

use kastell_proto::api::{
    AliasRequest, AliasResponse, BindPolicyRequest, CreateKeyRequest, ErrorBody, KeyDescription,
    KeyPage, ListQuery, MinVersionRequest, PendingResponse, ScheduleDeletionRequest, TagsRequest,
};
use kastell_proto::{KeySpec, KeyUsage, Origin, QuorumAction};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::gated;
use super::error::{ApiError, ApiJson, ApiPath};
use super::{Auth, Shared, blocking};
use kastell_core::keys::NewKey;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(create_key, list_keys))
        .routes(routes!(describe_key))
        .routes(routes!(rotate_key))
        .routes(routes!(enable_key))
        .routes(routes!(disable_key))
        .routes(routes!(schedule_deletion))
        .routes(routes!(cancel_deletion))
        .routes(routes!(set_alias))
        .routes(routes!(update_tags))
        .routes(routes!(bind_policy))
        .routes(routes!(set_min_decryption_version))
}

/// Parses a key spec as the API and the command line name it.
///
/// # Errors
/// 400 InvalidInput naming the accepted values.
pub fn parse_spec(spec: &str) -> Result<KeySpec, ApiError> {
    spec.parse().map_err(|_| {
        ApiError::invalid_input(format!(
            "spec `{spec}`: one of {}",
            KeySpec::NAMES.join(", ")
        ))
    })
}

/// Parses a key usage.
///
/// # Errors
/// 400 InvalidInput naming the accepted values.
pub fn parse_usage(usage: &str) -> Result<KeyUsage, ApiError> {
    usage.parse().map_err(|_| {
        ApiError::invalid_input(format!(
            "usage `{usage}`: one of {}",
            KeyUsage::NAMES.join(", ")
        ))
    })
}

fn parse_origin(origin: Option<&str>) -> Result<Origin, ApiError> {
    origin.map_or(Ok(Origin::Wrapped), |text| {
        text.parse()
            .map_err(|_| ApiError::invalid_input(format!("origin `{text}`: `wrapped` or `token`")))
    })
}

/// Parses a policy measurement.
///
/// # Errors
/// 400 InvalidInput.
pub fn parse_measurement(text: &str) -> Result<kastell_attest::Measurement, ApiError> {
    text.parse()
        .map_err(|e| ApiError::invalid_input(format!("policy `{text}`: {e}")))
}

/// Creates a key (crypto-officer).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest,
    responses(
        (status = 201, body = KeyDescription, description = "The new key"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<KeyDescription>), ApiError> {
    let new = NewKey {
        spec: parse_spec(&body.spec)?,
        usage: body.usage.as_deref().map(parse_usage).transpose()?,
        origin: parse_origin(body.origin.as_deref())?,
        description: body.description,
        tags: body.tags,
        policy: body.policy.as_deref().map(parse_measurement).transpose()?,
        releasable: body.releasable,
    };
    let alias = body.alias;
    let description = blocking(move || {
        let key = state.service.create_key(&caller, new, alias.as_deref())?;
        Ok(state.service.description_of(&key)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(description)))
}

/// Lists keys, a page at a time, ordered by id.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(ListQuery),
    responses((status = 200, body = KeyPage), (status = 403, body = ErrorBody)))]
async fn list_keys(
    State(state): State<Shared>,
    Auth(caller): Auth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<KeyPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_input(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    blocking(move || {
        let keys = state
            .service
            .list_keys(&caller, query.after.as_deref(), limit)?;
        let next = if u32::try_from(keys.len()).unwrap_or(u32::MAX) == limit {
            keys.last().map(|k| k.id.clone())
        } else {
            None
        };
        Ok(Json(KeyPage { keys, next }))
    })
    .await
}

/// Describes a key.
#[utoipa::path(get, path = "/v1/keys/{key}", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias (alias%2Fname)")),
    responses((status = 200, body = KeyDescription), (status = 404, body = ErrorBody)))]
async fn describe_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KeyDescription>, ApiError> {
    blocking(move || Ok(Json(state.service.describe_key(&caller, &key)?))).await
}

/// Runs an administrative call that returns the changed key, and describes it.
async fn admin(
    state: Shared,
    work: impl FnOnce(&Shared) -> Result<kastell_core::keys::KeyRecord, kastell_core::keys::KeyError>
    + Send
    + 'static,
) -> Result<Json<KeyDescription>, ApiError> {
    blocking(move || {
        let key = work(&state)?;
        Ok(Json(state.service.description_of(&key)?))
    })
    .await
}

/// Adds a version that encrypts and signs from now on.
#[utoipa::path(post, path = "/v1/keys/{key}/rotate", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = KeyDescription), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rotate_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KeyDescription>, ApiError> {
    admin(state, move |s| s.service.rotate(&caller, &key)).await
}

/// Enables a disabled key.
#[utoipa::path(post, path = "/v1/keys/{key}/enable", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = KeyDescription), (status = 409, body = ErrorBody)))]
async fn enable_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KeyDescription>, ApiError> {
    admin(state, move |s| s.service.set_enabled(&caller, &key, true)).await
}

/// Disables a key: every use is refused until it is enabled.
#[utoipa::path(post, path = "/v1/keys/{key}/disable", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = KeyDescription), (status = 409, body = ErrorBody)))]
async fn disable_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KeyDescription>, ApiError> {
    admin(state, move |s| s.service.set_enabled(&caller, &key, false)).await
}

/// Schedules a key's destruction after a waiting period. Of quorum class `delete-key`:
/// when that class needs approvals the answer is 202 with the pending operation.
#[utoipa::path(post, path = "/v1/keys/{key}/schedule-deletion", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = ScheduleDeletionRequest,
    responses((status = 200, body = KeyDescription),
        (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn schedule_deletion(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<ScheduleDeletionRequest>,
) -> Result<Response, ApiError> {
    let action = QuorumAction::ScheduleDeletion {
        key,
        days: body.days,
    };
    gated(state, caller, action).await
}

/// Cancels a scheduled deletion; the key comes back disabled.
#[utoipa::path(post, path = "/v1/keys/{key}/cancel-deletion", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = KeyDescription), (status = 409, body = ErrorBody)))]
async fn cancel_deletion(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<KeyDescription>, ApiError> {
    admin(state, move |s| s.service.cancel_deletion(&caller, &key)).await
}

/// Points `alias/<name>` at a key, creating or re-pointing it. Of quorum class
/// `bind-policy` (an alias decides which key, and so which policy, a caller reaches): when
/// that class needs approvals the answer is 202.
#[utoipa::path(put, path = "/v1/aliases/{name}", tag = "keys",
    params(("name" = String, Path, description = "The alias without its `alias/` prefix")),
    request_body = AliasRequest,
    responses((status = 200, body = AliasResponse), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_alias(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<AliasRequest>,
) -> Result<Response, ApiError> {
    let action = QuorumAction::SetAlias {
        alias: format!("alias/{name}"),
        key: body.key,
    };
    gated(state, caller, action).await
}

/// Replaces a key's tags (and description). Of quorum class `bind-policy` (policies decide
/// on tags): when that class needs approvals the answer is 202.
#[utoipa::path(put, path = "/v1/keys/{key}/tags", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = TagsRequest,
    responses((status = 200, body = KeyDescription), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody)))]
async fn update_tags(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<TagsRequest>,
) -> Result<Response, ApiError> {
    let action = QuorumAction::UpdateTags {
        key,
        tags: body.tags,
        description: body.description,
    };
    gated(state, caller, action).await
}

/// Binds a key to a stored policy, replaces it, or unbinds it. Of quorum class
/// `bind-policy`: when that class needs approvals the answer is 202.
#[utoipa::path(put, path = "/v1/keys/{key}/policy", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = BindPolicyRequest,
    responses((status = 200, body = KeyDescription),
        (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody)))]
async fn bind_policy(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<BindPolicyRequest>,
) -> Result<Response, ApiError> {
    let policy = body.policy.as_deref().map(parse_measurement).transpose()?;
    gated(state, caller, QuorumAction::BindPolicy { key, policy }).await
}

/// Sets the oldest version that still decrypts and verifies.
#[utoipa::path(put, path = "/v1/keys/{key}/min-decryption-version", tag = "keys",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = MinVersionRequest,
    responses((status = 200, body = KeyDescription), (status = 400, body = ErrorBody)))]
async fn set_min_decryption_version(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<MinVersionRequest>,
) -> Result<Json<KeyDescription>, ApiError> {
    admin(state, move |s| {
        s.service
            .set_min_decryption_version(&caller, &key, body.version)
    })
    .await
}
