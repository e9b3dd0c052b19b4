//! The accept loop: TLS on every connection, HTTP/1.1 on top, and the limits that keep a
//! flood of connections from exhausting the server.
//!
//! - at most `max_connections` connections are open; one more is reset as soon as it is
//!   accepted (never queued: the kernel's listen backlog is the only queue);
//! - at most `max_unauthenticated` of them are in the TLS handshake or, once it is done,
//!   without a client certificate that chains to the root: idle or slow sockets cannot
//!   crowd out clients that authenticate;
//! - a handshake not done within `handshake_timeout` is dropped;
//! - request headers not read within `header_read_timeout` of when the server waits for
//!   them (after the handshake, and after each answer on a kept-alive connection) close
//!   the connection.
//!
//! Refused connections are counted (`kastell_denials_total{cause="connection-limit"}` and
//! `{cause="unauthenticated-limit"}`) and logged at most once a second, with the count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use kastell_core::config::{
    DEFAULT_HANDSHAKE_TIMEOUT_SECS, DEFAULT_HEADER_READ_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UNAUTHENTICATED,
};
use kastell_core::metrics::Metrics;

use crate::tls;

/// Limits on the server's connections (`[server]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections in the TLS handshake or without a client certificate, at once.
    pub max_unauthenticated: usize,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long a request's headers may take to arrive.
    pub header_read_timeout: Duration,
}

fn from_u64(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: from_u64(DEFAULT_MAX_CONNECTIONS),
            max_unauthenticated: from_u64(DEFAULT_MAX_UNAUTHENTICATED),
            handshake_timeout: Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
        }
    }
}

impl ConnectionLimits {
    /// At most `count` connections open at once (at least 1).
    #[must_use]
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count.max(1);
        self
    }

    /// At most `count` connections in the handshake or without a client certificate (at
    /// least 1).
    #[must_use]
    pub fn max_unauthenticated(mut self, count: usize) -> Self {
        self.max_unauthenticated = count.max(1);
        self
    }

    /// TLS handshakes dropped after `timeout`.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connections closed when a request's headers take longer than `timeout`.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// Connections refused since the last log line about them.
struct Refusals {
    cause: &'static str,
    setting: &'static str,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    const fn new(cause: &'static str, setting: &'static str) -> Self {
        Self {
            cause,
            setting,
            unlogged: 0,
            logged_at: None,
        }
    }

    /// Counts one refusal; logs the count at most once a second.
    fn note(&mut self, metrics: &Metrics) {
        metrics.denied(self.cause);
        self.unlogged += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                refused = self.unlogged,
                limit = self.setting,
                "connections refused: the limit is reached"
            );
            self.unlogged = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}

/// Serves `app` on `listener` with `tls` within `limits` until `shutdown` resolves, then
/// lets open requests finish (up to 10 s).
///
/// # Errors
/// Only when the listener fails for good; single connections that fail are logged.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, tls, app, limits, metrics, shutdown, false).await
}

/// Serves the AWS endpoint's `app` like [`serve`], with the same limits, except that a
/// connection leaves the unauthenticated ones once its TLS handshake is done: its requests
/// are authenticated one by one (SigV4), never by a client certificate.
///
/// # Errors
/// As [`serve`].
pub async fn serve_signed(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, tls, app, limits, metrics, shutdown, true).await
}

async fn serve_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
    signed_requests: bool,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let unauthenticated = Arc::new(Semaphore::new(limits.max_unauthenticated));
    let mut over_open = Refusals::new("connection-limit", "server.max_connections");
    let mut over_unauthenticated =
        Refusals::new("unauthenticated-limit", "server.max_unauthenticated");
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over a limit: reset at once (no FIN handshake, no TIME_WAIT kept here).
        let Ok(open_permit) = Arc::clone(&open).try_acquire_owned() else {
            let _ = tcp.set_zero_linger();
            drop(tcp);
            over_open.note(&metrics);
            continue;
        };
        let Ok(unauthenticated_permit) = Arc::clone(&unauthenticated).try_acquire_owned() else {
            let _ = tcp.set_zero_linger();
            drop(tcp);
            over_unauthenticated.note(&metrics);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection(
                acceptor,
                tcp,
                remote,
                app,
                limits,
                watcher,
                Permits {
                    open: open_permit,
                    unauthenticated: unauthenticated_permit,
                    signed_requests,
                },
            )
            .await;
        });
    }
    tracing::info!("shutting down: finishing open requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still open after 10 s; stopping anyway");
        }
    }
    Ok(())
}

/// A connection's places among the open and the unauthenticated connections, and whether
/// its requests are signed one by one (the AWS endpoint): then it gives its unauthenticated
/// place back once the handshake is done.
struct Permits {
    open: OwnedSemaphorePermit,
    unauthenticated: OwnedSemaphorePermit,
    signed_requests: bool,
}

/// One connection: the handshake within its timeout, then HTTP/1.1. `permits` (its place
/// among the open connections and among the unauthenticated ones) are held until it ends,
/// except the unauthenticated place, given back once a client certificate names a caller.
async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    watcher: hyper_util::server::graceful::Watcher,
    permits: Permits,
) {
    let Permits {
        open: open_permit,
        unauthenticated: unauthenticated_permit,
        signed_requests,
    } = permits;
    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::info!(%remote, error = %err, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer = tls::Peer::of(stream.get_ref().1.peer_certificates());
    let still_unauthenticated = match &peer {
        _ if signed_requests => {
            drop(unauthenticated_permit);
            None
        }
        tls::Peer::Known(..) => {
            drop(unauthenticated_permit);
            None
        }
        tls::Peer::Malformed(why) => {
            tracing::warn!(%remote, reason = %why, "client certificate without a usable identity");
            Some(unauthenticated_permit)
        }
        tls::Peer::Anonymous => Some(unauthenticated_permit),
    };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(peer.clone());
        let mut app = app.clone();
        async move { tower::Service::call(&mut app, request).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    match watcher.watch(conn).await {
        Err(err) if err.is_timeout() => {
            tracing::info!(%remote, "request headers timed out: connection closed");
        }
        Err(err) => tracing::debug!(%remote, error = %err, "connection ended with an error"),
        Ok(()) => {}
    }
    drop(still_unauthenticated);
    drop(open_permit);
}
