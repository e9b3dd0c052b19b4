//! The policy and workload registries: validated components stored content-addressed by
//! the SHA-384 of their exact bytes (`<dir>/<96 hex>.wasm`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kastell_attest::Measurement;

use crate::sandbox::{LoadError, Policy, Sandbox, Workload};

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
    /// A stored file's bytes do not hash to its name (damage or tampering).
    #[error("stored component {path} does not hash to its name; refusing it")]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
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

    /// Stores validated `bytes` under `measurement` (once), durably and atomically.
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

/// A directory of validated policy components.
#[derive(Debug, Clone)]
pub struct PolicyRegistry {
    dir: ComponentDir,
}

impl PolicyRegistry {
    /// Opens (and creates) the registry directory.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when it cannot be created.
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            dir: ComponentDir::open(dir)?,
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
    /// [`RegistryError::Io`] when the directory cannot be read.
    pub fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        self.dir.list()
    }
}

/// A directory of validated workload components (`<dir>/<96 hex>.wasm`).
#[derive(Debug, Clone)]
pub struct WorkloadRegistry {
    dir: ComponentDir,
}

impl WorkloadRegistry {
    /// Opens (and creates) the registry directory.
    ///
    /// # Errors
    /// [`RegistryError::Io`] when it cannot be created.
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        Ok(Self {
            dir: ComponentDir::open(dir)?,
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
    /// [`RegistryError::Io`] when the directory cannot be read.
    pub fn list(&self) -> Result<Vec<Measurement>, RegistryError> {
        self.dir.list()
    }
}
