//! Key operations: every one resolves the key, checks role, state and usage, evaluates the
//! key's bound policy in the sandbox, performs the crypto, and appends an audit record
//! before returning (no record, no result).

use kastell_proto::Origin;
use kastell_proto::{KeySpec, Role};
use std::sync::Arc;

use kastell_attest::Measurement;

use super::KeyRecord;
use super::cache::{KeyCache, KeyCacheLimits};
pub use super::error::KeyError;
use crate::crypto::{CryptoProvider, PreparedKey};
use crate::registry::{PolicyRegistry, RegistryError};
use crate::sandbox::{Evidence, Sandbox};
use crate::store::Store;
use crate::token::{Token, TokenError, TokenKeyKind};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Stable id (certificate common name).
    pub id: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Tenant, if any.
    pub tenant: Option<String>,
    /// Attestation evidence the host verified for the guest acting for this principal: a
    /// workload's own measurement for its key calls, or the attestation presented for a
    /// key release. Policies see it; audit records name its guest. `None` for direct API
    /// and command-line callers.
    pub evidence: Option<Evidence>,
}

/// Labels of the service's own token keys.
#[derive(Debug, Clone)]
pub struct ServiceKeys {
    /// AES-256 master key that wraps host-generated keys.
    pub master: String,
    /// HMAC-SHA-384 key for the audit trail's context HMACs.
    pub audit_hmac: String,
    /// P-384 key that signs audit checkpoints.
    pub audit_signing: String,
    /// HMAC-SHA-384 key that authenticates compiled policy artifacts
    /// ([`crate::sandbox::ArtifactKey`]).
    pub artifact_mac: String,
    /// AES-256 key that seals the secrets of access keys (AWS endpoint).
    pub access_keys: String,
    /// HMAC-SHA-384 key that seals key and alias rows in the store
    /// ([`super::RecordKey`]).
    pub record_mac: String,
}

impl ServiceKeys {
    /// The labels `<prefix>-master`, `<prefix>-audit-hmac`, `<prefix>-audit-signing`,
    /// `<prefix>-artifact-mac`, `<prefix>-access-keys` and `<prefix>-record-mac`.
    #[must_use]
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            master: format!("{prefix}-master"),
            audit_hmac: format!("{prefix}-audit-hmac"),
            audit_signing: format!("{prefix}-audit-signing"),
            artifact_mac: format!("{prefix}-artifact-mac"),
            access_keys: format!("{prefix}-access-keys"),
            record_mac: format!("{prefix}-record-mac"),
        }
    }
}

impl Default for ServiceKeys {
    /// `kastell-master`, `kastell-audit-hmac`, `kastell-audit-signing`,
    /// `kastell-artifact-mac`, `kastell-access-keys`, `kastell-record-mac`.
    fn default() -> Self {
        Self::with_prefix("kastell")
    }
}

/// Audit records between automatic signed checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// Parameters of a new key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Kind of material.
    pub spec: KeySpec,
    /// What it may do (one of [`KeySpec::usages`]); `None`: the spec's default.
    pub usage: Option<kastell_proto::KeyUsage>,
    /// Token-resident or wrapped.
    pub origin: Origin,
    /// Free text.
    pub description: String,
    /// Tags.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Policy to bind (must be in the registry).
    pub policy: Option<Measurement>,
    /// Whether attested guests may get its material (`release`); never with
    /// [`Origin::Token`].
    pub releasable: bool,
}

/// The key service.
pub struct KeyService {
    pub(super) store: Arc<dyn Store>,
    pub(super) token: Arc<dyn Token>,
    pub(super) crypto: Arc<dyn CryptoProvider>,
    pub(super) sandbox: Arc<Sandbox>,
    pub(super) policies: PolicyRegistry,
    pub(super) keys: ServiceKeys,
    pub(super) checkpoint_every: u64,
    pub(super) audit_anchor: Option<std::path::PathBuf>,
    pub(super) metrics: Option<Arc<crate::metrics::Metrics>>,
    pub(super) cache: KeyCache,
    /// Checked key records and aliases (off unless [`KeyService::with_record_cache`]).
    pub(super) records: super::KeyRecordCache,
    pub(super) record_key: super::RecordKey,
    pub(super) verified: super::seal::VerifiedSeals,
    /// The AWS names of keys and principals, for AWS key policies (`[aws]`).
    pub(super) aws: Option<super::AwsNames>,
    pub(super) access_key_rows: super::access_keys::AccessKeyCache,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("token", &self.token.description())
            .field("crypto", &self.crypto.name())
            .finish_non_exhaustive()
    }
}

