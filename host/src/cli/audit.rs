//! `kastell audit …`: verify the trail and its signed checkpoints, export it, sign a
//! checkpoint, print the audit signing key.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use super::deployment::{DeploymentArgs, existing_store};
use crate::audit::{AuditRecord, TrailReport};
use crate::crypto::RustCrypto;
use crate::keys::{KeyError, verify_trail};

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
    /// Write the trail as JSON lines to standard output.
    Export {
        /// JSON lines (the only format; accepted for clarity).
        #[arg(long)]
        json: bool,
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
    CliError::Internal(err.to_string())
}

fn key_error(err: KeyError) -> CliError {
    internal(err)
}

fn report(result: Result<TrailReport, crate::audit::ChainBreak>) -> Result<(), CliError> {
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
        Err(broken) => Err(CliError::Invalid(format!(
            "audit trail broken at record #{}: {}",
            broken.seq, broken.problem
        ))),
    }
}

/// Runs an audit command.
pub(super) fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            public_key: Some(path),
            deployment,
        } => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
            let key: p384::PublicKey =
                p384::pkcs8::DecodePublicKey::from_public_key_pem(pem.trim()).map_err(|e| {
                    CliError::Usage(format!(
                        "{}: not a P-384 public key in SPKI PEM: {e}",
                        path.display()
                    ))
                })?;
            let store = existing_store(&deployment)?;
            let sec1 = key.to_sec1_bytes();
            report(verify_trail(&store, &RustCrypto, &sec1).map_err(key_error)?)
        }
        AuditCommand::Verify {
            public_key: None,
            deployment,
        } => {
            let service = deployment.open()?;
            report(service.verify_audit().map_err(key_error)?)
        }
        AuditCommand::Export {
            json: _,
            after,
            deployment,
        } => {
            let store = existing_store(&deployment)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = after;
            loop {
                let page =
                    crate::store::Store::audit_range(&store, after, PAGE).map_err(internal)?;
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

/// One exported record: every field, in chain order, hashes and HMAC in hex.
#[derive(serde::Serialize)]
struct RecordOut<'a> {
    seq: u64,
    time: Option<String>,
    time_ms: i64,
    principal: &'a str,
    operation: &'a str,
    key: Option<String>,
    key_version: Option<u32>,
    policy: Option<String>,
    outcome: &'static str,
    reason: &'a str,
    context_hmac: Option<String>,
    prev_hash: String,
    hash: String,
}

fn json_line(record: &AuditRecord) -> String {
    let e = &record.entry;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.time_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let out = RecordOut {
        seq: record.seq,
        time,
        time_ms: e.time_ms,
        principal: &e.principal,
        operation: &e.operation,
        key: e.key.map(|k| k.to_string()),
        key_version: e.key_version,
        policy: e.policy.map(|p| p.to_string()),
        outcome: e.outcome.as_str(),
        reason: &e.reason,
        context_hmac: e.context_hmac.map(hex::encode),
        prev_hash: hex::encode(record.prev_hash),
        hash: hex::encode(record.hash),
    };
    serde_json::to_string(&out).unwrap_or_default()
}
