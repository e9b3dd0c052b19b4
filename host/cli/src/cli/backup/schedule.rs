//! Scheduled backups while serving (`[backup] every_secs`): each one taken through the
//! same path as `POST /v1/backups` (audited `backup`, principal `kastell`), then the
//! oldest scheduled backups beyond `[backup] keep` removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kastell_core::backup::Recipient;
use kastell_core::config::{BackupConfig, DEFAULT_BACKUP_KEEP};
use kastell_core::keys::{Caller, SYSTEM_PRINCIPAL};
use kastell_proto::Role;
use kastell_server::AppState;

use super::super::CliError;

/// What a scheduled backup needs, read once at start-up.
#[derive(Debug)]
pub(crate) struct Schedule {
    every: Duration,
    keep: usize,
    dir: PathBuf,
    recipients: Vec<Recipient>,
    token_recipient: bool,
}

/// The schedule `[backup]` asks for, its recipients read and checked now (a bad one stops
/// the server from starting); `None` without `every_secs`.
///
/// # Errors
/// [`CliError::usage`] naming an unreadable or malformed recipient.
pub(crate) fn schedule(config: &BackupConfig, dir: &Path) -> Result<Option<Schedule>, CliError> {
    let Some(every) = config.every_secs else {
        return Ok(None);
    };
    let recipients = config
        .recipients
        .iter()
        .map(|path| {
            let pem = super::read_text(path, "[backup] recipients")?;
            Recipient::from_pem(&pem, &path.display().to_string())
                .map_err(|e| CliError::usage(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Schedule {
        every: Duration::from_secs(every),
        keep: usize::try_from(config.keep.unwrap_or(DEFAULT_BACKUP_KEEP)).unwrap_or(usize::MAX),
        dir: dir.to_path_buf(),
        recipients,
        token_recipient: config.token_recipient,
    }))
}

/// Takes a backup every `schedule.every` (the first one interval after start) and prunes.
pub(crate) async fn scheduled(state: Arc<AppState>, schedule: Schedule) {
    let schedule = Arc::new(schedule);
    let mut every = tokio::time::interval(schedule.every);
    every.tick().await;
    loop {
        every.tick().await;
        let state = Arc::clone(&state);
        let schedule = Arc::clone(&schedule);
        let taken = tokio::task::spawn_blocking(move || {
            let caller = Caller {
                id: SYSTEM_PRINCIPAL.to_owned(),
                roles: vec![Role::CryptoOfficer],
                tenant: None,
                evidence: None,
            };
            let created = kastell_server::backups::take(
                &state,
                &schedule.dir,
                &caller,
                &schedule.recipients,
                schedule.token_recipient,
            );
            (created, prune(&schedule.dir, schedule.keep))
        })
        .await;
        match taken {
            Ok((Ok(created), pruned)) => {
                tracing::info!(file = %created.file, size = created.size, "scheduled backup taken");
                if let Err(err) = pruned {
                    tracing::error!(error = %err, "cannot remove old backups");
                }
            }
            Ok((Err(err), _)) => tracing::error!(error = ?err, "scheduled backup failed"),
            Err(err) => tracing::error!(error = %err, "scheduled backup panicked"),
        }
    }
}

/// Removes the oldest backups the server named in `dir` beyond the newest `keep`.
fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| kastell_server::backups::is_backup_name(name))
        .collect();
    // `kastell-backup-<unix ms>.kbk`: by length, then by text, is by time.
    names.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    let old = names.len().saturating_sub(keep);
    for name in &names[..old] {
        std::fs::remove_file(dir.join(name))?;
    }
    Ok(old)
}
