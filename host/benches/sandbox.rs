//! Sandbox benchmark: fresh instance + `evaluate` (the serving path) against one reused
//! instance (the lower bound), on the `tenant-context` example policy.
//!
//! Run: `scripts/build-guests && cargo bench -p kastell --bench sandbox`.
//! Targets (issue 2): fresh instance ≤ 10 µs p50 and ≤ 20 µs p99.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::{Duration, Instant};

use kastell::sandbox::{Sandbox, SandboxLimits, Verdict, bench};
use kastell_tests::{guest, tenant_request};

const WARMUP: usize = 2_000;
const ITERATIONS: usize = 50_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut timings: Vec<Duration>) {
    timings.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| {name:<34} | {:>8.2} | {:>8.2} | {:>8.2} | {:>9} |",
        us(percentile(&timings, 50.0)),
        us(percentile(&timings, 99.0)),
        us(percentile(&timings, 99.9)),
        timings.len()
    );
}

fn main() {
    let mut limits = SandboxLimits::default();
    if let Some(bytes) = std::env::var("KASTELL_BENCH_KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        limits.keep_resident = bytes;
    }
    let keep_resident = limits.keep_resident;
    let sandbox = Sandbox::new(limits).expect("sandbox");
    let policy = sandbox
        .load_policy(&guest("tenant-context"))
        .expect("tenant-context loads");
    let request = tenant_request("acme");

    for _ in 0..WARMUP {
        let verdict = sandbox.evaluate(&policy, &request).verdict;
        assert_eq!(verdict, Verdict::Allow);
    }
    let mut fresh = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        let evaluation = sandbox.evaluate(&policy, &request);
        fresh.push(start.elapsed());
        assert_eq!(evaluation.verdict, Verdict::Allow);
    }
    let fuel = sandbox.evaluate(&policy, &request).fuel_consumed;
    let reused = bench::reused_instance_timings(&sandbox, &policy, &request, ITERATIONS)
        .expect("reused instance runs");

    println!(
        "allocator: {:?}; keep resident: {keep_resident} B; fuel per evaluation: {fuel}",
        sandbox.allocator()
    );
    println!(
        "| {:<34} | {:>8} | {:>8} | {:>8} | {:>9} |",
        "tenant-context", "p50 µs", "p99 µs", "p99.9 µs", "samples"
    );
    println!(
        "|{:-<36}|{:-<10}|{:-<10}|{:-<10}|{:-<11}|",
        "", "", "", "", ""
    );
    report("fresh instance + evaluate", fresh);
    report("reused instance, call only", reused);
}
