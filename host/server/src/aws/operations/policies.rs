//! `GetKeyPolicy`, `PutKeyPolicy`, `ListKeyPolicies`: a key's AWS key policy, validated as
//! AWS validates it, stored sealed with the key, changed under the `bind-policy` quorum
//! class and enforced in the sandbox by the bundled evaluator (see
//! `kastell_core::keys::key_policy`). AWS keys have one policy, named `default`.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::Caller;
use kastell_proto::QuorumAction;
use kastell_proto::aws::{
    AwsException, GetKeyPolicyRequest, GetKeyPolicyResponse, ListKeyPoliciesRequest,
    ListKeyPoliciesResponse, PutKeyPolicyRequest,
};

use super::shared::{blocking, empty, gated, json, key_id_only, missing, parse, quorum_error};
use super::shared::{validation, within};
use super::{AwsError, AwsState};

/// The only policy name AWS KMS has.
const DEFAULT: &str = "default";

/// The longest `Policy` member the AWS API takes (the stored document is further limited to
/// 32 KiB, a `MalformedPolicyDocumentException`).
const MAX_POLICY_MEMBER: usize = 131_072;

/// `PolicyName`, which must be `default` when given.
fn policy_name(given: Option<&str>) -> Result<(), AwsError> {
    match given {
        None | Some(DEFAULT) => Ok(()),
        Some("") => Err(validation(
            "PolicyName",
            "''",
            "Member must have length greater than or equal to 1",
        )),
        Some(other) => Err(AwsError::new(
            AwsException::NotFound,
            format!("No such policy exists: {other} (a key has one key policy, named default)"),
        )),
    }
}

/// A `Policy` member within the API's length.
pub(super) fn policy_member(policy: Option<&str>) -> Result<Option<&str>, AwsError> {
    match policy {
        Some("") => Err(validation(
            "Policy",
            "''",
            "Member must have length greater than or equal to 1",
        )),
        Some(text) if text.len() > MAX_POLICY_MEMBER => Err(validation(
            "Policy",
            &format!("({} bytes)", text.len()),
            &format!("Member must have length less than or equal to {MAX_POLICY_MEMBER}"),
        )),
        other => Ok(other),
    }
}

pub(super) async fn get_key_policy(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: GetKeyPolicyRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    policy_name(request.policy_name.as_deref())?;
    let st = state.clone();
    blocking(move || {
        let policy = st.shared.service.get_key_policy(&caller, &key)?;
        Ok(json(&GetKeyPolicyResponse {
            policy,
            policy_name: DEFAULT.to_owned(),
        }))
    })
    .await
}

pub(super) async fn put_key_policy(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: PutKeyPolicyRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    policy_name(request.policy_name.as_deref())?;
    let document = policy_member(request.policy.as_deref())?
        .ok_or_else(|| missing("Policy"))?
        .to_owned();
    let bypass = request.bypass_policy_lockout_safety_check.unwrap_or(false);
    let st = state.clone();
    blocking(move || {
        let app = &st.shared;
        let action = QuorumAction::PutKeyPolicy {
            key: key.clone(),
            document: document.clone(),
            bypass_lockout: bypass,
        };
        let required = app.quorum.required(action.class()).map_err(quorum_error)?;
        if required > 1 {
            // Refuse what could never be applied before officers are asked to approve it.
            app.service
                .vet_key_policy(&caller, &key, &document, bypass)?;
        }
        gated(app, &caller, action, || {
            app.service
                .put_key_policy(&caller, &key, &document, bypass)?;
            Ok(empty())
        })
    })
    .await
}

pub(super) async fn list_key_policies(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListKeyPoliciesRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    within("Limit", request.limit, 1..=1000, 100)?;
    let st = state.clone();
    blocking(move || {
        st.shared.service.describe_key(&caller, &key)?;
        Ok(json(&ListKeyPoliciesResponse {
            policy_names: vec![DEFAULT.to_owned()],
            truncated: false,
        }))
    })
    .await
}
