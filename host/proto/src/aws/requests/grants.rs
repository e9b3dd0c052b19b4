//! `CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant`, `RevokeGrant`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// `Constraints` of a grant, as the wire carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GrantConstraintsMember {
    /// The request's context must include these pairs.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    /// The request's context must be exactly these pairs.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// `CreateGrant`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct CreateGrantRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// The principal the grant allows (required).
    pub grantee_principal: Option<String>,
    /// The principal that may retire it.
    pub retiring_principal: Option<String>,
    /// The grant operations (required).
    pub operations: Option<Vec<String>>,
    /// Its encryption context constraint.
    pub constraints: Option<GrantConstraintsMember>,
    /// Grant tokens (validated).
    pub grant_tokens: Option<Vec<String>>,
    /// Its name: the same name and parameters answer the same grant.
    pub name: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `CreateGrant`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct CreateGrantResponse {
    /// The grant token.
    pub grant_token: String,
    /// The grant id.
    pub grant_id: String,
}

/// `ListGrants`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ListGrantsRequest {
    /// Key id or key ARN (required).
    pub key_id: String,
    /// Page size, 1–100.
    pub limit: Option<u32>,
    /// Where the page starts.
    pub marker: Option<String>,
    /// Only this grant.
    pub grant_id: Option<String>,
    /// Only this grantee's grants.
    pub grantee_principal: Option<String>,
}

/// `ListRetirableGrants`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ListRetirableGrantsRequest {
    /// Page size, 1–100.
    pub limit: Option<u32>,
    /// Where the page starts.
    pub marker: Option<String>,
    /// The retiring principal (required).
    pub retiring_principal: Option<String>,
}

/// One grant of a `ListGrants` or `ListRetirableGrants` answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GrantListEntry {
    /// The key's ARN.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    /// Its name.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub name: Option<String>,
    /// Seconds since 1970.
    pub creation_date: f64,
    /// The principal it allows.
    pub grantee_principal: String,
    /// The principal that may retire it.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub retiring_principal: Option<String>,
    /// The account of the principal that created it.
    pub issuing_account: String,
    /// Its operations.
    pub operations: Vec<String>,
    /// Its constraint.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub constraints: Option<GrantConstraintsMember>,
}

/// `ListGrants`' and `ListRetirableGrants`' answer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListGrantsResponse {
    /// The page.
    pub grants: Vec<GrantListEntry>,
    /// Where the next page starts.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
    /// Whether another page follows.
    pub truncated: bool,
}

/// `RetireGrant`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct RetireGrantRequest {
    /// The grant's token (or `KeyId` and `GrantId`).
    pub grant_token: Option<String>,
    /// Key ARN (or key id).
    pub key_id: Option<String>,
    /// The grant id.
    pub grant_id: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// `RevokeGrant`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct RevokeGrantRequest {
    /// Key id or key ARN (required).
    pub key_id: String,
    /// The grant id (required).
    pub grant_id: Option<String>,
    /// Check only.
    pub dry_run: Option<bool>,
}

/// Only the `GrantTokens` member of any request, validated wherever it appears.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GrantTokensMember {
    /// Grant tokens.
    pub grant_tokens: Option<Vec<String>>,
}
