//! The bundled AWS key policy evaluator (`kastell:runtime/aws-key-policy`): AWS KMS key
//! policy decisions taken inside the sandbox, like every other Kastell policy decision.
//!
//! The component is `guest/aws-key-policy`, embedded in the host at build time (see
//! `host/core/build.rs`): its bytes are part of the binary, so someone who can write the
//! data directory cannot replace it, and its measurement ([`bundled_measurement`]) is
//! written in the audit record of every key policy change. It is loaded once, on first
//! use, and then evaluated in a fresh instance per decision with the policy limits (fuel,
//! deadline, memory); any trap, limit or malformed answer denies. A host built before
//! `scripts/build-guests` has no component: every AWS key policy decision denies, saying
//! so.

use std::sync::Arc;

use kastell_attest::Measurement;
use wasmtime::component::{Component, Linker};

use super::generated::aws_key_policy::AwsKeyPolicyPre;
use super::generated::aws_key_policy::kastell::runtime::aws_policy_types::{
    AwsGrant as WitGrant, AwsRequest as WitRequest, GrantDecision,
};
use super::generated::aws_key_policy::kastell::runtime::types::Decision as AwsDecision;
use super::generated::policy::kastell::runtime::types::Decision;
use super::validate::{self, LoadError};
use super::{DenyCause, EvalState, Evaluation, Failed, Fault, Sandbox, Verdict};

/// The evaluator's bytes, embedded at build time; empty when the host was built before
/// the guests.
const BUNDLED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aws_key_policy.wasm"));

/// The world the bundled evaluator implements.
pub const AWS_KEY_POLICY_WORLD: &str = "kastell:runtime/aws-key-policy@0.2.0";

/// Imports the evaluator may carry (those of a std Rust guest, linked as traps).
const ALLOWED_IMPORTS: &[&str] = &[
    "kastell:runtime/types@",
    "kastell:runtime/aws-policy-types@",
    "wasi:cli/",
    "wasi:io/",
];

/// The measurement (SHA-384) of the bundled evaluator, `None` when this host has none.
#[must_use]
pub fn bundled_measurement() -> Option<Measurement> {
    (!BUNDLED.is_empty()).then(|| Measurement::of(BUNDLED))
}

/// The evidence of one request on a key with an AWS key policy, as the evaluator takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsPolicyRequest {
    /// `kms:Encrypt`, `kms:DescribeKey`, …
    pub action: String,
    /// The caller's ARN.
    pub principal_arn: String,
    /// The caller's account.
    pub principal_account: String,
    /// The key's ARN.
    pub resource_arn: String,
    /// Condition keys by lower-case name, with their values.
    pub condition_keys: Vec<(String, Vec<String>)>,
}

/// Which part of the AWS access model allowed a request ([`Sandbox::evaluate_aws_grants`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAllowed {
    /// The key policy.
    KeyPolicy,
    /// The grant with this id.
    Grant(String),
}

/// The loaded evaluator.
pub(super) struct AwsEvaluator {
    pre: AwsKeyPolicyPre<EvalState>,
}

impl Sandbox {
    /// The bundled evaluator, loaded on first use.
    fn aws_evaluator(&self) -> Result<Arc<AwsEvaluator>, String> {
        self.aws
            .get_or_init(|| self.load_aws_evaluator(BUNDLED).map(Arc::new))
            .clone()
    }

