//! Backups through the server (crypto-officer): `POST /v1/backups` takes a sealed backup
//! into the server's backup folder under the `export-backup` quorum class (the officers
//! approve the recipients it is sealed to), `GET /v1/backups/{file}` downloads one. Both
//! are audited (`backup`, `download-backup`). The scheduled backups of `[backup]
//! every_secs` go through [`take`] too. `POST /v1/backup-key` creates the token backup key
//! (the same class: whoever holds the token opens what is sealed to it; audited
//! `create-backup-key`), `GET /v1/backup-key` shows its public key.

use std::path::Path;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kastell_core::audit::Outcome;
use kastell_core::backup::{self, BackupError, BackupSource, MasterKey, Recipient, TokenBackupKey};
use kastell_core::keys::Caller;
use kastell_proto::api::{BackupCreated, BackupKey, BackupRequest, ErrorBody, PendingResponse};
use kastell_proto::{QuorumAction, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::gated;
use super::auth::require;
use super::error::{ApiError, ApiJson, ApiPath};
use super::{Auth, Shared, blocking};

/// The audit operation of a backup file downloaded.
pub const DOWNLOAD_OPERATION: &str = "download-backup";
/// Backup files the server writes: `kastell-backup-<unix ms>.kbk`.
const PREFIX: &str = "kastell-backup-";
const SUFFIX: &str = ".kbk";
/// Bytes read from a backup file per chunk of a download.
const STREAM_CHUNK: usize = 64 * 1024;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(create_backup))
        .routes(routes!(download_backup))
        .routes(routes!(create_backup_key, show_backup_key))
}

fn backup_error(err: &BackupError) -> ApiError {
    ApiError::of(err.code(), err.to_string())
}

/// The escrow recipients of a request, each checked (refused before officers are asked to
/// approve, and again when it runs); with `token_recipient`, the token backup key is added
/// when the backup is taken ([`take`]).
///
/// # Errors
/// 400 naming the malformed key, or when there is no recipient of either kind.
pub fn recipients(pems: &[String], token_recipient: bool) -> Result<Vec<Recipient>, ApiError> {
    if pems.is_empty() && !token_recipient {
        return Err(backup_error(&BackupError::NoRecipient));
    }
    pems.iter()
        .enumerate()
        .map(|(i, pem)| {
            Recipient::from_pem(pem, &format!("recipients[{i}]")).map_err(|e| backup_error(&e))
        })
        .collect()
}

/// Whether `name` is a file name the server gave a backup (`kastell-backup-<unix
/// ms>.kbk`).
#[must_use]
pub fn is_backup_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .is_some_and(|stamp| !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit()))
}

/// The token backup key as the API shows it.
fn backup_key(key: &TokenBackupKey) -> Result<BackupKey, ApiError> {
    Ok(BackupKey {
        public_key: key.public_pem().map_err(|e| backup_error(&e))?,
        fingerprint: key.fingerprint(),
        token: key.token().to_owned(),
    })
}

/// Creates the token backup key as `requester` (audited `create-backup-key`): the
/// executor of the approved `create-backup-key` action.
///
/// # Errors
/// 409 when the token holds one already; the token's failure.
pub fn create_key(state: &Shared, requester: &Caller) -> Result<BackupKey, ApiError> {
    let key =
        backup::create_token_key(&state.service, &requester.id).map_err(|e| backup_error(&e))?;
    backup_key(&key)
}

