//! `kastell-load`: a closed-loop HTTP(S) load generator for Kastell's API and its peers
//! (OpenBao, Vault).
//!
//! Each of `--connections` tasks owns one HTTP/1.1 keep-alive connection and sends the
//! same request back to back. After `--warmup` seconds (requests sent but not counted) the
//! run lasts `--duration` seconds or `--requests` requests, whichever ends first. A
//! non-2xx answer or a transport error counts as an error; the first error's body is
//! printed, and the exit status is non-zero when any request failed.
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
//! ```

use std::error::Error;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Serialize;

/// Errors of this tool: a message for the user.
type BoxError = Box<dyn Error + Send + Sync>;

/// The longest run accepted, in seconds.
const MAX_DURATION: u64 = 600;
/// The most requests accepted in one run.
const MAX_REQUESTS: u64 = 10_000_000;
/// How many bytes of the first error's body are kept.
const ERROR_BODY_LIMIT: usize = 2_000;
/// System root bundles tried, in order, for `https://` without `--profile` or `--ca`.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// HTTP methods.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => Self::GET,
            Method::Post => Self::POST,
            Method::Put => Self::PUT,
            Method::Delete => Self::DELETE,
        }
    }
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Closed-loop HTTP(S) load generator (one keep-alive connection per task)"
)]
struct Args {
    /// Full URL of the endpoint; with --profile, a path (`/v1/...`) is appended to the
    /// profile's server.
    #[arg(long)]
    url: String,
    /// HTTP method.
    #[arg(long, value_enum, ignore_case = true, default_value = "post")]
    method: Method,
    /// Request body (JSON, sent as application/json unless a Content-Type header is given).
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Extra header `Name: value` (repeatable), e.g. `X-Vault-Token: ...`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Kastell client profile (`profile.toml`): mutual TLS with its certificate and root.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Root certificates (PEM) to trust for `https://` without --profile [default: the
    /// system bundle].
    #[arg(long, conflicts_with = "profile")]
    ca: Option<PathBuf>,
    /// Concurrent connections, one task each.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    connections: u32,
    /// Measured run length in seconds (at most 600) [default: 10 unless --requests].
    #[arg(long)]
    duration: Option<u64>,
    /// Total measured requests (at most 10 million).
    #[arg(long)]
    requests: Option<u64>,
    /// Warm-up seconds before measuring (requests sent, not counted).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Runtime worker threads [default: one per CPU].
    #[arg(long)]
    threads: Option<usize>,
    /// Label printed with the figures.
    #[arg(long, default_value = "")]
    label: String,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Accept a host other than loopback.
    #[arg(long)]
    allow_remote: bool,
}

/// What every connection task shares.
struct Plan {
    url: reqwest::Url,
    method: reqwest::Method,
    body: Option<Vec<u8>>,
    /// Requests sent before this instant are warm-up.
    measure_from: Instant,
    /// No measured request starts at or after this instant.
    deadline: Option<Instant>,
    /// Measured requests allowed, and claimed so far.
    budget: Option<u64>,
    claimed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// What one connection task measured.
#[derive(Default)]
struct Tally {
    /// Latencies of successful measured requests, in nanoseconds.
    latencies: Vec<u64>,
    errors: u64,
    /// When the task's last measured request completed.
    last: Option<Instant>,
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
    errors: u64,
    elapsed_s: f64,
    /// Successful requests per second.
    rate: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    first_error: Option<String>,
}

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

fn run(args: Args) -> Result<Report, BoxError> {
    let (duration, requests) = match (args.duration, args.requests) {
        (None, None) => (Some(10), None),
        other => other,
    };
    if duration.is_some_and(|d| d == 0 || d > MAX_DURATION) {
        return Err(format!("--duration must be 1..={MAX_DURATION} seconds").into());
    }
    if requests.is_some_and(|n| n == 0 || n > MAX_REQUESTS) {
        return Err(format!("--requests must be 1..={MAX_REQUESTS}").into());
    }
    if args.warmup > MAX_DURATION {
        return Err(format!("--warmup must be at most {MAX_DURATION} seconds").into());
    }
    let profile = args
        .profile
        .as_deref()
        .map(kastell::clients::ClientProfile::load)
        .transpose()?;
    let url = match (&profile, args.url.starts_with('/')) {
        (Some(profile), true) => {
            format!("{}{}", profile.server.trim_end_matches('/'), args.url)
        }
        (None, true) => return Err("a path as --url needs --profile".into()),
        (_, false) => args.url.clone(),
    };
    let url = reqwest::Url::parse(&url).map_err(|e| format!("--url {url}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--url {url}: only http and https are supported").into());
    }
    if !args.allow_remote && !is_loopback(&url) {
        return Err(format!("--url {url}: not a loopback host (give --allow-remote)").into());
    }
    let mut headers = parse_headers(&args.headers)?;
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => Some(text.clone().into_bytes()),
        (None, Some(path)) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        (None, None) => None,
    };
    if let Some(body) = &body
        && !headers.contains_key(CONTENT_TYPE)
    {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| format!("the body is not JSON ({e}); give a Content-Type header"))?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let tls = match &profile {
        Some(profile) => kastell::client::tls_config(profile)?,
        None => plain_tls(args.ca.as_deref(), url.scheme() == "https")?,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;

    let mut clients = Vec::new();
    for _ in 0..args.connections {
        clients.push(
            reqwest::Client::builder()
                .use_preconfigured_tls(tls.clone())
                .http1_only()
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(None)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(args.timeout))
                .default_headers(headers.clone())
                .build()?,
        );
    }
    let method = reqwest::Method::from(args.method);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let plan = Arc::new(Plan {
        url: url.clone(),
        method: method.clone(),
        body,
        measure_from,
        deadline: duration.map(|d| measure_from + Duration::from_secs(d)),
        budget: requests,
        claimed: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let tallies = runtime.block_on(async {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(connection(client, Arc::clone(&plan))))
            .collect();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            tallies.push(task.await?);
        }
        Ok::<_, BoxError>(tallies)
    })?;

    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let last = tallies.iter().filter_map(|t| t.last).max();
    let mut latencies: Vec<u64> = tallies.into_iter().flat_map(|t| t.latencies).collect();
    latencies.sort_unstable();
    let ok = latencies.len() as u64;
    let elapsed = last.map_or(0.0, |l| {
        l.saturating_duration_since(measure_from).as_secs_f64()
    });
    let first_error = plan.first_error.lock().ok().and_then(|e| e.clone());
    let report = Report {
        label: args.label,
        url: url.to_string(),
        method: method.to_string(),
        connections: args.connections,
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
    };
    print_report(&report, args.json)?;
    Ok(report)
}

