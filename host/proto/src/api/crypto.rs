//! Key use (`/v1/keys/{key}/encrypt`, `/v1/decrypt`, …): encrypt, decrypt, re-encrypt,
//! data keys, sign, verify, public key, MACs, random bytes. Binary fields are standard
//! base64; plaintexts, data keys and random bytes are [`SecretBase64`].

use alloc::string::String;

use super::SecretBase64;
use crate::EncryptionContext;

/// Data to encrypt (`Debug` shows neither the plaintext nor the context).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EncryptRequest {
    /// The plaintext, base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub plaintext: SecretBase64,
    /// Encryption context: bound to the ciphertext as AAD, shown to the key's policy,
    /// never logged (the audit trail keeps an HMAC of it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
}

/// A ciphertext and the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CiphertextResponse {
    /// The key's id.
    pub key_id: String,
    /// The Kastell ciphertext (header naming key and version, IV, AES-256-GCM), base64.
    pub ciphertext: String,
}

/// A ciphertext to decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecryptRequest {
    /// The ciphertext, base64.
    pub ciphertext: String,
    /// The encryption context it was made with.
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
    /// Refuse unless the ciphertext is under this key (id or alias).
    #[cfg_attr(feature = "serde", serde(default))]
    pub key: Option<String>,
}

/// A plaintext and the key that decrypted it (`Debug` redacts the plaintext).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlaintextResponse {
    /// The key's id.
    pub key_id: String,
    /// The plaintext, base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub plaintext: SecretBase64,
}

/// A ciphertext to move under another key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReEncryptRequest {
    /// The ciphertext, base64.
    pub ciphertext: String,
    /// Its encryption context (kept for the new ciphertext).
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
    /// The destination key (id or alias).
    pub destination: String,
}

/// A data key request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataKeyRequest {
    /// The encryption context of the encrypted data key.
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
    /// Return only the encrypted data key.
    #[cfg_attr(feature = "serde", serde(default))]
    pub without_plaintext: bool,
}

/// A new 256-bit data key (`Debug` redacts the plaintext).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataKeyResponse {
    /// The key that encrypted it.
    pub key_id: String,
    /// The data key as a Kastell ciphertext, base64.
    pub ciphertext: String,
    /// The data key itself, base64 (absent with `without_plaintext`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub plaintext: Option<SecretBase64>,
}

/// What to sign: a message, or its SHA-384 digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignRequest {
    /// The message, base64 (hashed with SHA-384 by the server).
    #[cfg_attr(feature = "serde", serde(default))]
    pub message: Option<String>,
    /// A 48-byte SHA-384 digest, base64, instead of the message.
    #[cfg_attr(feature = "serde", serde(default))]
    pub digest: Option<String>,
}

/// A signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignResponse {
    /// The key's id.
    pub key_id: String,
    /// The version that signed.
    pub version: u32,
    /// ECDSA P-384 signature (DER), base64.
    pub signature: String,
}

/// A signature to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    /// The message, base64.
    #[cfg_attr(feature = "serde", serde(default))]
    pub message: Option<String>,
    /// Or its SHA-384 digest, base64.
    #[cfg_attr(feature = "serde", serde(default))]
    pub digest: Option<String>,
    /// The DER signature, base64.
    pub signature: String,
}

/// Whether a signature or MAC is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidResponse {
    /// `true` when valid.
    pub valid: bool,
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKeyResponse {
    /// The key's id.
    pub key_id: String,
    /// SubjectPublicKeyInfo DER, base64.
    pub spki: String,
    /// The same as PEM.
    pub pem: String,
}

/// A message to MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacRequest {
    /// The message, base64.
    pub message: String,
}

/// A MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacResponse {
    /// HMAC-SHA-384, base64.
    pub mac: String,
}

/// A MAC to check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyMacRequest {
    /// The message, base64.
    pub message: String,
    /// The MAC, base64.
    pub mac: String,
}

/// How many random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RandomRequest {
    /// 1–1024.
    pub length: usize,
}

/// Random bytes.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RandomResponse {
    /// The bytes, base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub random: SecretBase64,
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    #[test]
    fn debug_of_plaintext_carrying_bodies_is_redacted() {
        let request = EncryptRequest {
            plaintext: SecretBase64::new("c2VjcmV0".into()),
            context: Some(EncryptionContext(
                [("tenant".into(), "acme-secret".into())].into(),
            )),
        };
        let response = PlaintextResponse {
            key_id: "k".into(),
            plaintext: SecretBase64::new("c2VjcmV0".into()),
        };
        let data_key = DataKeyResponse {
            key_id: "k".into(),
            ciphertext: "AAAA".into(),
            plaintext: Some(SecretBase64::new("c2VjcmV0".into())),
        };
        for shown in [
            format!("{request:?}"),
            format!("{response:?}"),
            format!("{data_key:?}"),
        ] {
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            assert!(!shown.contains("acme-secret"), "{shown}");
            assert!(shown.contains("SecretBase64 { .. }"), "{shown}");
        }
    }

    #[test]
    fn debug_of_random_bytes_is_redacted() {
        let random = RandomResponse {
            random: SecretBase64::new("c2VjcmV0".into()),
        };
        assert_eq!(
            format!("{random:?}"),
            "RandomResponse { random: SecretBase64 { .. } }"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn requests_keep_their_defaults_and_refuse_unknown_fields() {
        use alloc::string::ToString as _;
        use serde_json::json;

        let request: EncryptRequest =
            serde_json::from_value(json!({"plaintext": "c2VjcmV0"})).expect("no context");
        assert_eq!(request.plaintext.expose(), "c2VjcmV0");
        assert!(request.context.is_none());
        let request: DataKeyRequest = serde_json::from_value(json!({})).expect("empty");
        assert_eq!(request, DataKeyRequest::default());
        let err = serde_json::from_value::<EncryptRequest>(json!({"plaintext": "", "x": 1}))
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
        let data_key = DataKeyResponse {
            key_id: "k".into(),
            ciphertext: "AAAA".into(),
            plaintext: None,
        };
        assert_eq!(
            serde_json::to_value(&data_key).expect("json"),
            json!({"key_id": "k", "ciphertext": "AAAA"})
        );
    }
}
