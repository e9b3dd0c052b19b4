//! A real `kastell serve` for end-to-end tests of the HTTPS API: `kastell init` in a
//! temporary directory, the server on a free port of 127.0.0.1, more client profiles from
//! `kastell ca issue-client`, restarts on the same data directory. Nothing is mocked: the
//! processes, TLS, certificates, token and store are the ones an operator runs.
//!
//! The fixture runs the `kastell` binary cargo built into the same target directory as
//! the test executable (`target/debug/kastell`, found from [`std::env::current_exe`]):
//! `CARGO_BIN_EXE_kastell` exists only in the host crate's own tests. Build it first with
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

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kastell::client::Client;
use kastell::clients::ClientProfile;

/// How long `kastell serve` may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `kastell serve` may take to stop after SIGTERM (it waits up to 10 s for open
/// requests).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// What `kastell serve` prints first, followed by its URL.
const LISTENING: &str = "kastell listening on ";

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

fn fail(message: impl Into<String>) -> FixtureError {
    FixtureError(message.into())
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

/// How a deployment is made: the token, and settings `kastell init` writes into
/// `kastell.toml`.
#[derive(Debug, Default, Clone)]
pub struct Setup {
    /// `--pkcs11-module`, `--token-label` and `--secret-file`; `None` for the soft token
    /// with a generated passphrase.
    pkcs11: Option<(PathBuf, String, PathBuf)>,
    /// `[server] body_limit`.
    body_limit: Option<usize>,
    /// Environment for every `kastell` process (e.g. `SOFTHSM2_CONF`).
    env: Vec<(String, String)>,
}

impl Setup {
    /// The built-in soft token, passphrase generated by `init`.
    #[must_use]
    pub fn soft() -> Self {
        Self::default()
    }

    /// A token of `hsm`, the PIN in a file the configuration names.
    ///
    /// # Errors
    /// When the PIN file cannot be written.
    pub fn softhsm(hsm: &SoftHsm) -> Result<Self> {
        Ok(Self {
            pkcs11: Some((hsm.module.clone(), hsm.label.clone(), hsm.pin_file()?)),
            body_limit: None,
            env: vec![("SOFTHSM2_CONF".into(), hsm.conf.display().to_string())],
        })
    }

    /// Requests larger than `bytes` are refused (413).
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }
}

/// A deployment made by `kastell init` in a temporary directory, not (yet) served.
#[derive(Debug)]
pub struct Deployment {
    dir: tempfile::TempDir,
    binary: PathBuf,
    env: Vec<(String, String)>,
}

