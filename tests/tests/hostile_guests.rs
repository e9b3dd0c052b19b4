//! Hostile guests are stopped, denied with the right cause within a bounded time, and the
//! sandbox keeps serving: a normal policy evaluates correctly right after each one.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::{Duration, Instant};

use kastell_core::sandbox::{DenyCause, Fault, LoadError, Sandbox, SandboxLimits, Verdict};
use kastell_tests::{guest, tenant_request};

/// Generous bound: each fixture is stopped by fuel, memory or stack limits in milliseconds.
const BOUND: Duration = Duration::from_secs(5);

fn sandbox(limits: SandboxLimits) -> Sandbox {
    Sandbox::new(limits).expect("sandbox starts")
}

/// Evaluates `fixture` twice (fresh instance each time), checks the fault each time with
/// `expected`, then checks that `tenant-context` still allows and denies correctly.
fn denied_then_recovers(sandbox: &Sandbox, fixture: &str, expected: impl Fn(&Fault) -> bool) {
    let hostile = sandbox.load_policy(&guest(fixture)).expect("fixture loads");
    for round in 0..2 {
        let start = Instant::now();
        let evaluation = sandbox.evaluate(&hostile, &tenant_request("acme"));
        assert!(
            start.elapsed() < BOUND,
            "{fixture} round {round} ran {:?}",
            start.elapsed()
        );
        match &evaluation.verdict {
            Verdict::Deny(DenyCause::Fault(fault)) => {
                assert!(expected(fault), "{fixture}: unexpected fault {fault}");
            }
            other => panic!("{fixture} round {round}: expected a fault, got {other:?}"),
        }
    }
    let good = sandbox
        .load_policy(&guest("tenant-context"))
        .expect("tenant-context loads");
    assert_eq!(
        sandbox.evaluate(&good, &tenant_request("acme")).verdict,
        Verdict::Allow
    );
    assert!(matches!(
        sandbox.evaluate(&good, &tenant_request("globex")).verdict,
        Verdict::Deny(DenyCause::Policy(_))
    ));
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let sandbox = sandbox(SandboxLimits::default());
    let fuel = sandbox.limits().fuel;
    denied_then_recovers(&sandbox, "hostile-loop", |f| {
        *f == Fault::OutOfFuel { limit: fuel }
    });
}

#[test]
fn infinite_loop_with_ample_fuel_hits_the_wall_clock_bound() {
    let limits = SandboxLimits {
        fuel: u64::MAX / 2,
        wall_clock: Duration::from_millis(50),
        ..SandboxLimits::default()
    };
    let sandbox = sandbox(limits);
    denied_then_recovers(&sandbox, "hostile-loop", |f| {
        *f == Fault::Timeout {
            limit: Duration::from_millis(50),
        }
    });
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let sandbox = sandbox(SandboxLimits::default());
    let cap = sandbox.limits().max_memory;
    denied_then_recovers(
        &sandbox,
        "hostile-memory",
        |f| matches!(f, Fault::MemoryLimit { requested, limit } if *requested > cap && *limit == cap),
    );
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let sandbox = sandbox(SandboxLimits::default());
    denied_then_recovers(&sandbox, "hostile-recursion", |f| {
        *f == Fault::StackOverflow
    });
}

#[test]
fn panic_is_denied_at_its_first_forbidden_call() {
    let sandbox = sandbox(SandboxLimits::default());
    denied_then_recovers(
        &sandbox,
        "hostile-panic",
        |f| matches!(f, Fault::ForbiddenCall { import } if import.starts_with("wasi:cli/")),
    );
}

#[test]
fn no_std_policy_panic_traps_and_is_denied() {
    // A `no_std` policy has no stderr to write its panic to: its panic handler traps.
    let sandbox = sandbox(SandboxLimits::default());
    denied_then_recovers(
        &sandbox,
        "hostile-bare-panic",
        |f| matches!(f, Fault::Trap(text) if text.contains("unreachable")),
    );
}

#[test]
fn no_std_policy_memory_bomb_hits_the_memory_cap() {
    // The bump allocator grows linear memory past its arena; the limiter refuses at the cap.
    let sandbox = sandbox(SandboxLimits::default());
    let cap = sandbox.limits().max_memory;
    denied_then_recovers(
        &sandbox,
        "hostile-bare-memory",
        |f| matches!(f, Fault::MemoryLimit { requested, limit } if *requested > cap && *limit == cap),
    );
}