/// One connection: sends the plan's request back to back until the run ends.
async fn connection(client: reqwest::Client, plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    loop {
        let sent = Instant::now();
        let measured = sent >= plan.measure_from;
        if measured {
            if plan.deadline.is_some_and(|d| sent >= d) {
                break;
            }
            if let Some(budget) = plan.budget
                && plan.claimed.fetch_add(1, Ordering::Relaxed) >= budget
            {
                break;
            }
        }
        let mut request = client.request(plan.method.clone(), plan.url.clone());
        if let Some(body) = &plan.body {
            request = request.body(body.clone());
        }
        let outcome = send(request).await;
        let done = Instant::now();
        if !measured {
            if let Err(message) = outcome {
                // A failing warm-up is a failing run: count it, as a measured error.
                record_error(&plan, message);
                tally.errors += 1;
            }
            continue;
        }
        tally.last = Some(done);
        match outcome {
            Ok(()) => {
                let nanos = u64::try_from(done.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
                tally.latencies.push(nanos);
            }
            Err(message) => {
                record_error(&plan, message);
                tally.errors += 1;
            }
        }
    }
    tally
}

/// Sends one request and reads the whole answer; `Err` describes a failure.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| error_chain(&e))?;
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    let cut: String = text.chars().take(ERROR_BODY_LIMIT).collect();
    Err(format!("HTTP {status}: {cut}"))
}

fn record_error(plan: &Plan, message: String) {
    if let Ok(mut first) = plan.first_error.lock()
        && first.is_none()
    {
        *first = Some(message);
    }
}

/// An error and its sources on one line.
fn error_chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the URL's host is `localhost` or a loopback address.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Parses `Name: value` headers.
fn parse_headers(lines: &[String]) -> Result<HeaderMap, BoxError> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header `{line}`: expected `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| format!("--header: bad name `{}`: {e}", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|e| format!("--header {name}: bad value: {e}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// TLS without a client identity: trusting `ca`, or the system bundle for `https://`.
fn plain_tls(ca: Option<&Path>, https: bool) -> Result<rustls::ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    let file = match ca {
        Some(path) => Some(path.to_path_buf()),
        None if https => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()),
        None => None,
    };
    if let Some(path) = file {
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            // System bundles may hold certificates webpki rejects: skip those.
            let _ = roots.add(cert.map_err(|e| format!("{}: {e}", path.display()))?);
        }
        if roots.is_empty() {
            return Err(format!("{}: no usable root certificate", path.display()).into());
        }
    } else if https {
        return Err("https without --profile: give --ca (no system bundle found)".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
    println!(
        "{label}{} {} — {} connections",
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
    if let Some(error) = &report.first_error {
        println!("  first error: {error}");
    }
    Ok(())
}
