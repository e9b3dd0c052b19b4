//! `CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant`, `RevokeGrant`, and
//! the `GrantTokens` member every operation may carry: AWS's validation and answers over
//! the key service's grants (see `kastell_core::keys::grants`: stored sealed with the key,
//! decided in the sandbox with the key policy, audited).

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Caller, GrantRef, KeyGrant};
use kastell_proto::aws::grant::{
    Grant, GrantConstraints, InvalidGrant, NewGrant, is_grant_id, parse_grant_token,
};
use kastell_proto::aws::{
    AwsException, CreateGrantRequest, CreateGrantResponse, GrantConstraintsMember, GrantListEntry,
    GrantTokensMember, ListGrantsRequest, ListGrantsResponse, ListRetirableGrantsRequest,
    RetireGrantRequest, RevokeGrantRequest,
};

use super::shared::{
    bad_marker, blocking, empty, json, key_id_only, missing, parse, validation, within,
};
use super::{AwsError, AwsState};

/// Most grant tokens a request carries (botocore: `GrantTokenList`, 0–10).
const MAX_GRANT_TOKENS: usize = 10;
/// Longest grant token (botocore: 1–8192).
const MAX_GRANT_TOKEN: usize = 8192;

/// Validates the `GrantTokens` member of any request: at most 10, each 1–8192
/// characters (`ValidationException`) and a token Kastell issued
/// (`InvalidGrantTokenException`). Grants take effect at once here, so a valid token adds
/// nothing to the request. The body is read for it only when it names the member.
pub(in crate::aws) fn check_grant_tokens(body: &[u8]) -> Result<(), AwsError> {
    if !body.windows(11).any(|w| w == b"GrantTokens") {
        return Ok(());
    }
    let member: GrantTokensMember = parse(body)?;
    tokens(member.grant_tokens.as_deref())
}

fn tokens(given: Option<&[String]>) -> Result<(), AwsError> {
    let Some(tokens) = given else {
        return Ok(());
    };
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(validation(
            "GrantTokens",
            &format!("({} tokens)", tokens.len()),
            &format!("Member must have length less than or equal to {MAX_GRANT_TOKENS}"),
        ));
    }
    for token in tokens {
        if token.is_empty() || token.len() > MAX_GRANT_TOKEN {
            return Err(validation(
                "GrantTokens",
                "(a token)",
                &format!("Member must have length between 1 and {MAX_GRANT_TOKEN}"),
            ));
        }
        if parse_grant_token(token).is_none() {
            return Err(invalid_token());
        }
    }
    Ok(())
}

fn invalid_token() -> AwsError {
    AwsError::new(
        AwsException::InvalidGrantToken,
        "The grant token is not one this endpoint issued",
    )
}

/// A grant refused as AWS answers it.
fn refused(err: InvalidGrant) -> AwsError {
    match err {
        InvalidGrant::Validation(why) => AwsError::new(AwsException::Validation, why),
        InvalidGrant::InvalidArn(why) => AwsError::new(AwsException::InvalidArn, why),
    }
}

/// A `GrantId` member: present and of a grant id's shape.
fn grant_id(given: Option<&str>) -> Result<String, AwsError> {
    let id = given.ok_or_else(|| missing("GrantId"))?;
    if id.is_empty() || id.len() > 128 {
        return Err(validation(
            "GrantId",
            &format!("'{id}'"),
            "Member must have length between 1 and 128",
        ));
    }
    if !is_grant_id(id) {
        return Err(AwsError::new(
            AwsException::InvalidGrantId,
            format!("{id} is not a grant id (64 hexadecimal digits)"),
        ));
    }
    Ok(id.to_owned())
}

fn dry_run_answer() -> AwsError {
    AwsError::new(
        AwsException::DryRunOperation,
        "The request would have succeeded, but the DryRun option is set.",
    )
}

fn constraints(member: Option<GrantConstraintsMember>) -> Option<GrantConstraints> {
    member.map(|c| GrantConstraints {
        encryption_context_subset: c.encryption_context_subset,
        encryption_context_equals: c.encryption_context_equals,
    })
}

fn entry(state: &AwsState, key: &str, grant: Grant) -> GrantListEntry {
    #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 fit in f64")]
    let creation_date = grant.created as f64;
    // AWS answers the issuing account as its root ARN (`arn:aws:iam::<account>:root`).
    let account = grant
        .issuing_principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .map_or(state.endpoint.account_id.as_str(), |(account, _)| account);
    let issuing_account = format!("arn:aws:iam::{account}:root");
    GrantListEntry {
        key_id: state.endpoint.key_arn(key),
        grant_id: grant.grant_id,
        name: grant.name,
        creation_date,
        grantee_principal: grant.grantee_principal,
        retiring_principal: grant.retiring_principal,
        issuing_account,
        operations: grant.operations,
        constraints: grant.constraints.map(|c| GrantConstraintsMember {
            encryption_context_subset: c.encryption_context_subset,
            encryption_context_equals: c.encryption_context_equals,
        }),
    }
}

