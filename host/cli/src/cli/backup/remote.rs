//! `kastell backup create --profile` and `kastell backup download`: a backup taken by the
//! server (`POST /v1/backups`, quorum class `export-backup`) and fetched into a local file.

use std::path::{Path, PathBuf};

use kastell_proto::api::{BackupCreated, BackupRequest, Gated};

use super::super::CliError;
use super::super::io::{print_admin, print_answer};
use super::super::remote::{connect, remote_error};
use crate::client::{Client, segment};

/// Asks the server named by `profile` for a backup sealed to `recipients`; downloads it
/// to `out` once taken (or says what the officers must approve).
pub(super) fn create(
    profile: &Path,
    out: &Path,
    recipients: &[PathBuf],
    token_recipient: bool,
    json: bool,
) -> Result<(), CliError> {
    refuse_existing(out)?;
    let recipients = recipients
        .iter()
        .map(|path| super::read_text(path, "--recipient"))
        .collect::<Result<Vec<_>, _>>()?;
    let client = connect(profile)?;
    let answer: Gated<BackupCreated> = client
        .post(
            "/v1/backups",
            &BackupRequest {
                recipients,
                token_recipient,
            },
        )
        .map_err(remote_error)?;
    match &answer {
        Gated::Done(created) => {
            fetch(&client, &created.file, out)?;
            if json {
                return print_answer(created, true);
            }
            println!(
                "wrote {} ({} bytes): backup {} of deployment {}, audit head #{}, master key {}",
                out.display(),
                created.size,
                created.backup_id,
                created.deployment_id,
                created.audit_head,
                created.master_key
            );
            Ok(())
        }
        Gated::Pending(_) => {
            eprintln!(
                "once approved, the server takes the backup; `kastell approvals show <id>` \
                 names its file, `kastell backup download <file> --out …` fetches it"
            );
            print_admin(&answer, json)
        }
    }
}

/// Downloads the server's backup `file` to `out`.
pub(super) fn download(profile: &Path, file: &str, out: &Path) -> Result<(), CliError> {
    refuse_existing(out)?;
    let client = connect(profile)?;
    fetch(&client, file, out)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn refuse_existing(out: &Path) -> Result<(), CliError> {
    if out.exists() {
        return Err(CliError::new(
            kastell_proto::ErrorCode::AlreadyExists,
            format!(
                "{} exists already; a backup never overwrites a file",
                out.display()
            ),
        ));
    }
    Ok(())
}

/// Downloads the backup `file` into `out`, streamed into a temporary file beside it that is
/// synced and renamed into place once complete (never over an existing file).
fn fetch(client: &Client, file: &str, out: &Path) -> Result<(), CliError> {
    let failed = |e: std::io::Error| CliError::internal(format!("{}: {e}", out.display()));
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut partial = tempfile::Builder::new()
        .prefix(".kastell-download-")
        .tempfile_in(&dir)
        .map_err(failed)?;
    client
        .get_to(
            &format!("/v1/backups/{}", segment(file)),
            partial.as_file_mut(),
        )
        .map_err(remote_error)?;
    partial.as_file().sync_all().map_err(failed)?;
    partial.persist_noclobber(out).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::new(
                kastell_proto::ErrorCode::AlreadyExists,
                format!(
                    "{} exists already; a backup never overwrites a file",
                    out.display()
                ),
            )
        } else {
            failed(e.error)
        }
    })?;
    Ok(())
}
