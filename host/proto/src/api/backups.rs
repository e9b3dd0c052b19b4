//! Backups through the server: what `POST /v1/backups` answers once the backup is taken
//! (the request, [`crate::quorum::BackupRequest`], is what officers approve).

use alloc::string::String;

/// A backup the server took into its backup folder; `GET /v1/backups/{file}` downloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupCreated {
    /// Its file name in the server's backup folder.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// The backup's id (hex).
    pub backup_id: String,
    /// The deployment's id: its audit-signing key's fingerprint.
    pub deployment_id: String,
    /// The last audit record it holds.
    pub audit_head: u64,
    /// `in-backup` (soft token) or `on-token` (PKCS#11: a restore needs that token).
    pub master_key: String,
}

/// The token backup key (`GET`/`POST /v1/backup-key`): backups sealed to it open with the
/// deployment's token alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupKey {
    /// Its P-384 public key, SPKI PEM.
    pub public_key: String,
    /// Its fingerprint (`sha256:` of the SEC1 point), as backup manifests name it.
    pub fingerprint: String,
    /// The token it is on, as the token describes itself.
    pub token: String,
}
