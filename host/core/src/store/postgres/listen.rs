//! The change listener: a thread with a connection of its own (outside the pool) that
//! runs `LISTEN kastell_changes` and hands each notice to the host's handler.
//!
//! A notice is sent by the committing transaction of each change (see [`super::shared`]),
//! so the handler hears of a change within milliseconds of its commit. A dropped
//! connection (the database restarted, the network failed) loses the notices sent while
//! it was down: the listener reports [`ChangeEvent::Lost`] once it has reconnected and
//! listens again (the host then flushes everything it holds), and retries every
//! [`RETRY_MAX`] at most while the database is away. The host's periodic read of the
//! change counter bounds what a silently stalled connection could hide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::shared::CHANGE_CHANNEL;
use crate::store::{ChangeEvent, ChangeHandler, ChangeListener, StoreError};

/// How long the listener waits for a notice before it checks whether it should stop.
const POLL: Duration = Duration::from_millis(250);
/// The first wait before reconnecting; doubled after each failure up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest wait between attempts to reconnect.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Starts the listener thread.
pub(super) fn start(
    config: postgres::Config,
    tls: MakeRustlsConnect,
    handler: ChangeHandler,
) -> Result<ChangeListener, StoreError> {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("kastell-pg-listen".into())
        .spawn({
            let stop = Arc::clone(&stop);
            move || run(&config, &tls, &handler, &stop)
        })
        .map_err(StoreError::ListenerStart)?;
    Ok(ChangeListener::new(stop, thread))
}

/// Sleeps `total` in steps of [`POLL`], or less when asked to stop.
fn pause(total: Duration, stop: &AtomicBool) {
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let step = left.min(POLL);
        std::thread::sleep(step);
        left = left.saturating_sub(step);
    }
}

fn run(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
    handler: &ChangeHandler,
    stop: &AtomicBool,
) {
    let mut retry = RETRY_MIN;
    let mut connected_before = false;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(tls.clone()).and_then(|mut client| {
            client
                .batch_execute(&format!("LISTEN {CHANGE_CHANNEL}"))
                .map(|()| client)
        }) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(
                    error = %super::describe(&err),
                    "store change listener: cannot listen; retrying"
                );
                pause(retry, stop);
                retry = retry.saturating_mul(2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_MIN;
        if connected_before {
            tracing::info!("store change listener reconnected; flushing what this host holds");
            handler(ChangeEvent::Lost);
        }
        connected_before = true;
        listen(&mut client, handler, stop);
        if !stop.load(Ordering::Relaxed) {
            // Whatever was sent from now until the next LISTEN is lost.
            handler(ChangeEvent::Lost);
        }
    }
}

/// Hands notices to `handler` until the connection fails or `stop` is set.
fn listen(client: &mut postgres::Client, handler: &ChangeHandler, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(POLL);
            loop {
                match iter.next() {
                    Ok(Some(notice)) => handler(ChangeEvent::parse(notice.payload())),
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(
                            error = %super::describe(&err),
                            "store change listener: connection lost; reconnecting"
                        );
                        return;
                    }
                }
            }
        }
        if client.is_closed() {
            tracing::warn!("store change listener: connection closed; reconnecting");
            return;
        }
    }
}
