//! `GetParametersForImport`, `ImportKeyMaterial`, `DeleteImportedKeyMaterial`: imported key
//! material (AWS's "bring your own key").

use alloc::string::String;

/// `GetParametersForImport`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GetParametersForImportRequest {
    /// Key id or key ARN of a key with origin `EXTERNAL`.
    pub key_id: String,
    /// `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_1`,
    /// `RSA_AES_KEY_WRAP_SHA_256` (also in AWS's model: `RSAES_PKCS1_V1_5`, `SM2PKE`).
    pub wrapping_algorithm: Option<String>,
    /// `RSA_2048`, `RSA_3072`, `RSA_4096` (also in AWS's model: `SM2`).
    pub wrapping_key_spec: Option<String>,
}

/// `GetParametersForImport`'s answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GetParametersForImportResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the import token, to give back to `ImportKeyMaterial`.
    pub import_token: String,
    /// Base64 of the wrapping key's public key (SubjectPublicKeyInfo DER).
    pub public_key: String,
    /// When the token and the public key stop being accepted, seconds since the epoch.
    pub parameters_valid_to: f64,
}

/// `ImportKeyMaterial`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ImportKeyMaterialRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Base64 of the import token `GetParametersForImport` gave.
    pub import_token: Option<String>,
    /// Base64 of the material wrapped by the token's public key and algorithm.
    pub encrypted_key_material: Option<String>,
    /// When the material expires, seconds since the epoch (with `KEY_MATERIAL_EXPIRES`).
    pub valid_to: Option<f64>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub expiration_model: Option<String>,
    /// `EXISTING_KEY_MATERIAL` or `NEW_KEY_MATERIAL`.
    pub import_type: Option<String>,
    /// Free text about the material (up to 256 characters).
    pub key_material_description: Option<String>,
    /// The id of material imported before (64 hexadecimal digits).
    pub key_material_id: Option<String>,
}

/// `ImportKeyMaterial`'s and `DeleteImportedKeyMaterial`'s answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct KeyMaterialResponse {
    /// The key's ARN.
    pub key_id: String,
    /// The material's id (64 hexadecimal digits).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub key_material_id: Option<String>,
}

/// `DeleteImportedKeyMaterial`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct DeleteImportedKeyMaterialRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// The material's id (the key's current one when absent).
    pub key_material_id: Option<String>,
}
