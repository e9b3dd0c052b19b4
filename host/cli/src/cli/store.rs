//! `kastell store copy`: move a deployment's state from one store to another (SQLite to
//! PostgreSQL and back), in one snapshot of the source and one transaction on the target,
//! the audit trail verified on both sides.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kastell_core::backup::Progress;
use kastell_core::config::StoreConfig;
use kastell_core::crypto::{AwsLc, CryptoProvider as _};
use kastell_core::deployment::StoreChoice;
use kastell_core::store::copy::{self, CopyError, CopyReport, StoreLocation};

use super::CliError;
use super::deployment::store_choice;

/// Store commands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a deployment's whole store into an empty one (e.g. `--from
    /// sqlite:/var/lib/kastell/kastell.db --to postgres://kastell@db/kastell`): the source
    /// read in one consistent snapshot (a server may keep serving on it), its audit trail
    /// verified first, the target written in one transaction and its trail verified before
    /// it commits. A target that holds state is refused. Stop the servers and point
    /// `[store] url` at the target afterwards.
    Copy(CopyArgs),
}

/// `kastell store copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The store to copy: `sqlite:PATH` or `postgres://user@host:port/database`.
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The empty store to copy into: `sqlite:PATH` (created) or a PostgreSQL URL.
    #[arg(long, value_name = "STORE")]
    to: String,
    /// The source database's password file (default: KASTELL_STORE_PASSWORD).
    #[arg(long, value_name = "FILE")]
    from_password_file: Option<PathBuf>,
    /// The target database's password file (default: KASTELL_STORE_PASSWORD).
    #[arg(long, value_name = "FILE")]
    to_password_file: Option<PathBuf>,
    /// CA certificates (PEM) the source database's TLS certificate must chain to.
    #[arg(long, value_name = "PEM")]
    from_ca_file: Option<PathBuf>,
    /// CA certificates (PEM) the target database's TLS certificate must chain to.
    #[arg(long, value_name = "PEM")]
    to_ca_file: Option<PathBuf>,
    /// The deployment's audit public key (SPKI PEM, `kastell audit public-key`): every
    /// checkpoint's signature is verified with it on both sides. Without it the record and
    /// checkpoint chains are verified, and each checkpoint against its record.
    #[arg(long, value_name = "PEM")]
    audit_public_key: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a store command.
///
/// # Errors
/// [`CliError`] naming what failed.
pub(super) fn run(command: StoreCommand) -> Result<(), CliError> {
    match command {
        StoreCommand::Copy(args) => copy_store(&args),
    }
}

pub(super) fn location(
    text: &str,
    password_file: Option<&Path>,
    ca_file: Option<&Path>,
    flag: &str,
) -> Result<StoreLocation, CliError> {
    let location =
        StoreLocation::parse(text).map_err(|e| CliError::usage(format!("{flag}: {e}")))?;
    match location {
        StoreLocation::Sqlite(_) => {
            if password_file.is_some() || ca_file.is_some() {
                return Err(CliError::usage(format!(
                    "{flag} is a SQLite file: it takes no password or CA file"
                )));
            }
            Ok(location)
        }
        StoreLocation::Postgres(_) => {
            let config = StoreConfig {
                url: Some(text.to_owned()),
                password_file: password_file.map(Path::to_path_buf),
                ca_file: ca_file.map(Path::to_path_buf),
                max_connections: None,
                change_check_ms: None,
            };
            match store_choice(&config).map_err(|e| e.within(flag))? {
                StoreChoice::Postgres(options) => Ok(StoreLocation::Postgres(options)),
                StoreChoice::Sqlite => Err(CliError::internal("a PostgreSQL URL read as SQLite")),
            }
        }
    }
}

pub(super) fn copy_error(err: CopyError) -> CliError {
    let code = err.code();
    CliError::new(code, format!("{code}: {err}"))
}

/// A progress bar of rows on stderr, drawn only on a terminal and unless `quiet`.
pub(super) struct Rows(ProgressBar);

impl Rows {
    pub(super) fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("copying");
        Self(bar)
    }
}

impl Progress for Rows {
    fn start(&self, rows: u64) {
        self.0.set_length(rows);
    }

    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn audit_key(path: &Path) -> Result<Vec<u8>, CliError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("--audit-public-key {}: {e}", path.display())))?;
    let key: p384::PublicKey = p384::pkcs8::DecodePublicKey::from_public_key_pem(pem.trim())
        .map_err(|e| {
            CliError::usage(format!(
                "--audit-public-key {}: not a P-384 public key in SPKI PEM: {e}",
                path.display()
            ))
        })?;
    Ok(key.to_sec1_bytes().to_vec())
}

fn copy_store(args: &CopyArgs) -> Result<(), CliError> {
    let from = location(
        &args.from,
        args.from_password_file.as_deref(),
        args.from_ca_file.as_deref(),
        "--from",
    )?;
    let to = location(
        &args.to,
        args.to_password_file.as_deref(),
        args.to_ca_file.as_deref(),
        "--to",
    )?;
    let public = args
        .audit_public_key
        .as_deref()
        .map(audit_key)
        .transpose()?;
    let verify = |digest: &[u8; 48], signature: &[u8]| {
        public.as_deref().is_some_and(|key| {
            AwsLc
                .p384_verify_digest(key, digest, signature)
                .unwrap_or(false)
        })
    };
    let report = {
        let bar = Rows::new(args.quiet || args.json);
        copy::copy(&from, &to, public.is_some().then_some(&verify as _), &bar)
            .map_err(copy_error)?
    };
    if args.json {
        return super::io::print_answer(&report, true);
    }
    print_report(&report);
    Ok(())
}

fn print_report(report: &CopyReport) {
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    println!(
        "copied {} into {}: {rows} rows in {} tables; audit trail of {} records (head #{}) \
         and {} checkpoints verified on both sides{}",
        report.from,
        report.to,
        report.tables.len(),
        report.audit_records,
        report.audit_head,
        report.checkpoints,
        if report.signatures_verified {
            ", checkpoint signatures included"
        } else {
            " (give --audit-public-key to verify the checkpoint signatures too)"
        }
    );
    for table in &report.tables {
        println!("  {:<20} {}", table.table, table.rows);
    }
    if report.to.starts_with("postgres") {
        println!(
            "to serve from it: stop the servers on the old store, set [store] url = \"{}\" \
             (password in [store] password_file or KASTELL_STORE_PASSWORD) in kastell.toml, \
             and start them again",
            report.to
        );
    }
}
