//! AWS KMS grants at the native API (`/v1/keys/{key}/grants`): what the CLI sends to
//! create a grant, and a grant as shown (the same grants the AWS endpoint serves; see
//! `docs/aws.md`).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// A new grant (`kastell grant create`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateGrantBody {
    /// The principal it allows: `arn:aws:iam::<account>:user/<principal>` (or `:root`,
    /// every principal of the account).
    pub grantee_principal: String,
    /// The principal that may retire it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub retiring_principal: Option<String>,
    /// Grant operations (`Decrypt`, `Encrypt`, `GenerateDataKey`, …).
    pub operations: Vec<String>,
    /// The request's encryption context must be exactly this.
    #[cfg_attr(feature = "serde", serde(default))]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's encryption context must include this.
    #[cfg_attr(feature = "serde", serde(default))]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// Its name (the same name and parameters answer the same grant).
    #[cfg_attr(feature = "serde", serde(default))]
    pub name: Option<String>,
}

/// A grant as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantDescription {
    /// The key's id.
    pub key: String,
    /// The grant's id.
    pub grant_id: String,
    /// Its token (for `RetireGrant` at the AWS endpoint).
    pub grant_token: String,
    /// Its name.
    pub name: Option<String>,
    /// The principal it allows.
    pub grantee_principal: String,
    /// The principal that may retire it.
    pub retiring_principal: Option<String>,
    /// The principal that created it.
    pub issuing_principal: String,
    /// Its operations.
    pub operations: Vec<String>,
    /// Its `EncryptionContextEquals` constraint.
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// Its `EncryptionContextSubset` constraint.
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// When it was created (seconds since 1970).
    pub created: i64,
}

/// A key's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantList {
    /// The grants, oldest first.
    pub grants: Vec<GrantDescription>,
}

/// A grant retired or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantRemoved {
    /// The key's id.
    pub key: String,
    /// The grant's id.
    pub grant_id: String,
    /// `retired` or `revoked`.
    pub removed: String,
}
