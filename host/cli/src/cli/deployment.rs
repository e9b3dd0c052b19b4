//! The options every command that opens a deployment shares.

use kastell_proto::{ErrorCode, Role};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use kastell_core::config::Config;
use kastell_core::deployment::{
    Deployment, DeploymentError, PASSPHRASE_ENV, PIN_ENV, STORE_FILE, STORE_PASSWORD_ENV,
    StoreChoice, TokenChoice,
};
use kastell_core::keys::{Caller, KeyService};
use kastell_core::store::{PostgresOptions, SqliteStore, Store};
use kastell_core::token::{KdfCost, Pkcs11Config};

/// Where the deployment is and which token it uses: flags (or their environment variables)
/// over the configuration file. Secrets (PIN, passphrase) come from a file or the
/// environment, never from the command line.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// Configuration file (TOML; see the README's "Configuration").
    #[arg(long, env = "KASTELL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: store, policies, compiled policies, soft token.
    #[arg(long, env = "KASTELL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
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
    /// The store: a PostgreSQL URL (`postgres://user@host:port/database`, no password:
    /// that comes from `[store] password_file` or KASTELL_STORE_PASSWORD); without it the
    /// SQLite file in the data directory (or the configuration's `[store] url`).
    #[arg(long = "store", env = "KASTELL_STORE_URL", value_name = "URL")]
    pub store_url: Option<String>,
    /// Talk to a Kastell server instead of opening a data directory: the client profile
    /// (`profile.toml`: server URL, root, client certificate and key) to use.
    #[arg(long, env = "KASTELL_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Print JSON: with --profile the server's answer as it came; `init` what it created.
    #[arg(long)]
    pub json: bool,
}

impl DeploymentArgs {
    /// The configuration file's values with these options over them.
    ///
    /// # Errors
    /// [`CliError::usage`] for an unreadable or invalid file, naming the line and key.
    pub fn config(&self) -> Result<Config, CliError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| CliError::usage(e.to_string()))?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(module) = &self.pkcs11_module {
            config.token.pkcs11_module = Some(module.clone());
        }
        if let Some(label) = &self.token_label {
            config.token.label = Some(label.clone());
        }
        if let Some(file) = &self.secret_file {
            config.token.secret_file = Some(file.clone());
        }
        if let Some(url) = &self.store_url {
            config.store.url = Some(url.clone());
        }
        Ok(config)
    }

    /// The data directory.
    ///
    /// # Errors
    /// [`CliError::usage`] when neither a flag, `KASTELL_DATA_DIR` nor the file gives one.
    pub fn data_dir(&self) -> Result<PathBuf, CliError> {
        self.config()?.data_dir.ok_or_else(|| {
            CliError::usage(
                "no data directory: give --data-dir, set KASTELL_DATA_DIR, or set data_dir in \
                 the configuration file",
            )
        })
    }

    /// The deployment these options name.
    ///
    /// # Errors
    /// [`CliError::usage`] when the token options are incomplete or no secret is given.
    pub fn deployment(&self) -> Result<Deployment, CliError> {
        let config = self.config()?;
        config
            .validate("configuration")
            .map_err(|e| CliError::usage(e.to_string()))?;
        let data_dir = self.data_dir()?;
        let file = config.token.secret_file.as_deref();
        let token = match (&config.token.pkcs11_module, &config.token.label) {
            (Some(module), Some(label)) => TokenChoice::Pkcs11(Pkcs11Config {
                module: module.clone(),
                token_label: label.clone(),
                pin: Pkcs11Config::read_pin(file, PIN_ENV)
                    .map_err(|e| CliError::usage(e.to_string()))?,
            }),
            (Some(_), None) => {
                return Err(CliError::usage(
                    "--pkcs11-module needs --token-label (tokens are found by label)",
                ));
            }
            (None, _) => TokenChoice::Soft {
                passphrase: Pkcs11Config::read_pin(file, PASSPHRASE_ENV).map_err(|_| {
                    CliError::usage(format!(
                        "the soft token needs a passphrase: set {PASSPHRASE_ENV} or give \
                         --secret-file (or configure a PKCS#11 token)"
                    ))
                })?,
                cost: KdfCost::Strong,
            },
        };
        Ok(Deployment {
            data_dir,
            token,
            store: store_choice(&config.store)?,
        })
    }

    /// Opens the deployment's key service.
    ///
    /// # Errors
    /// As [`DeploymentArgs::deployment`], and [`CliError::internal`] when a part fails.
    pub fn open(&self) -> Result<KeyService, CliError> {
        let config = self.config()?;
        let mut limits = kastell_core::sandbox::SandboxLimits::default();
        if let Some(fuel) = config.policies.fuel {
            limits.fuel = fuel;
        }
        if let Some(ms) = config.policies.wall_clock_ms {
            limits.wall_clock = std::time::Duration::from_millis(ms);
        }
        if let Some(fuel) = config.workloads.fuel {
            limits.workload_fuel = fuel;
        }
        if let Some(ms) = config.workloads.wall_clock_ms {
            limits.workload_wall_clock = std::time::Duration::from_millis(ms);
        }
        let mut cache = kastell_core::keys::KeyCacheLimits::default();
        if let Some(entries) = config.keys.cache_entries {
            cache.entries = usize::try_from(entries).unwrap_or(usize::MAX);
        }
        if let Some(secs) = config.keys.cache_ttl_secs {
            cache.ttl = std::time::Duration::from_secs(secs);
        }
        let service = self
            .deployment()?
            .open_with_limits(limits)
            .map_err(deployment_error)?
            .with_key_cache(cache)
            // AWS key policies name keys and principals by the `[aws]` region and account.
            .with_aws_names(kastell_core::keys::AwsNames {
                region: config.aws.region().to_owned(),
                account: config.aws.account_id().to_owned(),
            })
            .with_access_key_recheck(config.aws.access_key_recheck());
        Ok(match config.audit.checkpoint_every {
            Some(every) => service.with_checkpoint_every(every),
            None => service,
        })
    }
}

