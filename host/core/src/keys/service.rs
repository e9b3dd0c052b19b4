//! Key operations: every one resolves the key, checks role, state and usage, evaluates the
//! key's bound policy in the sandbox, performs the crypto, and appends an audit record
//! before returning (no record, no result).

use kastell_proto::{EncryptionContext, KeySpec, Operation, Role};
use kastell_proto::{KeyId, KeyUsage, Origin};
use std::sync::Arc;

use kastell_attest::Measurement;
use zeroize::Zeroizing;

use super::cache::{KeyCache, KeyCacheLimits};
pub use super::error::KeyError;
use super::{KeyRecord, KeyState, KeyVersion, Material};
use crate::audit::{AuditEntry, Outcome};
use crate::crypto::{CryptoProvider, KeyKind, PreparedKey};
use crate::registry::PolicyRegistry;
use crate::sandbox::{Evidence, KeyInfo, PolicyRequest, Principal, Sandbox, Verdict};
use crate::secret::SecretBytes;
use crate::store::{Change, Store, StoreError};
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
}

impl ServiceKeys {
    /// The labels `<prefix>-master`, `<prefix>-audit-hmac` and `<prefix>-audit-signing`.
    #[must_use]
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            master: format!("{prefix}-master"),
            audit_hmac: format!("{prefix}-audit-hmac"),
            audit_signing: format!("{prefix}-audit-signing"),
        }
    }
}

impl Default for ServiceKeys {
    /// `kastell-master`, `kastell-audit-hmac`, `kastell-audit-signing`.
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
    pub(super) metrics: Option<Arc<crate::metrics::Metrics>>,
    pub(super) cache: KeyCache,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("token", &self.token.description())
            .field("crypto", &self.crypto.name())
            .finish_non_exhaustive()
    }
}

/// The current Unix time in seconds (the clock of deletion windows).
#[must_use]
pub fn unix_now() -> i64 {
    now_ms() / 1000
}

/// The current Unix time in milliseconds (audit records, quorum expiry).
#[must_use]
pub fn unix_now_ms() -> i64 {
    now_ms()
}

pub(super) fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// The cause label of a refusal in the metrics: `policy`, or the error's kind. (A role
/// refusal is counted as `role` by [`KeyService::refuse_role`].)
fn denial_cause(error: &KeyError) -> &'static str {
    match error {
        KeyError::AccessDenied => "policy",
        KeyError::NotFound(_) => "not-found",
        KeyError::Disabled(_) => "disabled",
        KeyError::InvalidKeyUsage { .. } => "invalid-key-usage",
        KeyError::InvalidCiphertext => "invalid-ciphertext",
        KeyError::IncorrectKey => "incorrect-key",
        KeyError::InvalidState(_) => "invalid-state",
        KeyError::InvalidInput(_) => "invalid-input",
        KeyError::AlreadyExists(_) => "already-exists",
        KeyError::Token(_) | KeyError::Store(_) => "internal",
    }
}

/// What an operation did, for its audit record.
pub(super) struct Record<'a> {
    pub(super) caller: &'a Caller,
    pub(super) operation: Operation,
    pub(super) key: Option<&'a KeyRecord>,
    pub(super) version: Option<u32>,
    pub(super) context: Option<&'a EncryptionContext>,
}

