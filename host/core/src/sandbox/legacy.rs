//! Policies built against the contract before re-encrypt had a direction
//! (`kastell:runtime@0.1.0`, frozen in `wit/legacy/policy-0.1.0.wit`): still loaded, asked
//! fail-closed questions in the old vocabulary.
//!
//! The old contract had one operation, `re-encrypt`, asked of both keys. A policy written
//! for it may allow `re-encrypt` and deny `decrypt`, which let a caller move a ciphertext
//! out to a key it may decrypt under. So, for the source key (`re-encrypt-from`), an old
//! policy is asked `re-encrypt` and then `decrypt`, and both must allow; for the
//! destination key (`re-encrypt-to`) it is asked `re-encrypt`, as before. Every other
//! operation keeps its name. The request's `other-key` does not exist in the old contract
//! and is left out.
//!
//! Nor can the old contract name the key specs and operations of issue 17 (RSA, the other
//! curves, the other HMAC sizes, ML-DSA; derive-shared-secret and the data key pairs): a
//! request on such a key or for such an operation is denied without asking the policy,
//! the reason naming what it cannot express ([`inexpressible`]). The request's algorithm
//! and message type are left out too: an old policy that allows `sign` on a P-384 key
//! allows it for its one algorithm, as before.

use kastell_proto::{KeySpec, Operation, Role};

use super::generated::policy_v0_1::kastell::runtime::types as old;
use super::request::PolicyRequest;

/// The package version of the old contract, as component import names carry it.
pub const VERSION: &str = "0.1.0";

/// The questions an old policy is asked for `operation`, in order; all must be allowed.
pub(crate) fn questions(operation: Operation) -> &'static [old::Operation] {
    use Operation as O;
    use old::Operation as W;
    match operation {
        O::ReEncryptFrom => &[W::ReEncrypt, W::Decrypt],
        O::ReEncryptTo => &[W::ReEncrypt],
        O::Encrypt => &[W::Encrypt],
        O::Decrypt => &[W::Decrypt],
        O::GenerateDataKey => &[W::GenerateDataKey],
        O::GenerateDataKeyWithoutPlaintext => &[W::GenerateDataKeyWithoutPlaintext],
        O::Sign => &[W::Sign],
        O::Verify => &[W::Verify],
        O::GenerateMac => &[W::GenerateMac],
        O::VerifyMac => &[W::VerifyMac],
        O::GenerateRandom => &[W::GenerateRandom],
        O::GetPublicKey => &[W::GetPublicKey],
        O::Release => &[W::Release],
        O::CreateKey => &[W::CreateKey],
        O::DescribeKey => &[W::DescribeKey],
        O::RotateKey => &[W::RotateKey],
        O::EnableKey => &[W::EnableKey],
        O::DisableKey => &[W::DisableKey],
        O::ScheduleKeyDeletion => &[W::ScheduleKeyDeletion],
        O::CancelKeyDeletion => &[W::CancelKeyDeletion],
        O::BindPolicy => &[W::BindPolicy],
        O::UpdateTags => &[W::UpdateTags],
        O::UpdateAlias => &[W::UpdateAlias],
        O::SetMinDecryptionVersion => &[W::SetMinDecryptionVersion],
        O::DestroyKey => &[W::DestroyKey],
        // Denied before any question (`inexpressible`).
        O::DeriveSharedSecret | O::GenerateDataKeyPair | O::GenerateDataKeyPairWithoutPlaintext => {
            &[]
        }
    }
}

/// Why an old policy cannot be asked about `request`: an operation or a key spec its
/// contract does not name. The host then denies (fail closed) with this reason.
pub(crate) fn inexpressible(request: &PolicyRequest) -> Option<String> {
    let why = |what: String| {
        Some(format!(
            "a kastell:runtime@{VERSION} policy cannot express {what}: denied (rebuild the \
             policy against kastell:runtime@0.2.0)"
        ))
    };
    if questions(request.operation).is_empty() {
        return why(format!("the operation `{}`", request.operation));
    }
    for key in request.key.iter().chain(request.other_key.iter()) {
        if spec(key.spec).is_none() {
            return why(format!("{} keys", key.spec));
        }
    }
    None
}

/// Whether an old policy is asked `operation` under other names (so that a denial says
/// which question it answered).
pub(crate) fn renamed(operation: Operation) -> bool {
    matches!(operation, Operation::ReEncryptFrom | Operation::ReEncryptTo)
}

/// The old name of `question`, for deny reasons.
pub(crate) fn name(question: old::Operation) -> &'static str {
    match question {
        old::Operation::ReEncrypt => "re-encrypt",
        old::Operation::Decrypt => "decrypt",
        // Only the two questions above are asked under another operation's name.
        _ => "another operation",
    }
}

/// `request` in the old contract's types, asking `question`.
pub(crate) fn to_wit(request: &PolicyRequest, question: old::Operation) -> old::Request {
    let pairs = |map: &std::collections::BTreeMap<String, String>| -> Vec<(String, String)> {
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    old::Request {
        operation: question,
        // `inexpressible` turned away requests on keys of other specs before any question.
        key: request.key.as_ref().and_then(|key| {
            Some(old::KeyInfo {
                id: key.id.clone(),
                spec: spec(key.spec)?,
                tags: pairs(&key.tags),
            })
        }),
        principal: old::Principal {
            id: request.principal.id.clone(),
            roles: request.principal.roles.iter().map(|&r| role(r)).collect(),
            tenant: request.principal.tenant.clone(),
        },
        context: pairs(&request.context.0),
        evidence: request.evidence.as_ref().map(|e| old::Evidence {
            guest_sha384: e.guest_sha384.as_bytes().to_vec(),
            policy_sha384: e.policy_sha384.map(|m| m.as_bytes().to_vec()),
            issuer: e.issuer.clone(),
            not_after: e.not_after,
        }),
        time: request.time,
    }
}

/// The old contract's name of `spec`, if it has one.
fn spec(spec: KeySpec) -> Option<old::KeySpec> {
    match spec {
        KeySpec::Aes256 => Some(old::KeySpec::Aes256),
        KeySpec::EccNistP384 => Some(old::KeySpec::EccNistP384),
        KeySpec::HmacSha384 => Some(old::KeySpec::HmacSha384),
        _ => None,
    }
}

fn role(role: Role) -> old::Role {
    match role {
        Role::CryptoOfficer => old::Role::CryptoOfficer,
        Role::CryptoUser => old::Role::CryptoUser,
        Role::Auditor => old::Role::Auditor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_encrypt_from_asks_an_old_policy_re_encrypt_and_decrypt() {
        assert_eq!(
            questions(Operation::ReEncryptFrom),
            &[old::Operation::ReEncrypt, old::Operation::Decrypt]
        );
        assert_eq!(
            questions(Operation::ReEncryptTo),
            &[old::Operation::ReEncrypt]
        );
    }

    #[test]
    fn every_other_operation_asks_one_question_of_its_own_name() {
        for &operation in Operation::ALL {
            if matches!(
                operation,
                Operation::ReEncryptFrom
                    | Operation::ReEncryptTo
                    | Operation::DeriveSharedSecret
                    | Operation::GenerateDataKeyPair
                    | Operation::GenerateDataKeyPairWithoutPlaintext
            ) {
                continue;
            }
            let asked = questions(operation);
            assert_eq!(asked.len(), 1, "{operation}");
            // The generated enum's Debug is `Operation::<variant>`, the vocabulary's the
            // variant's name.
            assert_eq!(
                format!("{:?}", asked[0]),
                format!("Operation::{operation:?}")
            );
        }
    }
}
