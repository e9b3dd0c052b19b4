//! The AWS key policy evaluator Kastell bundles (`kastell:runtime/aws-key-policy`): the
//! key's policy document and the request's evidence in, allow or deny out, decided by
//! [`kastell_proto::aws::policy`] inside the sandbox. A document that does not parse
//! denies (the host validated it when it was stored, so that means damage).

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

use bindings::kastell::runtime::aws_policy_types::AwsRequest;
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
        let request = Request {
            action: req.action,
            principal: req.principal_arn,
            principal_account: req.principal_account,
            resource: req.resource_arn,
            keys: req.condition_keys.into_iter().collect(),
        };
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
