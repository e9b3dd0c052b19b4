//! `EnableKeyRotation`, `DisableKeyRotation`, `GetKeyRotationStatus`,
//! `RotateKeyOnDemand`, `ListKeyRotations`, over Kastell's rotation: a rotation adds a key
//! version (older ones still decrypt), automatic rotation is the host's hourly sweep of
//! keys whose period has run. As at AWS, only symmetric encryption keys (`AES_256`) rotate
//! through this API; `/v1` rotates any key.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{
    Caller, DEFAULT_ROTATION_PERIOD_DAYS, KeyDescription, ROTATION_PERIOD_DAYS,
};
use kastell_proto::KeySpec;
use kastell_proto::aws::{
    AwsException, EnableKeyRotationRequest, GetKeyRotationStatusResponse, KeyIdRequest,
    KeyIdResponse, ListKeyRotationsResponse, ListRequest, RotationsListEntry,
};

use super::shared::{
    bad_marker, blocking, empty, json, key_id_only, parse, rfc3339_seconds, validation, within,
};
use super::{AwsError, AwsState};

/// AWS's refusal of rotation for a key that is not a symmetric encryption key.
fn symmetric_only(key: &KeyDescription, operation: &str) -> Result<(), AwsError> {
    if key.spec == KeySpec::Aes256 {
        return Ok(());
    }
    Err(AwsError::new(
        AwsException::UnsupportedOperation,
        format!(
            "{operation} is for symmetric encryption keys; {} is a {} key",
            key.id,
            kastell_proto::aws::aws_key_spec(key.spec)
        ),
    ))
}

pub(super) async fn enable(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: EnableKeyRotationRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let days = within(
        "RotationPeriodInDays",
        request.rotation_period_in_days,
        ROTATION_PERIOD_DAYS,
        DEFAULT_ROTATION_PERIOD_DAYS,
    )?;
    let st = state.clone();
    blocking(move || {
        st.shared.service.set_rotation(&caller, &key, Some(days))?;
        Ok(empty())
    })
    .await
}

pub(super) async fn disable(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        st.shared.service.set_rotation(&caller, &key, None)?;
        Ok(empty())
    })
    .await
}

pub(super) async fn status(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        let key = st.shared.service.describe_key(&caller, &key)?;
        symmetric_only(&key, "GetKeyRotationStatus")?;
        // As at AWS: a key pending deletion reports rotation off (and is not rotated);
        // cancelling the deletion brings the schedule back.
        let rotation = key.rotation.filter(|_| key.state != "pending-deletion");
        Ok(json(&GetKeyRotationStatusResponse {
            key_rotation_enabled: rotation.is_some(),
            // The key id, not its ARN, as AWS answers (its CLI reference's example).
            key_id: key.id.clone(),
            rotation_period_in_days: rotation.as_ref().map(|r| r.period_days),
            next_rotation_date: rotation.as_ref().map(|r| rfc3339_seconds(&r.next)),
        }))
    })
    .await
}

pub(super) async fn rotate_on_demand(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: KeyIdRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", &request.key_id)?;
    let st = state.clone();
    blocking(move || {
        let described = st.shared.service.describe_key(&caller, &key)?;
        symmetric_only(&described, "RotateKeyOnDemand")?;
        if described.state == "disabled" {
            return Err(AwsError::new(
                AwsException::Disabled,
                format!("key {} is disabled", described.id),
            ));
        }
        let record = st.shared.service.rotate(&caller, &key)?;
        // The key id, not its ARN, as AWS answers (its CLI reference's example).
        Ok(json(&KeyIdResponse {
            key_id: record.id.to_string(),
        }))
    })
    .await
}

pub(super) async fn list_rotations(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: ListRequest = parse(body)?;
    let key = key_id_only(state, "KeyId", request.key_id.as_deref().unwrap_or(""))?;
    let limit = within("Limit", request.limit, 1..=1000, 100)?;
    match request.include_key_material.as_deref() {
        None | Some("ALL_KEY_MATERIAL" | "ROTATIONS_ONLY") => {}
        Some(other) => {
            return Err(validation(
                "IncludeKeyMaterial",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
            ));
        }
    }
    let after = request
        .marker
        .as_deref()
        .map(|marker| marker.parse::<u32>().map_err(|_| bad_marker(marker)))
        .transpose()?;
    let st = state.clone();
    blocking(move || {
        let key = st.shared.service.describe_key(&caller, &key)?;
        symmetric_only(&key, "ListKeyRotations")?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // Every version after the first is a rotation.
        let mut page: Vec<_> = key
            .versions
            .iter()
            .filter(|v| v.number > 1 && after.is_none_or(|after| v.number > after))
            .take(limit + 1)
            .collect();
        let truncated = page.len() > limit;
        page.truncate(limit);
        let next_marker = truncated
            .then(|| page.last().map(|v| v.number.to_string()))
            .flatten();
        Ok(json(&ListKeyRotationsResponse {
            rotations: page
                .iter()
                .map(|v| RotationsListEntry {
                    key_id: key.id.clone(),
                    rotation_date: rfc3339_seconds(&v.created),
                    rotation_type: if v.automatic {
                        "AUTOMATIC"
                    } else {
                        "ON_DEMAND"
                    }
                    .to_owned(),
                })
                .collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}
