//! Request and response members of the AWS KMS operations Kastell serves, named as in the
//! AWS KMS API reference (PascalCase), one file per family of operations as the server
//! splits them. Blobs are base64 text; a secret one (a plaintext, a shared secret, a
//! private key) is an [`crate::api::SecretBase64`]. `GrantTokens` is validated wherever
//! it appears; other members Kastell does not act on are accepted and ignored, as an
//! unknown member would be at AWS.
//! Enumerated members (`KeySpec`, `SigningAlgorithm`, …) are text here: the endpoint
//! answers a value AWS does not have with AWS's `ValidationException`, and one Kastell
//! does not have with the exception AWS gives for a value the key cannot use.

use alloc::collections::BTreeMap;
use alloc::string::String;

mod aliases;
mod asymmetric;
mod crypto;
mod grants;
mod import;
mod keys;
mod policies;
mod recipient;
mod rotation;
mod signing;
mod tags;

pub use aliases::*;
pub use asymmetric::*;
pub use crypto::*;
pub use grants::*;
pub use import::*;
pub use keys::*;
pub use policies::*;
pub use recipient::*;
pub use rotation::*;
pub use signing::*;
pub use tags::*;

/// The encryption context, as AWS takes it: string pairs.
pub type Context = BTreeMap<String, String>;

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct Tag {
    /// Its key.
    pub tag_key: String,
    /// Its value.
    pub tag_value: String,
}

/// An AWS error body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ErrorBody {
    /// The exception's name.
    #[cfg_attr(feature = "serde", serde(rename = "__type"))]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

/// `Recipient`: a Nitro-format attestation document and the algorithm to encrypt the
/// answer to its key with (`RSAES_OAEP_SHA_256`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase", default))]
pub struct RecipientInfo {
    /// `RSAES_OAEP_SHA_256`.
    pub key_encryption_algorithm: Option<String>,
    /// Base64 of the attestation document.
    pub attestation_document: Option<String>,
}
