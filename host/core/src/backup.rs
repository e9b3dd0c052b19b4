//! Sealed backups: one file holding everything a deployment needs (its store, registered
//! components, CA certificates, configuration and, with the soft token, the token's keys),
//! encrypted under a fresh AES-256-GCM content key in chunks (STREAM), that key sealed
//! with HPKE to each recipient the owner names, and a manifest signed by the deployment's
//! audit-signing key. [`create`] takes one while the deployment serves, [`verify`] checks
//! one offline without any secret, [`restore`] makes a new data directory from one. The
//! byte layout is `docs/backup-format.md`.
//!
//! With a PKCS#11 token the master key never leaves the token: the manifest says so
//! ([`MasterKey::OnToken`]) and a restore needs the same token.
//!
//! Besides escrow holders' keys, the content key can be sealed to the deployment's token
//! backup key ([`token_key`]): a key-agreement key resident on the token, so the same token
//! opens the backup without any private key file.

mod content;
mod create;
mod format;
mod restore;
mod stream;
mod token_key;
mod verify;

use std::path::PathBuf;

use kastell_proto::ErrorCode;

use crate::store::StoreError;
use crate::token::TokenError;

pub use create::{BackupSource, Progress, Recipient, create};
pub use format::{AuditHead, Counts, FORMAT_VERSION, Manifest, MasterKey, fingerprint};
pub use restore::{Identity, Opener, Restored, record_restore, restore};
pub use token_key::{
    CREATE_BACKUP_KEY_OPERATION, TOKEN_BACKUP_KEY, TokenBackupKey, create_token_key,
};
pub use verify::verify;

/// The audit operation of a backup taken (`reason` names the file's backup id).
pub const BACKUP_OPERATION: &str = "backup";
/// The audit operation of a restore: the first record of the restored deployment.
pub const RESTORE_OPERATION: &str = "restore";

/// Why a backup could not be made, verified or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file does not start as a backup file does.
    #[error("{0} is not a Kastell backup file")]
    NotABackup(String),
    /// The file is in a format version newer than this Kastell reads.
    #[error(
        "backup format version {found} is newer than this Kastell reads (up to {supported}); \
         use a newer Kastell"
    )]
    NewerFormat {
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The file ends before it should.
    #[error("the backup file is truncated: {0}")]
    Truncated(String),
    /// The file's structure or manifest does not parse.
    #[error("the backup file is malformed: {0}")]
    Malformed(String),
    /// The file was changed after it was made: its body does not match the signed
    /// manifest, the manifest's signature does not verify, or a chunk does not
    /// authenticate.
    #[error("the backup file was tampered with: {0}")]
    Tampered(String),
    /// The manifest is signed by another deployment's audit key than the one expected.
    #[error("the backup is signed by audit key {found}, not by the expected {expected}")]
    OtherDeployment {
        /// Fingerprint of the key that signed it.
        found: String,
        /// Fingerprint of the key expected.
        expected: String,
    },
    /// The identity given is not one the content key is sealed to.
    #[error("the identity {fingerprint} is not a recipient of this backup (sealed to {sealed_to})")]
    WrongRecipient {
        /// The identity's public key fingerprint.
        fingerprint: String,
        /// The recipients' fingerprints.
        sealed_to: String,
    },
    /// The token given holds no backup key fitting this backup: none at all, or one that is
    /// not among the backup's recipients (another token).
    #[error(
        "no recipient key fits: {holder} is not a recipient of this backup (sealed to {sealed_to})"
    )]
    NoRecipientKey {
        /// The token and its key (or that it holds none).
        holder: String,
        /// The recipients' fingerprints.
        sealed_to: String,
    },
    /// The token holds no backup key (`kastell backup key create` makes one).
    #[error("{0} holds no token backup key: create one with `kastell backup key create`")]
    NoBackupKey(String),
    /// The token holds a backup key already (one per token).
    #[error("{0} holds a token backup key already")]
    BackupKeyExists(String),
    /// A recipient's public key or an identity's private key is malformed.
    #[error("{what}: {reason}")]
    BadKey {
        /// Which key (the file it came from).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// No recipient was named: a backup nobody can open is refused.
    #[error(
        "a backup needs at least one recipient: name the escrow holders' P-384 public keys \
         (--recipient PEM, or `recipients` under [backup]) or seal it to the token backup key \
         (--token-recipient, or `token_recipient = true` under [backup])"
    )]
    NoRecipient,
    /// The restore target exists and is not empty.
    #[error("{0} is not empty: a backup is restored into a new data directory")]
    TargetNotEmpty(PathBuf),
    /// The backup cannot be restored with the token given.
    #[error("{0}")]
    TokenMismatch(String),
    /// The output file exists already.
    #[error("{0} exists already; a backup never overwrites a file")]
    OutputExists(PathBuf),
    /// The store failed (or cannot take snapshots).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The restored deployment could not be opened or audited.
    #[error("the restored deployment: {0}")]
    Deployment(String),
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl BackupError {
    /// The error's code: what the API answers and the command exits with.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotABackup(_)
            | Self::NewerFormat { .. }
            | Self::Malformed(_)
            | Self::BadKey { .. }
            | Self::NoRecipient
            | Self::TokenMismatch(_) => ErrorCode::InvalidInput,
            Self::Truncated(_) | Self::Tampered(_) | Self::OtherDeployment { .. } => {
                ErrorCode::TamperDetected
            }
            Self::WrongRecipient { .. } => ErrorCode::AccessDenied,
            Self::NoRecipientKey { .. } => ErrorCode::IncorrectKey,
            Self::NoBackupKey(_) => ErrorCode::NotFound,
            Self::TargetNotEmpty(_) | Self::OutputExists(_) | Self::BackupKeyExists(_) => {
                ErrorCode::AlreadyExists
            }
            Self::Store(_) | Self::Token(_) | Self::Deployment(_) | Self::Io { .. } => {
                ErrorCode::Internal
            }
        }
    }
}

/// An I/O failure on `path`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
