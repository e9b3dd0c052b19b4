//! `GetKeyPolicy`, `PutKeyPolicy`, `ListKeyPolicies`.

use alloc::string::String;
use alloc::vec::Vec;

/// `GetKeyPolicy`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct GetKeyPolicyRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// `default` (the only name AWS has; `default` when absent).
    pub policy_name: Option<String>,
}

/// `GetKeyPolicy`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct GetKeyPolicyResponse {
    /// The key policy document.
    pub policy: String,
    /// `default`.
    pub policy_name: String,
}

/// `PutKeyPolicy`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct PutKeyPolicyRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// `default` (the only name AWS has; `default` when absent).
    pub policy_name: Option<String>,
    /// The key policy document (JSON, at most 32 KiB); required.
    pub policy: Option<String>,
    /// Store it even if it would not let the caller change it again.
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// `ListKeyPolicies`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct ListKeyPoliciesRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Page size, 1–1000.
    pub limit: Option<u32>,
    /// Where the page starts.
    pub marker: Option<String>,
}

/// `ListKeyPolicies`' answer: `["default"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListKeyPoliciesResponse {
    /// The policy names.
    pub policy_names: Vec<String>,
    /// Always `false`: one name.
    pub truncated: bool,
}