    fn load_aws_evaluator(&self, bytes: &[u8]) -> Result<AwsEvaluator, String> {
        if bytes.is_empty() {
            return Err(
                "this host was built without the bundled AWS key policy evaluator \
                 (guest/aws-key-policy): run scripts/build-guests, then build kastell again"
                    .to_owned(),
            );
        }
        let fail = |e: LoadError| format!("the bundled AWS key policy evaluator: {e}");
        validate::check_header(bytes, self.limits.max_component_size).map_err(fail)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| fail(LoadError::Invalid(format!("{e:#}"))))?;
        let forbidden: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| !ALLOWED_IMPORTS.iter().any(|ns| name.starts_with(ns)))
            .map(str::to_owned)
            .collect();
        if !forbidden.is_empty() {
            return Err(fail(LoadError::ForbiddenImports(forbidden)));
        }
        let mut linker = Linker::<EvalState>::new(&self.engine);
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| fail(LoadError::Invalid(format!("cannot link imports: {e:#}"))))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| fail(LoadError::Invalid(format!("cannot link: {e:#}"))))?;
        let pre = AwsKeyPolicyPre::new(instance_pre).map_err(|e| {
            fail(LoadError::WrongWorld(format!(
                "not {AWS_KEY_POLICY_WORLD}: {e:#}"
            )))
        })?;
        Ok(AwsEvaluator { pre })
    }

    /// Evaluates the AWS key policy `document` on `request` with the bundled evaluator, in
    /// a fresh instance. Never fails: a missing evaluator, a trap or a limit denies.
    #[must_use]
    pub fn evaluate_aws_policy(&self, document: &str, request: &AwsPolicyRequest) -> Evaluation {
        let start = std::time::Instant::now();
        let evaluator = match self.aws_evaluator() {
            Ok(evaluator) => evaluator,
            Err(why) => {
                return Evaluation {
                    verdict: Verdict::Deny(DenyCause::Fault(Fault::Instantiation(why))),
                    fuel_consumed: 0,
                    elapsed: start.elapsed(),
                };
            }
        };
        let wit = wit_request(request);
        let (verdict, fuel_consumed) = self.run(|store| {
            let instance = evaluator
                .pre
                .instantiate(&mut *store)
                .map_err(Failed::Instantiate)?;
            match instance.call_evaluate(&mut *store, document, &wit) {
                Ok(AwsDecision::Allow) => Ok(Decision::Allow),
                Ok(AwsDecision::Deny(reason)) => Ok(Decision::Deny(reason)),
                Err(err) => Err(Failed::Call(err)),
            }
        });
        Evaluation {
            verdict,
            fuel_consumed,
            elapsed: start.elapsed(),
        }
    }

    /// Evaluates the key policy `document` and the key's `grants` on `request` (whose
    /// encryption context is `context`) with the bundled evaluator, in a fresh instance:
    /// the evaluation, and which part allowed (`None` when denied). Never fails: a missing
    /// evaluator, a trap or a limit denies.
    #[must_use]
    pub fn evaluate_aws_grants(
        &self,
        document: &str,
        grants: &[kastell_proto::aws::grant::Grant],
        request: &AwsPolicyRequest,
        context: &std::collections::BTreeMap<String, String>,
    ) -> (Evaluation, Option<AwsAllowed>) {
        let start = std::time::Instant::now();
        let evaluator = match self.aws_evaluator() {
            Ok(evaluator) => evaluator,
            Err(why) => {
                let evaluation = Evaluation {
                    verdict: Verdict::Deny(DenyCause::Fault(Fault::Instantiation(why))),
                    fuel_consumed: 0,
                    elapsed: start.elapsed(),
                };
                return (evaluation, None);
            }
        };
        let wit = wit_request(request);
        let pairs = |map: &std::collections::BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        let wit_grants: Vec<WitGrant> = grants
            .iter()
            .map(|grant| {
                let constraints = grant.constraints.as_ref();
                WitGrant {
                    grant_id: grant.grant_id.clone(),
                    grantee_principal: grant.grantee_principal.clone(),
                    operations: grant.operations.clone(),
                    context_subset: constraints
                        .and_then(|c| c.encryption_context_subset.as_ref())
                        .map(pairs),
                    context_equals: constraints
                        .and_then(|c| c.encryption_context_equals.as_ref())
                        .map(pairs),
                }
            })
            .collect();
        let context = pairs(context);
        let mut allowed = None;
        let (verdict, fuel_consumed) = self.run(|store| {
            let instance = evaluator
                .pre
                .instantiate(&mut *store)
                .map_err(Failed::Instantiate)?;
            match instance.call_evaluate_with_grants(
                &mut *store,
                document,
                &wit_grants,
                &wit,
                &context,
            ) {
                Ok(GrantDecision::KeyPolicy) => {
                    allowed = Some(AwsAllowed::KeyPolicy);
                    Ok(Decision::Allow)
                }
                // Only a grant the host handed in can allow.
                Ok(GrantDecision::Grant(id)) if grants.iter().any(|g| g.grant_id == id) => {
                    allowed = Some(AwsAllowed::Grant(id));
                    Ok(Decision::Allow)
                }
                Ok(GrantDecision::Grant(id)) => Ok(Decision::Deny(format!(
                    "the evaluator named grant {:.80}, which the key does not have",
                    id
                ))),
                Ok(GrantDecision::Deny(reason)) => Ok(Decision::Deny(reason)),
                Err(err) => Err(Failed::Call(err)),
            }
        });
        let allowed = if verdict == Verdict::Allow {
            allowed
        } else {
            None
        };
        let evaluation = Evaluation {
            verdict,
            fuel_consumed,
            elapsed: start.elapsed(),
        };
        (evaluation, allowed)
    }

    /// Whether this host has the bundled evaluator (and it loads).
    ///
    /// # Errors
    /// Why not, in one line.
    pub fn aws_policy_available(&self) -> Result<(), String> {
        self.aws_evaluator().map(|_| ())
    }
}

fn wit_request(request: &AwsPolicyRequest) -> WitRequest {
    WitRequest {
        action: request.action.clone(),
        principal_arn: request.principal_arn.clone(),
        principal_account: request.principal_account.clone(),
        resource_arn: request.resource_arn.clone(),
        condition_keys: request.condition_keys.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

    use super::*;
    use crate::sandbox::SandboxLimits;

    #[test]
    fn a_host_without_the_evaluator_or_with_a_broken_one_refuses_saying_why() {
        let sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
        let missing = sandbox.load_aws_evaluator(&[]).err().expect("no evaluator");
        assert!(missing.contains("run scripts/build-guests"), "{missing}");
        let core = sandbox
            .load_aws_evaluator(b"\0asm\x01\0\0\0")
            .err()
            .expect("a core module");
        assert!(core.contains("not a component"), "{core}");
        let garbage = sandbox
            .load_aws_evaluator(b"not wasm")
            .err()
            .expect("not wasm");
        assert!(garbage.contains("not a WebAssembly binary"), "{garbage}");
    }
}
