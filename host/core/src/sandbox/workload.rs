//! Workloads: measured guests of the `workload` world that run key operations through
//! handles and ask the host to attest them. The sandbox side: validation, pre-linking, one
//! fresh instance per invocation under the workload limits, fail-closed results. What the
//! imports do (policy-gated key operations, attestation) is a [`WorkloadHost`]'s business.
//!
//! ```text
//! bytes ─► header/size ─► compile ─► imports ⊆ workload world + wasi:cli/io ─► pre-link
//! Workload + input + host ─► fresh Store (fuel, deadline, limiter, resource table)
//!          ─► instantiate ─► run(input) ─► Ok(output) | Err(guest error) | Fault
//! ```

mod imports;

use kastell_proto::KeySpec;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kastell_attest::Measurement;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};

use super::Sandbox;
use super::generated::workload::{Workload as WorkloadBindings, WorkloadPre};
use super::limits::Limiter;
use super::validate::{self, LoadError};
use super::verdict::{self, Fault};

/// Longest output a workload may return, in bytes.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Longest error a workload may return, in bytes.
pub const MAX_ERROR: usize = 1024;
/// Most key handles one invocation may hold open at once.
const MAX_HANDLES: usize = 64;
/// Most random bytes one `random` call may ask for.
pub const MAX_RANDOM: u32 = 1024;
/// Most key calls (open, operations, `random`) one invocation may make: each is a policy
/// evaluation and an audit record.
pub const MAX_KEY_CALLS: u32 = 4096;
/// Most attestations one invocation may ask for: each is two signatures on the token.
pub const MAX_ATTESTATIONS: u32 = 4;

/// Why a key operation asked for by a workload failed; mirrors the WIT `key-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadKeyError {
    /// No such key.
    #[error("not found")]
    NotFound,
    /// The key is disabled.
    #[error("disabled")]
    Disabled,
    /// Role or the key's policy refused.
    #[error("access denied")]
    AccessDenied,
    /// The key is not for this operation.
    #[error("invalid key usage")]
    InvalidKeyUsage,
    /// Not a ciphertext of this key and context.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The key's state forbids it.
    #[error("invalid state")]
    InvalidState,
    /// The workload's own misuse (limits, malformed input), described.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Anything else, without key material.
    #[error("{0}")]
    Internal(String),
}

/// A key the workload opened: what the host resolved at `open`. Later calls use the id,
/// so re-pointing an alias mid-invocation changes nothing for the open handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The key id (UUID text).
    pub id: String,
    /// Its spec.
    pub spec: KeySpec,
}

/// Evidence the host issued for an `attest` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationOut {
    /// The attestation certificate (DER).
    pub certificate: Vec<u8>,
    /// The same evidence as a Nitro-format document.
    pub document: Vec<u8>,
    /// The issuing chain (DER), host CA first, root last.
    pub chain: Vec<Vec<u8>>,
}

