//! Key administration (`/v1/keys`, `/v1/aliases`): what an officer sends to create and
//! change keys, and the description of a key every answer carries (never material).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::{KeySpec, KeyUsage, Origin};

/// A new key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKeyRequest {
    /// A key spec (`AES_256`, `RSA_2048`, `ECC_NIST_P256`, `HMAC_256`, `ML_DSA_65`, …;
    /// `HMAC_SHA384` is read as `HMAC_384`).
    pub spec: String,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC` or `KEY_AGREEMENT`, one the
    /// spec allows; default: the spec's first (docs/key-types.md).
    #[cfg_attr(feature = "serde", serde(default))]
    pub usage: Option<String>,
    /// `wrapped` (default: host-generated, stored wrapped under the token's master key)
    /// or `token` (generated in the token, never leaves it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub origin: Option<String>,
    /// First alias, `alias/<name>`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub alias: Option<String>,
    /// Free text.
    #[cfg_attr(feature = "serde", serde(default))]
    pub description: String,
    /// Tags.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tags: BTreeMap<String, String>,
    /// Measurement (`sha384:…`) of a stored policy to bind.
    #[cfg_attr(feature = "serde", serde(default))]
    pub policy: Option<String>,
    /// Allow attested guests to get its material (`release`, when its policy allows);
    /// fixed at creation; not for `token` keys.
    #[cfg_attr(feature = "serde", serde(default))]
    pub releasable: bool,
}

/// Paging of the key list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ListQuery {
    /// Start after this key id (the previous page's `next`).
    pub after: Option<String>,
    /// At most this many keys (1–1000, default 100).
    pub limit: Option<u32>,
}

/// A key as shown to callers (JSON in the CLI and the API).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyDescription {
    /// The key id.
    pub id: String,
    /// Aliases naming it.
    pub aliases: Vec<String>,
    /// Material kind: a key spec (`AES_256`, `RSA_2048`, `ECC_NIST_P256`, `HMAC_384`, …).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub spec: KeySpec,
    /// What it may do: `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC` or
    /// `KEY_AGREEMENT`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub usage: KeyUsage,
    /// `token` (token-resident) or `wrapped`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub origin: Origin,
    /// `enabled`, `disabled`, `pending-import` (an `external` key without material),
    /// `pending-deletion` or `destroyed`.
    pub state: String,
    /// When a pending deletion happens (RFC 3339).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub deletion_date: Option<String>,
    /// Free text.
    pub description: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The bound policy's measurement.
    pub policy: Option<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// The version that encrypts and signs.
    pub current_version: u32,
    /// The oldest version that still decrypts and verifies.
    pub min_decryption_version: u32,
    /// Every version, oldest first.
    pub versions: Vec<VersionDescription>,
    /// Whether attested guests may get its material (`release`).
    pub releasable: bool,
    /// Automatic rotation, when on (set through the AWS-compatible endpoint's
    /// `EnableKeyRotation`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub rotation: Option<RotationDescription>,
    /// When the imported material of an `external` key expires (RFC 3339), if it was
    /// imported with an expiry (AWS's `ValidTo`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub material_expires: Option<String>,
    /// The id of an `external` key's imported material (AWS's `KeyMaterialId`, 64
    /// hexadecimal digits), kept after the material is deleted.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub material_id: Option<String>,
    /// Imported material pending rotation (`ImportType NEW_KEY_MATERIAL`), which the
    /// key's next on-demand rotation makes current.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub pending_material: Option<alloc::boxed::Box<MaterialDescription>>,
}

/// Imported key material as shown to callers (AWS's key material).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialDescription {
    /// Its id (AWS's `KeyMaterialId`, 64 hexadecimal digits).
    pub id: String,
    /// The importer's description (AWS's `KeyMaterialDescription`).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub description: Option<String>,
    /// When it expires (RFC 3339; AWS's `ValidTo`), if it does.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub expires: Option<String>,
}

/// A key's automatic rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotationDescription {
    /// Days between rotations.
    pub period_days: u32,
    /// When the next rotation is due (RFC 3339).
    pub next: String,
}

/// One version as shown to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionDescription {
    /// 1, 2, 3, …
    pub number: u32,
    /// Creation time (RFC 3339).
    pub created: String,
    /// `token`, `wrapped` or `destroyed`.
    pub material: String,
    /// Whether automatic rotation made it (rather than creation or a rotation asked for).
    #[cfg_attr(feature = "serde", serde(default))]
    pub automatic: bool,
    /// The version's key material (AWS's `KeyMaterialId`, description and `ValidTo`):
    /// imported material's, or the id of material Kastell made for a symmetric key.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub key_material: Option<MaterialDescription>,
}

/// A page of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyPage {
    /// Keys ordered by id.
    pub keys: Vec<KeyDescription>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// A deletion's waiting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleDeletionRequest {
    /// Days before destruction, 7–30 (default 30).
    #[cfg_attr(feature = "serde", serde(default = "thirty"))]
    pub days: u32,
}

#[cfg(feature = "serde")]
fn thirty() -> u32 {
    30
}

/// Which key an alias names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasRequest {
    /// Key id or alias.
    pub key: String,
}

/// An alias and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasResponse {
    /// `alias/<name>`.
    pub alias: String,
    /// The key's id.
    pub key: String,
}

/// New tags (replacing all) and, optionally, a new description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TagsRequest {
    /// The key's tags from now on.
    pub tags: BTreeMap<String, String>,
    /// A new description.
    #[cfg_attr(feature = "serde", serde(default))]
    pub description: Option<String>,
}

/// The policy a key is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BindPolicyRequest {
    /// A stored policy's measurement (`sha384:…`), or null to unbind.
    pub policy: Option<String>,
}

/// The oldest version that still decrypts and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MinVersionRequest {
    /// Version number.
    pub version: u32,
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use alloc::string::ToString as _;
    use alloc::vec;

    use serde_json::json;

    use super::*;

    #[test]
    fn a_create_request_needs_only_its_spec_and_refuses_unknown_fields() {
        let request: CreateKeyRequest =
            serde_json::from_value(json!({"spec": "AES_256"})).expect("minimal");
        assert_eq!(
            request,
            CreateKeyRequest {
                spec: "AES_256".into(),
                ..CreateKeyRequest::default()
            }
        );
        let nulls = json!({"spec": "AES_256", "origin": null, "alias": null, "policy": null});
        assert!(serde_json::from_value::<CreateKeyRequest>(nulls).is_ok());
        let err = serde_json::from_value::<CreateKeyRequest>(json!({"spec": "x", "size": 1}))
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `size`"), "{err}");
    }

    #[test]
    fn a_deletion_waits_thirty_days_unless_told() {
        let request: ScheduleDeletionRequest = serde_json::from_value(json!({})).expect("empty");
        assert_eq!(request.days, 30);
        let request: ScheduleDeletionRequest =
            serde_json::from_value(json!({"days": 7})).expect("days");
        assert_eq!(request.days, 7);
    }

    #[test]
    fn a_description_round_trips_and_omits_an_absent_deletion_date() {
        let description = KeyDescription {
            id: "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c".into(),
            aliases: vec!["alias/records".into()],
            spec: KeySpec::Aes256,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::Wrapped,
            state: "enabled".into(),
            deletion_date: None,
            description: String::new(),
            tags: BTreeMap::new(),
            policy: None,
            created: "2026-01-01T00:00:00Z".into(),
            current_version: 1,
            min_decryption_version: 1,
            versions: vec![VersionDescription {
                number: 1,
                created: "2026-01-01T00:00:00Z".into(),
                material: "wrapped".into(),
                automatic: false,
                key_material: None,
            }],
            releasable: false,
            rotation: None,
            material_expires: None,
            material_id: None,
            pending_material: None,
        };
        let value = serde_json::to_value(&description).expect("json");
        assert_eq!(value["spec"], "AES_256");
        assert_eq!(value["usage"], "ENCRYPT_DECRYPT");
        assert_eq!(value["policy"], serde_json::Value::Null);
        assert!(value.get("deletion_date").is_none(), "{value}");
        assert!(value.get("rotation").is_none(), "{value}");
        let back: KeyDescription = serde_json::from_value(value).expect("back");
        assert_eq!(back, description);
    }
}
