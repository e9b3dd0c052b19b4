#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

//! `kastell serve`: the JSON API over HTTPS with mutual TLS.
//!
//! Every connection is TLS (rustls); the client's certificate, verified against the
//! deployment's root, names the principal and its one role. Key operations run on the
//! async workers when the token operates in memory and on the blocking pool otherwise
//! ([`operation`]); administration always runs on the blocking pool, so a slow token or
//! file never stalls the accept loop. Every
//! endpoint but `/healthz` needs a client certificate; the key service enforces the role,
//! state, usage and policy of every key operation, and this layer the role of the rest.

mod access_keys;
mod admin;
mod approvals;
mod audit;
mod auth;
pub mod aws;
pub mod backups;
pub mod changes;
mod clients;
mod crypto;
pub mod error;
mod grants;
mod keys;
mod listener;
mod policies;
pub mod process;
pub mod refusals;
pub mod release;
mod system;
pub mod tls;
pub mod workloads;

use kastell_proto::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use auth::Auth;
use error::ApiError;
pub use listener::{ConnectionLimits, serve, serve_signed};

use kastell_core::ca::CaFiles;
use kastell_core::keys::KeyService;
use kastell_core::metrics::Metrics;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The key service (store, token, sandbox, policies, audit).
    pub service: KeyService,
    /// Request and policy metrics.
    pub metrics: Arc<Metrics>,
    /// The deployment's CA files.
    pub files: CaFiles,
    /// How long pending quorum operations wait.
    pub approval_ttl: Duration,
    /// Pending operations, approvals and quorum settings.
    pub quorum: kastell_core::quorum::Quorum,
    /// The OpenAPI document, rendered once.
    pub openapi: String,
    /// Serials of revoked client certificates (reloaded from the store every few
    /// seconds, updated at once by revocations through the API).
    pub revoked: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Stored workload components.
    pub workloads: kastell_core::registry::WorkloadRegistry,
    /// The host CA that attests workloads (absent when not installed).
    pub attester: Option<workloads::Attester>,
    /// Roots and limits of attested key release.
    pub release: release::ReleaseTrust,
    /// Open release challenges.
    pub challenges: release::Challenges,
    /// Repeated refusals counted between their audit records (revoked certificates,
    /// clients over their challenge quota).
    pub refusals: refusals::RepeatedRefusals,
    /// Workload invocations that may run at once.
    pub workload_slots: Arc<tokio::sync::Semaphore>,
    /// Whether key operations run on the async workers ([`operation`]): the token
    /// operates in memory.
    pub operations_inline: bool,
    /// Whether a principal keeps one role (`[aws] separation_of_duties`), for access keys.
    pub duties: kastell_core::clients::Duties,
    /// The account the ARNs of access keys name (`[aws] account_id`).
    pub aws_account_id: String,
    /// The data directory (what a backup carries besides the store and the token).
    pub data_dir: std::path::PathBuf,
    /// Where backups taken through the server go (`[backup] dir`).
    pub backup_dir: std::path::PathBuf,
    /// The store's change counter as this host knows it ([`changes`]).
    pub changes: changes::ChangeWatch,
}

impl AppState {
    /// Whether the client certificate with `serial` is revoked.
    #[must_use]
    pub fn is_revoked(&self, serial: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(serial)
    }

    /// Adds the revoked serials in the store to the set (revocations are never undone, so
    /// the set only grows: one made through the API while this reads is kept).
    ///
    /// # Errors
    /// The store.
    pub fn reload_revocations(&self) -> Result<usize, kastell_core::store::StoreError> {
        let serials = self.service.store().revoked_clients()?;
        let mut revoked = self
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        revoked.extend(serials);
        Ok(revoked.len())
    }
}

/// The shared state as handlers receive it.
pub type Shared = Arc<AppState>;

/// Runs `work` on the blocking pool (the key service does file, token and sandbox work).
///
/// # Errors
/// `work`'s error, or 500 when the task panicked.
pub async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

