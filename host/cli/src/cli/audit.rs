//! `kastell audit …`: verify the trail and its signed checkpoints, export it, sign a
//! checkpoint, print the audit signing key.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::deployment::{DeploymentArgs, existing_store};
use kastell_core::audit::{AuditRecord, RecordJson, TrailReport};
use kastell_core::crypto::AwsLc;
use kastell_core::keys::{KeyError, verify_trail};
use kastell_proto::ErrorCode;
use kastell_proto::api::{RangeQuery, VerifyReport};

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain and every signed checkpoint; exit 1 naming the first bad
    /// record.
    Verify {
        /// Verify checkpoints with this public key (SPKI PEM from `kastell audit
        /// public-key`) instead of the token's: only the store is opened.
        #[arg(long)]
        public_key: Option<PathBuf>,
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

fn report(result: Result<TrailReport, kastell_core::audit::ChainBreak>) -> Result<(), CliError> {
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
        Err(broken) => Err(CliError::new(
            ErrorCode::TamperDetected,
            format!(
                "audit trail broken at record #{}: {}",
                broken.seq, broken.problem
            ),
        )),
    }
}

/// Runs an audit command: on the server named by `--profile` (as auditor), else on the
/// local deployment.
pub(super) fn run(command: AuditCommand) -> Result<(), CliError> {
    let deployment = match &command {
        AuditCommand::Verify { deployment, .. }
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
            let store = existing_store(&deployment)?;
            let sec1 = key.to_sec1_bytes();
            report(verify_trail(&store, &AwsLc, &sec1).map_err(key_error)?)
        }
        AuditCommand::Verify {
            public_key: None,
            deployment,
        } => {
            let service = deployment.open()?;
            report(service.verify_audit().map_err(key_error)?)
        }
        AuditCommand::Export { after, deployment } => {
            let store = existing_store(&deployment)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = after;
            loop {
                let page = kastell_core::store::Store::audit_range(&store, after, PAGE)
                    .map_err(internal)?;
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
        report(Err(kastell_core::audit::ChainBreak {
            seq: answer.broken_at.unwrap_or(0),
            problem: answer.problem.clone().unwrap_or_default(),
        }))
    }
}
