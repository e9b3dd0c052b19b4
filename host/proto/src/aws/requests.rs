//! Request and response members of the AWS KMS operations Kastell serves, named as in the
//! AWS KMS API reference (PascalCase). Blobs are base64 text; a secret one (a plaintext)
//! is an [`crate::api::SecretBase64`]. Members Kastell does not act on (`GrantTokens`,
//! `DryRun`, …) are accepted and ignored, as an unknown member would be at AWS.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::api::SecretBase64;

/// The encryption context, as AWS takes it: string pairs.
pub type Context = BTreeMap<String, String>;

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct Tag {
    /// Its key.
    pub tag_key: String,
    /// Its value.
    pub tag_value: String,
}

/// An AWS error body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ErrorBody {
    /// The exception's name.
    #[cfg_attr(feature = "serde", serde(rename = "__type"))]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// `CreateKey`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct CreateKeyRequest {
    /// Free text.
    pub description: Option<String>,
    /// `SYMMETRIC_DEFAULT` (default), `ECC_NIST_P384`, `HMAC_384`.
    pub key_spec: Option<String>,
    /// The deprecated name of `KeySpec`.
    pub customer_master_key_spec: Option<String>,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`.
    pub key_usage: Option<String>,
    /// `AWS_KMS` only.
    pub origin: Option<String>,
    /// A key policy (JSON): not enforced yet, refused.
    pub policy: Option<String>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
    /// Multi-Region keys: refused.
    pub multi_region: Option<bool>,
    /// Custom key stores: refused.
    pub custom_key_store_id: Option<String>,
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
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`.
    pub key_usage: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, …
    pub key_state: String,
    /// When a pending deletion happens, seconds since the epoch.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub deletion_date: Option<f64>,
    /// `AWS_KMS`.
    pub origin: String,
    /// `CUSTOMER`.
    pub key_manager: String,
    /// The deprecated name of `KeySpec`.
    pub customer_master_key_spec: String,
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
    /// Always false.
    pub multi_region: bool,
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
/// `CancelKeyDeletion`, `GenerateRandom` has none).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct KeyIdRequest {
    /// Key id, key ARN, alias name or alias ARN.
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

/// Answers that name one key by ARN (`CancelKeyDeletion`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyIdResponse {
    /// The key's ARN.
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

/// `ListKeys` and `ListAliases` paging.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ListRequest {
    /// 1–1000 (default 100).
    pub limit: Option<u32>,
    /// Where the previous page ended.
    pub marker: Option<String>,
    /// `ListAliases`: only this key's aliases.
    pub key_id: Option<String>,
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

/// `CreateAlias`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct CreateAliasRequest {
    /// `alias/<name>`.
    pub alias_name: String,
    /// The key (id or ARN).
    pub target_key_id: String,
}

/// One alias in `ListAliases`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct AliasListEntry {
    /// `alias/<name>`.
    pub alias_name: String,
    /// `arn:aws:kms:<region>:<account>:alias/<name>`.
    pub alias_arn: String,
    /// The key's id.
    pub target_key_id: String,
}

/// `ListAliases`' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListAliasesResponse {
    /// The page.
    pub aliases: Vec<AliasListEntry>,
    /// Whether another page follows.
    pub truncated: bool,
}

/// `Encrypt`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct EncryptRequest {
    /// The key.
    pub key_id: String,
    /// Base64, 1–4096 bytes.
    pub plaintext: Option<SecretBase64>,
    /// The encryption context.
    pub encryption_context: Option<Context>,
    /// `SYMMETRIC_DEFAULT` only.
    pub encryption_algorithm: Option<String>,
}

/// `Encrypt`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct EncryptResponse {
    /// Base64 of Kastell's ciphertext (it names its key and version).
    pub ciphertext_blob: String,
    /// The key's ARN.
    pub key_id: String,
    /// `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

/// `Decrypt`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct DecryptRequest {
    /// Base64.
    pub ciphertext_blob: String,
    /// The encryption context it was made with.
    pub encryption_context: Option<Context>,
    /// When given, the ciphertext must be this key's.
    pub key_id: Option<String>,
    /// `SYMMETRIC_DEFAULT` only.
    pub encryption_algorithm: Option<String>,
}

/// `Decrypt`'s answer.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct DecryptResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64.
    pub plaintext: SecretBase64,
    /// `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

/// `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GenerateDataKeyRequest {
    /// The key.
    pub key_id: String,
    /// `AES_256` or `AES_128`.
    pub key_spec: Option<String>,
    /// 1–1024.
    pub number_of_bytes: Option<u32>,
    /// The encryption context.
    pub encryption_context: Option<Context>,
}

/// `GenerateDataKey`'s answer (`Plaintext` absent without plaintext).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateDataKeyResponse {
    /// Base64 of the data key encrypted under the key.
    pub ciphertext_blob: String,
    /// Base64 of the data key.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub plaintext: Option<SecretBase64>,
    /// The key's ARN.
    pub key_id: String,
}

/// `GenerateRandom`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GenerateRandomRequest {
    /// 1–1024.
    pub number_of_bytes: Option<u32>,
}

/// `GenerateRandom`'s answer.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateRandomResponse {
    /// Base64.
    pub plaintext: SecretBase64,
}
