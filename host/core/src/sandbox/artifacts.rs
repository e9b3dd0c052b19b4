//! Compiled components cached on disk by the SHA-384 of their source bytes, so that a
//! policy is compiled once and deserialized afterwards (also across restarts).
//!
//! File layout: `<dir>/<96 hex>.cwasm` = `MAGIC` ‖ SHA-384(measurement ‖ artifact) ‖
//! artifact. The digest catches truncated or corrupted files and artifacts stored under
//! the wrong name before wasmtime reads them. It does not defend against someone who can
//! write the directory: such a person can run code as the host (see the threat model).
#![expect(
    unsafe_code,
    reason = "Component::deserialize of artifacts this host compiled"
)]

use std::fs;
use std::path::{Path, PathBuf};

use kastell_attest::Measurement;
use sha2::{Digest as _, Sha384};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

const MAGIC: &[u8; 8] = b"KSTLCWA1";
const DIGEST_LEN: usize = 48;

/// A directory of compiled components.
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

fn seal_digest(measurement: &Measurement, artifact: &[u8]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sha384::new();
    hasher.update(measurement.as_bytes());
    hasher.update(artifact);
    hasher.finalize().into()
}

impl ArtifactCache {
    /// Opens the cache directory (created with mode 0700 when missing).
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        crate::files::create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, measurement: &Measurement) -> PathBuf {
        self.dir.join(format!("{}.cwasm", measurement.to_hex()))
    }

    /// The cached component for `measurement`, if a sound artifact is there. A damaged
    /// or incompatible artifact is reported and ignored (the caller recompiles).
    pub(crate) fn load(&self, engine: &Engine, measurement: &Measurement) -> Option<Component> {
        let path = self.path(measurement);
        let file = match fs::read(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot read compiled artifact");
                return None;
            }
        };
        let Some(artifact) = verified_artifact(&file, measurement) else {
            tracing::warn!(path = %path.display(), "compiled artifact is damaged; recompiling");
            return None;
        };
        if Engine::detect_precompiled(artifact) != Some(Precompiled::Component) {
            tracing::warn!(path = %path.display(), "artifact is not a compiled component; recompiling");
            return None;
        }
        // SAFETY: `deserialize` trusts its input to be an artifact produced by wasmtime.
        // These bytes were written by `store` below from `Component::serialize` (the digest
        // over measurement and artifact was checked just above, so they are the complete
        // bytes we wrote for this measurement), `detect_precompiled` confirmed the format,
        // and wasmtime itself refuses artifacts from another version or engine config.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "stale compiled artifact; recompiling");
                None
            }
        }
    }

    /// Writes the compiled form of `component` atomically and privately
    /// ([`crate::files::write_atomic`]: temporary file, mode 0600, then rename).
    pub(crate) fn store(&self, measurement: &Measurement, component: &Component) {
        if let Err(err) = self.try_store(measurement, component) {
            tracing::warn!(dir = %self.dir.display(), error = %format!("{err:#}"), "cannot cache compiled policy");
        }
    }

    fn try_store(&self, measurement: &Measurement, component: &Component) -> anyhow::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let digest = seal_digest(measurement, &artifact);
        let mut file = Vec::with_capacity(MAGIC.len() + digest.len() + artifact.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&digest);
        file.extend_from_slice(&artifact);
        crate::files::write_atomic(&self.path(measurement), &file)?;
        Ok(())
    }
}

/// The artifact inside `file`, if its magic and digest are right.
fn verified_artifact<'a>(file: &'a [u8], measurement: &Measurement) -> Option<&'a [u8]> {
    let rest = file.strip_prefix(MAGIC.as_slice())?;
    let (digest, artifact) = rest.split_first_chunk::<DIGEST_LEN>()?;
    (*digest == seal_digest(measurement, artifact)).then_some(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_artifact_rejects_damage_and_wrong_name() {
        let m = Measurement::of(b"component");
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&seal_digest(&m, b"artifact"));
        file.extend_from_slice(b"artifact");
        assert_eq!(verified_artifact(&file, &m), Some(b"artifact".as_slice()));

        let other = Measurement::of(b"other");
        assert_eq!(verified_artifact(&file, &other), None);

        let mut flipped = file.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        assert_eq!(verified_artifact(&flipped, &m), None);
        assert_eq!(verified_artifact(&file[..20], &m), None);
        assert_eq!(verified_artifact(b"garbage", &m), None);
    }
}
