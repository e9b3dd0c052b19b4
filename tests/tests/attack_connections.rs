//! Connection floods against the real server (issue 16, point 14), over TCP on loopback:
//! sockets that never start TLS hold one of the few unauthenticated places only until the
//! handshake timeout, connections past a cap are reset at once instead of waiting, a
//! client that finishes TLS but never sends a request is closed after the header timeout,
//! and an authenticated client works again as soon as places are free.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kastell::client::Client;
use kastell_core::clients::ClientProfile;
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::Value;

/// The timeouts the server runs with here.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A server with small caps: 8 connections, 4 of them unauthenticated, 2 s timeouts.
fn server() -> TestServer {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    deployment
        .append_config(
            "max_connections = 8\nmax_unauthenticated = 4\n\
             handshake_timeout_secs = 2\nheader_read_timeout_secs = 2\n",
        )
        .expect("config");
    // `init` ends the file with its [server] table: the keys above land in it.
    let text = std::fs::read_to_string(deployment.config()).expect("config");
    assert!(
        text.rfind("[server]") > text.rfind("[token]").max(text.rfind("[audit]")),
        "{text}"
    );
    TestServer::serve(deployment).expect("serve")
}

fn address(server: &TestServer) -> String {
    server
        .url()
        .strip_prefix("https://")
        .expect("https URL")
        .to_owned()
}

/// Whether the server closes `stream` (read through; `tcp` is its socket) within `limit`.
fn closed_within(stream: &mut impl std::io::Read, tcp: &TcpStream, limit: Duration) -> bool {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return false;
        }
        tcp.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            // Reset, aborted, unexpected end of the TLS stream: closed by the server.
            Err(_) => return true,
        }
    }
}

fn officer(server: &TestServer) -> Client {
    server.client(&server.officer()).expect("officer")
}

/// Retries a fresh client's request for up to `limit` (places free as the server's tasks
/// end, a moment after the sockets close).
fn works_again_within(server: &TestServer, limit: Duration) {
    let started = Instant::now();
    loop {
        match officer(server).get::<Value>("/v1/keys") {
            Ok(_) => return,
            Err(err) if started.elapsed() < limit => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("the authenticated client still fails: {err}"),
        }
    }
}

/// Four sockets that never send a ClientHello take the four unauthenticated places: a
/// fifth connection is reset at once (not queued) and an authenticated client cannot get
/// in either; after the 2 s handshake timeout the four are dropped and it works again.
#[test]
fn idle_sockets_are_dropped_after_the_handshake_timeout_and_extra_ones_reset_at_once() {
    let server = server();
    let address = address(&server);
    officer(&server)
        .get::<Value>("/v1/keys")
        .expect("works before");

    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(&address).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let mut extra = TcpStream::connect(&address).expect("the kernel accepts");
    let probe = extra.try_clone().unwrap();
    assert!(
        closed_within(&mut extra, &probe, Duration::from_millis(1_000)),
        "a connection past the unauthenticated cap is closed at once"
    );
    assert!(
        officer(&server).get::<Value>("/v1/keys").is_err(),
        "while the places are taken, a handshake cannot even start"
    );

    for mut socket in idle {
        let probe = socket.try_clone().unwrap();
        assert!(
            closed_within(&mut socket, &probe, TIMEOUT * 4),
            "an idle socket is dropped"
        );
        let after = opened.elapsed();
        assert!(
            after >= TIMEOUT - Duration::from_millis(300),
            "dropped by the timeout, not before: {after:?}"
        );
    }
    works_again_within(&server, Duration::from_secs(3));
    let log = server.log();
    assert!(log.contains("TLS handshake timed out"), "{log}");
    assert!(log.contains("server.max_unauthenticated"), "{log}");
}

/// Clients that finish the TLS handshake with a valid certificate but never send a
/// request: eight of them fill `max_connections` (a ninth is reset at once, though
/// unauthenticated places are free), and each is closed after the 2 s header timeout.
#[test]
fn authenticated_connections_without_a_request_fill_the_cap_then_close_at_the_header_timeout() {
    let server = server();
    let address = address(&server);
    let profile = ClientProfile::load(&server.officer()).expect("profile");
    let config = Arc::new(kastell::client::tls_config(&profile).expect("tls"));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();

    let mut silent = Vec::new();
    for _ in 0..8 {
        let mut tcp = TcpStream::connect(&address).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::ClientConnection::new(Arc::clone(&config), name.clone()).unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp).expect("handshake");
        }
        silent.push((tls, tcp, Instant::now()));
    }
    std::thread::sleep(Duration::from_millis(300));

    let mut extra = TcpStream::connect(&address).expect("the kernel accepts");
    let probe = extra.try_clone().unwrap();
    assert!(
        closed_within(&mut extra, &probe, Duration::from_millis(1_000)),
        "a connection past max_connections is closed at once"
    );

    for (tls, tcp, since) in silent {
        let probe = tcp.try_clone().unwrap();
        let mut stream = rustls::StreamOwned::new(tls, tcp);
        assert!(
            closed_within(&mut stream, &probe, TIMEOUT * 4),
            "a connection without a request is closed"
        );
        let after = since.elapsed();
        assert!(
            after >= TIMEOUT - Duration::from_millis(300),
            "closed by the header timeout, not before: {after:?}"
        );
    }
    works_again_within(&server, Duration::from_secs(3));
    let log = server.log();
    assert!(log.contains("request headers timed out"), "{log}");
    assert!(log.contains("server.max_connections"), "{log}");
}
