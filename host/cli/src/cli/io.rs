//! Reading a command's inputs and writing its outputs, the same for every command and for
//! both places a command runs (the local deployment, or a server with `--profile`).
//!
//! Binary outputs (ciphertexts, signatures, MACs, random bytes) go to `--out` as raw bytes,
//! or to standard output as one line of base64. Binary inputs are read raw or as base64.

use std::io::{Read as _, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell_proto::api::Gated;
use serde::Serialize;

use super::CliError;

/// Reads a file named on the command line.
pub(super) fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

/// Reads a file, or standard input for `-`.
pub(super) fn read_data(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
        return Ok(bytes);
    }
    read_input(path)
}

/// Reads binary input that may be raw or base64 text; `is_raw` recognises the raw form.
pub(super) fn read_binary(
    path: &Path,
    is_raw: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, CliError> {
    let bytes = read_data(path)?;
    if is_raw(&bytes) {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    BASE64.decode(text.trim()).map_err(|_| {
        CliError::usage(format!(
            "{}: neither the raw form nor base64",
            path.display()
        ))
    })
}

/// Writes `bytes` to `out`, or to standard output: as one line of base64 when
/// `text_default`, raw otherwise. A file `out` names is created owner-only (0600): an
/// output may be a plaintext; an existing file (or a device such as `/dev/stdout`) keeps
/// its mode.
pub(super) fn write_output(
    out: Option<&Path>,
    bytes: &[u8],
    text_default: bool,
) -> Result<(), CliError> {
    match out {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| file.write_all(bytes))
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
        }
        None if text_default => {
            println!("{}", BASE64.encode(bytes));
            Ok(())
        }
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(|e| CliError::internal(format!("cannot write standard output: {e}"))),
    }
}

/// Prints `value` as pretty JSON.
pub(super) fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Prints a server answer as JSON: pretty, or on one line with `--json` (the answer's
/// fields in name order either way, as the server's JSON was always printed).
pub(super) fn print_answer(answer: &impl Serialize, raw: bool) -> Result<(), CliError> {
    let value = serde_json::to_value(answer).map_err(|e| CliError::internal(e.to_string()))?;
    if raw {
        println!("{value}");
        Ok(())
    } else {
        print_json(&value)
    }
}

/// Prints the answer of a request under quorum; a pending operation is reported on stderr
/// with what the officers must do.
pub(super) fn print_admin<T: Serialize>(answer: &Gated<T>, raw: bool) -> Result<(), CliError> {
    if let Gated::Pending(pending) = answer {
        let id = &pending.operation.id;
        eprintln!(
            "pending approval: operation {id} needs {} officer approvals \
             (`kastell approve {id} --profile …`)",
            pending.required
        );
    }
    print_answer(answer, raw)
}

/// A `name=value` pair of the command line (`--context`, `--tag`).
///
/// # Errors
/// The text has no `=` or an empty name.
pub(super) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected name=value, not `{text}`")),
    }
}
