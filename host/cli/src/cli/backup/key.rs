//! `kastell backup key create|show`: the token backup key, a P-384 key-agreement key on the
//! deployment's token that backups can be sealed to (`--token-recipient`) and that the same
//! token opens. Locally on a data directory, or through the server (`--profile`) where its
//! creation is of the `export-backup` quorum class.

use clap::Subcommand;
use kastell_core::backup::{self, TokenBackupKey};
use kastell_proto::Role;
use kastell_proto::api::{BackupKey, Gated};

use super::super::CliError;
use super::super::deployment::{DeploymentArgs, operator};
use super::super::io::{print_admin, print_answer};
use super::super::remote::{connect, remote_error};
use super::backup_error;

/// Token backup key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create the token backup key: a P-384 key pair generated on the deployment's token
    /// (PKCS#11: CKA_DERIVE, never extractable; soft token: sealed in its file). Backups
    /// sealed to it (`backup create --token-recipient`) open with this token alone. With
    /// --profile, of the `export-backup` quorum class. Audited as `create-backup-key`.
    Create {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Print the token backup key's public key (SPKI PEM) and fingerprint.
    Show {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
}

fn shown(key: &TokenBackupKey) -> Result<BackupKey, CliError> {
    Ok(BackupKey {
        public_key: key.public_pem().map_err(backup_error)?,
        fingerprint: key.fingerprint(),
        token: key.token().to_owned(),
    })
}

fn print(key: &BackupKey, json: bool) -> Result<(), CliError> {
    if json {
        return print_answer(key, true);
    }
    println!("token backup key {} on {}", key.fingerprint, key.token);
    print!("{}", key.public_key);
    Ok(())
}

/// Runs a token backup key command.
///
/// # Errors
/// [`CliError`] naming what failed.
pub(super) fn run(command: KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::Create { deployment } => {
            if let Some(profile) = &deployment.profile {
                let answer: Gated<BackupKey> = connect(profile)?
                    .post_empty("/v1/backup-key")
                    .map_err(remote_error)?;
                return match &answer {
                    Gated::Done(key) => print(key, deployment.json),
                    Gated::Pending(_) => print_admin(&answer, deployment.json),
                };
            }
            let service = deployment.open()?;
            let principal = operator(Role::CryptoOfficer, None).id;
            let key = backup::create_token_key(&service, &principal).map_err(backup_error)?;
            print(&shown(&key)?, deployment.json)
        }
        KeyCommand::Show { deployment } => {
            if let Some(profile) = &deployment.profile {
                let key: BackupKey = connect(profile)?
                    .get("/v1/backup-key")
                    .map_err(remote_error)?;
                return print(&key, deployment.json);
            }
            let service = deployment.open()?;
            let key = TokenBackupKey::of(service.token().as_ref()).map_err(backup_error)?;
            print(&shown(&key)?, deployment.json)
        }
    }
}