pub(super) use crate::clock::unix_now_ms as now_ms;
pub use crate::clock::{unix_now, unix_now_ms};

impl KeyService {
    /// A service over these parts. The token must hold (or be able to create) the service
    /// keys; call [`KeyService::ensure_service_keys`] once at start-up.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        token: Arc<dyn Token>,
        crypto: Arc<dyn CryptoProvider>,
        sandbox: Arc<Sandbox>,
        policies: PolicyRegistry,
        keys: ServiceKeys,
    ) -> Self {
        let record_key = super::RecordKey::new(Arc::clone(&token), keys.record_mac.clone());
        Self {
            store,
            token,
            crypto,
            sandbox,
            policies,
            keys,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            audit_anchor: None,
            metrics: None,
            cache: KeyCache::new(KeyCacheLimits::default()),
            records: super::KeyRecordCache::new(false, 0),
            record_key,
            verified: super::seal::VerifiedSeals::new(),
            aws: None,
            access_key_rows: super::access_keys::AccessKeyCache::default(),
        }
    }

    /// Holds unwrapped key versions within `limits` (the default: 10,000 for 5 minutes).
    #[must_use]
    pub fn with_key_cache(mut self, limits: KeyCacheLimits) -> Self {
        self.cache = KeyCache::new(limits);
        self
    }

    /// Holds checked key records and aliases in memory ([`super::KeyRecordCache`], up to
    /// [`super::RECORD_CACHE_ENTRIES`]), so that key operations read no store in the
    /// steady state. Only for a service whose owner applies other processes' changes to
    /// [`KeyService::key_records`] (the server, through the store's change counter and
    /// notices): this service's own changes are applied by itself.
    /// Holds at most `entries` records (and as many aliases); 0 holds none.
    #[must_use]
    pub fn with_record_cache(mut self, entries: usize) -> Self {
        self.records = super::KeyRecordCache::new(true, entries);
        self
    }

    /// The cache of key records and aliases.
    #[must_use]
    pub fn key_records(&self) -> &super::KeyRecordCache {
        &self.records
    }

    /// Forgets everything held about key `id` (its record, its aliases, its unwrapped
    /// versions): it changed, here or on another host.
    pub fn forget_key(&self, id: &kastell_proto::KeyId) {
        self.records.forget_key(id);
        self.cache.forget(id);
    }

    /// The cache of unwrapped key versions (the server purges it periodically).
    #[must_use]
    pub fn key_cache(&self) -> &KeyCache {
        &self.cache
    }

    /// The prepared material of version `number` of `key`, wrapped under this deployment's
    /// master key (never under a key the stored record names): from the cache, or
    /// unwrapped by the token, prepared and cached.
    pub(super) fn prepared(
        &self,
        key: &KeyRecord,
        number: u32,
        wrapped: &[u8],
    ) -> Result<Arc<dyn PreparedKey>, KeyError> {
        if let Some(hit) = self.cache.get(&key.id, number, wrapped) {
            return Ok(hit);
        }
        let kind = super::algorithms::kind_of(key.spec);
        let secret = self.token.unwrap(&self.keys.master, wrapped)?;
        let prepared: Arc<dyn PreparedKey> = Arc::from(
            self.crypto
                .prepare(kind, secret)
                .map_err(TokenError::from)?,
        );
        self.cache
            .insert(&key.id, number, wrapped, Arc::clone(&prepared));
        Ok(prepared)
    }

    /// Reports policy evaluation times and denials to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Signs a checkpoint every `records` audit records (0: only on request, through
    /// [`KeyService::checkpoint`]).
    #[must_use]
    pub fn with_checkpoint_every(mut self, records: u64) -> Self {
        self.checkpoint_every = records;
        self
    }

    /// Keeps the newest signed checkpoint in the file at `path` (the anchor, outside the
    /// store), and requires the store's checkpoint chain to still hold the checkpoint it
    /// names before signing another, at start-up and when verifying: a rollback of the
    /// trail together with its checkpoints is then refused by name.
    #[must_use]
    pub fn with_audit_anchor(mut self, path: std::path::PathBuf) -> Self {
        self.audit_anchor = Some(path);
        self
    }

    /// Creates the master, audit, artifact and record keys on the token when missing.
    ///
    /// When the record key is created here, the store's key and alias rows written before
    /// (by a version of Kastell that did not seal them) are sealed as they are, once, in
    /// one audited transaction (`seal-key-records`); from then on a row without a seal is
    /// refused. The token decides when that happens, not the store: someone who can write
    /// the store cannot bring the upgrade back to have an edited row sealed.
    ///
    /// # Errors
    /// The token's or the store's failure.
    pub fn ensure_service_keys(&self) -> Result<(), KeyError> {
        let record_key_is_new = !self.token.contains(&self.keys.record_mac)?;
        for (label, kind) in [
            (&self.keys.master, TokenKeyKind::Aes256),
            (&self.keys.audit_hmac, TokenKeyKind::HmacSha384),
            (&self.keys.audit_signing, TokenKeyKind::EcP384),
            (&self.keys.artifact_mac, TokenKeyKind::HmacSha384),
            (&self.keys.access_keys, TokenKeyKind::Aes256),
            (&self.keys.record_mac, TokenKeyKind::HmacSha384),
        ] {
            if !self.token.contains(label)? {
                self.token.generate(label, kind)?;
            }
        }
        if record_key_is_new {
            self.seal_unsealed_rows()?;
        }
        Ok(())
    }

    /// The store this service writes to (shared with the quorum and the server).
    #[must_use]
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The token holding the service's keys (and the deployment's CA keys).
    #[must_use]
    pub fn token(&self) -> Arc<dyn Token> {
        Arc::clone(&self.token)
    }

    /// The labels of the service's own token keys.
    #[must_use]
    pub fn service_keys(&self) -> &ServiceKeys {
        &self.keys
    }

    /// The policy registry.
    #[must_use]
    pub fn policies(&self) -> &PolicyRegistry {
        &self.policies
    }

    /// Loads a stored policy into the sandbox (the registry's
    /// [`load`](PolicyRegistry::load)), auditing any compiled artifact refused on the way.
    ///
    /// # Errors
    /// As [`PolicyRegistry::load`].
    pub fn load_policy(
        &self,
        measurement: &Measurement,
    ) -> Result<Arc<crate::sandbox::Policy>, RegistryError> {
        if let Some(policy) = self.sandbox.loaded_policy(measurement) {
            return Ok(policy);
        }
        let loaded = self.policies.load(&self.sandbox, measurement);
        self.audit_artifact_rejections();
        loaded
    }

    /// Validates and stores a policy (the registry's [`add`](PolicyRegistry::add)),
    /// auditing any compiled artifact refused on the way.
    ///
    /// # Errors
    /// As [`PolicyRegistry::add`].
    pub fn add_policy(&self, bytes: &[u8]) -> Result<Measurement, RegistryError> {
        let added = self.policies.add(&self.sandbox, bytes);
        self.audit_artifact_rejections();
        added
    }

    /// Appends one audit record (`reject-compiled-artifact`, denied, by the host, naming
    /// the policy) for each compiled artifact the sandbox refused since the last call. The
    /// policy was compiled afresh instead, so a failure to record is logged, not returned.
    pub fn audit_artifact_rejections(&self) {
        for rejection in self.sandbox.take_artifact_rejections() {
            let mut entry = crate::audit::AuditEntry::event(
                super::SYSTEM_PRINCIPAL,
                "reject-compiled-artifact",
                None,
                crate::audit::Outcome::Denied,
                format!(
                    "compiled artifact refused, policy recompiled: {}",
                    rejection.reason
                ),
            );
            entry.policy = Some(rejection.measurement);
            if let Err(err) = self.record_entry(entry) {
                tracing::error!(policy = %rejection.measurement, error = %err, "cannot audit a refused compiled artifact");
            }
        }
    }

    /// The sandbox policies are checked and evaluated in.
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}
