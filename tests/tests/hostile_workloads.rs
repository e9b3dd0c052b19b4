//! Hostile workloads fail closed under the workload limits: a spinning guest runs out of
//! fuel or hits the wall clock, a memory bomb hits the cap, a panic, an oversized answer
//! and an oversized error are faults; too many handles and too much randomness are
//! refused to the guest; components of the wrong world, with forbidden imports or built
//! against another version of the contract never load; and the sandbox keeps working
//! after each.
//!
//! The imports are served by a fixed stub here: the behaviour under test is the
//! sandbox's. The key service behind the real imports is tested over the API
//! (`server_release.rs`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::KeySpec;
use std::time::Duration;

use kastell_core::sandbox::{
    AttestationOut, Fault, KeyRef, LoadError, Sandbox, SandboxLimits, WorkloadFailure,
    WorkloadHost, WorkloadKeyError,
};
use kastell_tests::guest;

/// Opens any key; refuses every operation; random bytes are zeros; no attestation.
struct Stub;

impl WorkloadHost for Stub {
    fn open(&mut self, key: &str) -> Result<KeyRef, WorkloadKeyError> {
        Ok(KeyRef {
            id: key.to_owned(),
            spec: KeySpec::Aes256,
        })
    }
    fn encrypt(
        &mut self,
        _: &KeyRef,
        _: &[u8],
        _: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn decrypt(
        &mut self,
        _: &KeyRef,
        _: &[u8],
        _: Vec<(String, String)>,
    ) -> Result<Vec<u8>, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn generate_data_key(
        &mut self,
        _: &KeyRef,
        _: Vec<(String, String)>,
    ) -> Result<(Vec<u8>, Vec<u8>), WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn sign(&mut self, _: &KeyRef, _: &[u8]) -> Result<Vec<u8>, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn verify(&mut self, _: &KeyRef, _: &[u8], _: &[u8]) -> Result<bool, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn mac(&mut self, _: &KeyRef, _: &[u8]) -> Result<Vec<u8>, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn verify_mac(&mut self, _: &KeyRef, _: &[u8], _: &[u8]) -> Result<bool, WorkloadKeyError> {
        Err(WorkloadKeyError::AccessDenied)
    }
    fn random(&mut self, len: usize) -> Result<Vec<u8>, WorkloadKeyError> {
        Ok(vec![0; len])
    }
    fn attest(&mut self, _: &[u8], _: &[u8], _: &[u8]) -> Result<AttestationOut, String> {
        Err("no attestation in this test".into())
    }
}

fn sandbox(limits: SandboxLimits) -> Sandbox {
    Sandbox::new(limits).expect("sandbox")
}

fn run(sandbox: &Sandbox, input: &str) -> Result<Vec<u8>, WorkloadFailure> {
    let workload = sandbox
        .load_workload(&guest("hostile-workload"))
        .expect("loads");
    sandbox
        .invoke(&workload, input.as_bytes(), Box::new(Stub))
        .result
}

/// Runs `input`, checks the fault with `expected`, then checks that the same sandbox
/// still runs a well-behaved invocation.
#[track_caller]
fn faults_then_recovers(sandbox: &Sandbox, input: &str, expected: impl Fn(&Fault) -> bool) {
    match run(sandbox, input) {
        Err(WorkloadFailure::Fault(fault)) => assert!(expected(&fault), "{input}: {fault:?}"),
        other => panic!("{input}: expected a fault, got {other:?}"),
    }
    assert_eq!(run(sandbox, "hello").expect("echo"), b"hello");
}

#[test]
fn a_spinning_workload_runs_out_of_fuel() {
    let limits = SandboxLimits {
        workload_fuel: 50_000_000,
        ..SandboxLimits::default()
    };
    let sandbox = sandbox(limits);
    faults_then_recovers(&sandbox, "spin", |f| {
        *f == Fault::OutOfFuel { limit: 50_000_000 }
    });
}

#[test]
fn a_spinning_workload_with_ample_fuel_hits_the_wall_clock_bound() {
    let limits = SandboxLimits {
        workload_fuel: u64::MAX / 2,
        workload_wall_clock: Duration::from_millis(100),
        ..SandboxLimits::default()
    };
    let sandbox = sandbox(limits);
    let started = std::time::Instant::now();
    faults_then_recovers(&sandbox, "spin", |f| {
        *f == Fault::Timeout {
            limit: Duration::from_millis(100),
        }
    });
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn memory_bombs_panics_and_oversized_answers_are_faults() {
    let sandbox = sandbox(SandboxLimits::default());
    faults_then_recovers(
        &sandbox,
        "grow",
        |f| matches!(f, Fault::MemoryLimit { limit, .. } if *limit == 16 << 20),
    );
    faults_then_recovers(
        &sandbox,
        "panic",
        |f| matches!(f, Fault::ForbiddenCall { import } if import.starts_with("wasi:cli/")),
    );
    faults_then_recovers(
        &sandbox,
        "big",
        |f| matches!(f, Fault::MalformedResult(why) if why.contains("output is 2097152 bytes")),
    );
    faults_then_recovers(
        &sandbox,
        "error",
        |f| matches!(f, Fault::MalformedResult(why) if why.contains("error text is 2048 bytes")),
    );
}

#[test]
fn handles_and_randomness_are_bounded_and_refused_to_the_guest() {
    let sandbox = sandbox(SandboxLimits::default());
    match run(&sandbox, "handles alias/any") {
        Err(WorkloadFailure::Guest(message)) => {
            assert!(message.starts_with("open #64:"), "{message}");
            assert!(message.contains("at most 64 key handles"), "{message}");
        }
        other => panic!("expected the guest's error, got {other:?}"),
    }
    match run(&sandbox, "random") {
        Err(WorkloadFailure::Guest(message)) => {
            assert!(message.contains("at most 1024 per call"), "{message}");
        }
        other => panic!("expected the guest's error, got {other:?}"),
    }
}

#[test]
fn a_workload_built_against_the_old_contract_is_refused_naming_its_version() {
    let err = sandbox(SandboxLimits::default())
        .load_workload(&guest("legacy-workload"))
        .expect_err("a 0.1.0 workload");
    assert_eq!(
        err,
        LoadError::RuntimeVersion {
            kind: "workload",
            found: "0.1.0".to_owned()
        }
    );
    assert!(
        err.to_string()
            .contains("rebuild it against kastell:runtime@0.2.0"),
        "{err}"
    );
}

#[test]
fn only_workload_components_with_workload_imports_load() {
    let sandbox = sandbox(SandboxLimits::default());
    let err = sandbox
        .load_workload(&guest("tenant-context"))
        .expect_err("a policy");
    assert!(
        matches!(&err, LoadError::NotWorkload(why) if why.contains("exports `evaluate`")),
        "{err}"
    );
    let err = sandbox
        .load_workload(&guest("hostile-filesystem"))
        .expect_err("forbidden imports");
    assert!(
        matches!(&err, LoadError::ForbiddenWorkloadImports(names)
            if names.iter().any(|n| n.starts_with("wasi:filesystem/"))),
        "{err}"
    );
    assert_eq!(
        sandbox.load_workload(b"\0asm\x01\0\0\0").expect_err("core"),
        LoadError::CoreModule
    );
    assert_eq!(
        sandbox.load_workload(b"not wasm").expect_err("junk"),
        LoadError::NotWasm
    );
    // And a workload is no policy.
    assert!(sandbox.load_policy(&guest("record-vault")).is_err());
    let workload = sandbox
        .load_workload(&guest("record-vault"))
        .expect("record-vault loads");
    assert_eq!(
        workload.measurement(),
        kastell_attest::Measurement::of(&guest("record-vault"))
    );
}
