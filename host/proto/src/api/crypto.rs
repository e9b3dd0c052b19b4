//! Key use (`/v1/keys/{key}/encrypt`, `/v1/decrypt`, …): encrypt, decrypt, re-encrypt,
//! data keys, sign, verify, public key, MACs, random bytes. Binary fields are standard
//! base64; plaintexts, data keys and random bytes are [`SecretBase64`].

use alloc::string::String;
use alloc::vec::Vec;

use super::SecretBase64;
use crate::EncryptionContext;
use crate::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm,
};

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
    /// never logged (the audit trail keeps an HMAC of it). AES keys only.
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
    /// `SYMMETRIC_DEFAULT` (AES keys, the default), `RSAES_OAEP_SHA_1` or
    /// `RSAES_OAEP_SHA_256` (RSA keys: required).
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<EncryptionAlgorithm>,
}

/// A ciphertext and the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CiphertextResponse {
    /// The key's id.
    pub key_id: String,
    /// The ciphertext, base64: a Kastell ciphertext (header naming key and version, IV,
    /// AES-256-GCM), or for RSA-OAEP the raw OAEP output.
    pub ciphertext: String,
    /// The algorithm (absent from servers before issue 17: `SYMMETRIC_DEFAULT`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<EncryptionAlgorithm>,
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
    /// Refuse unless the ciphertext is under this key (id or alias); required with an
    /// RSA-OAEP algorithm (its ciphertexts do not name their key).
    #[cfg_attr(feature = "serde", serde(default))]
    pub key: Option<String>,
    /// `SYMMETRIC_DEFAULT` (the default: a Kastell ciphertext), `RSAES_OAEP_SHA_1` or
    /// `RSAES_OAEP_SHA_256`.
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<EncryptionAlgorithm>,
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

/// What to sign: a message, or its digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignRequest {
    /// The message, base64 (hashed by the server with the algorithm's hash), or with
    /// `message_type` `DIGEST` its digest.
    #[cfg_attr(feature = "serde", serde(default))]
    pub message: Option<String>,
    /// The digest, base64, instead of the message (the algorithm's hash length).
    #[cfg_attr(feature = "serde", serde(default))]
    pub digest: Option<String>,
    /// The signing algorithm; default: the key spec's only one (`ECDSA_SHA_384` for
    /// P-384); required for RSA keys.
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<SigningAlgorithm>,
    /// `RAW` or `DIGEST`; default: `DIGEST` when `digest` is given, else `RAW`.
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub message_type: Option<MessageType>,
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
    /// The signature, base64: DER `ECDSA-Sig-Value` for ECDSA, raw for RSA and ML-DSA.
    pub signature: String,
    /// The algorithm that made it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<SigningAlgorithm>,
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
    /// Or its digest, base64.
    #[cfg_attr(feature = "serde", serde(default))]
    pub digest: Option<String>,
    /// The signature, base64.
    pub signature: String,
    /// As in [`SignRequest`].
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<SigningAlgorithm>,
    /// As in [`SignRequest`].
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub message_type: Option<MessageType>,
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
    /// The key's spec.
    #[cfg_attr(feature = "serde", serde(default))]
    pub spec: Option<String>,
    /// The key's usage.
    #[cfg_attr(feature = "serde", serde(default))]
    pub usage: Option<String>,
    /// The signing algorithms it allows (SIGN_VERIFY keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub signing_algorithms: Vec<String>,
    /// The encryption algorithms it allows (ENCRYPT_DECRYPT keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub encryption_algorithms: Vec<String>,
    /// The key agreement algorithms it allows (KEY_AGREEMENT keys).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub key_agreement_algorithms: Vec<String>,
}

/// A message to MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacRequest {
    /// The message, base64.
    pub message: String,
    /// The MAC algorithm; default (and only choice): the key spec's own
    /// (`HMAC_SHA_256` for `HMAC_256`, …).
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<MacAlgorithm>,
}

/// A MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MacResponse {
    /// The HMAC (the hash's full length), base64.
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
    /// As in [`MacRequest`].
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<MacAlgorithm>,
}

/// A peer's public key to agree on a secret with (ECDH).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeriveSharedSecretRequest {
    /// The peer's SubjectPublicKeyInfo (DER), base64; on the key's curve.
    pub peer_public_key: String,
    /// `ECDH` (the default and only choice).
    #[cfg_attr(feature = "serde", serde(default))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub algorithm: Option<KeyAgreementAlgorithm>,
}

/// A shared secret (`Debug` redacts it).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedSecretResponse {
    /// The key's id.
    pub key_id: String,
    /// The raw ECDH shared secret (the x-coordinate, the curve's field length), base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub shared_secret: SecretBase64,
}

/// A data key pair request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataKeyPairRequest {
    /// The pair's spec: `RSA_2048`, `RSA_3072`, `RSA_4096`, `ECC_NIST_P256`,
    /// `ECC_NIST_P384`, `ECC_NIST_P521` or `ECC_SECG_P256K1`.
    pub key_pair_spec: String,
    /// The encryption context of the encrypted private key.
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Option<EncryptionContext>,
    /// Return the private key encrypted only.
    #[cfg_attr(feature = "serde", serde(default))]
    pub without_plaintext: bool,
}

/// A new data key pair (`Debug` redacts the private key).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataKeyPairResponse {
    /// The symmetric key that encrypted the private key.
    pub key_id: String,
    /// The pair's spec.
    pub key_pair_spec: String,
    /// The public key, SubjectPublicKeyInfo DER, base64.
    pub public_key: String,
    /// The private key (PKCS#8 DER) as a Kastell ciphertext under the key, base64;
    /// `decrypt` returns the PKCS#8.
    pub private_key_ciphertext: String,
    /// The private key, PKCS#8 DER, base64 (absent with `without_plaintext`).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub private_key_plaintext: Option<SecretBase64>,
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
            algorithm: None,
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
