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
use kastell_proto::api::{MaterialDescription, VersionDescription};
use kastell_proto::aws::{
    AwsException, EnableKeyRotationRequest, GetKeyRotationStatusResponse, KeyIdRequest,
    KeyIdResponse, ListKeyRotationsResponse, ListRequest, RotationsListEntry,
};
use kastell_proto::{KeySpec, Origin};

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
    let all = match request.include_key_material.as_deref() {
        None | Some("ROTATIONS_ONLY") => false,
        Some("ALL_KEY_MATERIAL") => true,
        Some(other) => {
            return Err(validation(
                "IncludeKeyMaterial",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
            ));
        }
    };
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
        // Every version after the first is a rotation; with ALL_KEY_MATERIAL the first
        // material and material pending rotation are listed too (the latter last, its
        // marker past every version number).
        let pending = key.pending_material.as_ref().filter(|_| all);
        let mut rows: Vec<(u32, RotationsListEntry)> = key
            .versions
            .iter()
            .filter(|v| all || v.number > 1)
            .map(|v| (v.number, version_row(&key, v)))
            .chain(pending.map(|m| (u32::MAX, material_row(&key, m, "PENDING_ROTATION", true))))
            .filter(|(number, _)| after.is_none_or(|after| *number > after))
            .take(limit + 1)
            .collect();
        let truncated = rows.len() > limit;
        rows.truncate(limit);
        let next_marker = truncated
            .then(|| rows.last().map(|(number, _)| number.to_string()))
            .flatten();
        Ok(json(&ListKeyRotationsResponse {
            rotations: rows.into_iter().map(|(_, row)| row).collect(),
            truncated: next_marker.is_some(),
            next_marker,
        }))
    })
    .await
}

/// The `ListKeyRotations` row of `material` of `key` (in `state`, held or not).
fn material_row(
    key: &KeyDescription,
    material: &MaterialDescription,
    state: &str,
    held: bool,
) -> RotationsListEntry {
    let imported = key.origin == Origin::External;
    RotationsListEntry {
        key_id: key.id.clone(),
        key_material_id: Some(material.id.clone()),
        key_material_state: Some(state.to_owned()),
        key_material_description: material.description.clone().filter(|_| imported),
        import_state: imported.then(|| if held { "IMPORTED" } else { "PENDING_IMPORT" }.to_owned()),
        expiration_model: imported.then(|| {
            if material.expires.is_some() {
                "KEY_MATERIAL_EXPIRES"
            } else {
                "KEY_MATERIAL_DOES_NOT_EXPIRE"
            }
            .to_owned()
        }),
        valid_to: material.expires.as_deref().map(rfc3339_seconds),
        ..RotationsListEntry::default()
    }
}

/// The `ListKeyRotations` row of version `version` of `key`: its material, and for a
/// version after the first, the rotation that made it.
fn version_row(key: &KeyDescription, version: &VersionDescription) -> RotationsListEntry {
    let state = if version.number == key.current_version {
        "CURRENT"
    } else {
        "NON_CURRENT"
    };
    let mut row = match &version.key_material {
        Some(material) => material_row(key, material, state, version.material == "wrapped"),
        None => RotationsListEntry {
            key_id: key.id.clone(),
            ..RotationsListEntry::default()
        },
    };
    if version.number > 1 {
        row.rotation_date = Some(rfc3339_seconds(&version.created));
        row.rotation_type = Some(
            if version.automatic {
                "AUTOMATIC"
            } else {
                "ON_DEMAND"
            }
            .to_owned(),
        );
    }
    row
}
