//! The `kastell` command line.

mod access_key;
mod audit;
mod backup;
mod ca;
mod demo;
mod deployment;
mod grant;
mod init;
mod io;
mod key;
mod officer;
mod policy;
mod release;
mod remote;
mod serve;
mod store;
mod workload;

use clap::{Parser, Subcommand};
use kastell_proto::ErrorCode;

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
    /// Sealed backups: create, verify offline, restore onto a new data directory.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Move a deployment's store: copy it from SQLite to PostgreSQL or back.
    #[command(subcommand)]
    Store(store::StoreCommand),
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
    /// Access keys of the AWS KMS-compatible endpoint: create, list, revoke.
    #[command(subcommand)]
    AccessKey(access_key::AccessKeyCommand),
    /// AWS KMS grants on keys (through a server): create, list, retire, revoke.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
}

/// A command's failure: its [`ErrorCode`] (which gives the exit code, from the one table in
/// `kastell-proto`) and a one-line message. The same refusal exits with the same code
/// whether the command ran locally or against a server with `--profile`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    code: ErrorCode,
    message: String,
}

impl CliError {
    /// A failure of class `code`, described by `message`.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The input could not be read or parsed, or the command was misused
    /// ([`ErrorCode::InvalidInput`], exit 2).
    #[must_use]
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// The host itself failed ([`ErrorCode::Internal`], exit 3).
    #[must_use]
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The same failure, its message prefixed with what was being done.
    #[must_use]
    pub fn within(self, what: &str) -> Self {
        Self::new(self.code, format!("{what}: {}", self.message))
    }

    /// The error's code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The process exit code for this error: the code's, from the error table.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        self.code.exit_code()
    }
}

/// A CA failure as a command error, by its error code.
pub(crate) fn ca_error(err: kastell_core::ca::HostCaError) -> CliError {
    CliError::new(err.code(), err.to_string())
}

/// A client-identity failure as a command error, by its error code.
pub(crate) fn client_error(err: kastell_core::clients::ClientError) -> CliError {
    CliError::new(err.code(), err.to_string())
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
        Command::Backup(command) => backup::run(command),
        Command::Store(command) => store::run(command),
        Command::Ca(command) => ca::run_ca(command),
        Command::Attest(command) => ca::run_attest(command),
        Command::Workload(command) => workload::run(command),
        Command::Release(command) => release::run(command),
        Command::AccessKey(command) => access_key::run(command),
        Command::Grant(command) => grant::run(command),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_is_the_error_tables() {
        let refused = CliError::new(
            ErrorCode::InvalidCiphertext,
            "InvalidCiphertext: not authentic",
        );
        assert_eq!(refused.exit_code(), 1);
        assert_eq!(CliError::usage("--in: no such file").exit_code(), 2);
        assert_eq!(CliError::internal("store: disk full").exit_code(), 3);
        for &code in ErrorCode::ALL {
            assert_eq!(
                CliError::new(code, "x").exit_code(),
                code.exit_code(),
                "{code}"
            );
        }
    }

    #[test]
    fn naming_the_step_keeps_the_code() {
        let err = CliError::new(ErrorCode::AlreadyExists, "/srv holds a deployment")
            .within("init: token");
        assert_eq!(err.code(), ErrorCode::AlreadyExists);
        assert_eq!(err.to_string(), "init: token: /srv holds a deployment");
    }
}
