#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod names;

pub mod ciphertext;
pub mod context;
pub mod error;
pub mod key;
pub mod operation;
pub mod principal;
pub mod release;

pub use context::EncryptionContext;
pub use error::ErrorCode;
pub use key::{KeyId, KeySpec, KeyUsage, Origin};
pub use operation::Operation;
pub use principal::Role;

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
