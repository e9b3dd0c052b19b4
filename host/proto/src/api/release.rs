//! Attested key release (`/v1/keys/{key}/release/challenge`, `/v1/keys/{key}/release`):
//! the single-use challenge, the attested request, and the material sealed (HPKE) to the
//! attested key. Nothing here is secret: the nonce is bound to its caller and key, the
//! attestation is public, the material travels sealed.

use alloc::string::String;
use alloc::vec::Vec;

use crate::EncryptionContext;
use crate::release::ReleaseKind;

/// A fresh challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeResponse {
    /// The key id the nonce is for.
    pub key_id: String,
    /// 32 random bytes, base64: pass to the workload's `attest`, then with the release.
    pub nonce: String,
    /// Seconds it stays usable (once).
    pub expires_in: u64,
}

/// An attested release request: exactly one of `certificate` (with `chain`) or `document`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseBody {
    /// The challenge nonce, base64.
    pub nonce: String,
    /// Attestation certificate (DER, base64) whose subject key receives the release.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub certificate: Option<String>,
    /// Intermediates for `certificate` (DER, base64), e.g. the issuing host CA.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub chain: Vec<String>,
    /// Nitro-format attestation document (COSE_Sign1, base64) with a `public_key`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub document: Option<String>,
    /// `key` (default): a key version's material; `data-key`: a fresh AES-256 data key.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub kind: Option<ReleaseKind>,
    /// The version to release (`key` only; default: current).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub version: Option<u32>,
    /// Encryption context for the data key's ciphertext (`data-key` only).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub context: Option<EncryptionContext>,
}

/// The key material, sealed to the attested public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseResponse {
    /// The key id.
    pub key_id: String,
    /// The version released (or under which the data key is wrapped).
    pub key_version: u32,
    /// The key's spec.
    pub spec: String,
    /// `key` or `data-key`.
    pub kind: String,
    /// How the sealed plaintext is encoded (`kastell_proto::release::ReleaseFormat`):
    /// `raw` (AES and HMAC keys, data keys) or `pkcs8-der` (RSA, ECC and ML-DSA keys).
    pub format: String,
    /// The attested guest, `sha384:<hex>`: part of the HPKE `info`.
    pub guest_sha384: String,
    /// HPKE `enc` (97-byte P-384 point), base64.
    pub encapsulated_key: String,
    /// HPKE ciphertext of the material (AES-256-GCM, tag last), base64.
    pub ciphertext: String,
    /// For `data-key`: the data key as a Kastell ciphertext under the key, base64.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub data_key_ciphertext: Option<String>,
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use alloc::string::ToString as _;
    use alloc::vec;

    use serde_json::json;

    use super::*;

    #[test]
    fn a_release_request_sends_only_what_it_has() {
        let body = ReleaseBody {
            nonce: "bm9uY2U=".into(),
            certificate: Some("MAE=".into()),
            chain: vec!["MAI=".into()],
            document: None,
            kind: Some(ReleaseKind::Key),
            version: None,
            context: None,
        };
        let json = serde_json::to_value(&body).expect("json");
        assert_eq!(
            json,
            json!({"nonce": "bm9uY2U=", "certificate": "MAE=", "chain": ["MAI="], "kind": "key"})
        );
        assert_eq!(serde_json::from_value::<ReleaseBody>(json).ok(), Some(body));
    }

    #[test]
    fn a_release_request_takes_nulls_and_refuses_unknown_fields() {
        let nulls = json!({"nonce": "", "certificate": null, "document": null, "kind": null,
            "version": null, "context": null});
        let body: ReleaseBody = serde_json::from_value(nulls).expect("nulls");
        assert!(body.kind.is_none() && body.chain.is_empty());
        let kind: ReleaseBody =
            serde_json::from_value(json!({"nonce": "", "kind": "data-key"})).expect("kind");
        assert_eq!(kind.kind, Some(ReleaseKind::DataKey));
        let err = serde_json::from_value::<ReleaseBody>(json!({"nonce": "", "guest": "x"}))
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `guest`"), "{err}");
        assert!(
            serde_json::from_value::<ReleaseBody>(json!({"nonce": "", "kind": "Key"})).is_err()
        );
    }
}
