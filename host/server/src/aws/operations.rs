//! The AWS KMS operations Kastell serves, one file per family (`keys`, `crypto`,
//! `signing`, `asymmetric`, `aliases`, `tags`, `rotation`, `policies`, `grants`, `import`;
//! `Recipient` in `recipient`; what they share in `shared`),
//! each over the same key-service method as its `/v1` counterpart (so role, state, usage,
//! policy and audit are the same), with AWS's request validation, response members and
//! exceptions. Administration that `/v1` puts under quorum is under the same quorum here:
//! a class that needs approvals stores a pending operation and answers
//! `KMSInvalidStateException` naming it (AWS KMS has no "pending approval" answer).

mod aliases;
mod asymmetric;
mod crypto;
mod grants;
mod import;
mod keys;
mod policies;
mod recipient;
mod rotation;
mod shared;
mod signing;
mod tags;

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::Caller;
use kastell_proto::aws::AwsException;

use super::{AwsError, AwsState};
use shared::LATER_ISSUE;

/// The operations Kastell serves.
const SERVED: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GetPublicKey",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "CreateGrant",
    "ListGrants",
    "ListRetirableGrants",
    "RetireGrant",
    "RevokeGrant",
];

/// Operations that come with a later issue: each answers `UnsupportedOperationException`
/// naming it (none left).
const LATER: &[&str] = &[];

/// Operations Kastell does not offer, and why: each answers
/// `UnsupportedOperationException` saying so.
const NOT_OFFERED: &[(&str, &str)] = &[
    ("ConnectCustomKeyStore", "custom key stores"),
    ("CreateCustomKeyStore", "custom key stores"),
    ("DeleteCustomKeyStore", "custom key stores"),
    ("DescribeCustomKeyStores", "custom key stores"),
    ("DisconnectCustomKeyStore", "custom key stores"),
    ("UpdateCustomKeyStore", "custom key stores"),
    ("ReplicateKey", "multi-Region keys"),
    ("UpdatePrimaryRegion", "multi-Region keys"),
    ("Encapsulate", "ML-KEM keys"),
    ("Decapsulate", "ML-KEM keys"),
    (
        "GetKeyLastUsage",
        "key usage statistics (the audit trail, `kastell audit`, records every use)",
    ),
];

/// Whether `op` is an operation of the AWS KMS API.
pub(super) fn is_known(op: &str) -> bool {
    SERVED.contains(&op) || LATER.contains(&op) || NOT_OFFERED.iter().any(|(name, _)| *name == op)
}

/// Answers the operation `op` for `caller`.
pub(super) async fn dispatch(
    state: &AwsState,
    caller: Arc<Caller>,
    op: &str,
    body: &[u8],
) -> Result<Response, AwsError> {
    grants::check_grant_tokens(body)?;
    match op {
        "CreateKey" => keys::create_key(state, caller, body).await,
        "DescribeKey" => keys::describe_key(state, caller, body).await,
        "ListKeys" => keys::list_keys(state, caller, body).await,
        "EnableKey" => keys::set_enabled(state, caller, body, true).await,
        "DisableKey" => keys::set_enabled(state, caller, body, false).await,
        "ScheduleKeyDeletion" => keys::schedule_deletion(state, caller, body).await,
        "CancelKeyDeletion" => keys::cancel_deletion(state, caller, body).await,
        "UpdateKeyDescription" => keys::update_description(state, caller, body).await,
        "Encrypt" => crypto::encrypt(state, caller, body).await,
        "Decrypt" => crypto::decrypt(state, caller, body).await,
        "ReEncrypt" => crypto::re_encrypt(state, caller, body).await,
        "GenerateDataKey" => crypto::generate_data_key(state, caller, body, true).await,
        "GenerateDataKeyWithoutPlaintext" => {
            crypto::generate_data_key(state, caller, body, false).await
        }
        "GenerateRandom" => crypto::generate_random(state, caller, body).await,
        "Sign" => signing::sign(state, caller, body).await,
        "Verify" => signing::verify(state, caller, body).await,
        "GenerateMac" => signing::generate_mac(state, caller, body).await,
        "VerifyMac" => signing::verify_mac(state, caller, body).await,
        "GetPublicKey" => asymmetric::public_key(state, caller, body).await,
        "DeriveSharedSecret" => asymmetric::derive_shared_secret(state, caller, body).await,
        "GenerateDataKeyPair" => asymmetric::data_key_pair(state, caller, body, true).await,
        "GenerateDataKeyPairWithoutPlaintext" => {
            asymmetric::data_key_pair(state, caller, body, false).await
        }
        "CreateAlias" => aliases::create_alias(state, caller, body).await,
        "UpdateAlias" => aliases::update_alias(state, caller, body).await,
        "DeleteAlias" => aliases::delete_alias(state, caller, body).await,
        "ListAliases" => aliases::list_aliases(state, caller, body).await,
        "TagResource" => tags::tag_resource(state, caller, body).await,
        "UntagResource" => tags::untag_resource(state, caller, body).await,
        "ListResourceTags" => tags::list_resource_tags(state, caller, body).await,
        "EnableKeyRotation" => rotation::enable(state, caller, body).await,
        "DisableKeyRotation" => rotation::disable(state, caller, body).await,
        "GetKeyRotationStatus" => rotation::status(state, caller, body).await,
        "RotateKeyOnDemand" => rotation::rotate_on_demand(state, caller, body).await,
        "ListKeyRotations" => rotation::list_rotations(state, caller, body).await,
        "GetKeyPolicy" => policies::get_key_policy(state, caller, body).await,
        "PutKeyPolicy" => policies::put_key_policy(state, caller, body).await,
        "ListKeyPolicies" => policies::list_key_policies(state, caller, body).await,
        "CreateGrant" => grants::create_grant(state, caller, body).await,
        "ListGrants" => grants::list_grants(state, caller, body).await,
        "ListRetirableGrants" => grants::list_retirable_grants(state, caller, body).await,
        "RetireGrant" => grants::retire_grant(state, caller, body).await,
        "RevokeGrant" => grants::revoke_grant(state, caller, body).await,
        "GetParametersForImport" => import::get_parameters(state, caller, body).await,
        "ImportKeyMaterial" => import::import_key_material(state, caller, body).await,
        "DeleteImportedKeyMaterial" => {
            import::delete_imported_key_material(state, caller, body).await
        }
        other if LATER.contains(&other) => Err(AwsError::new(
            AwsException::UnsupportedOperation,
            format!(
                "Kastell does not serve {other} yet: imported key material comes with \
                 {LATER_ISSUE}"
            ),
        )),
        other => match NOT_OFFERED.iter().find(|(name, _)| *name == other) {
            Some((_, what)) => Err(AwsError::new(
                AwsException::UnsupportedOperation,
                format!("Kastell does not offer {other}: it has no {what}"),
            )),
            None => Err(AwsError::new(
                AwsException::UnknownOperation,
                format!("unknown operation TrentService.{other}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_aws_kms_api_is_known_once() {
        let mut all: Vec<&str> = SERVED.to_vec();
        all.extend(LATER);
        all.extend(NOT_OFFERED.iter().map(|(name, _)| *name));
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "an operation is listed twice");
        // The 56 operations of the 2014-11-01 API (botocore 1.42).
        assert_eq!(count, 56);
        assert!(is_known("Sign") && is_known("CreateGrant") && is_known("ReplicateKey"));
        assert!(!is_known("DeleteKey"));
    }
}
