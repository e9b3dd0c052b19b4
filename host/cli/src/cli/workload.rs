//! `kastell workload … --profile P`: upload, list and invoke workloads on a Kastell server.
//!
//! An invocation's output is the workload's raw bytes, written as they came; `--json`
//! prints the server's answer (output in base64, fuel burned, wall-clock time) instead.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use kastell_attest::Measurement;
use kastell_proto::ErrorCode;
use kastell_proto::api::{InvokeRequest, SecretBase64};

use super::CliError;
use super::io::{print_answer, read_data, read_input};
use super::remote::{connect, remote_error};
use crate::client::RemoteError;

/// Workload commands, sent to a server.
#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// Upload a workload component (crypto-officer); prints its measurement.
    ///
    /// The server validates it against the `workload` world; a refusal is printed as the
    /// server gave it (exit 1).
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
    /// List the measurements of the stored workloads, one per line.
    List {
        /// Client profile of a crypto-officer or crypto-user.
        #[arg(long, env = "KASTELL_PROFILE")]
        profile: PathBuf,
        /// Print the server's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Run a stored workload once (crypto-user); writes its output's raw bytes.
    ///
    /// A fresh instance receives the input; its key calls act as you, with its
    /// measurement as evidence. A workload error or a fault (trap, fuel, time, memory) is
    /// reported on standard error (exit 1).
    Invoke {
        /// The workload's measurement, `sha384:<hex>`.
        measurement: Measurement,
        /// Client profile of a crypto-user.
        #[arg(long, env = "KASTELL_PROFILE")]
        profile: PathBuf,
        /// File whose bytes the workload receives (`-` for standard input; default: none).
        #[arg(long, conflicts_with = "input_text")]
        input: Option<PathBuf>,
        /// Text the workload receives (UTF-8, as given).
        #[arg(long)]
        input_text: Option<String>,
        /// Write the output to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Print the server's JSON answer (output in base64, `fuel_consumed`,
        /// `elapsed_us`) on standard output; the raw output still goes to --output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a workload command.
pub(super) fn run(command: WorkloadCommand) -> Result<(), CliError> {
    match command {
        WorkloadCommand::Push {
            file,
            profile,
            json,
        } => {
            let bytes = read_input(&file)?;
            let answer = connect(&profile)?
                .add_workload(bytes)
                .map_err(|e| match e {
                    RemoteError::Api { name, message, .. } if name == "InvalidWorkload" => {
                        CliError::new(
                            ErrorCode::InvalidWorkload,
                            format!("{}: {message}", file.display()),
                        )
                    }
                    other => remote_error(other),
                })?;
            if json {
                print_answer(&answer, true)
            } else {
                println!("{}", answer.measurement);
                Ok(())
            }
        }
        WorkloadCommand::List { profile, json } => {
            let answer = connect(&profile)?.list_workloads().map_err(remote_error)?;
            if json {
                return print_answer(&answer, true);
            }
            for measurement in &answer.workloads {
                println!("{measurement}");
            }
            Ok(())
        }
        WorkloadCommand::Invoke {
            measurement,
            profile,
            input,
            input_text,
            output,
            json,
        } => {
            let input = match (input, input_text) {
                (Some(path), _) => read_data(&path)?,
                (None, Some(text)) => text.into_bytes(),
                (None, None) => Vec::new(),
            };
            let client = connect(&profile)?;
            let request = InvokeRequest {
                input: SecretBase64::new(BASE64.encode(&input)),
            };
            let answer = client
                .invoke_workload(&measurement.to_string(), &request)
                .map_err(invoke_error)?;
            let bytes = BASE64.decode(answer.output.expose()).map_err(|e| {
                CliError::internal(format!("the server's `output` is not base64: {e}"))
            })?;
            if let Some(path) = &output {
                std::fs::write(path, &bytes).map_err(|e| {
                    CliError::usage(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            if json {
                print_answer(&answer, true)
            } else if output.is_none() {
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| CliError::internal(format!("cannot write standard output: {e}")))
            } else {
                Ok(())
            }
        }
    }
}

/// A workload's own error and a sandbox fault are refusals of this input (exit 1), told
/// apart in the message; everything else as any remote failure.
fn invoke_error(err: RemoteError) -> CliError {
    match err {
        RemoteError::Api { name, message, .. } if name == "WorkloadError" => CliError::new(
            ErrorCode::WorkloadError,
            format!("workload error: {message}"),
        ),
        RemoteError::Api { name, message, .. } if name == "WorkloadFault" => CliError::new(
            ErrorCode::WorkloadFault,
            format!("workload fault: {message}"),
        ),
        other => remote_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, name: &str, message: &str) -> RemoteError {
        RemoteError::Api {
            status,
            name: name.into(),
            message: message.into(),
        }
    }

    #[test]
    fn workload_failures_are_refusals_named_for_their_kind() {
        let err = invoke_error(api(422, "WorkloadError", "no such record"));
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "workload error: no such record");
        let err = invoke_error(api(422, "WorkloadFault", "fuel exhausted"));
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "workload fault: fuel exhausted");
    }

    #[test]
    fn other_invoke_failures_keep_the_remote_mapping() {
        let err = invoke_error(api(404, "NotFound", "no workload sha384:00"));
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "NotFound: no workload sha384:00");
        assert_eq!(
            invoke_error(api(400, "InvalidBase64", "input")).exit_code(),
            2
        );
        assert_eq!(invoke_error(api(500, "Internal", "boom")).exit_code(), 3);
    }
}
