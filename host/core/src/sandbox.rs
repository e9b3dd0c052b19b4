//! The policy sandbox: wasmtime components, one fresh instance per evaluation, fuel and
//! wall-clock bounds, memory caps, no ambient authority, and fail-closed verdicts.
//!
//! ```text
//! bytes ─► check header/size ─► compile (or load the cached artifact) ─► check world and
//!          imports ─► pre-link (InstancePre) ─► Policy (cached by SHA-384)
//! Policy + request ─► fresh Store (fuel, epoch deadline, limiter) ─► instantiate ─►
//!          evaluate ─► Verdict (any trap/limit/malformed answer = Deny)
//! ```

mod artifacts;
pub mod bench;
mod generated;
mod limits;
mod request;
mod validate;
mod verdict;
mod workload;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kastell_attest::Measurement;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use artifacts::{ArtifactCache, Cached};
use generated::policy::{PolicyPre, kastell::runtime::types::Decision};
use limits::{EPOCH_TICK, Limiter};

pub use artifacts::{ArtifactKey, ArtifactRejection};
pub use limits::{Allocator, SandboxLimits};
pub use request::{Evidence, KeyInfo, PolicyRequest, Principal, now};
pub use validate::{LoadError, POLICY_WORLD, WORKLOAD_WORLD};
pub use verdict::{DenyCause, Fault, MAX_REASON_LEN, Verdict};
pub use workload::{
    AttestationOut, Invocation, KeyRef, MAX_ATTESTATIONS, MAX_ERROR, MAX_KEY_CALLS, MAX_OUTPUT,
    MAX_RANDOM, Workload, WorkloadFailure, WorkloadHost, WorkloadKeyError,
};

/// Loaded policies (and, separately, workloads) kept in memory; past this many, the cache is emptied and refilled.
const MAX_LOADED: usize = 4096;

/// State of one evaluation's store.
pub(crate) struct EvalState {
    limiter: Limiter,
}

/// A validated, pre-linked policy component.
pub struct Policy {
    measurement: Measurement,
    pre: PolicyPre<EvalState>,
    from_artifact: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// SHA-384 of the component's exact bytes.
    #[must_use]
    pub fn measurement(&self) -> Measurement {
        self.measurement
    }

