//! The policy sandbox: wasmtime components, one fresh instance per evaluation, fuel and
//! wall-clock bounds, memory caps, no ambient authority, and fail-closed verdicts.
//!
//! ```text
//! bytes ─► check header/size ─► compile (or load the cached artifact) ─► check world and
//!          imports ─► pre-link (InstancePre) ─► Policy (cached by SHA-384)
//! Policy + request ─► fresh Store (fuel, epoch deadline, limiter) ─► instantiate ─►
//!          evaluate ─► Verdict (any trap/limit/malformed answer = Deny)
//! ```
//!
//! Policies implement `kastell:runtime/policy@0.2.0`; those built against the frozen
//! 0.1.0 contract are still loaded and asked in its vocabulary, fail closed (see
//! [`legacy`]).

mod artifacts;
mod aws;
pub mod bench;
mod generated;
pub mod legacy;
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
use generated::policy_v0_1::PolicyPre as PolicyPreV0_1;
use generated::policy_v0_1::kastell::runtime::types::Decision as DecisionV0_1;
use limits::{EPOCH_TICK, Limiter};

pub use artifacts::{ArtifactKey, ArtifactRejection};
pub use aws::{AWS_KEY_POLICY_WORLD, AwsAllowed, AwsPolicyRequest, bundled_measurement};
pub use limits::{Allocator, SandboxLimits};
pub use request::{Evidence, KeyInfo, PolicyRequest, Principal, now};
pub use validate::{LoadError, POLICY_WORLD, POLICY_WORLD_V0_1, RUNTIME_VERSION, WORKLOAD_WORLD};
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
    pre: Contract,
    from_artifact: bool,
}

/// The contract a policy was built against, with its pre-linked instance.
enum Contract {
    /// `kastell:runtime/policy@0.2.0`, the current one.
    Current(PolicyPre<EvalState>),
    /// `kastell:runtime/policy@0.1.0`, asked through [`legacy`]'s mapping.
    V0_1(PolicyPreV0_1<EvalState>),
}

/// Why one call of `evaluate` failed.
enum Failed {
    /// The instance could not be created.
    Instantiate(wasmtime::Error),
    /// The call trapped or its answer could not be read.
    Call(wasmtime::Error),
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

    /// The world the policy implements: [`POLICY_WORLD`], or the old contract's
    /// `kastell:runtime/policy@0.1.0`.
    #[must_use]
    pub fn world(&self) -> &'static str {
        match self.pre {
            Contract::Current(_) => POLICY_WORLD,
            Contract::V0_1(_) => validate::POLICY_WORLD_V0_1,
        }
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
    /// The bundled AWS key policy evaluator, loaded on first use (or why it cannot be).
    aws: std::sync::OnceLock<Result<Arc<aws::AwsEvaluator>, String>>,
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
            aws: std::sync::OnceLock::new(),
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

