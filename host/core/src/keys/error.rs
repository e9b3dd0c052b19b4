//! The key service's error: each variant has its stable [`ErrorCode`] (name, HTTP status,
//! exit code) and a message for a person; `Display` writes both, `Name: message`, as the
//! command line and the audit trail show it.

use kastell_proto::{KeyId, KeyUsage};
use std::fmt;

use kastell_proto::ErrorCode;

use crate::store::StoreError;
use crate::token::TokenError;

/// Why a key operation failed; named like the KMS errors users know.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// No key with this id or alias (NotFoundException).
    NotFound(String),
    /// The key is disabled (DisabledException).
    Disabled(KeyId),
    /// The key's usage does not allow the operation (InvalidKeyUsageException).
    InvalidKeyUsage {
        /// The key.
        key: KeyId,
        /// What it may do.
        usage: KeyUsage,
    },
    /// The spec cannot be had as asked: a usage it does not allow, a token that cannot
    /// hold it, an operation not yet offered for it.
    UnsupportedSpec(String),
    /// The algorithm or message type is not one the key's spec and usage allow (or the
    /// key needs one named).
    UnsupportedAlgorithm(String),
    /// The ciphertext is malformed or not authentic under this key and context
    /// (InvalidCiphertextException). Why is recorded in the audit trail only.
    InvalidCiphertext,
    /// The ciphertext names another key than the one asked for (IncorrectKeyException).
    IncorrectKey,
    /// The key's state forbids the operation (KMSInvalidStateException).
    InvalidState(String),
    /// Role or policy refused (AccessDeniedException). The policy's reason is in the
    /// audit trail, not here.
    AccessDenied,
    /// The caller's input was malformed.
    InvalidInput(String),
    /// A name the caller chose is taken (AlreadyExistsException), e.g. an alias.
    AlreadyExists(String),
    /// A stored record fails its integrity check: a key version names a token object or
    /// master key that is not its own (the store was edited). Refused before the token is
    /// asked.
    TamperDetected(String),
    /// Concurrent changes to the key won every attempt to apply this one; nothing was
    /// changed. Try again.
    Conflict(String),
    /// A limit of what the key may hold is reached (LimitExceededException), e.g. its
    /// tags.
    LimitExceeded(String),
    /// An AWS key policy document is not one AWS would store, or would lock its setter
    /// out (MalformedPolicyDocumentException); the message names what is wrong.
    MalformedPolicyDocument(String),
    /// An import token is past its 24 hours (ExpiredImportTokenException).
    ExpiredImportToken(String),
    /// An import token is not one this deployment made for this key and wrapping key
    /// (InvalidImportTokenException).
    InvalidImportToken(String),
    /// Imported material is not a key of the key's spec, or is not the material the key
    /// held (IncorrectKeyMaterialException).
    IncorrectKeyMaterial(String),
    /// The token failed (internal).
    Token(TokenError),
    /// The store failed (internal); when audit cannot be written, no result is returned.
    Store(StoreError),
}

impl KeyError {
    /// The stable code: name, HTTP status and exit code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Disabled(_) => ErrorCode::Disabled,
            Self::InvalidKeyUsage { .. } => ErrorCode::InvalidKeyUsage,
            Self::UnsupportedSpec(_) => ErrorCode::UnsupportedSpec,
            Self::UnsupportedAlgorithm(_) => ErrorCode::UnsupportedAlgorithm,
            Self::InvalidCiphertext => ErrorCode::InvalidCiphertext,
            Self::IncorrectKey => ErrorCode::IncorrectKey,
            Self::InvalidState(_) => ErrorCode::InvalidState,
            Self::AccessDenied => ErrorCode::AccessDenied,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::TamperDetected(_) => ErrorCode::TamperDetected,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Self::MalformedPolicyDocument(_) => ErrorCode::MalformedPolicyDocument,
            Self::ExpiredImportToken(_) => ErrorCode::ExpiredImportToken,
            Self::InvalidImportToken(_) => ErrorCode::InvalidImportToken,
            Self::IncorrectKeyMaterial(_) => ErrorCode::IncorrectKeyMaterial,
            Self::Store(err) if err.is_unavailable() => ErrorCode::StoreUnavailable,
            Self::Token(err) if missing_key_version(err).is_some() => ErrorCode::KeyUnavailable,
            Self::Token(_) | Self::Store(_) => ErrorCode::Internal,
        }
    }

    /// What went wrong, for a person, without the code's name.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::NotFound(key) => format!("no key {key}"),
            Self::Disabled(key) => format!("key {key} is disabled"),
            Self::InvalidKeyUsage { key, usage } => format!("key {key} is for {usage:?}"),
            Self::InvalidCiphertext => {
                "the ciphertext cannot be decrypted with this key and context".to_owned()
            }
            Self::IncorrectKey => "the ciphertext was encrypted under another key".to_owned(),
            Self::AccessDenied => "not allowed by role or key policy".to_owned(),
            Self::InvalidState(text)
            | Self::UnsupportedSpec(text)
            | Self::UnsupportedAlgorithm(text)
            | Self::InvalidInput(text)
            | Self::AlreadyExists(text)
            | Self::TamperDetected(text)
            | Self::Conflict(text)
            | Self::LimitExceeded(text)
            | Self::MalformedPolicyDocument(text)
            | Self::ExpiredImportToken(text)
            | Self::InvalidImportToken(text)
            | Self::IncorrectKeyMaterial(text) => text.clone(),
            Self::Token(err) => match missing_key_version(err) {
                Some((key, version)) => format!(
                    "version {version} of key {key} is held in a token and this host's token \
                     does not hold it: hosts of one deployment reach token-resident keys only \
                     through a token they share (a key made in another host's soft token \
                     stays there)"
                ),
                None => format!("token: {err}"),
            },
            Self::Store(err) => format!("store: {err}"),
        }
    }
}

/// The key version whose token object `err` says is missing, if it names one.
fn missing_key_version(err: &TokenError) -> Option<(KeyId, u32)> {
    match err {
        TokenError::KeyNotFound(label) => crate::model::key_version_of_label(label),
        _ => None,
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Internal failures name the failing part, not the code.
            Self::Token(err) if missing_key_version(err).is_some() => {
                write!(f, "{}: {}", self.code(), self.message())
            }
            Self::Token(_) | Self::Store(_) => f.write_str(&self.message()),
            _ => write!(f, "{}: {}", self.code(), self.message()),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(err) => Some(err),
            Self::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<TokenError> for KeyError {
    fn from(err: TokenError) -> Self {
        Self::Token(err)
    }
}

impl From<kastell_proto::key::InvalidKeyId> for KeyError {
    fn from(err: kastell_proto::key::InvalidKeyId) -> Self {
        Self::InvalidInput(err.to_string())
    }
}

impl From<StoreError> for KeyError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_code_then_the_message() {
        let err = KeyError::NotFound("alias/x".into());
        assert_eq!(err.to_string(), "NotFound: no key alias/x");
        assert_eq!(err.message(), "no key alias/x");
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert_eq!(
            KeyError::AccessDenied.to_string(),
            "AccessDenied: not allowed by role or key policy"
        );
    }
}
