//! Measurement helpers for the `sandbox` benchmark. Not for serving: reusing an instance
//! across evaluations breaks the one-fresh-instance-per-decision rule, so it lives here
//! and nowhere in the ordinary API.

use std::time::{Duration, Instant};

use super::{Policy, PolicyRequest, Sandbox};

/// Times `iterations` calls of `evaluate` on one instance reused across calls (the lower
/// bound that a fresh instance is compared with). Stops early if the guest fails. Policies
/// of the current contract only.
///
/// # Errors
/// The wasmtime error that ended the loop, as text.
pub fn reused_instance_timings(
    sandbox: &Sandbox,
    policy: &Policy,
    request: &PolicyRequest,
    iterations: usize,
) -> Result<Vec<Duration>, String> {
    let mut store = sandbox.fresh_store().map_err(|f| f.to_string())?;
    store.set_fuel(u64::MAX).map_err(|e| format!("{e:#}"))?;
    store.set_epoch_deadline(1 << 40); // u64::MAX would wrap past the current epoch.
    let super::Contract::Current(pre) = &policy.pre else {
        return Err(format!(
            "the benchmark runs only {} policies",
            super::POLICY_WORLD
        ));
    };
    let instance = pre.instantiate(&mut store).map_err(|e| format!("{e:#}"))?;
    let wit_request = request.to_wit();
    let mut timings = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        instance
            .call_evaluate(&mut store, &wit_request)
            .map_err(|e| format!("{e:#}"))?;
        timings.push(start.elapsed());
    }
    Ok(timings)
}
