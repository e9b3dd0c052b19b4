//! The policy and workload registries: validated components stored content-addressed by
//! the SHA-384 of their exact bytes, in the store (so every host sharing it serves them;
//! each host compiles its own artifacts). The bytes are checked against their measurement
//! on every read: a row whose bytes do not hash to its name is refused by name.
//!
//! Folders of `<96 hex>.wasm` files (where components lived before, and where the offline
//! `kastell policy add --data-dir` puts them) are imported into the store when the
//! registry opens, and a component missing from the store is looked for there before it
//! is called missing: a file whose bytes do not hash to its name is never imported.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kastell_attest::Measurement;

use crate::sandbox::{LoadError, Policy, Sandbox, Workload};
use crate::store::{ComponentKind, Store, StoreError};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The component was refused (bad input).
    #[error(transparent)]
    Invalid(#[from] LoadError),
    /// No component with this measurement is stored.
    #[error("no component {0} in the registry")]
    NotFound(Measurement),
    /// A stored component's bytes do not hash to its name (damage or tampering).
    #[error("stored component {path} does not hash to its name; refusing it")]
    Corrupt {
        /// The file, or the store's row (`store:<kind>/<measurement>`).
        path: PathBuf,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory of components stored by measurement.
#[derive(Debug, Clone)]
struct ComponentDir {
    dir: PathBuf,
}

impl ComponentDir {
    fn open(dir: &Path) -> Result<Self, RegistryError> {
        crate::files::create_private_dir(dir).map_err(io(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, measurement: &Measurement) -> PathBuf {
        self.dir.join(format!("{}.wasm", measurement.to_hex()))
    }

    /// Stores validated `bytes` under `measurement` (once), durably and atomically (the
    /// offline `kastell policy add --data-dir`, imported by the next host to open).
    fn store(&self, measurement: &Measurement, bytes: &[u8]) -> Result<(), RegistryError> {
        let path = self.path(measurement);
        if path.exists() {
            return Ok(());
        }
        crate::files::write_atomic(&path, bytes).map_err(io(&path))
    }

    fn get(&self, measurement: &Measurement) -> Result<Vec<u8>, RegistryError> {
        let path = self.path(measurement);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NotFound(*measurement));
            }
            Err(err) => return Err(io(&path)(err)),
        };
        if Measurement::of(&bytes) != *measurement {
            return Err(RegistryError::Corrupt { path });
        }
        Ok(bytes)
    }

    fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let name = entry.map_err(io(&self.dir))?.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".wasm")) else {
                continue;
            };
            if let Ok(measurement) = format!("sha384:{hex}").parse() {
                found.push(measurement);
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Components of one kind in the store, with the folder of files imported into it.
#[derive(Debug, Clone)]
struct Stored {
    kind: ComponentKind,
    store: Arc<dyn Store>,
    dir: ComponentDir,
}

impl Stored {
    /// Opens `dir` (created when missing) and imports its files into the store.
    fn open(kind: ComponentKind, store: Arc<dyn Store>, dir: &Path) -> Result<Self, RegistryError> {
        let this = Self {
            kind,
            store,
            dir: ComponentDir::open(dir)?,
        };
        let mut imported = 0usize;
        for measurement in this.dir.list()? {
            match this.dir.get(&measurement) {
                Ok(bytes) => {
                    if this.store.add_component(kind, &measurement, &bytes)? {
                        imported += 1;
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "component file not imported into the store");
                }
            }
        }
        if imported > 0 {
            tracing::info!(
                imported,
                kind = kind.as_str(),
                dir = %dir.display(),
                "component files imported into the store"
            );
        }
        Ok(this)
    }

    fn store(&self, measurement: &Measurement, bytes: &[u8]) -> Result<(), RegistryError> {
        self.store.add_component(self.kind, measurement, bytes)?;
        Ok(())
    }

    /// The bytes of `measurement`, from the store (or imported from the folder), checked.
    fn get(&self, measurement: &Measurement) -> Result<Vec<u8>, RegistryError> {
        match self.store.component(self.kind, measurement)? {
            Some(bytes) if Measurement::of(&bytes) == *measurement => Ok(bytes),
            Some(_) => Err(RegistryError::Corrupt {
                path: PathBuf::from(format!(
                    "store:{}/{}",
                    self.kind.as_str(),
                    measurement.to_hex()
                )),
            }),
            None => {
                let bytes = self.dir.get(measurement)?;
                self.store.add_component(self.kind, measurement, &bytes)?;
                Ok(bytes)
            }
        }
    }

    fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        Ok(self.store.components(self.kind)?)
    }
}