#[test]
fn huge_deny_reason_is_a_malformed_result() {
    let sandbox = sandbox(SandboxLimits::default());
    denied_then_recovers(
        &sandbox,
        "hostile-huge-reason",
        |f| matches!(f, Fault::MalformedResult(text) if text.contains("the limit is 1024")),
    );
}

#[test]
fn filesystem_and_clock_imports_are_rejected_at_load_by_name() {
    let sandbox = sandbox(SandboxLimits::default());
    let err = sandbox
        .load_policy(&guest("hostile-filesystem"))
        .expect_err("forbidden imports");
    let LoadError::ForbiddenImports(imports) = &err else {
        panic!("expected forbidden imports, got {err}");
    };
    for wanted in ["wasi:filesystem/types", "wasi:clocks/wall-clock"] {
        assert!(
            imports.iter().any(|i| i.starts_with(wanted)),
            "{wanted} missing from {imports:?}"
        );
    }
    assert!(err.to_string().contains("wasi:filesystem/preopens"));
}

#[test]
fn workload_component_is_rejected_as_the_wrong_world() {
    let sandbox = sandbox(SandboxLimits::default());
    let err = sandbox
        .load_policy(&guest("echo-workload"))
        .expect_err("wrong world");
    assert!(
        matches!(&err, LoadError::WrongWorld(why) if why.contains("workload")),
        "{err}"
    );
}

#[test]
fn core_module_is_rejected_with_a_hint() {
    let source = include_str!("../guests/core-module.wat");
    let module = wat::parse_str(source).expect("valid WAT");
    let sandbox = sandbox(SandboxLimits::default());
    let err = sandbox.load_policy(&module).expect_err("core module");
    assert_eq!(err, LoadError::CoreModule);
    assert!(err.to_string().contains("wasm32-wasip2"));
}

#[test]
fn random_truncated_and_oversized_inputs_are_rejected() {
    let sandbox = sandbox(SandboxLimits {
        max_component_size: 1 << 20,
        ..SandboxLimits::default()
    });
    let random: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(
        sandbox.load_policy(&random).expect_err("random bytes"),
        LoadError::NotWasm
    );

    let good = guest("tenant-context");
    let truncated = &good[..good.len() / 2];
    assert!(matches!(
        sandbox.load_policy(truncated),
        Err(LoadError::Invalid(_))
    ));

    let mut header_then_noise = b"\0asm\x0d\0\x01\0".to_vec();
    header_then_noise.extend_from_slice(&random);
    assert!(matches!(
        sandbox.load_policy(&header_then_noise),
        Err(LoadError::Invalid(_))
    ));

    let oversized = vec![0u8; (1 << 20) + 1];
    assert_eq!(
        sandbox.load_policy(&oversized).expect_err("oversized"),
        LoadError::TooLarge {
            size: (1 << 20) + 1,
            limit: 1 << 20
        }
    );
}

#[test]
fn concurrent_evaluations_each_get_a_correct_verdict() {
    let sandbox = sandbox(SandboxLimits::default());
    let good = sandbox
        .load_policy(&guest("tenant-context"))
        .expect("loads");
    let spin = sandbox.load_policy(&guest("hostile-loop")).expect("loads");
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (sandbox, good, spin) = (&sandbox, &good, &spin);
            scope.spawn(move || {
                for i in 0..50 {
                    let tenant = if (worker + i) % 2 == 0 {
                        "acme"
                    } else {
                        "globex"
                    };
                    let verdict = sandbox.evaluate(good, &tenant_request(tenant)).verdict;
                    assert_eq!(verdict.is_allow(), tenant == "acme");
                    if i % 25 == 0 {
                        assert!(
                            !sandbox
                                .evaluate(spin, &tenant_request("acme"))
                                .verdict
                                .is_allow()
                        );
                    }
                }
            });
        }
    });
}

#[test]
fn no_state_survives_between_evaluations() {
    let sandbox = sandbox(SandboxLimits::default());
    let hoarder = sandbox.load_policy(&guest("hostile-state")).expect("loads");
    for tenant in ["acme", "globex", "initech"] {
        let mut request = tenant_request(tenant);
        request.principal.id = format!("principal-of-{tenant}");
        assert_eq!(
            sandbox.evaluate(&hoarder, &request).verdict,
            Verdict::Deny(DenyCause::Policy("fresh".to_owned())),
            "evaluation for {tenant} saw an earlier one's state"
        );
    }
}
