//! `kastell-load`: a closed-loop HTTP(S) load generator for Kastell's API and its peers
//! (OpenBao, Vault).
//!
//! Each of `--connections` tasks owns one HTTP/1.1 keep-alive connection and sends the
//! same request back to back. After `--warmup` seconds (requests sent but not counted) the
//! run lasts `--duration` seconds or `--requests` requests, whichever ends first. A
//! non-2xx answer or a transport error counts as an error; the first error's body is
//! printed, and the exit status is non-zero when any request failed.
//!
//! With `--bodies FILE`, each request carries the next line of the file, each line sent
//! once across all connections (warm-up included), for single-use requests such as
//! attested key releases; the run also ends when every line has been sent.
//!
//! With `--paths FILE`, each request goes to `--url` (the base, without a trailing `/`)
//! followed by the next line of the file (a path starting with `/`), cycling through the
//! file in its order across all connections: e.g. encrypt requests spread over many keys
//! instead of one hot key. The file is checked first (at least one path, each starting
//! with `/`, no whitespace, the base's host and port kept; at most 1 million paths and
//! 64 MiB).
//!
//! Mutual TLS comes from a Kastell client profile (`--profile`); without one, plain
//! `http://`, or `https://` trusting `--ca` or the system's bundle. Only loopback hosts
//! are accepted unless `--allow-remote` is given.
//!
//! ```text
//! kastell-load --profile clients/bench/profile.toml --connections 16 --duration 10 \
//!     --url https://127.0.0.1:8443/v1/keys/alias%2Fbench-aes/encrypt \
//!     --body '{"plaintext":"AAAA","context":{"tenant":"acme"}}'
//! kastell-load --url http://127.0.0.1:8200/v1/transit/encrypt/bench \
//!     --header "X-Vault-Token: root" --body '{"plaintext":"AAAA"}' --json
//! kastell-load --profile clients/bench/profile.toml --connections 16 --duration 10 \
//!     --url /v1/keys/alias%2Fbench-release/release --bodies releases.jsonl
//! kastell-load --profile clients/bench/profile.toml --connections 1 --duration 10 \
//!     --url / --paths encrypt-paths.txt --body '{"plaintext":"AAAA"}'
//! ```
//!
//! The options are checked in `options` and the connections run in `load`; this file
//! sums up and prints the figures.

mod load;
mod options;
mod sigv4;

use std::error::Error;
use std::process::ExitCode;

use clap::Parser as _;
use serde::Serialize;

use crate::load::Measured;
use crate::options::{Args, Settings};

/// Errors of this tool: a message for the user.
type BoxError = Box<dyn Error + Send + Sync>;

/// Exit status 0 when every request succeeded, 1 when one failed or none completed, 2
/// when the run could not start.
fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(report) => {
            if report.errors > 0 || report.requests == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("kastell-load: {err}");
            ExitCode::from(2)
        }
    }
}

/// Checks the options, runs the load and prints the figures.
fn run(args: Args) -> Result<Report, BoxError> {
    let settings = Settings::from_args(&args)?;
    let measured = load::execute(&settings)?;
    let report = Report::new(args.label, &settings, measured);
    print_report(&report, args.json)?;
    Ok(report)
}

/// The figures of a run.
#[derive(Debug, Serialize)]
struct Report {
    label: String,
    url: String,
    method: String,
    connections: u32,
    /// Measured requests completed (successes and errors).
    requests: u64,
    /// Failed requests, the warm-up's included.
    errors: u64,
    elapsed_s: f64,
    /// Successful requests per second.
    rate: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    first_error: Option<String>,
    /// With `--bodies`: the bodies given.
    #[serde(skip_serializing_if = "Option::is_none")]
    bodies: Option<usize>,
    /// With `--bodies`: those left unsent when the run ended (0: the run ended because
    /// they were used up, unless its deadline came at the same moment).
    #[serde(skip_serializing_if = "Option::is_none")]
    bodies_unused: Option<usize>,
    /// With `--paths`: the paths given (`url` is their base).
    #[serde(skip_serializing_if = "Option::is_none")]
    paths: Option<usize>,
}

impl Report {
    /// Sums up what the connections of a run with `settings` `measured`.
    fn new(label: String, settings: &Settings, measured: Measured) -> Self {
        let Measured {
            tallies,
            measure_from,
            first_error,
            bodies,
        } = measured;
        let errors: u64 = tallies.iter().map(|t| t.errors).sum();
        let last = tallies.iter().filter_map(|t| t.last).max();
        let mut latencies: Vec<u64> = tallies.into_iter().flat_map(|t| t.latencies).collect();
        latencies.sort_unstable();
        let ok = latencies.len() as u64;
        let elapsed = last.map_or(0.0, |l| {
            l.saturating_duration_since(measure_from).as_secs_f64()
        });
        Self {
            label,
            url: settings.url.to_string(),
            method: settings.method.to_string(),
            connections: settings.connections,
            requests: ok + errors,
            errors,
            elapsed_s: round(elapsed, 3),
            rate: if elapsed > 0.0 {
                round(ok as f64 / elapsed, 1)
            } else {
                0.0
            },
            p50_ms: percentile(&latencies, 0.50),
            p90_ms: percentile(&latencies, 0.90),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: percentile(&latencies, 1.0),
            first_error,
            bodies: bodies.map(|(given, _)| given),
            bodies_unused: bodies.map(|(_, unused)| unused),
            paths: settings.urls.as_ref().map(|urls| urls.len()),
        }
    }
}

/// The `q` quantile (nearest rank) of sorted nanosecond latencies, in milliseconds.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let nanos = sorted[rank.clamp(1, sorted.len()) - 1];
    round(nanos as f64 / 1e6, 3)
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Prints `report` as text, or as one JSON object when `json`.
///
/// # Errors
/// When the report cannot be serialised.
fn print_report(report: &Report, json: bool) -> Result<(), BoxError> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let label = if report.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", report.label)
    };
    let paths = report
        .paths
        .map_or_else(String::new, |n| format!(" + {n} paths"));
    println!(
        "{label}{} {}{paths} — {} connections",
        report.method, report.url, report.connections
    );
    println!(
        "  requests {}  errors {}  elapsed {:.3} s  {:.1} req/s",
        report.requests, report.errors, report.elapsed_s, report.rate
    );
    println!(
        "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms
    );
    if let (Some(given), Some(unused)) = (report.bodies, report.bodies_unused) {
        if unused == 0 {
            println!("  bodies: all {given} sent (the run ended when they were used up)");
        } else {
            println!("  bodies: {given} given, {unused} unsent");
        }
    }
    if let Some(error) = &report.first_error {
        println!("  first error: {error}");
    }
    Ok(())
}
