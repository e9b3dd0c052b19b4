//! The options every command that opens a deployment shares.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::deployment::{
    Deployment, DeploymentError, PASSPHRASE_ENV, PIN_ENV, STORE_FILE, TokenChoice,
};
use crate::keys::{Caller, KeyService};
use crate::sandbox::Role;
use crate::store::SqliteStore;
use crate::token::{KdfCost, Pkcs11Config};

/// Where the deployment is and which token it uses. Secrets (PIN, passphrase) come from a
/// file or the environment, never from the command line.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// Data directory: store, policies, compiled policies, soft token.
    #[arg(long, env = "KASTELL_DATA_DIR")]
    pub data_dir: PathBuf,
    /// PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so); without it the built-in
    /// soft token in the data directory holds the keys.
    #[arg(long, env = "KASTELL_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token (required with --pkcs11-module).
    #[arg(long, env = "KASTELL_TOKEN_LABEL")]
    pub token_label: Option<String>,
    /// File whose first line is the PKCS#11 user PIN, or the soft token's passphrase
    /// (otherwise read from KASTELL_PIN or KASTELL_SOFT_TOKEN_PASSPHRASE).
    #[arg(long, env = "KASTELL_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

impl DeploymentArgs {
    /// The deployment these options name.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the token options are incomplete or no secret is given.
    pub fn deployment(&self) -> Result<Deployment, CliError> {
        let file = self.secret_file.as_deref();
        let token = match (&self.pkcs11_module, &self.token_label) {
            (Some(module), Some(label)) => TokenChoice::Pkcs11(Pkcs11Config {
                module: module.clone(),
                token_label: label.clone(),
                pin: Pkcs11Config::read_pin(file, PIN_ENV)
                    .map_err(|e| CliError::Usage(e.to_string()))?,
            }),
            (Some(_), None) => {
                return Err(CliError::Usage(
                    "--pkcs11-module needs --token-label (tokens are found by label)".into(),
                ));
            }
            (None, _) => TokenChoice::Soft {
                passphrase: Pkcs11Config::read_pin(file, PASSPHRASE_ENV).map_err(|_| {
                    CliError::Usage(format!(
                        "the soft token needs a passphrase: set {PASSPHRASE_ENV} or give \
                         --secret-file (or configure a PKCS#11 token)"
                    ))
                })?,
                cost: KdfCost::Strong,
            },
        };
        Ok(Deployment {
            data_dir: self.data_dir.clone(),
            token,
        })
    }

    /// Opens the deployment's key service.
    ///
    /// # Errors
    /// As [`DeploymentArgs::deployment`], and [`CliError::Internal`] when a part fails.
    pub fn open(&self) -> Result<KeyService, CliError> {
        self.deployment()?.open().map_err(deployment_error)
    }
}

/// The store of an existing deployment, opened without the token (auditors reading the
/// trail need no PIN). A missing store is an error, not a new empty one.
pub(super) fn existing_store(args: &DeploymentArgs) -> Result<SqliteStore, CliError> {
    let path = args.data_dir.join(STORE_FILE);
    if !path.is_file() {
        return Err(CliError::Usage(format!(
            "no Kastell store at {} (is --data-dir right?)",
            path.display()
        )));
    }
    SqliteStore::open(&path).map_err(|e| CliError::Internal(e.to_string()))
}

/// Maps a deployment failure to an exit code: a wrong passphrase or PIN, or a missing
/// token, is the operator's to fix (2); anything else is internal (3).
pub(super) fn deployment_error(err: DeploymentError) -> CliError {
    match err {
        DeploymentError::Token(
            e @ (crate::token::TokenError::Locked(_)
            | crate::token::TokenError::TokenNotFound(_)
            | crate::token::TokenError::Config(_)),
        ) => CliError::Usage(e.to_string()),
        other => CliError::Internal(other.to_string()),
    }
}

/// The local operator acting in one role. The `kastell` command runs with the token's
/// authority (it holds the PIN or passphrase); it still takes one role per command, so an
/// administrative command cannot use keys and the reverse, and every call is audited as
/// `cli:<user>`.
pub(super) fn operator(role: Role, tenant: Option<String>) -> Caller {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Caller {
        id: format!("cli:{user}"),
        roles: vec![role],
        tenant,
    }
}