    /// Links every allowed import to a trap and type-checks the `evaluate` export against
    /// the current contract, then against the old one (0.1.0).
    fn prelink(&self, component: &Component) -> Result<Contract, LoadError> {
        let mut linker = Linker::<EvalState>::new(&self.engine);
        linker
            .define_unknown_imports_as_traps(component)
            .map_err(|e| LoadError::Invalid(format!("cannot link imports: {e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| LoadError::Invalid(format!("cannot link: {e:#}")))?;
        match PolicyPre::new(instance_pre.clone()) {
            Ok(pre) => Ok(Contract::Current(pre)),
            Err(current) => match PolicyPreV0_1::new(instance_pre) {
                Ok(pre) => Ok(Contract::V0_1(pre)),
                Err(_) => Err(LoadError::WrongWorld(verdict::truncate(
                    &format!("`evaluate` does not match: {current:#}"),
                    400,
                ))),
            },
        }
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
    /// becomes a denial with its cause. A policy of the old contract may be asked more than
    /// one question (each in a fresh instance); the first denial answers.
    #[must_use]
    pub fn evaluate(&self, policy: &Policy, request: &PolicyRequest) -> Evaluation {
        let start = Instant::now();
        let (verdict, fuel_consumed) = match &policy.pre {
            Contract::Current(pre) => {
                let wit_request = request.to_wit();
                self.run(|store| {
                    let instance = pre.instantiate(&mut *store).map_err(Failed::Instantiate)?;
                    instance
                        .call_evaluate(&mut *store, &wit_request)
                        .map_err(Failed::Call)
                })
            }
            Contract::V0_1(pre) => self.run_v0_1(pre, request),
        };
        let evaluation = Evaluation {
            verdict,
            fuel_consumed,
            elapsed: start.elapsed(),
        };
        if let Verdict::Deny(DenyCause::Fault(fault)) = &evaluation.verdict {
            tracing::info!(policy = %policy.measurement, %fault, "policy evaluation failed closed");
        }
        evaluation
    }

    /// Asks an old-contract policy each of [`legacy::questions`] for the request's
    /// operation; allows only if every answer allows. A denial of a question asked under
    /// another name says which.
    fn run_v0_1(&self, pre: &PolicyPreV0_1<EvalState>, request: &PolicyRequest) -> (Verdict, u64) {
        if let Some(reason) = legacy::inexpressible(request) {
            return (Verdict::Deny(DenyCause::Policy(reason)), 0);
        }
        let mut fuel = 0u64;
        for &question in legacy::questions(request.operation) {
            let old_request = legacy::to_wit(request, question);
            let (verdict, burned) = self.run(|store| {
                let instance = pre.instantiate(&mut *store).map_err(Failed::Instantiate)?;
                match instance.call_evaluate(&mut *store, &old_request) {
                    Ok(DecisionV0_1::Allow) => Ok(Decision::Allow),
                    Ok(DecisionV0_1::Deny(reason)) => Ok(Decision::Deny(reason)),
                    Err(err) => Err(Failed::Call(err)),
                }
            });
            fuel = fuel.saturating_add(burned);
            match verdict {
                Verdict::Allow => {}
                Verdict::Deny(DenyCause::Policy(reason)) if legacy::renamed(request.operation) => {
                    let reason = format!(
                        "kastell:runtime@{} policy asked `{}` for `{}`: {reason}",
                        legacy::VERSION,
                        legacy::name(question),
                        request.operation
                    );
                    return (Verdict::Deny(DenyCause::Policy(reason)), fuel);
                }
                deny @ Verdict::Deny(_) => return (deny, fuel),
            }
        }
        (Verdict::Allow, fuel)
    }

    /// One call of `evaluate` in a fresh store: the verdict and the fuel burned.
    fn run(
        &self,
        call: impl FnOnce(&mut Store<EvalState>) -> Result<Decision, Failed>,
    ) -> (Verdict, u64) {
        let mut store = match self.fresh_store() {
            Ok(store) => store,
            Err(fault) => return (Verdict::Deny(DenyCause::Fault(fault)), 0),
        };
        let fault = |store: &Store<EvalState>, err: &wasmtime::Error| {
            verdict::classify(err, &store.data().limiter, &self.limits)
        };
        let verdict = match call(&mut store) {
            Ok(Decision::Allow) => Verdict::Allow,
            Ok(Decision::Deny(reason)) if reason.len() > MAX_REASON_LEN => {
                Verdict::Deny(DenyCause::Fault(Fault::MalformedResult(format!(
                    "deny reason is {} bytes; the limit is {MAX_REASON_LEN}",
                    reason.len()
                ))))
            }
            Ok(Decision::Deny(reason)) => Verdict::Deny(DenyCause::Policy(reason)),
            Err(Failed::Instantiate(err)) => {
                let fault = match fault(&store, &err) {
                    Fault::MalformedResult(text) => Fault::Instantiation(text),
                    other => other,
                };
                Verdict::Deny(DenyCause::Fault(fault))
            }
            Err(Failed::Call(err)) => Verdict::Deny(DenyCause::Fault(fault(&store, &err))),
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        (verdict, self.limits.fuel.saturating_sub(fuel_left))
    }
}
