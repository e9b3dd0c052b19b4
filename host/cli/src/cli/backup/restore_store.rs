//! `kastell backup restore --store URL`: the restore is made on the data directory's SQLite
//! file, then copied into an empty PostgreSQL database (`kastell store copy`, the trail
//! verified on both sides, checkpoint signatures with the backup's audit key) and the
//! restored configuration pointed at it.

use std::path::{Path, PathBuf};

use kastell_core::crypto::{AwsLc, CryptoProvider as _};
use kastell_core::deployment::STORE_FILE;
use kastell_core::store::copy::{self, CopyReport, StoreLocation};

use super::super::CliError;
use super::super::store::{Rows, copy_error, location};

/// Where `--store` puts the restored store.
#[derive(Debug)]
pub(super) struct Target {
    /// The PostgreSQL URL.
    pub(super) url: String,
    /// Its password file, written into the configuration.
    pub(super) password_file: Option<PathBuf>,
}

impl Target {
    /// The database, checked before anything is restored.
    pub(super) fn location(&self) -> Result<(StoreLocation, &Self), CliError> {
        let parsed = location(&self.url, self.password_file.as_deref(), None, "--store")?;
        if matches!(parsed, StoreLocation::Sqlite(_)) {
            return Err(CliError::usage(
                "--store takes a PostgreSQL URL: without it the store is restored as the data \
                 directory's SQLite file",
            ));
        }
        Ok((parsed, self))
    }
}

/// Copies the restored SQLite store of `data_dir` into `to`, sets `[store]` in its
/// configuration, and removes the SQLite file.
pub(super) fn move_store(
    data_dir: &Path,
    audit_public_pem: &str,
    to: &StoreLocation,
    target: &Target,
    quiet: bool,
) -> Result<CopyReport, CliError> {
    let failed = |e: CliError| {
        e.within(&format!(
            "the backup is restored in {} (SQLite), but copying it to {}",
            data_dir.display(),
            target.url
        ))
    };
    let key: p384::PublicKey =
        p384::pkcs8::DecodePublicKey::from_public_key_pem(audit_public_pem.trim())
            .map_err(|e| failed(CliError::internal(format!("the backup's audit key: {e}"))))?;
    let sec1 = key.to_sec1_bytes();
    let verify = |digest: &[u8; 48], signature: &[u8]| {
        AwsLc
            .p384_verify_digest(&sec1, digest, signature)
            .unwrap_or(false)
    };
    let from = StoreLocation::Sqlite(data_dir.join(STORE_FILE));
    let report = {
        let bar = Rows::new(quiet);
        copy::copy(&from, to, Some(&verify), &bar).map_err(|e| failed(copy_error(e)))?
    };
    let config_path = data_dir.join("kastell.toml");
    let mut config: toml::Table = match std::fs::read_to_string(&config_path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| failed(CliError::internal(format!("kastell.toml: {e}"))))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(failed(CliError::internal(format!("kastell.toml: {e}")))),
    };
    let mut store = toml::Table::new();
    store.insert("url".into(), toml::Value::String(target.url.clone()));
    if let Some(file) = &target.password_file {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        store.insert(
            "password_file".into(),
            toml::Value::String(absolute.display().to_string()),
        );
    }
    config.insert("store".into(), toml::Value::Table(store));
    let text = toml::to_string(&config)
        .map_err(|e| failed(CliError::internal(format!("kastell.toml: {e}"))))?;
    kastell_core::files::write_atomic(&config_path, text.as_bytes())
        .map_err(|e| failed(CliError::internal(format!("kastell.toml: {e}"))))?;
    // The SQLite copy holds the same wrapped keys and trail; the deployment now runs on
    // PostgreSQL and must not be mistaken for one on SQLite.
    for suffix in ["", "-wal", "-shm"] {
        let path = data_dir.join(format!("{STORE_FILE}{suffix}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::internal(format!(
                    "the store is in {} and kastell.toml names it, but {} could not be \
                     removed: {e}",
                    target.url,
                    path.display()
                )));
            }
        }
    }
    Ok(report)
}
