#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod names;

pub mod algorithm;
pub mod api;
pub mod aws;
pub mod ciphertext;
pub mod context;
pub mod error;
pub mod key;
pub mod measurement;
pub mod operation;
pub mod principal;
pub mod quorum;
pub mod release;
pub mod secret;

pub use algorithm::{
    EncryptionAlgorithm, HashAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, MessageType,
    SigningAlgorithm,
};
pub use context::EncryptionContext;
pub use error::ErrorCode;
pub use key::{KeyId, KeySpec, KeyUsage, Origin};
pub use measurement::Measurement;
pub use operation::Operation;
pub use principal::Role;
pub use quorum::{ClientRequest, OperationClass, PendingState, QuorumAction};
pub use secret::SecretBytes;

/// A name that is not one of a vocabulary's: what was given, and the names there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The vocabulary (`error code`, `key spec`, `role`, …).
    pub kind: &'static str,
    /// The name given (at most 64 characters of it, escaped).
    pub given: alloc::string::String,
    /// The names there are.
    pub expected: &'static [&'static str],
}

impl UnknownName {
    /// `name` is not one of `expected`, the names of `kind`.
    #[must_use]
    pub fn new(kind: &'static str, name: &str, expected: &'static [&'static str]) -> Self {
        Self {
            kind,
            given: name.chars().take(64).flat_map(char::escape_debug).collect(),
            expected,
        }
    }
}

impl core::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "unknown {} `{}`: one of {}",
            self.kind,
            self.given,
            self.expected.join(", ")
        )
    }
}

impl core::error::Error for UnknownName {}