/// Takes a backup sealed to `recipients` (and, with `token_recipient`, to the token backup
/// key) into `dir` as `requester` (audited `backup`).
///
/// # Errors
/// The backup's failure, by its code (404 when the token holds no backup key).
pub fn take(
    state: &Shared,
    dir: &Path,
    requester: &Caller,
    recipients: &[Recipient],
    token_recipient: bool,
) -> Result<BackupCreated, ApiError> {
    let mut recipients = recipients.to_vec();
    if token_recipient {
        let key = TokenBackupKey::of(state.service.token().as_ref())
            .and_then(|key| key.recipient())
            .map_err(|e| backup_error(&e))?;
        recipients.push(key);
    }
    let recipients = recipients.as_slice();
    kastell_core::files::create_private_dir(dir).map_err(ApiError::internal)?;
    let file = format!("{PREFIX}{}{SUFFIX}", kastell_core::clock::unix_now_ms());
    let path = dir.join(&file);
    let source = BackupSource {
        service: &state.service,
        data_dir: &state.data_dir,
        principal: &requester.id,
    };
    let manifest = backup::create(&source, &path, recipients, &()).map_err(|e| backup_error(&e))?;
    let size = std::fs::metadata(&path).map_err(ApiError::internal)?.len();
    Ok(BackupCreated {
        file,
        size,
        backup_id: manifest.backup_id,
        deployment_id: manifest.deployment_id,
        audit_head: manifest.audit_head.map_or(0, |head| head.seq),
        master_key: match manifest.master_key {
            MasterKey::InBackup => "in-backup",
            MasterKey::OnToken => "on-token",
        }
        .to_owned(),
    })
}

/// Takes a sealed backup into the server's backup folder (crypto-officer), of class
/// `export-backup`: may need approvals (202); once taken, download it with
/// `GET /v1/backups/{file}`.
#[utoipa::path(post, path = "/v1/backups", tag = "approvals",
    request_body = BackupRequest,
    responses((status = 200, body = BackupCreated), (status = 202, body = PendingResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_backup(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<BackupRequest>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "export-backup").await?;
    recipients(&body.recipients, body.token_recipient)?;
    if body.token_recipient {
        TokenBackupKey::of(state.service.token().as_ref()).map_err(|e| backup_error(&e))?;
    }
    gated(state, caller, QuorumAction::ExportBackup(body)).await
}

/// Creates the token backup key on the deployment's token (crypto-officer), of class
/// `export-backup`: may need approvals (202). Backups sealed to it (`token_recipient`)
/// open with this token alone.
#[utoipa::path(post, path = "/v1/backup-key", tag = "approvals",
    responses((status = 200, body = BackupKey), (status = 202, body = PendingResponse),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_backup_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "create-backup-key").await?;
    gated(state, caller, QuorumAction::CreateBackupKey {}).await
}

/// The token backup key's public key and fingerprint (crypto-officer).
#[utoipa::path(get, path = "/v1/backup-key", tag = "approvals",
    responses((status = 200, body = BackupKey), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn show_backup_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
) -> Result<axum::Json<BackupKey>, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, "show-backup-key").await?;
    blocking(move || {
        let key =
            TokenBackupKey::of(state.service.token().as_ref()).map_err(|e| backup_error(&e))?;
        backup_key(&key).map(axum::Json)
    })
    .await
}

/// Downloads a backup the server took (crypto-officer); audited.
#[utoipa::path(get, path = "/v1/backups/{file}", tag = "approvals",
    params(("file" = String, Path, description = "The backup's file name")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download_backup(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, ApiError> {
    require(&state, &caller, Role::CryptoOfficer, DOWNLOAD_OPERATION).await?;
    if !is_backup_name(&file) {
        return Err(ApiError::not_found(format!("no backup `{file}`")));
    }
    // The file is streamed in 64 KiB chunks: memory stays bounded whatever its size.
    let (opened, len) = blocking(move || {
        let path = state.backup_dir.join(&file);
        let opened = match std::fs::File::open(&path) {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(format!("no backup `{file}`")));
            }
            Err(e) => return Err(ApiError::internal(e)),
        };
        let len = opened.metadata().map_err(ApiError::internal)?.len();
        state.service.record_event(
            &caller.id,
            DOWNLOAD_OPERATION,
            None,
            Outcome::Allowed,
            format!("{file} ({len} bytes)"),
        )?;
        Ok((opened, len))
    })
    .await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(opened),
        STREAM_CHUNK,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::is_backup_name;

    #[test]
    fn only_names_the_server_gives_are_downloadable() {
        assert!(is_backup_name("kastell-backup-1796644931852.kbk"));
        for bad in [
            "../kastell.db",
            "kastell-backup-.kbk",
            "kastell-backup-1/../../x.kbk",
            "kastell-backup-12.kbk.tmp",
            "soft-token.kst",
        ] {
            assert!(!is_backup_name(bad), "{bad}");
        }
    }
}
