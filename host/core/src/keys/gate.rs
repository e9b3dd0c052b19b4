//! The gate every key operation passes: the key resolved by id or alias (a failed lookup
//! audited), then the caller's role, the key's state and usage, and its bound policy
//! evaluated in the sandbox, then its AWS key policy, if any (both must allow); and, before any crypto, the version's material checked
//! against the record it came from.

use kastell_proto::{KeyId, KeyUsage, Operation, Role};

use super::algorithms::Algorithm;
use super::audited::Record;
use super::error::KeyError;
use super::service::{Caller, KeyService, now_ms};
use super::{KeyRecord, KeyState, KeyVersion, Material, token_label};
use crate::sandbox::{KeyInfo, PolicyRequest, Principal, Verdict};

/// Where an operation finds a version's material, once the gate has checked it.
#[derive(Debug)]
pub(super) enum Source<'a> {
    /// On the token, under the version's own label: derived from the key id and version
    /// number, never read from the store.
    Token(String),
    /// Wrapped bytes, unwrapped under this deployment's master key.
    Wrapped(&'a [u8]),
}

impl KeyService {
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

    /// The material of `version` of `key` for the operation `record` describes. A version
    /// whose stored record names a token object other than its own label (the root CA key,
    /// the master key, another key's version) or a master key other than this
    /// deployment's is refused as tampering, audited: what the record names never reaches
    /// the token. The service's own keys are thus out of the key API's reach.
    pub(super) fn material<'v>(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        version: &'v KeyVersion,
    ) -> Result<Source<'v>, KeyError> {
        let own = || token_label(&key.id, version.number);
        let why = match &version.material {
            Material::Token => return Ok(Source::Token(own())),
            Material::Wrapped { master, wrapped } if *master == self.keys.master => {
                return Ok(Source::Wrapped(wrapped));
            }
            Material::Destroyed => return Err(Self::material_destroyed()),
            Material::ForeignLabel(label) => format!(
                "version {} of key {} names token object `{label}`, not its own `{}`: \
                 the stored key record was altered",
                version.number,
                key.id,
                own()
            ),
            Material::Wrapped { master, .. } => format!(
                "version {} of key {} names master key `{master}`, not this deployment's \
                 `{}`: the stored key record was altered",
                version.number, key.id, self.keys.master
            ),
        };
        tracing::error!(key = %key.id, version = version.number, "{why}");
        self.refuse(record, KeyError::TamperDetected(why.clone()), why)
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
            self.stored_alias(&alias)?
                .ok_or_else(|| KeyError::NotFound(key.to_owned()))
        } else {
            key.parse().map_err(KeyError::from)
        }
    }

    pub(super) fn resolve(&self, key: &str) -> Result<KeyRecord, KeyError> {
        let id = self.resolve_id(key)?;
        self.stored_key(&id)?
            .ok_or_else(|| KeyError::NotFound(key.to_owned()))
    }

    /// Role, state, usage and policy checks for using `key`; records a refusal.
    pub(super) fn authorize(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        usage: KeyUsage,
    ) -> Result<(), KeyError> {
        self.authorize_with(record, key, usage, None)
    }

    /// The gate of an operation that takes an algorithm: role, state and usage first (so
    /// that a key of another usage is refused as such), then the algorithm `resolved` for
    /// the key's spec (a refusal audited), recorded in `record` for the policy and the
    /// audit trail, then its check against the spec and the policy.
    pub(super) fn authorize_algorithm<A>(
        &self,
        record: &mut Record<'_>,
        key: &KeyRecord,
        usage: KeyUsage,
        resolved: Result<A, KeyError>,
        algorithm: impl FnOnce(A) -> Algorithm,
    ) -> Result<A, KeyError>
    where
        A: Copy,
    {
        self.authorize_algorithm_with(record, key, usage, resolved, algorithm, None)
    }

    /// [`KeyService::authorize_algorithm`] for one side of a two-key operation
    /// (re-encrypt): the policy's request names `other`.
    pub(super) fn authorize_algorithm_with<A>(
        &self,
        record: &mut Record<'_>,
        key: &KeyRecord,
        usage: KeyUsage,
        resolved: Result<A, KeyError>,
        algorithm: impl FnOnce(A) -> Algorithm,
        other: Option<&KeyRecord>,
    ) -> Result<A, KeyError>
    where
        A: Copy,
    {
        self.precheck(record, key, usage)?;
        let chosen = match resolved {
            Ok(chosen) => chosen,
            Err(err) => {
                let why = err.message();
                return self.refuse(record, err, why);
            }
        };
        record.algorithm = Some(algorithm(chosen));
        self.authorize_with(record, key, usage, other)?;
        Ok(chosen)
    }

    /// Role, state and usage checks for using `key`; records a refusal.
    fn precheck(
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
            KeyState::PendingImport => {
                let why = match key.versions.iter().find(|v| {
                    matches!(v.material, Material::Destroyed)
                        && key.materials.iter().any(|m| m.version == Some(v.number))
                }) {
                    Some(erased) => format!(
                        "key {} is pending import: the imported key material of version {} \
                         was deleted or expired; import it again (ImportKeyMaterial, \
                         EXISTING_KEY_MATERIAL with its KeyMaterialId)",
                        key.id, erased.number
                    ),
                    None => format!("key {} is pending import: it holds no key material", key.id),
                };
                return self.refuse_state(record, why);
            }
        }
        // Imported material past its ValidTo is refused at once (the sweep then erases it).
        if let Some(at) = key.imported.and_then(|m| m.expires_at)
            && at <= now_ms() / 1000
        {
            let why = format!(
                "key {}'s imported key material expired at {at}: the key is pending import",
                key.id
            );
            return self.refuse_state(record, why);
        }
        // So is the key when any other material associated with it is past its ValidTo
        // (AWS: the expiry of any associated material leaves the key pending import).
        if let Some(expired) = key
            .materials
            .iter()
            .find(|m| m.version.is_some() && m.expires_at.is_some_and(|at| at <= now_ms() / 1000))
        {
            let why = format!(
                "the imported key material of version {} of key {} expired at {}: the key is \
                 pending import",
                expired.version.unwrap_or_default(),
                key.id,
                expired.expires_at.unwrap_or_default()
            );
            return self.refuse_state(record, why);
        }
        // And a version whose imported material was deleted (the key is pending import
        // then; kept as a second line should a record say otherwise).
        if key.origin == kastell_proto::Origin::External
            && let Some(number) = record.version
            && key
                .version(number)
                .is_some_and(|v| matches!(v.material, Material::Destroyed))
        {
            let why = format!(
                "the imported key material of version {number} of key {} was deleted: import \
                 it again (ImportKeyMaterial, EXISTING_KEY_MATERIAL with its KeyMaterialId)",
                key.id
            );
            return self.refuse_state(record, why);
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
        Ok(())
    }

    /// [`KeyService::authorize`] for one side of a two-key operation (re-encrypt): the
    /// policy's request names `other`, the key on the other side.
    pub(super) fn authorize_with(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        usage: KeyUsage,
        other: Option<&KeyRecord>,
    ) -> Result<(), KeyError> {
        self.precheck(record, key, usage)?;
        if let Some(Err(err)) = record.algorithm.map(|a| a.check(key.spec)) {
            let why = err.message();
            return self.refuse(record, err, why);
        }
        let Some(measurement) = key.policy else {
            return self.check_key_policy(record, key);
        };
        let info = |key: &KeyRecord| KeyInfo {
            id: key.id.to_string(),
            spec: key.spec,
            tags: key.tags.clone(),
        };
        let request = PolicyRequest {
            operation: record.operation,
            key: Some(info(key)),
            other_key: other.map(info),
            algorithm: record.algorithm.map(|a| a.as_str().to_owned()),
            message_type: record.algorithm.and_then(|a| a.message_type()),
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
        let verdict = match self.load_policy(&measurement) {
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
            // Both must allow: the key's wasm policy, then its AWS key policy, if any.
            Verdict::Allow => self.check_key_policy(record, key),
            Verdict::Deny(cause) => self.refuse(record, KeyError::AccessDenied, cause.to_string()),
        }
    }
}
