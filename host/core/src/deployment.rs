//! A deployment on disk: the data directory (SQLite store unless a PostgreSQL database
//! holds the state, policy registry, compiled policies, and the soft token's file when no
//! PKCS#11 module is configured) and the token that holds the master keys. [`Deployment::open`] assembles a ready
//! [`KeyService`]: the `kastell` command and the server both start here.
//!
//! The host trusts what the data directory holds (compiled artifacts are native code it
//! loads), so a deployment opens only when no one but its owner can change it: the
//! directory, the store, the soft token and the folders of components and artifacts must
//! not be writable by group or others ([`check_data_dir`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use crate::crypto::AwsLc;
use crate::keys::{KeyError, KeyService, ServiceKeys};
use crate::registry::{PolicyRegistry, RegistryError};
use crate::sandbox::{ArtifactKey, Sandbox, SandboxLimits};
use crate::store::{PostgresOptions, PostgresStore, SqliteStore, Store, StoreError};
use crate::token::{KdfCost, Pkcs11Config, Pkcs11Token, SoftToken, Token, TokenError};

/// File name of the store inside the data directory.
pub const STORE_FILE: &str = "kastell.db";
/// File name of the audit anchor inside the data directory: the newest signed audit
/// checkpoint, kept outside the store (one JSON line, as `kastell audit checkpoints`).
pub const AUDIT_ANCHOR_FILE: &str = "audit-anchor.jsonl";
/// File name of the built-in soft token inside the data directory.
pub const SOFT_TOKEN_FILE: &str = "soft-token.kst";
/// Folder of compiled artifacts inside the data directory.
pub const COMPILED_DIR: &str = "compiled";
/// Folder of stored policy components inside the data directory.
pub const POLICIES_DIR: &str = "policies";
/// Folder of stored workload components inside the data directory.
pub const WORKLOADS_DIR: &str = "workloads";
/// Environment variable holding the PKCS#11 user PIN (when no PIN file is given).
pub const PIN_ENV: &str = "KASTELL_PIN";
/// Environment variable holding the soft token's passphrase (when no file is given).
pub const PASSPHRASE_ENV: &str = "KASTELL_SOFT_TOKEN_PASSPHRASE";
/// Environment variable holding the PostgreSQL store's password (when no
/// `[store] password_file` is given).
pub const STORE_PASSWORD_ENV: &str = "KASTELL_STORE_PASSWORD";

/// Where the deployment's state lives.
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// The SQLite file `<data dir>/kastell.db` (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database, which several hosts may share.
    Postgres(Box<PostgresOptions>),
}

/// Which token holds the master keys.
#[derive(Debug)]
pub enum TokenChoice {
    /// The built-in soft token: `<data dir>/soft-token.kst`, sealed under a passphrase,
    /// created on first use.
    Soft {
        /// The passphrase.
        passphrase: SecretString,
        /// Argon2id cost when the file is created.
        cost: KdfCost,
    },
    /// A PKCS#11 module and token.
    Pkcs11(Pkcs11Config),
}

