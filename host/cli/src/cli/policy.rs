//! `kastell policy …`: check, evaluate, add and list policy components.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::CliError;
use super::io::{print_answer, read_input};
use super::remote::{connect, remote_error};
use kastell_core::deployment::POLICIES_DIR;
use kastell_core::registry::{PolicyFolder, RegistryError};
use kastell_core::sandbox::{DenyCause, PolicyRequest, Sandbox, SandboxLimits, Verdict};
use kastell_proto::ErrorCode;

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a component; print its measurement and world (exit 1 if invalid).
    Check {
        /// The `.wasm` component.
        file: PathBuf,
    },
    /// Evaluate a component on a request; print the decision as JSON.
    Eval {
        /// The `.wasm` component.
        file: PathBuf,
        /// The request as JSON (format in the README).
        #[arg(long)]
        request: PathBuf,
    },
    /// Validate a component and store it in the registry under its measurement (and its
    /// compiled form in the data directory's cache).
    Add {
        /// The `.wasm` component.
        file: PathBuf,
        /// Data directory of the deployment.
        #[arg(long, env = "KASTELL_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// List the measurements of stored policies.
    List {
        /// Data directory of the deployment.
        #[arg(long, env = "KASTELL_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Upload a component to a Kastell server (crypto-officer); prints its measurement.
    /// The server validates it; a refusal is printed as the server gave it (exit 1).
    Push {
        /// The `.wasm` component.
        file: PathBuf,
        /// Client profile of a crypto-officer.
        #[arg(long, env = "KASTELL_PROFILE")]
        profile: PathBuf,
        /// Print the server's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// The JSON printed by `policy eval`.
#[derive(Debug, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
enum DecisionOut {
    Allow,
    Deny { reason: String },
}

fn sandbox() -> Result<Sandbox, CliError> {
    Sandbox::new(SandboxLimits::default()).map_err(|e| CliError::internal(e.to_string()))
}

fn registry_error(err: RegistryError) -> CliError {
    match err {
        RegistryError::Invalid(e) => CliError::new(ErrorCode::InvalidPolicy, e.to_string()),
        RegistryError::NotFound(_) => CliError::new(ErrorCode::NotFound, err.to_string()),
        RegistryError::Corrupt { .. } => CliError::new(ErrorCode::TamperDetected, err.to_string()),
        other => CliError::internal(other.to_string()),
    }
}

/// Runs a policy command.
pub(super) fn run(command: PolicyCommand) -> Result<(), CliError> {
    match command {
        PolicyCommand::Check { file } => {
            let bytes = read_input(&file)?;
            let policy = sandbox()?.load_policy(&bytes).map_err(|e| {
                CliError::new(ErrorCode::InvalidPolicy, format!("{}: {e}", file.display()))
            })?;
            println!("{}", policy.measurement());
            println!("world: {}", policy.world());
        }
        PolicyCommand::Eval { file, request } => {
            let bytes = read_input(&file)?;
            let json = read_input(&request)?;
            let request: PolicyRequest = serde_json::from_slice(&json).map_err(|e| {
                CliError::usage(format!("{}: invalid request: {e}", request.display()))
            })?;
            let sandbox = sandbox()?;
            let policy = sandbox.load_policy(&bytes).map_err(|e| {
                CliError::new(ErrorCode::InvalidPolicy, format!("{}: {e}", file.display()))
            })?;
            let out = match sandbox.evaluate(&policy, &request).verdict {
                Verdict::Allow => DecisionOut::Allow,
                Verdict::Deny(cause @ (DenyCause::Policy(_) | DenyCause::Fault(_))) => {
                    DecisionOut::Deny {
                        reason: cause.to_string(),
                    }
                }
            };
            let text =
                serde_json::to_string(&out).map_err(|e| CliError::internal(e.to_string()))?;
            println!("{text}");
        }
        PolicyCommand::Add { file, data_dir } => {
            super::deployment::check_data_dir(&data_dir)?;
            let bytes = read_input(&file)?;
            // Validated here without the token: the server compiles the policy (and
            // authenticates its artifact with the token's key) when it next loads it.
            let sandbox = sandbox()?;
            let registry =
                PolicyFolder::open(&data_dir.join(POLICIES_DIR)).map_err(registry_error)?;
            let measurement = registry.add(&sandbox, &bytes).map_err(registry_error)?;
            println!("{measurement}");
        }
        PolicyCommand::Push {
            file,
            profile,
            json,
        } => {
            let bytes = read_input(&file)?;
            let client = connect(&profile)?;
            let answer = client.add_policy(bytes).map_err(|e| match e {
                crate::client::RemoteError::Api {
                    status: 400,
                    message,
                    ..
                } => CliError::new(
                    ErrorCode::InvalidPolicy,
                    format!("{}: {message}", file.display()),
                ),
                other => remote_error(other),
            })?;
            if json {
                print_answer(&answer, true)?;
            } else {
                println!("{}", answer.measurement);
            }
        }
        PolicyCommand::List { data_dir } => {
            let registry =
                PolicyFolder::open(&data_dir.join("policies")).map_err(registry_error)?;
            for measurement in registry.list().map_err(registry_error)? {
                println!("{measurement}");
            }
        }
    }
    Ok(())
}
