//! The run itself: one task per connection, each sending the same request back to back on
//! its own keep-alive connection, counting only what is sent after the warm-up and before
//! the deadline or the request budget. With `--bodies`, each request takes the next unused
//! body, and the run also ends when none is left. With `--paths`, each request goes to the
//! next URL, cycling through them.

use std::error::Error;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::options::{Payload, Settings};
use crate::sigv4::Signer;
use reqwest::header::HeaderMap;

/// How many bytes of the first error's body are kept.
const ERROR_BODY_LIMIT: usize = 2_000;

/// What every connection task shares.
struct Plan {
    url: reqwest::Url,
    /// With `--paths`: the URLs used in turn instead of `url`.
    urls: Option<Arc<Vec<reqwest::Url>>>,
    /// With `urls`: requests sent so far (warm-up included), the next URL's index.
    next_url: AtomicUsize,
    method: reqwest::Method,
    payload: Arc<Payload>,
    /// With [`Payload::Each`]: bodies claimed so far (warm-up included).
    next_body: AtomicUsize,
    /// Requests sent before this instant are warm-up.
    measure_from: Instant,
    /// No measured request starts at or after this instant.
    deadline: Option<Instant>,
    /// Measured requests allowed, and claimed so far.
    budget: Option<u64>,
    claimed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// With `--sigv4`: the signer, and the headers it covers (the run's default headers).
    sigv4: Option<(Arc<Signer>, HeaderMap)>,
}

/// What one connection task measured.
#[derive(Default)]
pub(crate) struct Tally {
    /// Latencies of successful measured requests, in nanoseconds.
    pub(crate) latencies: Vec<u64>,
    /// Failed requests (measured, or during the warm-up).
    pub(crate) errors: u64,
    /// When the task's last measured request completed.
    pub(crate) last: Option<Instant>,
}

/// What a finished run measured, for the report.
pub(crate) struct Measured {
    /// One tally per connection task.
    pub(crate) tallies: Vec<Tally>,
    /// When measuring began (the end of the warm-up).
    pub(crate) measure_from: Instant,
    /// The body or cause of the first failed request.
    pub(crate) first_error: Option<String>,
    /// With `--bodies`: how many were given, and how many were not sent.
    pub(crate) bodies: Option<(usize, usize)>,
}

/// Runs the load `settings` describe on a new runtime and waits for every connection.
///
/// # Errors
/// When the runtime or an HTTP client cannot be built, or a connection task panics.
pub(crate) fn execute(settings: &Settings) -> Result<Measured, BoxError> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = settings.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;

    let mut clients = Vec::new();
    for _ in 0..settings.connections {
        clients.push(
            reqwest::Client::builder()
                .use_preconfigured_tls(settings.tls.clone())
                .http1_only()
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(None)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(settings.timeout))
                .default_headers(settings.headers.clone())
                .build()?,
        );
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(settings.warmup);
    let plan = Arc::new(Plan {
        url: settings.url.clone(),
        urls: settings.urls.clone(),
        next_url: AtomicUsize::new(0),
        method: settings.method.clone(),
        payload: Arc::clone(&settings.payload),
        next_body: AtomicUsize::new(0),
        measure_from,
        deadline: settings
            .duration
            .map(|d| measure_from + Duration::from_secs(d)),
        budget: settings.requests,
        claimed: AtomicU64::new(0),
        first_error: Mutex::new(None),
        sigv4: settings
            .sigv4
            .as_ref()
            .map(|signer| (Arc::clone(signer), settings.headers.clone())),
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

    let first_error = plan.first_error.lock().ok().and_then(|e| e.clone());
    let bodies = match &*plan.payload {
        Payload::Each(bodies) => {
            let used = plan.next_body.load(Ordering::Relaxed).min(bodies.len());
            Some((bodies.len(), bodies.len() - used))
        }
        _ => None,
    };
    Ok(Measured {
        tallies,
        measure_from,
        first_error,
        bodies,
    })
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
        let url = match &plan.urls {
            Some(urls) if !urls.is_empty() => {
                urls[plan.next_url.fetch_add(1, Ordering::Relaxed) % urls.len()].clone()
            }
            _ => plan.url.clone(),
        };
        let body: &[u8] = match &*plan.payload {
            Payload::Empty => &[],
            Payload::Same(body) => body,
            Payload::Each(bodies) => {
                let Some(body) = bodies.get(plan.next_body.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                body
            }
        };
        let signature = match &plan.sigv4 {
            Some((signer, headers)) => signer.sign(&plan.method, &url, headers, body).map(Some),
            None => Ok(None),
        };
        let mut request = client.request(plan.method.clone(), url);
        if !matches!(*plan.payload, Payload::Empty) {
            request = request.body(body.to_vec());
        }
        let outcome = match signature {
            Ok(signature) => {
                for (name, value) in signature.into_iter().flatten() {
                    request = request.header(name, value);
                }
                send(request).await
            }
            Err(message) => Err(message),
        };
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