/// The validated policy components.
#[derive(Debug, Clone)]
pub struct PolicyRegistry {
    dir: Stored,
}

impl PolicyRegistry {
    /// The policies in `store`, after importing the files of `dir` (created when missing)
    /// into it.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when the folder cannot be created or read,
    /// [`RegistryError::Store`] when the store fails.
    pub fn open(store: Arc<dyn Store>, dir: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            dir: Stored::open(ComponentKind::Policy, store, dir)?,
        })
    }

    /// Validates `bytes` as a policy and stores them; returns their measurement. Adding
    /// the same bytes twice stores them once.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a refused component, [`RegistryError::Io`] when
    /// the write fails (nothing partial is left under the final name).
    pub fn add(&self, sandbox: &Sandbox, bytes: &[u8]) -> Result<Measurement, RegistryError> {
        let measurement = sandbox.load_policy(bytes)?.measurement();
        self.dir.store(&measurement, bytes)?;
        Ok(measurement)
    }

    /// The stored bytes of a policy, checked against its measurement.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::Corrupt`] or [`RegistryError::Io`].
    pub fn get(&self, measurement: &Measurement) -> Result<Vec<u8>, RegistryError> {
        self.dir.get(measurement)
    }

    /// Loads a stored policy into `sandbox`; a policy the sandbox already holds is returned
    /// without reading or hashing the file again (the hot path of every key operation).
    ///
    /// # Errors
    /// As [`PolicyRegistry::get`], and [`RegistryError::Invalid`] if the stored component
    /// no longer passes validation (e.g. limits were lowered).
    pub fn load(
        &self,
        sandbox: &Sandbox,
        measurement: &Measurement,
    ) -> Result<Arc<Policy>, RegistryError> {
        if let Some(policy) = sandbox.loaded_policy(measurement) {
            return Ok(policy);
        }
        Ok(sandbox.load_policy(&self.get(measurement)?)?)
    }

    /// The measurements of all stored policies, sorted.
    ///
    /// # Errors
    /// [`RegistryError::Store`] when the store fails.
    pub fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        self.dir.list()
    }
}

/// A folder of policy files, for the offline `kastell policy add --data-dir` (no store
/// open): the next host to open the deployment imports them into its store.
#[derive(Debug, Clone)]
pub struct PolicyFolder {
    dir: ComponentDir,
}

impl PolicyFolder {
    /// Opens (and creates) the folder.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when it cannot be created.
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            dir: ComponentDir::open(dir)?,
        })
    }

    /// Validates `bytes` as a policy and writes them to the folder; their measurement.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a refused component, [`RegistryError::Io`] when
    /// the write fails.
    pub fn add(&self, sandbox: &Sandbox, bytes: &[u8]) -> Result<Measurement, RegistryError> {
        let measurement = sandbox.load_policy(bytes)?.measurement();
        self.dir.store(&measurement, bytes)?;
        Ok(measurement)
    }

    /// The measurements of the policy files in the folder, sorted.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when the folder cannot be read.
    pub fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        self.dir.list()
    }
}

/// The validated workload components.
#[derive(Debug, Clone)]
pub struct WorkloadRegistry {
    dir: Stored,
}

impl WorkloadRegistry {
    /// The workloads in `store`, after importing the files of `dir` (created when
    /// missing) into it.
    ///
    /// # Errors
    /// As [`PolicyRegistry::open`].
    pub fn open(store: Arc<dyn Store>, dir: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            dir: Stored::open(ComponentKind::Workload, store, dir)?,
        })
    }

    /// Validates `bytes` as a workload and stores them; returns their measurement.
    ///
    /// # Errors
    /// As [`PolicyRegistry::add`].
    pub fn add(&self, sandbox: &Sandbox, bytes: &[u8]) -> Result<Measurement, RegistryError> {
        let measurement = sandbox.load_workload(bytes)?.measurement();
        self.dir.store(&measurement, bytes)?;
        Ok(measurement)
    }

    /// Loads a stored workload into `sandbox` (no disk read when already loaded).
    ///
    /// # Errors
    /// As [`PolicyRegistry::load`].
    pub fn load(
        &self,
        sandbox: &Sandbox,
        measurement: &Measurement,
    ) -> Result<Arc<Workload>, RegistryError> {
        if let Some(workload) = sandbox.loaded_workload(measurement) {
            return Ok(workload);
        }
        Ok(sandbox.load_workload(&self.dir.get(measurement)?)?)
    }

    /// The measurements of all stored workloads, sorted.
    ///
    /// # Errors
    /// [`RegistryError::Store`] when the store fails.
    pub fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        self.dir.list()
    }
}
