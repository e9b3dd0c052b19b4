//! `Sign`, `Verify`, `GenerateMac`, `VerifyMac`.

use alloc::string::String;

/// `Sign` and `Verify` (`Signature` for `Verify` only).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct SignRequest {
    /// The key.
    pub key_id: String,
    /// Base64 of the message (1–4096 bytes) or of its digest.
    pub message: Option<String>,
    /// `RAW` (default) or `DIGEST`.
    pub message_type: Option<String>,
    /// The signing algorithm (required).
    pub signing_algorithm: Option<String>,
    /// `Verify`: base64 of the signature (required).
    pub signature: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `Sign`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct SignResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Base64 of the signature: DER `ECDSA-Sig-Value` for ECDSA, raw for RSA and ML-DSA.
    pub signature: String,
    /// The algorithm used.
    pub signing_algorithm: String,
}

/// `Verify`'s answer (an invalid signature is `KMSInvalidSignatureException` instead).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct VerifyResponse {
    /// The key's ARN.
    pub key_id: String,
    /// True.
    pub signature_valid: bool,
    /// The algorithm used.
    pub signing_algorithm: String,
}

/// `GenerateMac` and `VerifyMac` (`Mac` for `VerifyMac` only).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct MacRequest {
    /// The key.
    pub key_id: String,
    /// Base64 of the message, 1–4096 bytes.
    pub message: Option<String>,
    /// The MAC algorithm (required).
    pub mac_algorithm: Option<String>,
    /// `VerifyMac`: base64 of the MAC (required).
    pub mac: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `GenerateMac`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GenerateMacResponse {
    /// Base64 of the MAC.
    pub mac: String,
    /// The algorithm used.
    pub mac_algorithm: String,
    /// The key's ARN.
    pub key_id: String,
}

/// `VerifyMac`'s answer (an invalid MAC is `KMSInvalidMacException` instead).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct VerifyMacResponse {
    /// The key's ARN.
    pub key_id: String,
    /// True.
    pub mac_valid: bool,
    /// The algorithm used.
    pub mac_algorithm: String,
}
