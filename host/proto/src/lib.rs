#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod error;

pub use error::ErrorCode;

/// A name that is not one of a vocabulary's: what was given and what the vocabulary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The vocabulary (`error code`, `key spec`, `role`, …).
    pub kind: &'static str,
    /// The name given.
    pub given: alloc::string::String,
}

impl core::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unknown {} `{}`", self.kind, self.given)
    }
}

impl core::error::Error for UnknownName {}
