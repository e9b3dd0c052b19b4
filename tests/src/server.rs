//! A real `kastell serve` for end-to-end tests of the HTTPS API: `kastell init` in a
//! temporary directory, the server on a free port of 127.0.0.1, more client profiles from
//! `kastell ca issue-client`, restarts on the same data directory. Nothing is mocked: the
//! processes, TLS, certificates, token and store are the ones an operator runs.
//!
//! The fixture runs the `kastell` binary cargo built into the same target directory as
//! the test executable (`target/debug/kastell`, found from [`std::env::current_exe`]):
//! `CARGO_BIN_EXE_kastell` exists only in the `kastell` crate's own tests. Build it first with
//! `cargo build -p kastell`.
//!
//! The server's standard output and log (`RUST_LOG`, default `info`) go to files in the
//! temporary directory; they are printed when a test fails while the server is alive.
//!
//! ```no_run
//! use kastell_tests::server::TestServer;
//! let server = TestServer::start_soft().expect("server starts");
//! let user = server.issue_client("svc", "crypto-user", Some("acme")).expect("client");
//! let client = server.client(&user).expect("client");
//! let health: serde_json::Value = client.get("/healthz").expect("healthz");
//! ```
//!
//! The fixture is split by what it drives: [`Deployment`] and its [`Setup`] (`kastell init`
//! and other one-shot commands, in `deployment`), [`TestServer`] (`kastell serve`, in
//! `serve`) and [`RawClient`] (hand-made HTTP requests, in `raw`). This file holds what
//! they share: the error type, the binary's location and the [`SoftHsm`] token.

mod deployment;
mod raw;
mod serve;

use std::path::{Path, PathBuf};
use std::process::Command;

use kastell::client::RemoteError;

pub use deployment::{Deployment, Setup};
pub use raw::{RawClient, RawResponse};
pub use serve::TestServer;

/// Why the fixture could not do what a test asked: a command failed, a file was
/// missing, the server did not start or stop. The message carries the command's output.
#[derive(Debug)]
pub struct FixtureError(String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

/// The fixture's results.
pub type Result<T> = std::result::Result<T, FixtureError>;

pub(crate) fn fail(message: impl Into<String>) -> FixtureError {
    FixtureError(message.into())
}

/// Checks that a call failed with API error `status` `name`; returns the message.
///
/// # Panics
/// When the call succeeded or failed otherwise.
#[track_caller]
pub fn expect_api_error<T: std::fmt::Debug>(
    result: std::result::Result<T, RemoteError>,
    status: u16,
    name: &str,
) -> String {
    match result {
        Err(RemoteError::Api {
            status: got,
            name: got_name,
            message,
        }) => {
            assert_eq!((got, got_name.as_str()), (status, name), "{message}");
            message
        }
        other => panic!("expected {status} {name}, got {other:?}"),
    }
}

/// The `kastell` binary cargo built next to the running test executable.
///
/// # Errors
/// When it is missing: run `cargo build -p kastell` first.
pub fn kastell_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| fail(format!("current_exe: {e}")))?;
    // target/debug/deps/<test>-<hash> → target/debug/kastell
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| fail(format!("{} has no grandparent directory", exe.display())))?;
    let binary = dir.join(format!("kastell{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(fail(format!(
            "the kastell binary is not at {}: run `cargo build -p kastell` first",
            binary.display()
        )))
    }
}

/// A SoftHSM2 token of its own: a `softhsm2.conf` and token directory in a temporary
/// directory, one token initialised by label with `softhsm2-util` (as `scripts/softhsm-env`
/// does for the shared test token).
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// `SOFTHSM2_CONF` for every process that opens the token.
    pub conf: PathBuf,
}

impl SoftHsm {
    /// Where Debian and Ubuntu install the SoftHSM2 module.
    pub const MODULE: &'static str = "/usr/lib/softhsm/libsofthsm2.so";
    /// The token's user PIN.
    pub const PIN: &'static str = "1234";

    /// Initialises a token labelled `label` in a new temporary directory.
    ///
    /// # Errors
    /// When the directory cannot be made or `softhsm2-util` fails (or is not installed).
    pub fn create(label: &str) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| fail(format!("tempdir: {e}")))?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).map_err(|e| fail(format!("{}: {e}", tokens.display())))?;
        let conf = dir.path().join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\n",
            tokens.display()
        );
        std::fs::write(&conf, text).map_err(|e| fail(format!("{}: {e}", conf.display())))?;
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "12345678", "--pin", Self::PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .map_err(|e| fail(format!("softhsm2-util: {e} (apt-get install softhsm2)")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "softhsm2-util --init-token: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(Self {
            module: PathBuf::from(Self::MODULE),
            label: label.to_owned(),
            conf,
            dir,
        })
    }

    /// A file holding the user PIN (what `--secret-file` takes).
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn pin_file(&self) -> Result<PathBuf> {
        let path = self.dir.path().join("pin");
        std::fs::write(&path, format!("{}\n", Self::PIN))
            .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}
