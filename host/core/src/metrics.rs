//! Prometheus metrics: requests and their latency per operation, policy evaluation time,
//! and denials by cause. Served as text by the server's `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The server's metrics, shared by the request layer and the key service.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    policy: Histogram,
    workload: Histogram,
    denials: Family<CauseLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `kastell_` prefix.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kastell");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let policy = latency_histogram();
        let workload = latency_histogram();
        let denials = Family::<CauseLabels, Counter>::default();
        registry.register(
            "requests",
            "API requests by operation and HTTP status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "API request latency by operation",
            latency.clone(),
        );
        registry.register(
            "policy_evaluation_duration_seconds",
            "Time to load and evaluate a key's policy in the sandbox",
            policy.clone(),
        );
        registry.register(
            "workload_invocation_duration_seconds",
            "Time of one workload invocation in the sandbox, its host calls included",
            workload.clone(),
        );
        registry.register(
            "denials",
            "Refused operations by cause (role, policy, key state, input, …)",
            denials.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            policy,
            workload,
            denials,
        }
    }

    /// Counts a finished request.
    pub fn request(&self, operation: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one policy evaluation's duration.
    pub fn policy_evaluated(&self, elapsed: Duration) {
        self.policy.observe(elapsed.as_secs_f64());
    }

    /// Records one workload invocation's duration.
    pub fn workload_invoked(&self, elapsed: Duration) {
        self.workload.observe(elapsed.as_secs_f64());
    }

    /// Counts a refusal with its cause (kebab-case).
    pub fn denied(&self, cause: &str) {
        self.denials
            .get_or_create(&CauseLabels {
                cause: cause.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
