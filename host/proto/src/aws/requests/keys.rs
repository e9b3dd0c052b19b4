//! `CreateKey`, `DescribeKey`, `ListKeys`, `EnableKey`, `DisableKey`,
//! `ScheduleKeyDeletion`, `CancelKeyDeletion`, `UpdateKeyDescription`.

use alloc::string::String;
use alloc::vec::Vec;

use super::Tag;

/// `CreateKey`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct CreateKeyRequest {
    /// Free text, 0–8192 characters.
    pub description: Option<String>,
    /// `SYMMETRIC_DEFAULT` (default), `RSA_2048`, …, `ML_DSA_87`.
    pub key_spec: Option<String>,
    /// The deprecated name of `KeySpec`.
    pub customer_master_key_spec: Option<String>,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, `KEY_AGREEMENT`.
    pub key_usage: Option<String>,
    /// `AWS_KMS` only.
    pub origin: Option<String>,
    /// The key policy (JSON, at most 32 KiB); absent: AWS's default key policy.
    pub policy: Option<String>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
    /// Multi-Region keys: refused.
    pub multi_region: Option<bool>,
    /// Custom key stores: refused.
    pub custom_key_store_id: Option<String>,
    /// External key stores: refused.
    pub xks_key_id: Option<String>,
    /// Store `Policy` even if it would not let the caller change it again.
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// `KeyMetadata`, as `CreateKey` and `DescribeKey` return it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyMetadata {
    /// The account.
    #[cfg_attr(feature = "serde", serde(rename = "AWSAccountId"))]
    pub aws_account_id: String,
    /// The key id (a UUID).
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    pub arn: String,
    /// Seconds since the epoch.
    pub creation_date: f64,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Free text.
    pub description: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, `KEY_AGREEMENT`.
    pub key_usage: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, …
    pub key_state: String,
    /// When a pending deletion happens, seconds since the epoch.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub deletion_date: Option<f64>,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: String,
    /// `CUSTOMER`.
    pub key_manager: String,
    /// The deprecated name of `KeySpec` (absent for the specs it never named: ML-DSA).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub customer_master_key_spec: Option<String>,
    /// The key spec.
    pub key_spec: String,
    /// For encryption keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_algorithms: Option<Vec<String>>,
    /// For signing keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub signing_algorithms: Option<Vec<String>>,
    /// For MAC keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub mac_algorithms: Option<Vec<String>>,
    /// For key agreement keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub key_agreement_algorithms: Option<Vec<String>>,
    /// Always false.
    pub multi_region: bool,
    /// When imported material expires, seconds since the epoch (`EXTERNAL` keys whose
    /// material expires).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub valid_to: Option<f64>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE` (`EXTERNAL` keys with
    /// material).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub expiration_model: Option<String>,
    /// The id of the current key material (`SYMMETRIC_DEFAULT` keys of origin `EXTERNAL`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub current_key_material_id: Option<String>,
}

/// `CreateKey`'s and `DescribeKey`'s answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyMetadataResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}

/// Requests that name one key (`DescribeKey`, `EnableKey`, `DisableKey`,
/// `CancelKeyDeletion`, `GetPublicKey`, the rotation operations).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct KeyIdRequest {
    /// Key id, key ARN, alias name or alias ARN (as the operation accepts).
    pub key_id: String,
}

/// `ScheduleKeyDeletion`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ScheduleKeyDeletionRequest {
    /// The key.
    pub key_id: String,
    /// 7–30 (default 30).
    pub pending_window_in_days: Option<u32>,
}

/// `ScheduleKeyDeletion`'s answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ScheduleKeyDeletionResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Seconds since the epoch.
    pub deletion_date: f64,
    /// `PendingDeletion`.
    pub key_state: String,
    /// The window.
    pub pending_window_in_days: u32,
}

/// Answers that name one key: by ARN (`CancelKeyDeletion`) or by id (`RotateKeyOnDemand`),
/// as AWS answers each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyIdResponse {
    /// The key's ARN or id.
    pub key_id: String,
}

/// One key in `ListKeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// Its ARN.
    pub key_arn: String,
}

/// Paging of the list operations (`ListKeys`, `ListAliases`, `ListResourceTags`,
/// `ListKeyRotations`).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ListRequest {
    /// How many at most (each operation has its range and default).
    pub limit: Option<u32>,
    /// The `NextMarker` of the previous page.
    pub marker: Option<String>,
    /// The key (`ListAliases`: optional filter; `ListResourceTags`, `ListKeyRotations`:
    /// required).
    pub key_id: Option<String>,
    /// `ListKeyRotations`: `ALL_KEY_MATERIAL` (the first material and material pending
    /// rotation too) or `ROTATIONS_ONLY` (the default).
    pub include_key_material: Option<String>,
}

/// `ListKeys`' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListKeysResponse {
    /// The page.
    pub keys: Vec<KeyListEntry>,
    /// Whether another page follows.
    pub truncated: bool,
    /// Where the next page starts.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
}

/// `UpdateKeyDescription`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct UpdateKeyDescriptionRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// The new description, 0–8192 characters (required).
    pub description: Option<String>,
}