/// Why a deployment could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder of the deployment is writable by its group or by others: whoever
    /// can write it can change keys, the audit trail or the code the host loads.
    #[error(
        "{what} {path} is writable by its group or by others (mode {mode:04o}); Kastell \
         refuses to run on files someone else can change: `chmod go-w {path}`"
    )]
    WritableByOthers {
        /// What it is: "data directory", "store", "soft token", …
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The store failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token failed to open or to provide the service keys.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The policy registry failed to open.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The sandbox could not be built.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The service keys could not be created, or the deletion sweep failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// Where a deployment lives and which token it uses.
#[derive(Debug)]
pub struct Deployment {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The token.
    pub token: TokenChoice,
    /// The store.
    pub store: StoreChoice,
}

impl Deployment {
    /// Opens the token only (for commands that need nothing else).
    ///
    /// # Errors
    /// [`DeploymentError::Token`] or [`DeploymentError::DataDir`].
    pub fn open_token(&self) -> Result<Arc<dyn Token>, DeploymentError> {
        self.ensure_data_dir()?;
        Ok(match &self.token {
            TokenChoice::Soft { passphrase, cost } => Arc::new(SoftToken::open_or_create(
                &self.data_dir.join(SOFT_TOKEN_FILE),
                passphrase,
                *cost,
            )?),
            TokenChoice::Pkcs11(config) => Arc::new(Pkcs11Token::open(config)?),
        })
    }

    /// Opens the store only (for auditors who verify with an exported public key).
    ///
    /// # Errors
    /// [`DeploymentError::Store`] or [`DeploymentError::DataDir`].
    pub fn open_store(&self) -> Result<Arc<dyn Store>, DeploymentError> {
        self.ensure_data_dir()?;
        Ok(match &self.store {
            StoreChoice::Sqlite => Arc::new(SqliteStore::open(&self.data_dir.join(STORE_FILE))?),
            StoreChoice::Postgres(options) => Arc::new(PostgresStore::open(options)?),
        })
    }

    /// Opens everything, creates the service keys on the token when missing, and destroys
    /// keys whose deletion window has ended.
    ///
    /// # Errors
    /// The first part that fails, named.
    pub fn open(&self) -> Result<KeyService, DeploymentError> {
        self.open_with_limits(SandboxLimits::default())
    }

    /// [`Deployment::open`] with these sandbox limits (the `[workloads]` settings).
    ///
    /// # Errors
    /// As [`Deployment::open`].
    pub fn open_with_limits(&self, limits: SandboxLimits) -> Result<KeyService, DeploymentError> {
        let store = self.open_store()?;
        let token = self.open_token()?;
        let keys = ServiceKeys::default();
        let artifact_key = ArtifactKey::new(Arc::clone(&token), keys.artifact_mac.clone());
        let sandbox = Sandbox::new(limits)
            .and_then(|s| s.with_artifact_dir(&self.data_dir.join(COMPILED_DIR), artifact_key))
            .map_err(|e| DeploymentError::Sandbox(e.to_string()))?;
        let policies = PolicyRegistry::open(Arc::clone(&store), &self.data_dir.join(POLICIES_DIR))?;
        let service = KeyService::new(
            store,
            token,
            Arc::new(AwsLc),
            Arc::new(sandbox),
            policies,
            keys,
        )
        .with_audit_anchor(crate::keys::anchor_path(&self.data_dir));
        service.ensure_service_keys()?;
        service.destroy_due(crate::keys::unix_now())?;
        Ok(service)
    }

    /// Creates the data directory (mode 0700) when missing, and checks it.
    fn ensure_data_dir(&self) -> Result<(), DeploymentError> {
        create_private_dir(&self.data_dir).map_err(|source| DeploymentError::DataDir {
            path: self.data_dir.clone(),
            source,
        })?;
        check_data_dir(&self.data_dir)
    }
}

/// Refuses a data directory that its group or others may write, or that holds a store,
/// soft token (or its lock file), CA folder, or folder of components or compiled artifacts
/// they may write. What is missing is not checked (it is created private).
///
/// # Errors
/// [`DeploymentError::WritableByOthers`] naming the first such path and its mode;
/// [`DeploymentError::DataDir`] when a mode cannot be read.
pub fn check_data_dir(data_dir: &Path) -> Result<(), DeploymentError> {
    let token = data_dir.join(SOFT_TOKEN_FILE);
    let trusted = [
        ("data directory", data_dir.to_path_buf()),
        ("store", data_dir.join(STORE_FILE)),
        ("audit anchor", data_dir.join(AUDIT_ANCHOR_FILE)),
        ("soft token lock", SoftToken::lock_file(&token)),
        ("soft token", token),
        ("compiled artifacts folder", data_dir.join(COMPILED_DIR)),
        ("policies folder", data_dir.join(POLICIES_DIR)),
        ("workloads folder", data_dir.join(WORKLOADS_DIR)),
        ("CA folder", data_dir.join(crate::ca::CA_DIR)),
    ];
    for (what, path) in trusted {
        match writable_by_others(&path) {
            Ok(None) => {}
            Ok(Some(mode)) => return Err(DeploymentError::WritableByOthers { what, path, mode }),
            Err(source) => return Err(DeploymentError::DataDir { path, source }),
        }
    }
    Ok(())
}

use crate::files::{create_private_dir, writable_by_others};
