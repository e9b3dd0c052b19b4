//! `kastell audit …`: verify the trail and its signed checkpoint chain (against checkpoints
//! kept elsewhere too), export the trail or its checkpoints, sign a checkpoint, print the
//! audit signing key.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::deployment::{DeploymentArgs, existing_store};
use kastell_core::audit::checkpoint::to_json_line;
use kastell_core::audit::{AuditRecord, ChainBreak, RecordJson, TrailReport};
use kastell_core::crypto::AwsLc;
use kastell_core::keys::{KeptCheckpoints, KeyError, anchor_path, describe, verify_trail};
use kastell_proto::ErrorCode;
use kastell_proto::api::{RangeQuery, VerifyReport};

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain, the signed checkpoint chain, and that the checkpoints kept
    /// outside the store (the anchor file, `--checkpoints`) are still in it; exit 1 naming
    /// the first break (`trail-cut`, `rolled-back`, `checkpoint-chain-broken`, …).
    Verify {
        /// Verify checkpoints with this public key (SPKI PEM from `kastell audit
        /// public-key`) instead of the token's: only the store is opened.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Checkpoints kept elsewhere (JSON lines from `kastell audit checkpoints`): each
        /// must still be in the store's chain, and the trail must reach it. Catches a
        /// rollback of the trail together with its checkpoints.
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Write the signed checkpoints as JSON lines (oldest first), for an auditor to keep
    /// elsewhere and pass back to `kastell audit verify --checkpoints`. Reads the store
    /// only; no token needed.
    Checkpoints {
        /// Write to this file (owner-only, replaced atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only the newest checkpoint (e.g. to restore a lost anchor file).
        #[arg(long)]
        newest: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Write the trail as JSON lines to standard output (`--json` is accepted for
    /// clarity: JSON lines are the only format).
    Export {
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Sign a checkpoint of the trail's head now.
    Checkpoint {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Print the audit signing key's public key (SPKI PEM) for offline verification.
    PublicKey {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
}

const PAGE: u32 = 4096;

fn internal(err: impl std::fmt::Display) -> CliError {
    CliError::internal(err.to_string())
}

fn key_error(err: KeyError) -> CliError {
    CliError::new(err.code(), err.to_string())
}

fn report(result: Result<TrailReport, ChainBreak>) -> Result<(), CliError> {
    match result {
        Ok(report) => {
            println!(
                "audit trail intact: {} records (last #{}), {} signed checkpoints, signed \
                 through #{}{}",
                report.records,
                report.last_seq,
                report.checkpoints,
                report.signed_through,
                match report.last_seq - report.signed_through {
                    0 => String::new(),
                    n => format!("; {n} newer records not yet covered by a signature"),
                }
            );
            Ok(())
        }
        Err(broken) => Err(tampered(describe(&broken))),
    }
}

/// A break, exit 1, the message led by the code's name (`TamperDetected: audit trail
/// broken at record #N (NAME): …`).
fn tampered(message: String) -> CliError {
    let code = ErrorCode::TamperDetected;
    CliError::new(code, format!("{code}: {message}"))
}

/// The checkpoints kept in `path` (`--checkpoints`), which must exist.
fn kept(path: Option<&std::path::Path>) -> Result<Vec<KeptCheckpoints>, CliError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    match KeptCheckpoints::read(path).map_err(key_error)? {
        Some(kept) => Ok(vec![kept]),
        None => Err(CliError::usage(format!(
            "--checkpoints {}: no such file",
            path.display()
        ))),
    }
}

/// Runs an audit command: on the server named by `--profile` (as auditor), else on the
/// local deployment.
pub(super) fn run(command: AuditCommand) -> Result<(), CliError> {
    let deployment = match &command {
        AuditCommand::Verify { deployment, .. }
        | AuditCommand::Checkpoints { deployment, .. }
        | AuditCommand::Export { deployment, .. }
        | AuditCommand::Checkpoint { deployment }
        | AuditCommand::PublicKey { deployment } => deployment,
    };
    if let Some(profile) = deployment.profile.clone() {
        return remote(&profile, deployment.json, command);
    }
    match command {
        AuditCommand::Verify {
            public_key: Some(path),
            checkpoints,
            deployment,
        } => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
            let key: p384::PublicKey =
                p384::pkcs8::DecodePublicKey::from_public_key_pem(pem.trim()).map_err(|e| {
                    CliError::usage(format!(
                        "{}: not a P-384 public key in SPKI PEM: {e}",
                        path.display()
                    ))
                })?;
            let mut kept = kept(checkpoints.as_deref())?;
            let store = existing_store(&deployment)?;
            // The deployment's anchor file, when this is its data directory (a copy of the
            // store alone has none).
            if let Some(anchor) =
                KeptCheckpoints::read(&anchor_path(&deployment.data_dir()?)).map_err(key_error)?
            {
                kept.push(anchor);
            }
            let sec1 = key.to_sec1_bytes();
            report(verify_trail(&*store, &AwsLc, &sec1, &kept).map_err(key_error)?)
        }
        AuditCommand::Verify {
            public_key: None,
            checkpoints,
            deployment,
        } => {
            let kept = kept(checkpoints.as_deref())?;
            let service = deployment.open()?;
            report(service.verify_audit(&kept).map_err(key_error)?)
        }
        AuditCommand::Checkpoints {
            out,
            newest,
            deployment,
        } => {
            let store = existing_store(&deployment)?;
            let mut checkpoints = store.checkpoints().map_err(internal)?;
            if newest {
                checkpoints = checkpoints.pop().into_iter().collect();
            }
            let text: String = checkpoints
                .iter()
                .map(|checkpoint| to_json_line(checkpoint) + "\n")
                .collect();
            match out {
                Some(path) => kastell_core::files::write_atomic(&path, text.as_bytes())
                    .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display()))),
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(text.as_bytes())
                        .and_then(|()| stdout.flush())
                        .map_err(internal)
                }
            }
        }
        AuditCommand::Export { after, deployment } => {
            let store = existing_store(&deployment)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = after;
            loop {
                let page = store.audit_range(after, PAGE).map_err(internal)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for record in &page {
                    writeln!(out, "{}", json_line(record)).map_err(internal)?;
                }
            }
            out.flush().map_err(internal)
        }
        AuditCommand::Checkpoint { deployment } => {
            let service = deployment.open()?;
            match service.checkpoint().map_err(key_error)? {
                Some(checkpoint) => println!("signed checkpoint at record #{}", checkpoint.seq),
                None => println!("the last checkpoint already covers the trail"),
            }
            Ok(())
        }
        AuditCommand::PublicKey { deployment } => {
            let service = deployment.open()?;
            print!("{}", service.audit_public_key_pem().map_err(key_error)?);
            Ok(())
        }
    }
}