/// One page of `items` after the one whose marker is `marker`.
fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    limit: u32,
    marker_of: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match marker {
        None => 0,
        Some(marker) => {
            items
                .iter()
                .position(|item| marker_of(item) == marker)
                .ok_or_else(|| bad_marker(marker))?
                + 1
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut page: Vec<T> = items.into_iter().skip(start).collect();
    let truncated = page.len() > limit;
    page.truncate(limit);
    let next = truncated.then(|| page.last().map(&marker_of)).flatten();
    Ok((page, next))
}

pub(super) async fn create_grant(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: CreateGrantRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    tokens(request.grant_tokens.as_deref())?;
    let new = NewGrant {
        grantee_principal: request
            .grantee_principal
            .ok_or_else(|| missing("GranteePrincipal"))?,
        retiring_principal: request.retiring_principal,
        operations: request.operations.ok_or_else(|| missing("Operations"))?,
        constraints: constraints(request.constraints),
        name: request.name,
    };
    let new = new.validate().map_err(refused)?;
    if request.dry_run == Some(true) {
        return Err(dry_run_answer());
    }
    let st = state.clone();
    blocking(move || {
        let (id, grant) = st.shared.service.create_grant(&caller, &key, new)?;
        let token = kastell_proto::aws::grant::grant_token(&id.to_string(), &grant.grant_id);
        Ok(json(&CreateGrantResponse {
            grant_token: token,
            grant_id: grant.grant_id,
        }))
    })
    .await
}

pub(super) async fn list_grants(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListGrantsRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let limit = within("Limit", request.limit, 1..=100, 50)?;
    if let Some(id) = &request.grant_id {
        grant_id(Some(id))?;
    }
    if let Some(grantee) = &request.grantee_principal {
        kastell_proto::aws::grant::principal("GranteePrincipal", grantee).map_err(refused)?;
    }
    let st = state.clone();
    blocking(move || {
        let (id, grants) = st.shared.service.list_grants(
            &caller,
            &key,
            request.grant_id.as_deref(),
            request.grantee_principal.as_deref(),
        )?;
        let (grants, next_marker) = page(grants, request.marker.as_deref(), limit, |g| {
            g.grant_id.clone()
        })?;
        let id = id.to_string();
        Ok(json(&ListGrantsResponse {
            grants: grants.into_iter().map(|g| entry(&st, &id, g)).collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}

pub(super) async fn list_retirable_grants(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListRetirableGrantsRequest = parse(body)?;
    let limit = within("Limit", request.limit, 1..=100, 50)?;
    let retiring = request
        .retiring_principal
        .ok_or_else(|| missing("RetiringPrincipal"))?;
    kastell_proto::aws::grant::principal("RetiringPrincipal", &retiring).map_err(refused)?;
    let st = state.clone();
    blocking(move || {
        let grants = st
            .shared
            .service
            .list_retirable_grants(&caller, &retiring)?;
        let marker_of = |g: &KeyGrant| format!("{}.{}", g.key, g.grant.grant_id);
        let (grants, next_marker) = page(grants, request.marker.as_deref(), limit, marker_of)?;
        Ok(json(&ListGrantsResponse {
            grants: grants
                .into_iter()
                .map(|g| entry(&st, &g.key.to_string(), g.grant))
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}

pub(super) async fn retire_grant(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: RetireGrantRequest = parse(body)?;
    let target = match (&request.grant_token, &request.key_id, &request.grant_id) {
        (Some(token), _, _) => {
            tokens(Some(std::slice::from_ref(token)))?;
            let (key, id) = parse_grant_token(token).ok_or_else(invalid_token)?;
            if let Some(given) = &request.grant_id
                && given != id
            {
                return Err(AwsError::new(
                    AwsException::InvalidGrantId,
                    format!("GrantId {given} is not the grant the GrantToken names"),
                ));
            }
            GrantRef {
                key: key.to_owned(),
                grant_id: id.to_owned(),
            }
        }
        (None, Some(key), id) => GrantRef {
            key: key_id_only(state, "KeyId", key)?,
            grant_id: grant_id(id.as_deref())?,
        },
        (None, None, _) => {
            return Err(AwsError::new(
                AwsException::Validation,
                "RetireGrant needs a GrantToken, or a KeyId and a GrantId",
            ));
        }
    };
    if request.dry_run == Some(true) {
        return Err(dry_run_answer());
    }
    let st = state.clone();
    blocking(move || {
        st.shared.service.retire_grant(&caller, &target)?;
        Ok(empty())
    })
    .await
}

pub(super) async fn revoke_grant(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: RevokeGrantRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let id = grant_id(request.grant_id.as_deref())?;
    if request.dry_run == Some(true) {
        return Err(dry_run_answer());
    }
    let st = state.clone();
    blocking(move || {
        st.shared.service.revoke_grant(&caller, &key, &id)?;
        Ok(empty())
    })
    .await
}
