//! The AWS key policy evaluator Kastell bundles (`kastell:runtime/aws-key-policy`): the
//! key's policy document and the request's evidence in, allow or deny out, decided by
//! [`kastell_proto::aws::policy`] inside the sandbox. A document that does not parse
//! denies (the host validated it when it was stored, so that means damage). With the
//! key's grants (`evaluate-with-grants`), a request the key policy does not deny
//! explicitly and does not allow is allowed by the first grant that matches it
//! ([`kastell_proto::aws::grant`]), named in the decision.

use kastell_proto::aws::grant::{Grant, GrantConstraints, allowing};
use kastell_proto::aws::policy::{Decision as PolicyDecision, KeyPolicy, Request};

mod bindings {
    #![allow(
        unsafe_code,
        missing_docs,
        clippy::too_many_arguments,
        reason = "generated bindings"
    )]
    wit_bindgen::generate!({
        world: "aws-key-policy",
        path: "../../wit",
    });
}

use bindings::kastell::runtime::aws_policy_types::{AwsGrant, AwsRequest, GrantDecision};
use bindings::kastell::runtime::types::Decision;

/// Longest deny reason the host keeps.
const MAX_REASON: usize = 1000;

struct Evaluator;

impl bindings::Guest for Evaluator {
    fn evaluate(document: String, req: AwsRequest) -> Decision {
        let policy = match KeyPolicy::parse(&document) {
            Ok(policy) => policy,
            Err(err) => return deny(format!("the key policy does not parse: {err}")),
        };
        let request = request(req);
        match policy.evaluate(&request) {
            PolicyDecision::Allow => Decision::Allow,
            PolicyDecision::ExplicitDeny(statement) => deny(format!(
                "the key policy denies {} to {} explicitly (statement {statement})",
                request.action, request.principal
            )),
            PolicyDecision::ImplicitDeny => deny(format!(
                "the key policy has no statement that allows {} to {}",
                request.action, request.principal
            )),
        }
    }

    fn evaluate_with_grants(
        document: String,
        grants: Vec<AwsGrant>,
        req: AwsRequest,
        context: Vec<(String, String)>,
    ) -> GrantDecision {
        let policy = match KeyPolicy::parse(&document) {
            Ok(policy) => policy,
            Err(err) => return grant_deny(format!("the key policy does not parse: {err}")),
        };
        let request = request(req);
        match policy.evaluate(&request) {
            PolicyDecision::Allow => GrantDecision::KeyPolicy,
            PolicyDecision::ExplicitDeny(statement) => grant_deny(format!(
                "the key policy denies {} to {} explicitly (statement {statement}); no grant \
                 overrides an explicit deny",
                request.action, request.principal
            )),
            PolicyDecision::ImplicitDeny => {
                let grants: Vec<Grant> = grants.into_iter().map(grant).collect();
                let context = context.into_iter().collect();
                match allowing(
                    &grants,
                    &request.action,
                    &request.principal,
                    &request.principal_account,
                    &context,
                ) {
                    Some(grant) => GrantDecision::Grant(grant.grant_id.clone()),
                    None => grant_deny(format!(
                        "the key policy has no statement that allows {} to {}, and none of \
                         the key's {} grants allows it",
                        request.action,
                        request.principal,
                        grants.len()
                    )),
                }
            }
        }
    }
}

fn request(req: AwsRequest) -> Request {
    Request {
        action: req.action,
        principal: req.principal_arn,
        principal_account: req.principal_account,
        resource: req.resource_arn,
        keys: req.condition_keys.into_iter().collect(),
    }
}

/// A grant as the host handed it (only what a decision reads).
fn grant(given: AwsGrant) -> Grant {
    let constraints =
        (given.context_subset.is_some() || given.context_equals.is_some()).then(|| {
            GrantConstraints {
                encryption_context_subset: given.context_subset.map(|p| p.into_iter().collect()),
                encryption_context_equals: given.context_equals.map(|p| p.into_iter().collect()),
            }
        });
    Grant {
        grant_id: given.grant_id,
        name: None,
        grantee_principal: given.grantee_principal,
        retiring_principal: None,
        issuing_principal: String::new(),
        operations: given.operations,
        constraints,
        created: 0,
    }
}

fn grant_deny(reason: String) -> GrantDecision {
    match deny(reason) {
        Decision::Deny(reason) => GrantDecision::Deny(reason),
        Decision::Allow => GrantDecision::Deny(String::new()),
    }
}

fn deny(mut reason: String) -> Decision {
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    Decision::Deny(reason)
}

mod export {
    #![allow(unsafe_code, reason = "the generated export glue")]
    use super::{Evaluator, bindings};
    bindings::export!(Evaluator with_types_in bindings);
}
