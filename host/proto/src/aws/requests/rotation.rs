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

/// One rotation in `ListKeyRotations`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct RotationsListEntry {
    /// The key id.
    pub key_id: String,
    /// When, seconds since the epoch.
    pub rotation_date: f64,
    /// `AUTOMATIC` or `ON_DEMAND`.
    pub rotation_type: String,
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