/// What the imports of one invocation do. Implemented by the server over the key service
/// (every key call gated by the key's policy, with the workload's measurement as evidence).
pub trait WorkloadHost: Send + 'static {
    /// Resolves `key` (id or `alias/…`).
    ///
    /// # Errors
    /// [`WorkloadKeyError::NotFound`] and friends.
    fn open(&mut self, key: &str) -> Result<KeyRef, WorkloadKeyError>;
    /// Encrypts under the key's current version.
    ///
    /// # Errors
    /// As the key service.
    fn encrypt(
        &mut self,
        key: &KeyRef,
        plaintext: &[u8],
        context: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError>;
    /// Decrypts a ciphertext of this key.
    ///
    /// # Errors
    /// As the key service.
    fn decrypt(
        &mut self,
        key: &KeyRef,
        ciphertext: &[u8],
        context: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError>;
    /// A new data key: plaintext and the same key encrypted under `key`.
    ///
    /// # Errors
    /// As the key service.
    fn generate_data_key(
        &mut self,
        key: &KeyRef,
        context: Vec<(String, String)>,
    ) -> Result<(Vec<u8>, Vec<u8>), WorkloadKeyError>;
    /// Signs `message` (ECDSA P-384 over SHA-384, DER).
    ///
    /// # Errors
    /// As the key service.
    fn sign(&mut self, key: &KeyRef, message: &[u8]) -> Result<Vec<u8>, WorkloadKeyError>;
    /// Verifies a signature.
    ///
    /// # Errors
    /// As the key service.
    fn verify(
        &mut self,
        key: &KeyRef,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, WorkloadKeyError>;
    /// HMAC-SHA-384 of `message`.
    ///
    /// # Errors
    /// As the key service.
    fn mac(&mut self, key: &KeyRef, message: &[u8]) -> Result<Vec<u8>, WorkloadKeyError>;
    /// Checks a MAC.
    ///
    /// # Errors
    /// As the key service.
    fn verify_mac(
        &mut self,
        key: &KeyRef,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, WorkloadKeyError>;
    /// `len` random bytes (at most [`MAX_RANDOM`], checked before the call).
    ///
    /// # Errors
    /// As the key service.
    fn random(&mut self, len: usize) -> Result<Vec<u8>, WorkloadKeyError>;
    /// Attests the calling workload, binding `nonce`, `public_key` and `user_data`.
    ///
    /// # Errors
    /// A one-line reason (bad public key, oversized field, the token).
    fn attest(
        &mut self,
        nonce: &[u8],
        public_key: &[u8],
        user_data: &[u8],
    ) -> Result<AttestationOut, String>;
}

/// State of one invocation's store.
pub(crate) struct WorkloadState {
    limiter: Limiter,
    table: ResourceTable,
    handles: usize,
    /// Key calls and attestations made so far.
    calls: u32,
    attestations: u32,
    host: Box<dyn WorkloadHost>,
}

/// A validated, pre-linked workload component.
pub struct Workload {
    measurement: Measurement,
    pre: WorkloadPre<WorkloadState>,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// SHA-384 of the component's exact bytes.
    #[must_use]
    pub fn measurement(&self) -> Measurement {
        self.measurement
    }
}

/// How an invocation failed. Either way nothing the guest produced is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadFailure {
    /// The workload's `run` returned an error (its text, at most [`MAX_ERROR`] bytes).
    #[error("the workload returned an error: {0}")]
    Guest(String),
    /// The sandbox stopped the workload or refused its answer.
    #[error("sandbox: {0}")]
    Fault(Fault),
}

impl WorkloadFailure {
    /// The stable code: `WorkloadError` or `WorkloadFault`.
    #[must_use]
    pub fn code(&self) -> kastell_proto::ErrorCode {
        match self {
            Self::Guest(_) => kastell_proto::ErrorCode::WorkloadError,
            Self::Fault(_) => kastell_proto::ErrorCode::WorkloadFault,
        }
    }

    /// What went wrong, for the caller: the guest's own text, or the sandbox's reason.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::Guest(text) => text.clone(),
            Self::Fault(fault) => fault.to_string(),
        }
    }
}

/// The result of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The workload's output, or why there is none.
    pub result: Result<Vec<u8>, WorkloadFailure>,
    /// Fuel the guest burned (instantiation included; host calls are not counted).
    pub fuel_consumed: u64,
    /// Wall-clock time from store creation to the result.
    pub elapsed: Duration,
}