    /// Whether this policy was deserialized from a cached compiled artifact rather than
    /// compiled from source.
    #[must_use]
    pub fn from_artifact(&self) -> bool {
        self.from_artifact
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Allow, or deny with its cause.
    pub verdict: Verdict,
    /// Fuel the guest burned (instantiation included).
    pub fuel_consumed: u64,
    /// Wall-clock time from store creation to the verdict.
    pub elapsed: Duration,
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("kastell-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panicked ticker has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// Why the sandbox itself could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// wasmtime refused the engine configuration.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not start.
    #[error("cannot start the epoch ticker: {0}")]
    Ticker(#[source] std::io::Error),
    /// The compiled-artifact directory cannot be created.
    #[error("cannot open the compiled-policy cache {path}: {source}")]
    ArtifactDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The policy sandbox. Cheap to share behind an `Arc`; evaluations run concurrently.
pub struct Sandbox {
    engine: Engine,
    allocator: Allocator,
    limits: SandboxLimits,
    loaded: Mutex<HashMap<Measurement, Arc<Policy>>>,
    workloads: Mutex<HashMap<Measurement, Arc<Workload>>>,
    artifacts: Option<ArtifactCache>,
    /// Cached artifacts refused since the owner last took them (for the audit trail);
    /// bounded by [`MAX_REJECTIONS`].
    rejections: Mutex<Vec<ArtifactRejection>>,
    _ticker: EpochTicker,
}

/// Artifact rejections kept until taken; past this many, the oldest are dropped (each is
/// also logged when it happens).
const MAX_REJECTIONS: usize = 1024;

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("allocator", &self.allocator)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox with the given limits and no on-disk artifact cache.
    ///
    /// # Errors
    /// [`SandboxError`] when the engine or its epoch ticker cannot start.
    pub fn new(limits: SandboxLimits) -> Result<Self, SandboxError> {
        let (engine, allocator) =
            limits::engine(&limits).map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(engine.clone()).map_err(SandboxError::Ticker)?;
        Ok(Self {
            engine,
            allocator,
            limits,
            loaded: Mutex::new(HashMap::new()),
            workloads: Mutex::new(HashMap::new()),
            artifacts: None,
            rejections: Mutex::new(Vec::new()),
            _ticker: ticker,
        })
    }

    /// Keeps compiled policies in `dir`, so that a restart deserializes instead of
    /// recompiling. Each artifact is authenticated with `key`, an HMAC key held by the
    /// token: an artifact whose tag does not match is not loaded (the policy is compiled
    /// again) and is reported by [`Sandbox::take_artifact_rejections`].
    ///
    /// # Errors
    /// [`SandboxError::ArtifactDir`] when the directory cannot be created.
    pub fn with_artifact_dir(mut self, dir: &Path, key: ArtifactKey) -> Result<Self, SandboxError> {
        let cache = ArtifactCache::open(dir, key).map_err(|source| SandboxError::ArtifactDir {
            path: dir.to_path_buf(),
            source,
        })?;
        self.artifacts = Some(cache);
        Ok(self)
    }

    /// The instance allocator in use.
    #[must_use]
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Validates and pre-links a policy component; returns the cached one when these exact
    /// bytes were loaded before.
    ///
    /// # Errors
    /// [`LoadError`] naming what is wrong with the component.
    pub fn load_policy(&self, bytes: &[u8]) -> Result<Arc<Policy>, LoadError> {
        validate::check_header(bytes, self.limits.max_component_size)?;
        let measurement = Measurement::of(bytes);
        if let Some(policy) = self.lock_loaded().get(&measurement) {
            return Ok(Arc::clone(policy));
        }
        let cached = match self
            .artifacts
            .as_ref()
            .map(|cache| cache.load(&self.engine, &measurement))
        {
            Some(Cached::Hit(component)) => Some(component),
            Some(Cached::Rejected(reason)) => {
                self.reject_artifact(measurement, reason);
                None
            }
            Some(Cached::Miss) | None => None,
        };
        let from_artifact = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => Component::new(&self.engine, bytes)
                .map_err(|e| LoadError::Invalid(verdict::truncate(&format!("{e:#}"), 400)))?,
        };
        validate::check_policy_world(&self.engine, &component)?;
        let pre = self.prelink(&component)?;
        if !from_artifact && let Some(cache) = &self.artifacts {
            cache.store(&measurement, &component);
        }
        let policy = Arc::new(Policy {
            measurement,
            pre,
            from_artifact,
        });
        let mut loaded = self.lock_loaded();
        if loaded.len() >= MAX_LOADED {
            loaded.clear();
        }
        loaded.insert(measurement, Arc::clone(&policy));
        Ok(policy)
    }

    fn reject_artifact(&self, measurement: Measurement, reason: String) {
        let mut rejections = self
            .rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if rejections.len() >= MAX_REJECTIONS {
            rejections.remove(0);
        }
        rejections.push(ArtifactRejection {
            measurement,
            reason,
        });
    }

    /// The cached artifacts refused (and replaced by a fresh compilation) since the last
    /// call, oldest first: a tag that does not match means the compiled-artifact folder was
    /// written by someone without the token, and belongs in the audit trail.
    #[must_use]
    pub fn take_artifact_rejections(&self) -> Vec<ArtifactRejection> {
        std::mem::take(
            &mut *self
                .rejections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The policy with this measurement if it is already loaded (no disk read, no hashing).
    #[must_use]
    pub fn loaded_policy(&self, measurement: &Measurement) -> Option<Arc<Policy>> {
        self.lock_loaded().get(measurement).cloned()
    }

    /// Links every allowed import to a trap and type-checks the `evaluate` export.
    fn prelink(&self, component: &Component) -> Result<PolicyPre<EvalState>, LoadError> {
        let mut linker = Linker::<EvalState>::new(&self.engine);
        linker
            .define_unknown_imports_as_traps(component)
            .map_err(|e| LoadError::Invalid(format!("cannot link imports: {e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| LoadError::Invalid(format!("cannot link: {e:#}")))?;
        PolicyPre::new(instance_pre).map_err(|e| {
            LoadError::WrongWorld(verdict::truncate(
                &format!("`evaluate` does not match: {e:#}"),
                400,
            ))
        })
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<Measurement, Arc<Policy>>> {
        // The map holds no invariant a panic could break; keep serving.
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_workloads(&self) -> std::sync::MutexGuard<'_, HashMap<Measurement, Arc<Workload>>> {
        // As for policies: nothing a panic could leave half-done.
        self.workloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh store for one evaluation, with fuel, deadline and limiter set.
    fn fresh_store(&self) -> Result<Store<EvalState>, Fault> {
        let mut store = Store::new(
            &self.engine,
            EvalState {
                limiter: Limiter::new(&self.limits),
            },
        );
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| Fault::Instantiation(format!("{e:#}")))?;
        store.set_epoch_deadline(self.limits.epoch_ticks());
        Ok(store)
    }

    /// Evaluates `policy` on `request` in a fresh instance. Never fails: every error
    /// becomes a denial with its cause.
    #[must_use]
    pub fn evaluate(&self, policy: &Policy, request: &PolicyRequest) -> Evaluation {
        let start = Instant::now();
        let wit_request = request.to_wit();
        let (verdict, fuel_left) = match self.fresh_store() {
            Ok(mut store) => {
                let verdict = self.run(policy, &mut store, &wit_request);
                (verdict, store.get_fuel().unwrap_or(0))
            }
            Err(fault) => (Verdict::Deny(DenyCause::Fault(fault)), self.limits.fuel),
        };
        let evaluation = Evaluation {
            verdict,
            fuel_consumed: self.limits.fuel.saturating_sub(fuel_left),
            elapsed: start.elapsed(),
        };
        if let Verdict::Deny(DenyCause::Fault(fault)) = &evaluation.verdict {
            tracing::info!(policy = %policy.measurement, %fault, "policy evaluation failed closed");
        }
        evaluation
    }

    fn run(
        &self,
        policy: &Policy,
        store: &mut Store<EvalState>,
        request: &generated::policy::kastell::runtime::types::Request,
    ) -> Verdict {
        let fault = |store: &Store<EvalState>, err: &wasmtime::Error| {
            verdict::classify(err, &store.data().limiter, &self.limits)
        };
        let instance = match policy.pre.instantiate(&mut *store) {
            Ok(instance) => instance,
            Err(err) => {
                let fault = match fault(store, &err) {
                    Fault::MalformedResult(text) => Fault::Instantiation(text),
                    other => other,
                };
                return Verdict::Deny(DenyCause::Fault(fault));
            }
        };
        match instance.call_evaluate(&mut *store, request) {
            Ok(Decision::Allow) => Verdict::Allow,
            Ok(Decision::Deny(reason)) if reason.len() > MAX_REASON_LEN => {
                Verdict::Deny(DenyCause::Fault(Fault::MalformedResult(format!(
                    "deny reason is {} bytes; the limit is {MAX_REASON_LEN}",
                    reason.len()
                ))))
            }
            Ok(Decision::Deny(reason)) => Verdict::Deny(DenyCause::Policy(reason)),
            Err(err) => Verdict::Deny(DenyCause::Fault(fault(store, &err))),
        }
    }
}
