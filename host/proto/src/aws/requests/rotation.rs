//! `EnableKeyRotation`, `DisableKeyRotation`, `GetKeyRotationStatus`,
//! `RotateKeyOnDemand`, `ListKeyRotations`.

use alloc::string::String;
use alloc::vec::Vec;

/// `EnableKeyRotation`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct EnableKeyRotationRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// 90–2560 (default 365).
    pub rotation_period_in_days: Option<u32>,
}

/// `GetKeyRotationStatus`' answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GetKeyRotationStatusResponse {
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// The key's ARN.
    pub key_id: String,
    /// The period, when on.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub rotation_period_in_days: Option<u32>,
    /// The next automatic rotation, seconds since the epoch, when on.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_rotation_date: Option<f64>,
}

/// One key material in `ListKeyRotations` (AWS's `RotationsListEntry`): a rotation, and
/// with `IncludeKeyMaterial ALL_KEY_MATERIAL` also the first material and imported
/// material pending rotation.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct RotationsListEntry {
    /// The key id.
    pub key_id: String,
    /// The material's id (64 hexadecimal digits).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_id: Option<String>,
    /// The importer's description (imported symmetric keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_description: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT` (imported symmetric keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub import_state: Option<String>,
    /// `CURRENT`, `NON_CURRENT` or `PENDING_ROTATION`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_state: Option<String>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE` (imported symmetric keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub expiration_model: Option<String>,
    /// When the material expires, seconds since the epoch.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub valid_to: Option<f64>,
    /// When, seconds since the epoch (rotations only).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub rotation_date: Option<f64>,
    /// `AUTOMATIC` or `ON_DEMAND` (rotations only).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub rotation_type: Option<String>,
}

/// `ListKeyRotations`' answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListKeyRotationsResponse {
    /// The page, oldest rotation first.
    pub rotations: Vec<RotationsListEntry>,
    /// Whether another page follows.
    pub truncated: bool,
    /// Where the next page starts.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
}
