//! The manual: design notes that are not API. The user's guide is the repository README.

#[doc = include_str!("../../../docs/threat-model.md")]
pub mod threat_model {}