fn json_line(record: &AuditRecord) -> String {
    serde_json::to_string(&RecordJson::from(record)).unwrap_or_default()
}

/// An audit command against a server.
fn remote(profile: &std::path::Path, raw: bool, command: AuditCommand) -> Result<(), CliError> {
    use super::io::print_answer;
    use super::remote::{connect, remote_error};
    let client = connect(profile)?;
    match command {
        AuditCommand::Verify {
            public_key: Some(_),
            ..
        } => Err(CliError::usage(
            "--public-key verifies a local store; with --profile the server verifies",
        )),
        AuditCommand::Verify {
            checkpoints: Some(_),
            ..
        }
        | AuditCommand::Checkpoints { .. } => Err(CliError::usage(
            "kept checkpoints are exported and compared on the deployment's host (--data-dir): \
             `kastell audit checkpoints`, `kastell audit verify --checkpoints`",
        )),
        AuditCommand::Verify { .. } => {
            let report = client.verify_audit().map_err(remote_error)?;
            if raw {
                print_answer(&report, true)?;
            }
            if raw && report.intact {
                return Ok(());
            }
            report_remote(&report)
        }
        AuditCommand::Export { after, .. } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut query = RangeQuery {
                after: Some(after),
                limit: Some(1000),
            };
            loop {
                let page = client.audit_page(&query).map_err(remote_error)?;
                for record in &page.records {
                    // As the server's JSON was always written: fields in name order.
                    let line = serde_json::to_value(record).map_err(internal)?;
                    writeln!(out, "{line}").map_err(internal)?;
                }
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
            out.flush().map_err(internal)
        }
        AuditCommand::Checkpoint { .. } => Err(CliError::usage(
            "checkpoints are signed by the server every `audit.checkpoint_every` records; \
             `audit checkpoint` runs locally (--data-dir)",
        )),
        AuditCommand::PublicKey { .. } => {
            let answer = client.audit_public_key().map_err(remote_error)?;
            if raw {
                return print_answer(&answer, true);
            }
            print!("{}", answer.pem);
            Ok(())
        }
    }
}

fn report_remote(answer: &VerifyReport) -> Result<(), CliError> {
    if answer.intact {
        report(Ok(TrailReport {
            records: answer.records,
            last_seq: answer.last_seq,
            checkpoints: answer.checkpoints,
            signed_through: answer.signed_through,
        }))
    } else {
        Err(tampered(format!(
            "audit trail broken at record #{} ({}): {}",
            answer.broken_at.unwrap_or(0),
            answer.kind.as_deref().unwrap_or("unnamed"),
            answer.problem.as_deref().unwrap_or_default()
        )))
    }
}
