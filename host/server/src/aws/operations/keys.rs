//! `CreateKey`, `DescribeKey`, `ListKeys`, `EnableKey`, `DisableKey`,
//! `ScheduleKeyDeletion`, `CancelKeyDeletion`, `UpdateKeyDescription`.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Caller, MAX_LIST, NewKey};
use kastell_proto::aws::{
    AwsException, CreateKeyRequest, KeyIdRequest, KeyIdResponse, KeyListEntry, KeyMetadataResponse,
    ListKeysResponse, ListRequest, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse,
    SpecError, UpdateKeyDescriptionRequest, kastell_key_spec,
};
use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin, QuorumAction};

use super::policies::policy_member;
use super::shared::{
    any_key, bad_marker, blocking, empty, enumerated, gated, json, key_id_only, metadata, missing,
    parse, rfc3339_seconds, validation, within,
};
use super::tags::{gated_edit, tag_map};
use super::{AwsError, AwsState};

/// Longest description AWS takes, in characters.
pub(super) const MAX_DESCRIPTION: usize = 8192;

/// The key usages AWS names (Kastell's four, and ML-KEM's).
const USAGES: &[&str] = &[
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];

pub(super) async fn create_key(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: CreateKeyRequest = parse(body)?;
    let policy = policy_member(request.policy.as_deref())?.map(str::to_owned);
    let bypass = request.bypass_policy_lockout_safety_check.unwrap_or(false);
    let new = new_key(request)?;
    let st = state.clone();
    blocking(move || {
        let service = &st.shared.service;
        let record = match &policy {
            Some(document) => {
                service.create_key_with_policy(&caller, new, None, document, bypass)?
            }
            None => service.create_key(&caller, new, None)?,
        };
        let description = st.shared.service.description_of(&record)?;
        Ok(json(&KeyMetadataResponse {
            key_metadata: metadata(&st, &description),
        }))
    })
    .await
}

/// A description within AWS's length.
pub(super) fn checked_description(description: &str) -> Result<(), AwsError> {
    let length = description.chars().count();
    if length > MAX_DESCRIPTION {
        return Err(validation(
            "Description",
            &format!("({length} characters)"),
            &format!("Member must have length less than or equal to {MAX_DESCRIPTION}"),
        ));
    }
    Ok(())
}

/// The new key `CreateKey` asks for (its `Policy` aside), refused as AWS refuses (or as
/// Kastell must: multi-Region keys, custom key stores, imported material).
fn new_key(request: CreateKeyRequest) -> Result<NewKey, AwsError> {
    let unsupported = |message: String| AwsError::new(AwsException::UnsupportedOperation, message);
    if request.multi_region == Some(true) {
        return Err(unsupported(
            "Kastell does not offer multi-Region keys".into(),
        ));
    }
    if request.custom_key_store_id.is_some() || request.xks_key_id.is_some() {
        return Err(unsupported(
            "Kastell does not offer custom key stores".into(),
        ));
    }
    let origin = match request.origin.as_deref() {
        None | Some("AWS_KMS") => Origin::Wrapped,
        // Created pending import; material comes with ImportKeyMaterial.
        Some("EXTERNAL") => Origin::External,
        Some(other @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
            return Err(unsupported(format!(
                "Kastell does not offer custom key stores (Origin {other})"
            )));
        }
        Some(other) => {
            return Err(validation(
                "Origin",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, \
                 EXTERNAL_KEY_STORE]",
            ));
        }
    };
    if request.key_spec.is_some() && request.customer_master_key_spec.is_some() {
        return Err(AwsError::new(
            AwsException::Validation,
            "give KeySpec or its deprecated name CustomerMasterKeySpec, not both",
        ));
    }
    let (field, name) = match (request.key_spec, request.customer_master_key_spec) {
        (Some(name), _) => ("KeySpec", name),
        (None, Some(name)) => ("CustomerMasterKeySpec", name),
        (None, None) => ("KeySpec", "SYMMETRIC_DEFAULT".to_owned()),
    };
    let spec = kastell_key_spec(&name).map_err(|why| match why {
        SpecError::NotSupported => unsupported(format!("Kastell does not offer {name} keys")),
        SpecError::Unknown => validation(
            field,
            &format!("'{name}'"),
            "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, \
             ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, \
             HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, \
             ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024]",
        ),
    })?;
    let usage = usage_for(spec, &name, request.key_usage.as_deref())?;
    let description = request.description.unwrap_or_default();
    checked_description(&description)?;
    let tags = tag_map(request.tags.as_deref().unwrap_or_default())?;
    Ok(NewKey {
        spec,
        origin,
        description,
        tags,
        policy: None,
        releasable: false,
        usage: Some(usage),
    })
}

