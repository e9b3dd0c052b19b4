//! The `kastell` command line.

mod audit;
mod ca;
mod demo;
mod deployment;
mod init;
mod key;
mod officer;
mod policy;
mod release;
mod serve;
mod workload;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Kastell: an EU-sovereign key management runtime with WebAssembly key policies.
#[derive(Debug, Parser)]
#[command(name = "kastell", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a deployment: root CA, host CA, token keys, the first crypto officer's client
    /// profile and the configuration file.
    Init(init::InitArgs),
    /// Run the HTTPS API (mutual TLS) on a deployment.
    Serve(serve::ServeArgs),
    /// The whole product in one command, in a temporary directory: init, serve, a policy,
    /// a bound key, allowed and refused operations, rotation, the audit trail, and an
    /// attested key release to a measured workload (its modified build refused).
    Demo(demo::DemoArgs),
    /// Check, evaluate and store policy components.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Create, administer and use keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Verify, export and checkpoint the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Approve a pending administrative operation by signing it with your client key.
    Approve(officer::ApproveArgs),
    /// List and show pending administrative operations (on a server).
    #[command(subcommand)]
    Approvals(officer::ApprovalsCommand),
    /// Show or change how many officer approvals each class of operation needs.
    #[command(subcommand)]
    Quorum(officer::QuorumCommand),
    /// Create client certificates and profiles through a server.
    #[command(subcommand)]
    User(officer::UserCommand),
    /// The owner's EU root, host attestation CAs, revocation.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Issue attestation certificates with this host's CA.
    #[command(subcommand)]
    Attest(ca::AttestCommand),
    /// Upload, list and invoke workloads on a server.
    #[command(subcommand)]
    Workload(workload::WorkloadCommand),
    /// Release a key's material to an attested workload (on a server).
    #[command(subcommand)]
    Release(release::ReleaseCommand),
}

/// A command's failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The input was read but is invalid (exit 1).
    #[error("{0}")]
    Invalid(String),
    /// The input could not be read or parsed, or the command was misused (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The host itself failed (exit 3).
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    /// The error of the class `code` belongs to (its exit code), with `message`.
    #[must_use]
    pub fn coded(code: kastell_proto::ErrorCode, message: String) -> Self {
        match code.exit_code() {
            kastell_proto::error::EXIT_REFUSED => Self::Invalid(message),
            kastell_proto::error::EXIT_USAGE => Self::Usage(message),
            _ => Self::Internal(message),
        }
    }

    /// The process exit code for this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) => 1,
            Self::Usage(_) => 2,
            Self::Internal(_) => 3,
        }
    }
}

/// A CA failure as a command error, by its error code.
pub(crate) fn ca_error(err: kastell_core::ca::HostCaError) -> CliError {
    CliError::coded(err.code(), err.to_string())
}

/// A client-identity failure as a command error, by its error code.
pub(crate) fn client_error(err: kastell_core::clients::ClientError) -> CliError {
    CliError::coded(err.code(), err.to_string())
}

/// Reads a file named on the command line.
fn read_input(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Runs a parsed command.
///
/// # Errors
/// [`CliError`] with a one-line description.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Approve(args) => officer::approve(args),
        Command::Approvals(command) => officer::approvals(command),
        Command::Quorum(command) => officer::quorum(command),
        Command::User(command) => officer::user(command),
        Command::Policy(command) => policy::run(command),
        Command::Key(command) => key::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Ca(command) => ca::run_ca(command),
        Command::Attest(command) => ca::run_attest(command),
        Command::Workload(command) => workload::run(command),
        Command::Release(command) => release::run(command),
    }
}

impl Cli {
    /// The log level when `RUST_LOG` is unset: `info` for the server (one line per
    /// request), `warn` for every other command.
    #[must_use]
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: `default_level`), coloured only when
/// stderr is a terminal; `KASTELL_LOG_FORMAT=json` for JSON lines.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a terminal: a log file or collector gets plain lines.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("KASTELL_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
