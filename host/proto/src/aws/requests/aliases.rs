//! `CreateAlias`, `UpdateAlias`, `DeleteAlias`, `ListAliases`.

use alloc::string::String;
use alloc::vec::Vec;

/// `CreateAlias` and `UpdateAlias`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct CreateAliasRequest {
    /// `alias/<name>`.
    pub alias_name: String,
    /// The key (id or key ARN).
    pub target_key_id: String,
}

/// `DeleteAlias`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct DeleteAliasRequest {
    /// `alias/<name>`.
    pub alias_name: String,
}

/// One alias in `ListAliases`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct AliasListEntry {
    /// `alias/<name>`.
    pub alias_name: String,
    /// `arn:aws:kms:<region>:<account>:alias/<name>`.
    pub alias_arn: String,
    /// The key's id.
    pub target_key_id: String,
}

/// `ListAliases`' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListAliasesResponse {
    /// The page.
    pub aliases: Vec<AliasListEntry>,
    /// Whether another page follows.
    pub truncated: bool,
    /// Where the next page starts.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
}