/// The store `[store]` names: SQLite in the data directory, or PostgreSQL with the password
/// from `password_file` or [`STORE_PASSWORD_ENV`] (none when neither is given).
///
/// # Errors
/// [`CliError::usage`] for an unusable URL or an unreadable or empty password file.
pub fn store_choice(config: &kastell_core::config::StoreConfig) -> Result<StoreChoice, CliError> {
    let Some(url) = &config.url else {
        return Ok(StoreChoice::Sqlite);
    };
    let mut options = PostgresOptions::new(url).map_err(|e| CliError::usage(e.to_string()))?;
    let password = match &config.password_file {
        Some(file) => {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the store password file {}: {e}",
                    file.display()
                ))
            })?);
            let line = text.lines().next().unwrap_or_default().trim();
            if line.is_empty() {
                return Err(CliError::usage(format!(
                    "the store password file {} is empty",
                    file.display()
                )));
            }
            Some(secrecy::SecretString::from(line.to_owned()))
        }
        None => std::env::var(STORE_PASSWORD_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(secrecy::SecretString::from),
    };
    if let Some(password) = password {
        options = options.with_password(password);
    }
    if let Some(file) = &config.ca_file {
        options = options.with_ca_file(file.clone());
    }
    if let Some(max) = config.max_connections {
        options = options.with_max_connections(max);
    }
    Ok(StoreChoice::Postgres(Box::new(options)))
}

/// The store of an existing deployment, opened without the token (auditors reading the
/// trail need no PIN). A missing SQLite store is an error, not a new empty one.
pub(super) fn existing_store(args: &DeploymentArgs) -> Result<std::sync::Arc<dyn Store>, CliError> {
    let config = args.config()?;
    if let StoreChoice::Postgres(options) = store_choice(&config.store)? {
        return kastell_core::store::PostgresStore::open(&options)
            .map(|store| std::sync::Arc::new(store) as std::sync::Arc<dyn Store>)
            .map_err(|e| deployment_error(DeploymentError::Store(e)));
    }
    let data_dir = args.data_dir()?;
    check_data_dir(&data_dir)?;
    let path = data_dir.join(STORE_FILE);
    if !path.is_file() {
        return Err(CliError::usage(format!(
            "no Kastell store at {} (is --data-dir right?)",
            path.display()
        )));
    }
    SqliteStore::open(&path)
        .map(|store| std::sync::Arc::new(store) as std::sync::Arc<dyn Store>)
        .map_err(|e| CliError::internal(e.to_string()))
}

/// Maps a deployment failure to an exit code: a wrong passphrase or PIN, or a missing
/// token, is the operator's to fix (2); a file others may write is refused by name
/// ([`ErrorCode::InsecurePermissions`], 3); anything else is internal (3).
pub(super) fn deployment_error(err: DeploymentError) -> CliError {
    match err {
        DeploymentError::Token(
            e @ (kastell_core::token::TokenError::Locked(_)
            | kastell_core::token::TokenError::TokenNotFound(_)
            | kastell_core::token::TokenError::Config(_)),
        ) => CliError::usage(e.to_string()),
        // The store's URL, TLS anchors or credentials are the operator's to fix.
        DeploymentError::Store(
            e @ (kastell_core::store::StoreError::Config(_)
            | kastell_core::store::StoreError::Credentials(_)),
        ) => CliError::usage(e.to_string()),
        e @ DeploymentError::WritableByOthers { .. } => {
            let code = ErrorCode::InsecurePermissions;
            CliError::new(code, format!("{code}: {e}"))
        }
        other => CliError::internal(other.to_string()),
    }
}

/// Refuses a data directory whose trusted files or folders others may write
/// ([`kastell_core::deployment::check_data_dir`]), for commands that use it without
/// opening the deployment.
///
/// # Errors
/// As [`deployment_error`].
pub(super) fn check_data_dir(data_dir: &std::path::Path) -> Result<(), CliError> {
    kastell_core::deployment::check_data_dir(data_dir).map_err(deployment_error)
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
        evidence: None,
    }
}