/// The usage of a new `spec` key: `KeyUsage` as given (required but for symmetric
/// encryption keys, as at AWS), one the spec allows.
fn usage_for(spec: KeySpec, name: &str, given: Option<&str>) -> Result<KeyUsage, AwsError> {
    let usage = enumerated::<KeyUsage>("KeyUsage", given, USAGES, &["ENCAPSULATE_DECAPSULATE"])
        .map_err(|err| match err.exception {
            // A usage AWS has and Kastell not fits none of Kastell's specs.
            AwsException::InvalidKeyUsage => AwsError::new(
                AwsException::Validation,
                format!(
                    "KeyUsage {} does not fit KeySpec {name}",
                    given.unwrap_or("")
                ),
            ),
            _ => err,
        })?;
    let usage = match usage {
        Some(usage) => usage,
        None if spec == KeySpec::Aes256 => KeyUsage::EncryptDecrypt,
        None => {
            return Err(AwsError::new(
                AwsException::Validation,
                format!(
                    "KeyUsage is required for {name} keys (one of {})",
                    names(spec.usages())
                ),
            ));
        }
    };
    if !spec.allows(usage) {
        return Err(AwsError::new(
            AwsException::Validation,
            format!(
                "KeyUsage {usage} does not fit KeySpec {name}: it allows {}",
                names(spec.usages())
            ),
        ));
    }
    Ok(usage)
}

fn names(usages: &[KeyUsage]) -> String {
    usages
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn describe_key(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = any_key(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        let description = st.shared.service.describe_key(&caller, &key)?;
        Ok(json(&KeyMetadataResponse {
            key_metadata: metadata(&st, &description),
        }))
    })
    .await
}

pub(super) async fn list_keys(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListRequest = parse(body)?;
    let limit = within("Limit", request.limit, 1..=1000, 100)?;
    let after = request
        .marker
        .as_deref()
        .map(|marker| marker.parse::<KeyId>().map_err(|_| bad_marker(marker)))
        .transpose()?
        .map(|id| id.to_string());
    let st = state.clone();
    blocking(move || {
        // One more than asked tells whether another page follows.
        let asked = (limit + 1).min(MAX_LIST);
        let mut keys = st
            .shared
            .service
            .list_keys(&caller, after.as_deref(), asked)?;
        let truncated = keys.len() > usize::try_from(limit).unwrap_or(usize::MAX)
            || (asked == limit && keys.len() == usize::try_from(limit).unwrap_or(0));
        keys.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_marker = truncated
            .then(|| keys.last().map(|k| k.id.clone()))
            .flatten();
        Ok(json(&ListKeysResponse {
            keys: keys
                .iter()
                .map(|k| KeyListEntry {
                    key_id: k.id.clone(),
                    key_arn: st.endpoint.key_arn(&k.id),
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}

pub(super) async fn set_enabled(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
    enabled: bool,
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        st.shared.service.set_enabled(&caller, &key, enabled)?;
        Ok(empty())
    })
    .await
}

pub(super) async fn cancel_deletion(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        let record = st.shared.service.cancel_deletion(&caller, &key)?;
        Ok(json(&KeyIdResponse {
            key_id: st.endpoint.key_arn(&record.id.to_string()),
        }))
    })
    .await
}

pub(super) async fn schedule_deletion(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ScheduleKeyDeletionRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let days = within(
        "PendingWindowInDays",
        request.pending_window_in_days,
        kastell_core::keys::DELETION_WINDOW_DAYS,
        30,
    )?;
    let st = state.clone();
    blocking(move || {
        let action = QuorumAction::ScheduleDeletion {
            key: key.clone(),
            days,
        };
        gated(&st.shared, &caller, action, || {
            let record = st.shared.service.schedule_deletion(&caller, &key, days)?;
            let description = st.shared.service.description_of(&record)?;
            Ok(json(&ScheduleKeyDeletionResponse {
                key_id: st.endpoint.key_arn(&description.id),
                deletion_date: description
                    .deletion_date
                    .as_deref()
                    .map_or(0.0, rfc3339_seconds),
                key_state: "PendingDeletion".to_owned(),
                pending_window_in_days: days,
            }))
        })
    })
    .await
}

pub(super) async fn update_description(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: UpdateKeyDescriptionRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let description = request.description.ok_or_else(|| missing("Description"))?;
    checked_description(&description)?;
    let st = state.clone();
    blocking(move || {
        gated_edit(
            &st.shared,
            &caller,
            &key,
            &std::collections::BTreeMap::new(),
            &[],
            Some(&description),
        )
    })
    .await
}
