//! `kastell backup …`: take a sealed backup of a deployment (while its server may keep
//! serving), verify one offline without any secret, restore one into a new data directory
//! with an escrow holder's private key or with the token holding the token backup key
//! (`kastell backup key …`). The format is `docs/backup-format.md`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kastell_core::backup::{
    self, BackupError, BackupSource, Identity, Manifest, Opener, Progress, Recipient,
    TokenBackupKey,
};
use kastell_core::deployment::TokenChoice;
use kastell_core::token::{Pkcs11Token, SoftToken, Token};
use kastell_proto::Role;
use secrecy::SecretString;
use serde::Serialize;

use super::CliError;
use super::deployment::{DeploymentArgs, deployment_error, operator};

mod key;
mod remote;
mod restore_store;
mod schedule;

pub(crate) use schedule::{schedule, scheduled};

/// Backup commands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a sealed backup (with --profile, the server takes it under the `export-backup`
    /// quorum class and it is downloaded to --out): a consistent snapshot of the store (the server may keep
    /// serving), the configuration, CA certificates, stored components and, with the soft
    /// token, its keys; encrypted under a fresh key sealed to each recipient; the manifest
    /// signed by the audit-signing key. Audited as `backup`.
    Create {
        /// The backup file to write (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// An escrow holder's P-384 public key (SPKI PEM); repeat for each. Only these
        /// keys (and the token backup key with --token-recipient) can open the backup.
        #[arg(long = "recipient", value_name = "PEM")]
        recipients: Vec<PathBuf>,
        /// Seal it to the deployment's token backup key too (`kastell backup key create`):
        /// the same token then opens it, without --identity. At least one recipient of
        /// either kind is needed.
        #[arg(long)]
        token_recipient: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Check a backup offline, without any secret: its format, that it is complete, the
    /// manifest's signature and the body's hash; print the manifest.
    Verify {
        /// The backup file.
        file: PathBuf,
        /// The deployment's audit public key (SPKI PEM, `kastell audit public-key`): the
        /// backup must be signed by it.
        #[arg(long, value_name = "PEM")]
        public_key: Option<PathBuf>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a backup the server took (`kastell backup create --profile`, or a
    /// scheduled one) by its file name.
    Download {
        /// The backup's file name on the server (`kastell-backup-<ms>.kbk`).
        name: String,
        /// The file to write (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Restore a backup into a new data directory (--data-dir, missing or empty) with a
    /// recipient's private key, or without --identity with the token holding the token
    /// backup key it is sealed to (the same PKCS#11 token, or --soft-token). With the soft
    /// token, the new token file is sealed under
    /// the passphrase given (KASTELL_SOFT_TOKEN_PASSPHRASE or --secret-file); a backup
    /// whose master key stays on a PKCS#11 token needs that same token. The restored
    /// trail continues the old one with a `restore` record.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// A recipient's P-384 private key (PEM, PKCS#8 or SEC1). Without it, the token
        /// opens the backup with its backup key: the PKCS#11 token given
        /// (--pkcs11-module, --token-label), or the soft token file of --soft-token.
        #[arg(long, value_name = "KEY.pem")]
        identity: Option<PathBuf>,
        /// The soft token file holding the token backup key the backup is sealed to (the
        /// backed-up deployment's `soft-token.kst`), opened with the passphrase given for
        /// the restored token (the same passphrase).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["identity", "pkcs11_module"])]
        soft_token: Option<PathBuf>,
        /// The password file of --store's database (default: KASTELL_STORE_PASSWORD); it
        /// goes into the restored configuration's `[store] password_file`. With --store
        /// (an empty PostgreSQL database), the restore is made on the data directory's
        /// SQLite file, then copied there (`kastell store copy`) and the configuration's
        /// `[store] url` set; without it the store is that SQLite file.
        #[arg(long, value_name = "FILE", requires = "store_url")]
        store_password_file: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// The token backup key: create it, show its public key.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

/// A backup failure, exit code from its error code, the message led by the code's name.
fn backup_error(err: BackupError) -> CliError {
    let code = err.code();
    CliError::new(code, format!("{code}: {err}"))
}

/// A progress bar on stderr, drawn only on a terminal and unless `quiet`.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool, what: &'static str) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what);
        Self(bar)
    }
}

impl Progress for Bar {
    fn start(&self, bytes: u64) {
        self.0.set_length(bytes);
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn read_text(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("{what} {}: {e}", path.display())))
}

/// What `create` and `restore` print with `--json`.
#[derive(Serialize)]
struct Report<'a> {
    file: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restore_record: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<&'a str>,
    manifest: &'a Manifest,
}

fn describe(manifest: &Manifest) -> String {
    let c = &manifest.counts;
    format!(
        "backup {} of deployment {} (Kastell {}, schema {}): {} keys, {} versions, {} \
         aliases, {} policies, {} workloads, {} clients, {} access keys, {} audit records \
         (head #{}); master key {}; sealed to {}",
        manifest.backup_id,
        manifest.deployment_id,
        manifest.kastell_version,
        manifest.schema_version,
        c.keys,
        c.key_versions,
        c.aliases,
        c.policies,
        c.workloads,
        c.clients,
        c.access_keys,
        c.audit_records,
        manifest.audit_head.as_ref().map_or(0, |h| h.seq),
        match manifest.master_key {
            backup::MasterKey::InBackup => "inside (soft token)",
            backup::MasterKey::OnToken => "on its PKCS#11 token (restore needs that token)",
        },
        manifest.recipients.join(", ")
    )
}

/// Runs a backup command.
///
/// # Errors
/// [`CliError`] naming what failed.
pub(super) fn run(command: BackupCommand) -> Result<(), CliError> {
    match command {
        BackupCommand::Create {
            out,
            recipients,
            token_recipient,
            quiet,
            deployment,
        } => create(&out, &recipients, token_recipient, quiet, &deployment),
        BackupCommand::Key(command) => key::run(command),
        BackupCommand::Verify {
            file,
            public_key,
            json,
        } => verify(&file, public_key.as_deref(), json),
        BackupCommand::Restore {
            file,
            identity,
            soft_token,
            store_password_file,
            quiet,
            deployment,
        } => {
            let store = deployment
                .store_url
                .clone()
                .map(|url| restore_store::Target {
                    url,
                    password_file: store_password_file,
                });
            let opening = Opening {
                identity: identity.as_deref(),
                soft_token: soft_token.as_deref(),
            };
            restore(&file, &opening, store.as_ref(), quiet, &deployment)
        }
        BackupCommand::Download {
            name,
            out,
            deployment,
        } => match &deployment.profile {
            Some(profile) => remote::download(profile, &name, &out),
            None => Err(CliError::usage(
                "backup download fetches from a server: give --profile",
            )),
        },
    }
}

fn create(
    out: &Path,
    recipients: &[PathBuf],
    token_recipient: bool,
    quiet: bool,
    deployment: &DeploymentArgs,
) -> Result<(), CliError> {
    if let Some(profile) = &deployment.profile {
        return remote::create(profile, out, recipients, token_recipient, deployment.json);
    }
    if recipients.is_empty() && !token_recipient {
        return Err(backup_error(BackupError::NoRecipient));
    }
    let mut recipients = recipients
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            Recipient::from_pem(&read_text(path, "--recipient")?, &name).map_err(backup_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data_dir = deployment.data_dir()?;
    let service = deployment.open()?;
    if token_recipient {
        let key = TokenBackupKey::of(service.token().as_ref()).map_err(backup_error)?;
        recipients.push(key.recipient().map_err(backup_error)?);
    }
    let principal = operator(Role::CryptoOfficer, None).id;
    let source = BackupSource {
        service: &service,
        data_dir: &data_dir,
        principal: &principal,
    };
    let manifest = {
        let bar = Bar::new(quiet || deployment.json, "sealing");
        backup::create(&source, out, &recipients, &bar).map_err(backup_error)?
    };
    if deployment.json {
        return super::io::print_answer(
            &Report {
                file: out,
                data_dir: None,
                restore_record: None,
                store: None,
                manifest: &manifest,
            },
            true,
        );
    }
    println!("wrote {}: {}", out.display(), describe(&manifest));
    Ok(())
}

fn verify(file: &Path, public_key: Option<&Path>, json: bool) -> Result<(), CliError> {
    let expected = match public_key {
        Some(path) => {
            let pem = read_text(path, "--public-key")?;
            let key =
                Recipient::from_pem(&pem, &path.display().to_string()).map_err(backup_error)?;
            Some(key.fingerprint())
        }
        None => None,
    };
    let manifest = backup::verify(file, expected.as_deref()).map_err(backup_error)?;
    if json {
        return super::io::print_answer(&manifest, true);
    }
    println!(
        "backup intact, signed by audit key {}{}: {}",
        manifest.deployment_id,
        if expected.is_some() {
            " (the one given)"
        } else {
            " (compare it with the deployment's: --public-key)"
        },
        describe(&manifest)
    );
    Ok(())
}

/// What opens a backup's content key: `--identity`, else the token.
struct Opening<'a> {
    identity: Option<&'a Path>,
    soft_token: Option<&'a Path>,
}

/// The token that opens a backup sealed to its backup key: the PKCS#11 token the restore
/// is made with, or the soft token file given (with the restored token's passphrase).
fn opening_token(
    choice: &TokenChoice,
    soft_token: Option<&Path>,
) -> Result<Box<dyn Token>, CliError> {
    let token = |e| backup_error(BackupError::Token(e));
    match (choice, soft_token) {
        (TokenChoice::Pkcs11(config), None) => {
            Ok(Box::new(Pkcs11Token::open(config).map_err(token)?))
        }
        (TokenChoice::Soft { passphrase, .. }, Some(file)) => {
            Ok(Box::new(SoftToken::open(file, passphrase).map_err(token)?))
        }
        (TokenChoice::Soft { .. }, None) => Err(CliError::usage(
            "give --identity KEY.pem (an escrow holder's private key), or --soft-token FILE \
             (the soft token file holding the token backup key the backup is sealed to)",
        )),
        (TokenChoice::Pkcs11(_), Some(_)) => Err(CliError::usage(
            "--soft-token is for a soft token; with --pkcs11-module the PKCS#11 token opens \
             the backup",
        )),
    }
}

fn restore(
    file: &Path,
    opening: &Opening<'_>,
    store: Option<&restore_store::Target>,
    quiet: bool,
    deployment: &DeploymentArgs,
) -> Result<(), CliError> {
    let store = store.map(restore_store::Target::location).transpose()?;
    if deployment.profile.is_some() {
        return Err(CliError::usage(
            "a backup is restored into a new data directory (--data-dir), not through a server",
        ));
    }
    let identity = match opening.identity {
        Some(path) => {
            let pem = SecretString::from(read_text(path, "--identity")?);
            Some(Identity::from_pem(&pem, &path.display().to_string()).map_err(backup_error)?)
        }
        None => None,
    };
    let target = deployment.data_dir()?;
    let mut choice = deployment.deployment()?;
    let token = match &identity {
        Some(_) => None,
        None => Some(opening_token(&choice.token, opening.soft_token)?),
    };
    let opener = match (&identity, &token) {
        (Some(identity), _) => Opener::Identity(identity),
        (None, Some(token)) => Opener::Token(token.as_ref()),
        (None, None) => return Err(CliError::usage("give --identity or a token")),
    };
    // The restore is made on the data directory's SQLite file (and its restore record
    // there); `--store` takes it to PostgreSQL afterwards.
    choice.store = kastell_core::deployment::StoreChoice::Sqlite;
    let secret_file = deployment.config()?.token.secret_file;
    let restored = {
        let bar = Bar::new(quiet || deployment.json, "restoring");
        backup::restore(
            file,
            &opener,
            &target,
            &choice.token,
            secret_file.as_deref(),
            &bar,
        )
        .map_err(backup_error)?
    };
    let service = choice
        .open()
        .map_err(|e| deployment_error(e).within("opening the restored deployment"))?;
    let principal = operator(Role::CryptoOfficer, None).id;
    let record = backup::record_restore(&service, &restored.manifest, &principal, file)
        .map_err(backup_error)?;
    drop(service);
    let moved = match &store {
        Some((location, target)) => Some(restore_store::move_store(
            &restored.data_dir,
            &restored.manifest.audit_public_key,
            location,
            target,
            quiet || deployment.json,
        )?),
        None => None,
    };
    if deployment.json {
        return super::io::print_answer(
            &Report {
                file,
                data_dir: Some(&restored.data_dir),
                restore_record: Some(record.seq),
                store: moved.as_ref().map(|m| m.to.as_str()),
                manifest: &restored.manifest,
            },
            true,
        );
    }
    println!(
        "restored {} into {} ({} files); its audit trail continues with record #{} \
         (restore). {}",
        file.display(),
        restored.data_dir.display(),
        restored.files,
        record.seq,
        describe(&restored.manifest)
    );
    match &moved {
        Some(report) => println!(
            "the store was then copied into {} ({} audit records verified on both sides) and \
             kastell.toml's [store] url set to it",
            report.to, report.audit_records
        ),
        None if restored.manifest.store != "sqlite" => println!(
            "this backup was taken on {}; the store is restored as the SQLite file in {} \
             (move it with `kastell store copy`, or restore with --store URL)",
            restored.manifest.store,
            restored.data_dir.display()
        ),
        None => {}
    }
    if restored.data_dir.join("kastell.toml").exists() {
        println!(
            "kastell.toml restored with data_dir = {}; check [server] listen before serving \
             beside the old deployment",
            restored.data_dir.display()
        );
    }
    Ok(())
}
