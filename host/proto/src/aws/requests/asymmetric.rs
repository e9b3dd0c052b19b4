//! `GetPublicKey`, `DeriveSharedSecret`, `GenerateDataKeyPair(WithoutPlaintext)`.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Context, RecipientInfo};
use crate::api::SecretBase64;

/// `GetPublicKey`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GetPublicKeyResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the SubjectPublicKeyInfo, DER.
    pub public_key: String,
    /// The deprecated name of `KeySpec` (absent for ML-DSA).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub customer_master_key_spec: Option<String>,
    /// The key spec.
    pub key_spec: String,
    /// The key's usage.
    pub key_usage: String,
    /// For encryption keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_algorithms: Option<Vec<String>>,
    /// For signing keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub signing_algorithms: Option<Vec<String>>,
    /// For key agreement keys.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub key_agreement_algorithms: Option<Vec<String>>,
}

/// `DeriveSharedSecret`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct DeriveSharedSecretRequest {
    /// The key (usage `KEY_AGREEMENT`).
    pub key_id: String,
    /// `ECDH` (required).
    pub key_agreement_algorithm: Option<String>,
    /// Base64 of the peer's SubjectPublicKeyInfo, DER (required).
    pub public_key: Option<String>,
    /// An attestation document: the answer's secret is encrypted to its key
    /// (`CiphertextForRecipient`) and never returned in plaintext.
    pub recipient: Option<RecipientInfo>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `DeriveSharedSecret`'s answer.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct DeriveSharedSecretResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the shared secret.
    pub shared_secret: SecretBase64,
    /// `ECDH`.
    pub key_agreement_algorithm: String,
    /// `AWS_KMS`.
    pub key_origin: String,
}

/// `GenerateDataKeyPair` and `GenerateDataKeyPairWithoutPlaintext`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GenerateDataKeyPairRequest {
    /// The symmetric key that encrypts the private key.
    pub key_id: String,
    /// `RSA_2048`, …, `ECC_SECG_P256K1` (required).
    pub key_pair_spec: Option<String>,
    /// The encryption context.
    pub encryption_context: Option<Context>,
    /// An attestation document: the answer's secret is encrypted to its key
    /// (`CiphertextForRecipient`) and never returned in plaintext.
    pub recipient: Option<RecipientInfo>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `GenerateDataKeyPair`'s answer (`PrivateKeyPlaintext` absent without plaintext).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateDataKeyPairResponse {
    /// Base64 of the private key (PKCS#8) as a Kastell ciphertext under the key.
    pub private_key_ciphertext_blob: String,
    /// Base64 of the private key, PKCS#8 DER.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub private_key_plaintext: Option<SecretBase64>,
    /// Base64 of the public key, SubjectPublicKeyInfo DER.
    pub public_key: String,
    /// The key's ARN.
    pub key_id: String,
    /// The pair's spec.
    pub key_pair_spec: String,
    /// The id of the key material that encrypted the private key (symmetric keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material_id: Option<String>,
}
