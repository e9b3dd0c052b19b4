//! `Encrypt`, `Decrypt`, `ReEncrypt`, `GenerateDataKey(WithoutPlaintext)`,
//! `GenerateRandom`.

use alloc::string::String;

use super::{Context, RecipientInfo};
use crate::api::SecretBase64;

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
    /// `SYMMETRIC_DEFAULT` (default), `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`.
    pub encryption_algorithm: Option<String>,
    /// Check only: `DryRunOperationException` when it would succeed.
    pub dry_run: Option<bool>,
}

/// `Encrypt`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct EncryptResponse {
    /// Base64 of Kastell's ciphertext (it names its key and version), or of the raw
    /// RSA-OAEP output.
    pub ciphertext_blob: String,
    /// The key's ARN.
    pub key_id: String,
    /// The algorithm used.
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
    /// When given, the ciphertext must be this key's (required for RSA keys).
    pub key_id: Option<String>,
    /// `SYMMETRIC_DEFAULT` (default), `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`.
    pub encryption_algorithm: Option<String>,
    /// An attestation document: the answer's secret is encrypted to its key
    /// (`CiphertextForRecipient`) and never returned in plaintext.
    pub recipient: Option<RecipientInfo>,
    /// Check only.
    pub dry_run: Option<bool>,
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
    /// The algorithm used.
    pub encryption_algorithm: String,
    /// The id of the key material that decrypted it (symmetric keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_id: Option<String>,
}

/// `ReEncrypt`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ReEncryptRequest {
    /// Base64 of the ciphertext to move.
    pub ciphertext_blob: String,
    /// The context it was made with.
    pub source_encryption_context: Option<Context>,
    /// When given, the ciphertext must be this key's (required for RSA keys).
    pub source_key_id: Option<String>,
    /// The key to encrypt under (required).
    pub destination_key_id: String,
    /// The context to bind the new ciphertext to.
    pub destination_encryption_context: Option<Context>,
    /// How the ciphertext was made.
    pub source_encryption_algorithm: Option<String>,
    /// How to make the new one.
    pub destination_encryption_algorithm: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `ReEncrypt`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ReEncryptResponse {
    /// Base64 of the new ciphertext.
    pub ciphertext_blob: String,
    /// The source key's ARN.
    pub source_key_id: String,
    /// The destination key's ARN.
    pub key_id: String,
    /// How the ciphertext had been made.
    pub source_encryption_algorithm: String,
    /// How the new one was made.
    pub destination_encryption_algorithm: String,
    /// The id of the key material that decrypted it (a symmetric source key).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub source_key_material_id: Option<String>,
    /// The id of the key material that encrypted the new one (a symmetric destination).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub destination_key_material_id: Option<String>,
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
    /// An attestation document: the answer's secret is encrypted to its key
    /// (`CiphertextForRecipient`) and never returned in plaintext.
    pub recipient: Option<RecipientInfo>,
    /// Check only.
    pub dry_run: Option<bool>,
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
    /// The id of the key material that encrypted the data key.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_id: Option<String>,
}

/// `GenerateRandom`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GenerateRandomRequest {
    /// 1–1024.
    pub number_of_bytes: Option<u32>,
    /// Custom key stores: refused.
    pub custom_key_store_id: Option<String>,
    /// An attestation document: the answer's secret is encrypted to its key
    /// (`CiphertextForRecipient`) and never returned in plaintext.
    pub recipient: Option<RecipientInfo>,
}

/// `GenerateRandom`'s answer.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateRandomResponse {
    /// Base64.
    pub plaintext: SecretBase64,
}
