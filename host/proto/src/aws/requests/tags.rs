//! `TagResource`, `UntagResource`, `ListResourceTags`.

use alloc::string::String;
use alloc::vec::Vec;

use super::Tag;

/// `TagResource`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct TagResourceRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Tags to add or change (required).
    pub tags: Option<Vec<Tag>>,
}

/// `UntagResource`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct UntagResourceRequest {
    /// Key id or key ARN.
    pub key_id: String,
    /// Tag keys to remove (required).
    pub tag_keys: Option<Vec<String>>,
}

/// `ListResourceTags`' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct ListResourceTagsResponse {
    /// The page, ordered by tag key.
    pub tags: Vec<Tag>,
    /// Whether another page follows.
    pub truncated: bool,
    /// Where the next page starts.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub next_marker: Option<String>,
}