impl Deployment {
    /// Runs `kastell init --org "Example GmbH" --country DE` with `setup`.
    ///
    /// # Errors
    /// When the binary is missing or `init` fails (its output is in the message).
    pub fn init(setup: &Setup) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| fail(format!("tempdir: {e}")))?;
        let deployment = Self {
            binary: kastell_binary()?,
            env: setup.env.clone(),
            dir,
        };
        let data = deployment.data_dir().display().to_string();
        let mut args = vec![
            "init".to_owned(),
            "--org".into(),
            "Example GmbH".into(),
            "--country".into(),
            "DE".into(),
            "--data-dir".into(),
            data,
        ];
        if let Some(limit) = setup.body_limit {
            // `init` carries the [server] settings of a given file into kastell.toml.
            let path = deployment.dir.path().join("init.toml");
            std::fs::write(&path, format!("[server]\nbody_limit = {limit}\n"))
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            args.extend(["--config".into(), path.display().to_string()]);
        }
        if let Some((module, label, pin_file)) = &setup.pkcs11 {
            args.extend([
                "--pkcs11-module".into(),
                module.display().to_string(),
                "--token-label".into(),
                label.clone(),
                "--secret-file".into(),
                pin_file.display().to_string(),
            ]);
        }
        deployment.run(&args)?;
        Ok(deployment)
    }

    /// The data directory.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `kastell.toml`, as `init` wrote it.
    #[must_use]
    pub fn config(&self) -> PathBuf {
        self.data_dir().join("kastell.toml")
    }

    /// The first crypto officer's profile (principal `officer`).
    #[must_use]
    pub fn officer_profile(&self) -> PathBuf {
        self.data_dir().join("clients/officer/profile.toml")
    }

    /// The deployment's root certificate (PEM).
    #[must_use]
    pub fn root_certificate(&self) -> PathBuf {
        self.data_dir().join("ca/root.pem")
    }

    /// A `kastell` command with only this deployment's environment (and `PATH`).
    #[must_use]
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `kastell args` and returns its standard output.
    ///
    /// # Errors
    /// When it cannot run or exits unsuccessfully (its output is in the message).
    pub fn run(&self, args: &[String]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| fail(format!("kastell {args:?}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(fail(format!(
                "kastell {args:?} exited with {}:\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Issues a client with `kastell ca issue-client` into `clients/<name>` whose profile
    /// names `server_url`; returns the profile's path.
    ///
    /// # Errors
    /// When the command fails (unknown role, folder exists, …).
    pub fn issue_client(
        &self,
        name: &str,
        role: &str,
        tenant: Option<&str>,
        server_url: &str,
    ) -> Result<PathBuf> {
        let out_dir = self.data_dir().join("clients").join(name);
        let mut args: Vec<String> = [
            "ca",
            "issue-client",
            "--principal",
            name,
            "--role",
            role,
            "--server-url",
            server_url,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["--out-dir".into(), out_dir.display().to_string()]);
        args.extend(["--config".into(), self.config().display().to_string()]);
        if let Some(tenant) = tenant {
            args.extend(["--tenant".into(), tenant.to_owned()]);
        }
        self.run(&args)?;
        Ok(out_dir.join(kastell::clients::PROFILE_FILE))
    }

    /// Points every profile under `clients/` at `url`.
    ///
    /// # Errors
    /// When a profile cannot be read or written.
    pub fn repoint_profiles(&self, url: &str) -> Result<()> {
        let clients = self.data_dir().join("clients");
        let entries =
            std::fs::read_dir(&clients).map_err(|e| fail(format!("{}: {e}", clients.display())))?;
        for entry in entries {
            let dir = entry
                .map_err(|e| fail(format!("{}: {e}", clients.display())))?
                .path();
            let path = dir.join(kastell::clients::PROFILE_FILE);
            if !path.is_file() {
                continue;
            }
            let mut profile = ClientProfile::load(&path).map_err(|e| fail(e.to_string()))?;
            url.clone_into(&mut profile.server);
            profile.write(&dir).map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    }
}

/// `kastell serve` on a deployment, listening on a free port of 127.0.0.1.
#[derive(Debug)]
pub struct TestServer {
    deployment: Deployment,
    child: Option<Child>,
    url: String,
    /// How many times the server was started (names its output files).
    starts: u32,
}

impl TestServer {
    /// A new deployment on the soft token, served.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn start_soft() -> Result<Self> {
        Self::start(&Setup::soft())
    }

    /// A new deployment made with `setup`, served; the officer's profile points at it.
    ///
    /// # Errors
    /// When `init` fails or the server does not start.
    pub fn start(setup: &Setup) -> Result<Self> {
        Self::serve(Deployment::init(setup)?)
    }

    /// Serves an existing deployment.
    ///
    /// # Errors
    /// When the server does not start.
    pub fn serve(deployment: Deployment) -> Result<Self> {
        let mut server = Self {
            deployment,
            child: None,
            url: String::new(),
            starts: 0,
        };
        server.launch()?;
        Ok(server)
    }

    fn output_file(&self, start: u32, kind: &str) -> PathBuf {
        self.deployment
            .dir
            .path()
            .join(format!("serve-{start}.{kind}"))
    }

    /// Starts `kastell serve --listen 127.0.0.1:0`, waits for its listening line and
    /// points every profile at the URL it printed.
    fn launch(&mut self) -> Result<()> {
        self.starts += 1;
        let stdout_path = self.output_file(self.starts, "out");
        let stderr_path = self.output_file(self.starts, "log");
        let create = |path: &Path| {
            std::fs::File::create(path).map_err(|e| fail(format!("{}: {e}", path.display())))
        };
        let config = self.deployment.config().display().to_string();
        let child = self
            .deployment
            .command()
            .args(["serve", "--config", &config, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(create(&stdout_path)?)
            .stderr(create(&stderr_path)?)
            .spawn()
            .map_err(|e| fail(format!("kastell serve: {e}")))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            if let Some(line) = stdout.lines().next().filter(|_| stdout.contains('\n')) {
                let url = line.strip_prefix(LISTENING).ok_or_else(|| {
                    fail(format!(
                        "kastell serve printed `{line}` first:\n{}",
                        self.log()
                    ))
                })?;
                url.trim().clone_into(&mut self.url);
                break;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(fail(format!(
                    "kastell serve exited with {status} before listening:\n{}",
                    self.log()
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(fail(format!(
                    "kastell serve printed no listening line within {START_TIMEOUT:?}:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.deployment.repoint_profiles(&self.url)
    }

    /// The server's URL, `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The deployment being served.
    #[must_use]
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The first crypto officer's profile.
    #[must_use]
    pub fn officer(&self) -> PathBuf {
        self.deployment.officer_profile()
    }

    /// Issues a client (`crypto-user`, `crypto-officer` or `auditor`, optionally of
    /// `tenant`) whose profile points at this server; returns the profile's path.
    ///
    /// # Errors
    /// When `kastell ca issue-client` fails.
    pub fn issue_client(&self, name: &str, role: &str, tenant: Option<&str>) -> Result<PathBuf> {
        self.deployment.issue_client(name, role, tenant, &self.url)
    }

    /// A client of the API with the profile at `profile`.
    ///
    /// # Errors
    /// When the profile or its files are unusable.
    pub fn client(&self, profile: &Path) -> Result<Client> {
        let profile = ClientProfile::load(profile).map_err(|e| fail(e.to_string()))?;
        Client::new(&profile).map_err(|e| fail(e.to_string()))
    }

    /// A raw HTTP client presenting the certificate of `profile`.
    ///
    /// # Errors
    /// When the profile or its files are unusable.
    pub fn raw(&self, profile: &Path) -> Result<RawClient> {
        let profile = ClientProfile::load(profile).map_err(|e| fail(e.to_string()))?;
        let tls = kastell::client::tls_config(&profile).map_err(|e| fail(e.to_string()))?;
        RawClient::new(tls, &self.url)
    }

    /// A raw HTTP client that trusts the deployment's root but presents no certificate.
    ///
    /// # Errors
    /// When the root certificate is unusable.
    pub fn anonymous(&self) -> Result<RawClient> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let path = self.deployment.root_certificate();
        let pem = std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        RawClient::new(tls, &self.url)
    }

    /// Stops the server with SIGTERM and waits for it; returns its standard output, which
    /// ends with `kastell stopped` after a graceful stop.
    ///
    /// # Errors
    /// When the signal cannot be sent, or the server does not stop in time (it is killed)
    /// or exits unsuccessfully.
    pub fn stop(&mut self) -> Result<String> {
        let Some(mut child) = self.child.take() else {
            return Err(fail("the server is not running"));
        };
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| fail(format!("kill -TERM: {e}")))?;
        if !killed.success() {
            return Err(fail(format!("kill -TERM {} failed", child.id())));
        }
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < STOP_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "kastell serve did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                        self.log()
                    )));
                }
            }
        };
        let stdout = std::fs::read_to_string(self.output_file(self.starts, "out"))
            .map_err(|e| fail(e.to_string()))?;
        if status.success() {
            Ok(stdout)
        } else {
            Err(fail(format!(
                "kastell serve exited with {status} after SIGTERM:\n{}",
                self.log()
            )))
        }
    }

    /// Stops the server gracefully and serves the same data directory again (on a new
    /// port: every profile is pointed at it; make new clients).
    ///
    /// # Errors
    /// As [`Self::stop`], or when the server does not say it stopped or does not start.
    pub fn restart(&mut self) -> Result<()> {
        let stdout = self.stop()?;
        if !stdout.lines().any(|line| line == "kastell stopped") {
            return Err(fail(format!(
                "kastell serve did not print `kastell stopped`:\n{}",
                self.log()
            )));
        }
        self.launch()
    }

    /// Standard output and log of the current (or last) run of the server.
    #[must_use]
    pub fn log(&self) -> String {
        let read = |kind: &str| {
            let mut text = String::new();
            if let Ok(mut file) = std::fs::File::open(self.output_file(self.starts, kind)) {
                let _ = file.read_to_string(&mut text);
            }
            text
        };
        format!(
            "--- kastell serve (start {}) stdout ---\n{}--- log ---\n{}",
            self.starts,
            read("out"),
            read("log")
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

/// An HTTP client for requests [`Client`] does not make: malformed bodies, other content
/// types, other methods, no client certificate. Every answer is returned, errors included.
#[derive(Debug, Clone)]
pub struct RawClient {
    http: reqwest::blocking::Client,
    base: String,
}

/// A response as it came.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl RawClient {
    fn new(tls: rustls::ClientConfig, base: &str) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            http,
            base: base.to_owned(),
        })
    }

    /// A request for `path` (e.g. `/v1/keys`) to add headers and a body to.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `request` and reads the whole answer.
    ///
    /// # Errors
    /// When the server cannot be reached or the TLS handshake fails (with the causes).
    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<RawResponse> {
        let response = request.send().map_err(|e| fail(error_chain(&e)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .bytes()
            .map_err(|e| fail(error_chain(&e)))?
            .to_vec();
        Ok(RawResponse {
            status,
            content_type,
            body,
        })
    }

    /// Sends `method path` with a JSON body (`content-type: application/json`).
    ///
    /// # Errors
    /// As [`Self::send`].
    pub fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<RawResponse> {
        self.send(self.request(method, path).json(body))
    }
}

impl RawResponse {
    /// The body as JSON.
    ///
    /// # Errors
    /// When it is not JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            fail(format!(
                "status {}: not JSON ({e}): {}",
                self.status,
                self.text()
            ))
        })
    }

    /// The body as text (lossy).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error body's name and message, after checking that the answer is an error
    /// (4xx or 5xx) of type `application/json` whose body is an object with exactly the
    /// string fields `error` and `message`.
    ///
    /// # Errors
    /// Naming what differs from that shape.
    pub fn error(&self) -> Result<(String, String)> {
        if self.status < 400 {
            return Err(fail(format!(
                "expected an error, got {}: {}",
                self.status,
                self.text()
            )));
        }
        if !self.content_type.starts_with("application/json") {
            return Err(fail(format!(
                "status {}: error of content-type `{}`, not JSON: {}",
                self.status,
                self.content_type,
                self.text()
            )));
        }
        let value = self.json()?;
        let object = value.as_object().ok_or_else(|| {
            fail(format!(
                "status {}: error body is not an object",
                self.status
            ))
        })?;
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let field = |name: &str| object.get(name).and_then(serde_json::Value::as_str);
        match (keys.as_slice(), field("error"), field("message")) {
            (["error", "message"], Some(error), Some(message)) => {
                Ok((error.to_owned(), message.to_owned()))
            }
            _ => Err(fail(format!(
                "status {}: error body is not {{\"error\", \"message\"}}: {value}",
                self.status
            ))),
        }
    }
}

/// An error with its causes on one line (reqwest hides the TLS reason in its sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