impl<'a> Record<'a> {
    /// A record of `operation` on `key` with no version or context (administration).
    pub(super) fn on(caller: &'a Caller, operation: Operation, key: Option<&'a KeyRecord>) -> Self {
        Self {
            caller,
            operation,
            key,
            version: None,
            context: None,
        }
    }
}

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
        Self {
            store,
            token,
            crypto,
            sandbox,
            policies,
            keys,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            metrics: None,
            cache: KeyCache::new(KeyCacheLimits::default()),
        }
    }

    /// Holds unwrapped key versions within `limits` (the default: 10,000 for 5 minutes).
    #[must_use]
    pub fn with_key_cache(mut self, limits: KeyCacheLimits) -> Self {
        self.cache = KeyCache::new(limits);
        self
    }

    /// The cache of unwrapped key versions (the server purges it periodically).
    #[must_use]
    pub fn key_cache(&self) -> &KeyCache {
        &self.cache
    }

    /// The prepared material of version `number` of `key`, wrapped under `master`: from the
    /// cache, or unwrapped by the token, prepared and cached.
    pub(super) fn prepared(
        &self,
        key: &KeyRecord,
        number: u32,
        master: &str,
        wrapped: &[u8],
    ) -> Result<Arc<dyn PreparedKey>, KeyError> {
        if let Some(hit) = self.cache.get(&key.id, number, wrapped) {
            return Ok(hit);
        }
        let kind = match key.spec {
            KeySpec::Aes256 => KeyKind::Aes256,
            KeySpec::EccNistP384 => KeyKind::P384,
            KeySpec::HmacSha384 => KeyKind::HmacSha384,
        };
        let secret = self.token.unwrap(master, wrapped)?;
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

    /// Creates the master and audit keys on the token when missing.
    ///
    /// # Errors
    /// The token's failure.
    pub fn ensure_service_keys(&self) -> Result<(), KeyError> {
        for (label, kind) in [
            (&self.keys.master, TokenKeyKind::Aes256),
            (&self.keys.audit_hmac, TokenKeyKind::HmacSha384),
            (&self.keys.audit_signing, TokenKeyKind::EcP384),
        ] {
            if !self.token.contains(label)? {
                self.token.generate(label, kind)?;
            }
        }
        Ok(())
    }

    /// The audit entry describing `record`.
    fn audit_entry(
        &self,
        record: &Record<'_>,
        outcome: Outcome,
        reason: String,
    ) -> Result<AuditEntry, KeyError> {
        let context_hmac = match record.context {
            Some(context) if !context.0.is_empty() => Some(
                self.token
                    .mac(&self.keys.audit_hmac, &context.canonical())?,
            ),
            _ => None,
        };
        tracing::debug!(
            principal = %record.caller.id,
            operation = record.operation.as_str(),
            key = ?record.key.map(|k| k.id.to_string()),
            version = ?record.version,
            outcome = outcome.as_str(),
            reason = %reason,
            "key operation"
        );
        Ok(AuditEntry {
            time_ms: now_ms(),
            principal: record.caller.id.clone(),
            operation: record.operation.as_str().to_owned(),
            key: record.key.map(|k| k.id),
            key_version: record.version,
            policy: record.key.and_then(|k| k.policy),
            outcome,
            reason,
            context_hmac,
            guest: record.caller.evidence.as_ref().map(|e| e.guest_sha384),
        })
    }

    /// Appends the audit record; the operation's result is returned only if this works
    /// (inside [`defer`](super::defer), only once the caller has settled it).
    pub(super) fn audit(
        &self,
        record: &Record<'_>,
        outcome: Outcome,
        reason: String,
    ) -> Result<(), KeyError> {
        let entry = self.audit_entry(record, outcome, reason)?;
        self.record_outcome(entry)
    }

    /// Appends `entry`, the audit record of an operation's outcome: like
    /// [`KeyService::record_entry`], but inside [`defer`](super::defer) the wait for the
    /// commit (and the checkpoint) is left to whoever settles the operation.
    ///
    /// # Errors
    /// The store (outside a deferral): the operation must then not answer.
    pub fn record_outcome(&self, entry: AuditEntry) -> Result<(), KeyError> {
        if let Err(ticket) = super::deferred::collect(self.store.queue_audit(entry)) {
            let appended = ticket.wait()?;
            self.checkpoint_if_due(appended.seq);
        }
        Ok(())
    }

    /// Commits a change to keys together with its (allowed) audit record, atomically: a
    /// crash leaves neither or both.
    pub(super) fn commit(
        &self,
        change: Change<'_>,
        record: &Record<'_>,
        reason: String,
    ) -> Result<(), KeyError> {
        let entry = self.audit_entry(record, Outcome::Allowed, reason)?;
        // A key whose state changes or that is destroyed leaves the cache once the change
        // is committed (the cache serves only versions the store still holds; this clears
        // their material without waiting for the TTL).
        let leaves_cache = match change {
            Change::UpdateKey(key) => Some(key.id),
            Change::DestroyKey { id, .. } => Some(*id),
            Change::CreateKey { .. } | Change::AddVersion { .. } | Change::SetAlias { .. } => None,
        };
        let appended = match self.store.apply(change, entry) {
            Ok(appended) => appended,
            // Nothing was written: record the refusal instead.
            Err(StoreError::AliasExists(alias)) => {
                let why = format!("alias {alias} already names a key");
                return self.refuse(record, KeyError::AlreadyExists(why.clone()), why);
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(id) = leaves_cache {
            self.cache.forget(&id);
        }
        self.checkpoint_if_due(appended.seq);
        Ok(())
    }

    /// Appends an audit record for an event outside the key operations (policy uploads,
    /// quorum steps, certificate issuance, refusals by the API before any key is touched).
    /// `operation` is kebab-case, like the key operations' names.
    ///
    /// # Errors
    /// The store: the event must then not take effect.
    pub fn record_event(
        &self,
        principal: &str,
        operation: &str,
        key: Option<KeyId>,
        outcome: Outcome,
        reason: String,
    ) -> Result<crate::audit::AuditRecord, KeyError> {
        tracing::debug!(principal, operation, outcome = outcome.as_str(), reason = %reason, "event");
        self.record_entry(AuditEntry::event(
            principal, operation, key, outcome, reason,
        ))
    }

    /// Appends `entry` (an event outside the key operations that names an attested guest:
    /// attestations, workload invocations, refused releases).
    ///
    /// # Errors
    /// The store: the event must then not take effect.
    pub fn record_entry(&self, entry: AuditEntry) -> Result<crate::audit::AuditRecord, KeyError> {
        let appended = self.store.append_audit(entry)?;
        self.checkpoint_if_due(appended.seq);
        Ok(appended)
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

    /// The policy registry.
    #[must_use]
    pub fn policies(&self) -> &PolicyRegistry {
        &self.policies
    }

    /// The sandbox policies are checked and evaluated in.
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Records a refusal and returns `error`.
    pub(super) fn refuse<T>(
        &self,
        record: &Record<'_>,
        error: KeyError,
        reason: String,
    ) -> Result<T, KeyError> {
        if let Some(metrics) = &self.metrics {
            metrics.denied(denial_cause(&error));
        }
        self.audit(record, Outcome::Denied, reason)?;
        Err(error)
    }

    /// Records that the caller lacks `role` and returns [`KeyError::AccessDenied`]
    /// (counted as a `role` refusal).
    pub(super) fn refuse_role<T>(&self, record: &Record<'_>, role: Role) -> Result<T, KeyError> {
        if let Some(metrics) = &self.metrics {
            metrics.denied("role");
        }
        let why = format!("caller lacks the {role} role");
        self.audit(record, Outcome::Denied, why)?;
        Err(KeyError::AccessDenied)
    }

    /// Finds a key by id or `alias/…`.
    /// Records a refusal for the key's state and returns [`KeyError::InvalidState`].
    pub(super) fn refuse_state<T>(&self, record: &Record<'_>, why: String) -> Result<T, KeyError> {
        self.refuse(record, KeyError::InvalidState(why.clone()), why)
    }

    /// Finds a key for `operation`; a failed lookup is audited too.
    pub(super) fn resolve_for(
        &self,
        caller: &Caller,
        operation: Operation,
        key: &str,
    ) -> Result<KeyRecord, KeyError> {
        match self.resolve(key) {
            Ok(found) => Ok(found),
            Err(err @ (KeyError::NotFound(_) | KeyError::InvalidInput(_))) => {
                let record = Record::on(caller, operation, None);
                let reason = err.to_string();
                self.refuse(&record, err, reason)
            }
            Err(other) => Err(other),
        }
    }

    /// The error for using a destroyed version (the state check refuses such keys first;
    /// this keeps the material matches closed).
    pub(super) fn material_destroyed() -> KeyError {
        KeyError::InvalidState("the key's material is destroyed".into())
    }

    /// The version new ciphertexts and signatures use.
    pub(super) fn current_version(key: &KeyRecord) -> Result<&KeyVersion, KeyError> {
        key.current()
            .ok_or_else(|| KeyError::InvalidState(format!("key {} has no version", key.id)))
    }

    /// The id `key` names (an id, or `alias/…` looked up), without reading the key.
    pub(super) fn resolve_id(&self, key: &str) -> Result<KeyId, KeyError> {
        if key.starts_with("alias/") {
            let alias = key
                .parse()
                .map_err(|e| KeyError::InvalidInput(format!("{key}: {e}")))?;
            self.store
                .resolve_alias(&alias)?
                .ok_or_else(|| KeyError::NotFound(key.to_owned()))
        } else {
            key.parse().map_err(|e: kastell_proto::key::InvalidKeyId| {
                KeyError::InvalidInput(e.to_string())
            })
        }
    }

    pub(super) fn resolve(&self, key: &str) -> Result<KeyRecord, KeyError> {
        let id = self.resolve_id(key)?;
        self.store
            .key(&id)?
            .ok_or_else(|| KeyError::NotFound(key.to_owned()))
    }

    /// Role, state, usage and policy checks for using `key`; records a refusal.
    pub(super) fn authorize(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        usage: KeyUsage,
    ) -> Result<(), KeyError> {
        if !record.caller.roles.contains(&Role::CryptoUser) {
            return self.refuse_role(record, Role::CryptoUser);
        }
        match key.state {
            KeyState::Enabled => {}
            KeyState::Disabled => {
                return self.refuse(record, KeyError::Disabled(key.id), "key disabled".into());
            }
            KeyState::PendingDeletion { .. } | KeyState::Destroyed => {
                let why = format!("key is {:?}", key.state);
                return self.refuse_state(record, why);
            }
        }
        if key.usage != usage {
            return self.refuse(
                record,
                KeyError::InvalidKeyUsage {
                    key: key.id,
                    usage: key.usage,
                },
                format!("usage is {:?}", key.usage),
            );
        }
        let Some(measurement) = key.policy else {
            return Ok(());
        };
        let request = PolicyRequest {
            operation: record.operation,
            key: Some(KeyInfo {
                id: key.id.to_string(),
                spec: key.spec,
                tags: key.tags.clone(),
            }),
            principal: Principal {
                id: record.caller.id.clone(),
                roles: record.caller.roles.clone(),
                tenant: record.caller.tenant.clone(),
            },
            context: record.context.cloned().unwrap_or_default(),
            evidence: record.caller.evidence.clone(),
            time: u64::try_from(now_ms() / 1000).unwrap_or(0),
        };
        let started = std::time::Instant::now();
        let verdict = match self.policies.load(&self.sandbox, &measurement) {
            Ok(policy) => {
                let verdict = self.sandbox.evaluate(&policy, &request).verdict;
                if let Some(metrics) = &self.metrics {
                    metrics.policy_evaluated(started.elapsed());
                }
                verdict
            }
            Err(err) => {
                return self.refuse(
                    record,
                    KeyError::AccessDenied,
                    format!("policy unavailable: {err}"),
                );
            }
        };
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Deny(cause) => self.refuse(record, KeyError::AccessDenied, cause.to_string()),
        }
    }

    /// Creates a key (crypto-officer only) with version 1 and an optional alias.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidInput`] (unknown policy, bad alias),
    /// or an internal failure.
    pub fn create_key(
        &self,
        caller: &Caller,
        new: NewKey,
        alias: Option<&str>,
    ) -> Result<KeyRecord, KeyError> {
        let id = KeyId::random();
        let created = now_ms() / 1000;
        let mut key = KeyRecord {
            id,
            spec: new.spec,
            usage: KeyUsage::of(new.spec),
            origin: new.origin,
            state: KeyState::Enabled,
            description: new.description,
            tags: new.tags,
            policy: new.policy,
            created,
            min_decrypt_version: 1,
            versions: Vec::new(),
            releasable: new.releasable,
        };
        let record = Record::on(caller, Operation::CreateKey, None);
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        let alias = alias
            .map(|a| {
                a.parse()
                    .map_err(|e| KeyError::InvalidInput(format!("{a}: {e}")))
            })
            .transpose()?;
        if key.releasable && key.origin == Origin::Token {
            return Err(KeyError::InvalidInput(
                "a token-resident key never leaves the token, so it cannot be releasable; \
                 create it with origin `wrapped`"
                    .into(),
            ));
        }
        if let Some(measurement) = &key.policy {
            self.policies
                .get(measurement)
                .map_err(|e| KeyError::InvalidInput(format!("cannot bind policy: {e}")))?;
        }
        key.versions.push(self.new_version(&key, 1, created)?);
        let record = Record {
            key: Some(&key),
            version: Some(1),
            ..record
        };
        let change = Change::CreateKey {
            key: &key,
            alias: alias.as_ref(),
        };
        self.commit(change, &record, String::new())?;
        Ok(key)
    }

    pub(super) fn new_version(
        &self,
        key: &KeyRecord,
        number: u32,
        created: i64,
    ) -> Result<KeyVersion, KeyError> {
        let kind = match key.spec {
            KeySpec::Aes256 => TokenKeyKind::Aes256,
            KeySpec::EccNistP384 => TokenKeyKind::EcP384,
            KeySpec::HmacSha384 => TokenKeyKind::HmacSha384,
        };
        let material = match key.origin {
            Origin::Token => {
                let label = format!("kastell-{}-v{number}", key.id);
                self.token.generate(&label, kind)?;
                Material::TokenLabel(label)
            }
            Origin::Wrapped => {
                let secret = match kind {
                    TokenKeyKind::EcP384 => {
                        self.crypto.p384_generate().map_err(TokenError::from)?
                    }
                    TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => {
                        let len = if kind == TokenKeyKind::Aes256 { 32 } else { 48 };
                        let mut bytes = Zeroizing::new(vec![0u8; len]);
                        self.crypto
                            .fill_random(&mut bytes)
                            .map_err(TokenError::from)?;
                        SecretBytes::from_slice(&bytes)
                    }
                };
                Material::Wrapped {
                    master: self.keys.master.clone(),
                    wrapped: self.token.wrap(&self.keys.master, &secret)?,
                }
            }
        };
        Ok(KeyVersion {
            number,
            created,
            material,
        })
    }
}