impl Sandbox {
    /// Validates and pre-links a workload component (the `workload` world: `run`, key
    /// handles, `attest`; `wasi:cli`/`wasi:io` functions trap).
    ///
    /// # Errors
    /// [`LoadError`] naming what is wrong with the component.
    pub fn load_workload(&self, bytes: &[u8]) -> Result<Arc<Workload>, LoadError> {
        validate::check_header(bytes, self.limits.max_component_size)?;
        let measurement = Measurement::of(bytes);
        if let Some(workload) = self.loaded_workload(&measurement) {
            return Ok(workload);
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Invalid(verdict::truncate(&format!("{e:#}"), 400)))?;
        validate::check_workload_world(&self.engine, &component)?;
        let mut linker = Linker::<WorkloadState>::new(&self.engine);
        WorkloadBindings::add_to_linker::<WorkloadState, HasSelf<WorkloadState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| LoadError::Invalid(format!("cannot link the workload imports: {e:#}")))?;
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| LoadError::Invalid(format!("cannot link imports: {e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid(format!("cannot link: {e:#}")))?;
        let pre = WorkloadPre::new(instance_pre).map_err(|e| {
            LoadError::NotWorkload(verdict::truncate(
                &format!("`run` does not match: {e:#}"),
                400,
            ))
        })?;
        let workload = Arc::new(Workload { measurement, pre });
        let mut loaded = self.lock_workloads();
        if loaded.len() >= super::MAX_LOADED {
            loaded.clear();
        }
        loaded.insert(measurement, Arc::clone(&workload));
        Ok(workload)
    }

    /// The workload with this measurement if it is already loaded.
    #[must_use]
    pub fn loaded_workload(&self, measurement: &Measurement) -> Option<Arc<Workload>> {
        self.lock_workloads().get(measurement).cloned()
    }

    /// Runs `workload` on `input` in a fresh instance, its imports served by `host`. Never
    /// fails: every error becomes a [`WorkloadFailure`].
    #[must_use]
    pub fn invoke(
        &self,
        workload: &Workload,
        input: &[u8],
        host: Box<dyn WorkloadHost>,
    ) -> Invocation {
        let start = Instant::now();
        let fuel = self.limits.workload_fuel;
        let mut store = Store::new(
            &self.engine,
            WorkloadState {
                limiter: Limiter::new(&self.limits),
                table: ResourceTable::new(),
                handles: 0,
                calls: 0,
                attestations: 0,
                host,
            },
        );
        store.limiter(|state| &mut state.limiter);
        let ready = store
            .set_fuel(fuel)
            .map_err(|e| Fault::Instantiation(format!("{e:#}")));
        store.set_epoch_deadline(super::limits::ticks(self.limits.workload_wall_clock));
        let result = match ready {
            Ok(()) => self.run_workload(workload, &mut store, input),
            Err(fault) => Err(WorkloadFailure::Fault(fault)),
        };
        let left = store.get_fuel().unwrap_or(0);
        if let Err(WorkloadFailure::Fault(fault)) = &result {
            tracing::info!(workload = %workload.measurement, %fault, "workload failed closed");
        }
        Invocation {
            result,
            fuel_consumed: fuel.saturating_sub(left),
            elapsed: start.elapsed(),
        }
    }

    fn run_workload(
        &self,
        workload: &Workload,
        store: &mut Store<WorkloadState>,
        input: &[u8],
    ) -> Result<Vec<u8>, WorkloadFailure> {
        let limits = self.workload_fault_limits();
        let fault = |store: &Store<WorkloadState>, err: &wasmtime::Error| {
            WorkloadFailure::Fault(verdict::classify(err, &store.data().limiter, &limits))
        };
        let instance = match workload.pre.instantiate(&mut *store) {
            Ok(instance) => instance,
            Err(err) => {
                return Err(match fault(store, &err) {
                    WorkloadFailure::Fault(Fault::MalformedResult(text)) => {
                        WorkloadFailure::Fault(Fault::Instantiation(text))
                    }
                    other => other,
                });
            }
        };
        match instance.call_run(&mut *store, input) {
            Ok(Ok(output)) if output.len() > MAX_OUTPUT => {
                Err(WorkloadFailure::Fault(Fault::MalformedResult(format!(
                    "output is {} bytes; the limit is {MAX_OUTPUT}",
                    output.len()
                ))))
            }
            Ok(Ok(output)) => Ok(output),
            Ok(Err(error)) if error.len() > MAX_ERROR => {
                Err(WorkloadFailure::Fault(Fault::MalformedResult(format!(
                    "error text is {} bytes; the limit is {MAX_ERROR}",
                    error.len()
                ))))
            }
            Ok(Err(error)) => Err(WorkloadFailure::Guest(error)),
            Err(err) => Err(fault(store, &err)),
        }
    }

    /// The limits as the fault classifier reports them for a workload.
    fn workload_fault_limits(&self) -> super::SandboxLimits {
        super::SandboxLimits {
            fuel: self.limits.workload_fuel,
            wall_clock: self.limits.workload_wall_clock,
            ..self.limits.clone()
        }
    }
}
