//! Compiled components cached on disk by the SHA-384 of their source bytes, so that a
//! policy is compiled once and deserialized afterwards (also across restarts).
//!
//! File layout: `<dir>/<96 hex>.cwasm` = `MAGIC` ‖ tag ‖ artifact, where the tag is
//! HMAC-SHA-384 under the token-held artifact key ([`ArtifactKey`]) of
//! `DOMAIN ‖ measurement ‖ SHA-384(artifact)`. A compiled artifact is native code that
//! runs in the host's process, so only the host that holds the token can make one that
//! loads: someone who can write the data directory but cannot use the token cannot plant
//! one, nor move one compiled for another policy under this policy's name. Any file whose
//! tag does not match (a forgery, another policy's artifact, a file of the unauthenticated
//! format older versions wrote, damage) is reported — and audited by the caller — and the
//! policy is compiled again from its source.
#![expect(
    unsafe_code,
    reason = "Component::deserialize of artifacts this host compiled"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kastell_attest::Measurement;
use sha2::{Digest as _, Sha384};
use subtle::ConstantTimeEq as _;
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use crate::token::Token;

const MAGIC: &[u8; 8] = b"KSTLCWA2";
/// The magic of the unauthenticated format (an unkeyed SHA-384 seal) older versions wrote.
const MAGIC_UNKEYED: &[u8; 8] = b"KSTLCWA1";
const TAG_LEN: usize = 48;
/// Domain separation of the artifact tags from every other use of a token MAC.
const DOMAIN: &[u8] = b"kastell compiled artifact v2\0";

/// The token-held HMAC-SHA-384 key that authenticates compiled artifacts.
#[derive(Clone)]
pub struct ArtifactKey {
    token: Arc<dyn Token>,
    label: String,
}

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl ArtifactKey {
    /// The HMAC-SHA-384 key `label` on `token` (the service key
    /// [`ServiceKeys::artifact_mac`](crate::keys::ServiceKeys::artifact_mac)).
    #[must_use]
    pub fn new(token: Arc<dyn Token>, label: impl Into<String>) -> Self {
        Self {
            token,
            label: label.into(),
        }
    }

    fn tag(&self, measurement: &Measurement, artifact: &[u8]) -> Result<[u8; TAG_LEN], String> {
        let digest = Sha384::digest(artifact);
        let mut message = Vec::with_capacity(DOMAIN.len() + 2 * TAG_LEN);
        message.extend_from_slice(DOMAIN);
        message.extend_from_slice(measurement.as_bytes());
        message.extend_from_slice(&digest);
        self.token
            .mac(&self.label, &message)
            .map_err(|e| format!("cannot compute the artifact tag with `{}`: {e}", self.label))
    }
}

/// A cached artifact that was there but was not used: why, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRejection {
    /// The policy the artifact claimed to be.
    pub measurement: Measurement,
    /// What was wrong with it.
    pub reason: String,
}

/// What the cache had for a measurement.
pub(crate) enum Cached {
    /// An authenticated artifact, deserialized.
    Hit(Component),
    /// Nothing usable that calls for attention: no file, or an authentic artifact this
    /// wasmtime no longer reads (an upgrade).
    Miss,
    /// A file that failed authentication (or could not be checked): compile instead, and
    /// audit it.
    Rejected(String),
}

/// A directory of compiled components.
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: ArtifactKey,
}

impl ArtifactCache {
    /// Opens the cache directory (created with mode 0700 when missing).
    pub(crate) fn open(dir: &Path, key: ArtifactKey) -> std::io::Result<Self> {
        crate::files::create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    fn path(&self, measurement: &Measurement) -> PathBuf {
        self.dir.join(format!("{}.cwasm", measurement.to_hex()))
    }

    /// The cached component for `measurement`, if an authentic artifact is there.
    pub(crate) fn load(&self, engine: &Engine, measurement: &Measurement) -> Cached {
        let path = self.path(measurement);
        let file = match fs::read(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Cached::Miss,
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot read compiled artifact");
                return Cached::Miss;
            }
        };
        let artifact = match self.authentic_artifact(&file, measurement) {
            Ok(artifact) => artifact,
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "compiled artifact rejected; recompiling");
                return Cached::Rejected(reason);
            }
        };
        if Engine::detect_precompiled(artifact) != Some(Precompiled::Component) {
            let reason = "authentic but not a compiled component".to_owned();
            tracing::warn!(path = %path.display(), %reason, "compiled artifact rejected; recompiling");
            return Cached::Rejected(reason);
        }
        // SAFETY: `deserialize` trusts its input to be an artifact produced by wasmtime.
        // These bytes carry a tag that only the token's artifact key computes, over this
        // measurement and the artifact's SHA-384, checked just above: they are the bytes
        // `store` below wrote from `Component::serialize` for this policy on a host holding
        // the token. `detect_precompiled` confirmed the format, and wasmtime itself refuses
        // artifacts from another version or engine configuration.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Cached::Hit(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "stale compiled artifact; recompiling");
                Cached::Miss
            }
        }
    }

    /// The artifact inside `file` if its tag is this measurement's under the token's key.
    fn authentic_artifact<'a>(
        &self,
        file: &'a [u8],
        measurement: &Measurement,
    ) -> Result<&'a [u8], String> {
        if file.starts_with(MAGIC_UNKEYED) {
            return Err("unauthenticated artifact format (KSTLCWA1, sealed without a key)".into());
        }
        let rest = file
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a Kastell compiled artifact (wrong magic)")?;
        let (tag, artifact) = rest
            .split_first_chunk::<TAG_LEN>()
            .ok_or("truncated compiled artifact")?;
        let expected = self.key.tag(measurement, artifact)?;
        if bool::from(expected.ct_eq(tag)) {
            Ok(artifact)
        } else {
            Err("authentication tag does not match (not written by this deployment's token for this policy)".into())
        }
    }

    /// Writes the compiled form of `component` with its tag, atomically and privately
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
        let tag = self
            .key
            .tag(measurement, &artifact)
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut file = Vec::with_capacity(MAGIC.len() + tag.len() + artifact.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&tag);
        file.extend_from_slice(&artifact);
        crate::files::write_atomic(&self.path(measurement), &file)?;
        Ok(())
    }
}
