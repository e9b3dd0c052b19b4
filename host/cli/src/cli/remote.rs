//! Commands sent to a server (`--profile`): opening the client a profile names, and
//! mapping a remote failure to the same exit code as the local command's.

use std::path::Path;

use kastell_core::clients::ClientProfile;
use kastell_proto::ErrorCode;

use super::CliError;
use crate::client::{Client, RemoteError};

/// Maps a remote failure to the command's exit code, the same as the local command's for
/// the same error: the server's error name is an [`ErrorCode`], whose exit code is that of
/// the local command (refusals 1, bad input 2, failures 3). An answer without a known name
/// (a proxy's, say) is classed by its status; an unreadable profile is bad input; the
/// network failing is a failure.
pub(super) fn remote_error(err: RemoteError) -> CliError {
    let code = match &err {
        RemoteError::Api { name, status, .. } => {
            name.parse::<ErrorCode>().unwrap_or(match status {
                400 | 413 | 415 | 422 => ErrorCode::InvalidInput,
                500.. => ErrorCode::Internal,
                _ => ErrorCode::AccessDenied,
            })
        }
        RemoteError::Profile(_) => ErrorCode::InvalidInput,
        RemoteError::Transport(_) => ErrorCode::Internal,
    };
    CliError::new(code, err.to_string())
}

/// Opens the client a profile names.
///
/// # Errors
/// An unreadable profile (exit 2).
pub(super) fn connect(profile: &Path) -> Result<Client, CliError> {
    let profile = ClientProfile::load(profile).map_err(|e| CliError::usage(e.to_string()))?;
    Client::new(&profile).map_err(remote_error)
}
