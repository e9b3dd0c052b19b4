//! `CreateAlias`, `UpdateAlias`, `DeleteAlias`, `ListAliases`. Creating and re-pointing
//! an alias is under the quorum class `bind-policy`, as on `/v1` (an alias decides which
//! key, and so which policy, a caller reaches); deleting one is not (it reaches no key).

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Alias, Caller, KeyError};
use kastell_proto::aws::{
    AliasListEntry, AwsException, CreateAliasRequest, DeleteAliasRequest, ListAliasesResponse,
    ListRequest,
};
use kastell_proto::{ErrorCode, QuorumAction};

use super::shared::{
    bad_marker, blocking, empty, gated, json, key_id_only, parse, validation, within,
};
use super::{AwsError, AwsState};

/// An alias name as AWS takes it, then as Kastell does.
fn alias_name(name: &str) -> Result<String, AwsError> {
    if name.is_empty() || name.len() > 256 {
        return Err(validation(
            "AliasName",
            &format!("'{name}'"),
            "Member must have length between 1 and 256",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
    {
        return Err(validation(
            "AliasName",
            &format!("'{name}'"),
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(AwsError::new(
            AwsException::InvalidAliasName,
            format!("AliasName {name}: alias/aws/ is reserved for AWS managed keys"),
        ));
    }
    name.parse::<Alias>().map_err(|why| {
        AwsError::new(
            AwsException::InvalidAliasName,
            format!("AliasName {name}: {why}"),
        )
    })?;
    Ok(name.to_owned())
}

/// The key service's refusal `error` of a change to `alias`, in AWS's words when it is
/// `worded` (the taken name of CreateAlias, the unknown name of DeleteAlias): "An alias with
/// the name <alias ARN> already exists", "Alias <alias ARN> is not found.".
fn alias_refusal(state: &AwsState, alias: &str, error: KeyError, worded: ErrorCode) -> AwsError {
    let arn = state.endpoint.alias_arn(alias);
    match error.code() {
        code if code != worded => error.into(),
        ErrorCode::AlreadyExists => AwsError::new(
            AwsException::AlreadyExists,
            format!("An alias with the name {arn} already exists"),
        ),
        ErrorCode::NotFound => {
            AwsError::new(AwsException::NotFound, format!("Alias {arn} is not found."))
        }
        _ => error.into(),
    }
}

/// The target of `CreateAlias` and `UpdateAlias`: a key id or key ARN, never an alias.
fn target(state: &AwsState, given: &str) -> Result<String, AwsError> {
    if given.starts_with("alias/") || given.contains(":alias/") {
        return Err(AwsError::new(
            AwsException::Validation,
            format!("TargetKeyId {given}: aliases must refer to keys, not to aliases"),
        ));
    }
    key_id_only(state, "TargetKeyId", given)
}

pub(super) async fn create_alias(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    point(state, caller, body, true).await
}

pub(super) async fn update_alias(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    point(state, caller, body, false).await
}

/// `CreateAlias` (`create`) or `UpdateAlias`.
async fn point(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
    create: bool,
) -> Result<Response, AwsError> {
    let request: CreateAliasRequest = parse(body)?;
    let alias = alias_name(&request.alias_name)?;
    let key = target(state, &request.target_key_id)?;
    let st = state.clone();
    blocking(move || {
        let action = QuorumAction::SetAlias {
            alias: alias.clone(),
            key: key.clone(),
        };
        gated(&st.shared, &caller, action, || {
            if create {
                st.shared
                    .service
                    .create_alias(&caller, &alias, &key)
                    .map_err(|e| alias_refusal(&st, &alias, e, ErrorCode::AlreadyExists))?;
            } else {
                st.shared.service.update_alias(&caller, &alias, &key)?;
            }
            Ok(empty())
        })
    })
    .await
}

pub(super) async fn delete_alias(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: DeleteAliasRequest = parse(body)?;
    // DeleteAlias has no InvalidAliasNameException at AWS: a name it cannot hold is a
    // ValidationException there.
    let alias = alias_name(&request.alias_name).map_err(|e| {
        if e.exception == AwsException::InvalidAliasName {
            AwsError::new(AwsException::Validation, e.message)
        } else {
            e
        }
    })?;
    let st = state.clone();
    blocking(move || {
        st.shared
            .service
            .delete_alias(&caller, &alias)
            .map_err(|e| alias_refusal(&st, &alias, e, ErrorCode::NotFound))?;
        Ok(empty())
    })
    .await
}

pub(super) async fn list_aliases(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListRequest = parse(body)?;
    let limit = within("Limit", request.limit, 1..=100, 50)?;
    let only = request
        .key_id
        .as_deref()
        .map(|key| key_id_only(state, "KeyId", key))
        .transpose()?;
    let after = request
        .marker
        .as_deref()
        .map(|marker| marker.parse::<Alias>().map_err(|_| bad_marker(marker)))
        .transpose()?;
    let st = state.clone();
    blocking(move || {
        let mut page =
            st.shared
                .service
                .list_aliases(&caller, only.as_deref(), after.as_ref(), limit + 1)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let truncated = page.len() > limit;
        page.truncate(limit);
        let next_marker = truncated
            .then(|| page.last().map(|(alias, _)| alias.to_string()))
            .flatten();
        Ok(json(&ListAliasesResponse {
            aliases: page
                .iter()
                .map(|(alias, key)| AliasListEntry {
                    alias_name: alias.to_string(),
                    alias_arn: st.endpoint.alias_arn(&alias.to_string()),
                    target_key_id: key.to_string(),
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}