/// Runs a key operation and answers once the audit records it appended are durable.
///
/// With a token that operates in memory (the built-in soft token) the operation runs right
/// here on the async worker: it is CPU work of microseconds (store read, policy, crypto),
/// and a hop to the blocking pool would cost more than the work. With any other token it
/// runs on the blocking pool. Either way its audit records are queued for the group commit
/// and awaited, so the wait for the fsync holds no thread; nothing `work` returns is
/// answered before that commit succeeds. A record that completes a checkpoint interval
/// starts the checkpoint's signature on the blocking pool without waiting for it.
///
/// # Errors
/// `work`'s error, the commit's failure, or 500 when `work` panicked.
pub async fn operation<T, F>(state: &Shared, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
{
    let deferred = if state.operations_inline {
        // As the blocking pool would: a panic answers 500 instead of dropping the connection.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kastell_core::keys::defer(|| work(state))
        }))
        .map_err(|_| ApiError::internal("a key operation panicked"))?
    } else {
        let shared = Arc::clone(state);
        tokio::task::spawn_blocking(move || kastell_core::keys::defer(|| work(&shared)))
            .await
            .map_err(ApiError::internal)?
    };
    let (outcome, records) = deferred
        .settle()
        .await
        .map_err(|err| ApiError::from(kastell_core::keys::KeyError::from(err)))?;
    for record in records {
        if state.service.checkpoint_due(record.seq) {
            // Detached: it runs even if the client goes away now (the answer does not
            // wait for it; a failure is logged, and the periodic checkpoint follows).
            let shared = Arc::clone(state);
            drop(tokio::task::spawn_blocking(move || {
                shared.service.checkpoint_if_due(record.seq);
            }));
        }
    }
    outcome
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Kastell",
        description = "EU-sovereign key management: keys, crypto operations, WebAssembly key policies, tamper-evident audit. Every endpoint but /healthz requires a client certificate issued by the deployment's root; its role (crypto-officer, crypto-user, auditor) decides what it may do. Errors are JSON {\"error\", \"message\"}. Binary fields are standard base64. A key in a path is its id or its alias with the slash percent-encoded (alias%2Fname)."
    ),
    components(schemas(kastell_proto::api::ErrorBody)),
    tags(
        (name = "keys", description = "Key administration (crypto-officer)"),
        (name = "crypto", description = "Key use (crypto-user)"),
        (name = "grants", description = "AWS KMS grants on keys, decided by the key's AWS key policy"),
        (name = "policies", description = "Policy components (crypto-officer)"),
        (name = "audit", description = "The audit trail (auditor)"),
        (name = "workloads", description = "Measured workload components and their invocation"),
        (name = "release", description = "Attested key release (crypto-user)"),
        (name = "approvals", description = "m-of-n quorum, pending operations, client certificates (crypto-officer)"),
        (name = "system", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

/// The API's routes and its OpenAPI document, both from the handlers' annotations.
fn api() -> (Router<Shared>, utoipa::openapi::OpenApi) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let router = keys::routes(router);
    let router = grants::routes(router);
    let router = crypto::routes(router);
    let router = policies::routes(router);
    let router = audit::routes(router);
    let router = approvals::routes(router);
    let router = clients::routes(router);
    let router = access_keys::routes(router);
    let router = backups::routes(router);
    let router = workloads::routes(router);
    let router = release::routes(router);
    let router = system::routes(router);
    router.split_for_parts()
}

/// The OpenAPI document as JSON (what `/v1/openapi.json` serves).
#[must_use]
pub fn openapi_json() -> String {
    api().1.to_pretty_json().unwrap_or_default()
}

/// The whole application: routes, body limit, metrics and request logging, JSON 404/405.
pub fn app(state: Shared, body_limit: usize) -> Router {
    let (router, _) = api();
    router
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::of(
                ErrorCode::MethodNotAllowed,
                "this endpoint does not take this method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            observe,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Counts, times and logs every request (method, route, status, principal; never bodies).
async fn observe(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Labels come from a fixed set (the API's routes and the standard methods), never
    // from what a client sends, so no request can grow the metrics without bound.
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        _ => "OTHER",
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || "unmatched".to_owned(),
        |p| format!("{method} {}", p.as_str()),
    );
    let principal = match request.extensions().get::<tls::Peer>() {
        Some(tls::Peer::Known(caller, _, _)) => caller.id.clone(),
        _ => "-".to_owned(),
    };
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    // 401 and 413 are answered without reading the body: the connection cannot carry
    // another request, so say so instead of letting the client reuse it.
    if matches!(
        response.status(),
        axum::http::StatusCode::UNAUTHORIZED | axum::http::StatusCode::PAYLOAD_TOO_LARGE
    ) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    let status = response.status().as_u16();
    state.metrics.request(&route, status, elapsed);
    tracing::info!(
        route = %route,
        status,
        principal = %principal,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
