//! [`TestServer`]: `kastell serve` on a deployment, listening on a free port of 127.0.0.1,
//! with its standard output and log in files of the deployment's temporary directory.
//! Stops with SIGTERM, restarts on the same data directory, and hands out clients.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kastell::client::Client;
use kastell_core::clients::ClientProfile;

use super::{Deployment, RawClient, Result, Setup, fail};

/// How long `kastell serve` may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `kastell serve` may take to stop after SIGTERM (it waits up to 10 s for open
/// requests).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// What `kastell serve` prints first, followed by its URL.
const LISTENING: &str = "kastell listening on ";

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

    /// The AWS endpoint's URL, from the line `kastell serve` prints when `[aws] listen`
    /// is set: `https://127.0.0.1:<port>`.
    ///
    /// The server prints it after its first line, so a server just started may not have
    /// printed it yet: this waits for it (up to the start timeout) while the server runs.
    ///
    /// # Errors
    /// When the line does not come.
    pub fn aws_url(&self) -> Result<String> {
        let started = Instant::now();
        loop {
            let out =
                std::fs::read_to_string(self.output_file(self.starts, "out")).unwrap_or_default();
            let url = out
                .lines()
                .filter(|_| out.ends_with('\n'))
                .find_map(|line| line.strip_prefix("kastell AWS endpoint listening on "));
            if let Some(url) = url {
                return Ok(url.trim().to_owned());
            }
            if self.child.is_none() || started.elapsed() > START_TIMEOUT {
                return Err(fail(format!("no AWS endpoint line in:\n{out}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kastell access-key create` on the deployment (offline, `--config`) for `principal`
    /// with each of `roles` and `tenant` if given: the new access key's id and secret.
    ///
    /// # Errors
    /// When the command fails or does not print the key as JSON.
    pub fn access_key(
        &self,
        principal: &str,
        roles: &[&str],
        tenant: Option<&str>,
    ) -> Result<(String, String)> {
        let config = self.deployment().config().display().to_string();
        let mut args = vec!["access-key", "create", "--principal", principal];
        for role in roles {
            args.extend(["--role", role]);
        }
        if let Some(tenant) = tenant {
            args.extend(["--tenant", tenant]);
        }
        args.extend(["--config", &config]);
        let out = self.kastell_ok(&args)?;
        let created: serde_json::Value = serde_json::from_str(out.trim())
            .map_err(|e| fail(format!("access-key create printed {out}: {e}")))?;
        let field = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| fail(format!("access-key create printed no {name}: {created}")))
        };
        Ok((field("access_key_id")?, field("secret_access_key")?))
    }

    /// The server's URL, `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process id of the running server.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The deployment being served.
    #[must_use]
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Runs `kastell args` in the deployment's environment (its configuration, token
    /// secret and the built binary) and waits for it.
    ///
    /// # Errors
    /// The command could not be started.
    pub fn kastell(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        self.deployment.command().args(args).output()
    }

    /// Runs `kastell args` as [`TestServer::kastell`] and returns its standard output.
    ///
    /// # Errors
    /// The command could not start or failed: the error names it and carries its stderr.
    pub fn kastell_ok(&self, args: &[&str]) -> Result<String> {
        let out = self
            .kastell(args)
            .map_err(|e| super::fail(format!("kastell {args:?}: {e}")))?;
        if out.status.success() {
            Ok(crate::text(&out.stdout))
        } else {
            Err(super::fail(format!(
                "kastell {args:?}: {}: {}",
                out.status,
                crate::text(&out.stderr)
            )))
        }
    }

    /// `kastell user key --out-dir dir`: a client's own key made in `dir`; the path of its
    /// `public.pem` (what `user add --public-key` takes).
    ///
    /// # Errors
    /// The command failed.
    pub fn user_key(&self, dir: &std::path::Path) -> Result<PathBuf> {
        let dir_text = dir.display().to_string();
        self.kastell_ok(&["user", "key", "--out-dir", &dir_text])?;
        Ok(dir.join(kastell_core::clients::PUBLIC_KEY_FILE))
    }

    /// The approvals quorum class `class` needs now (`GET /v1/quorum` as `client`).
    ///
    /// # Errors
    /// The request failed or the class is not listed.
    pub fn requirement(client: &kastell::client::Client, class: &str) -> Result<u64> {
        let settings: serde_json::Value = client
            .get("/v1/quorum")
            .map_err(|e| super::fail(format!("GET /v1/quorum: {e}")))?;
        settings["settings"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["class"] == class))
            .and_then(|s| s["required"].as_u64())
            .ok_or_else(|| super::fail(format!("class {class} not listed: {settings}")))
    }

    /// The first crypto officer's profile.
    #[must_use]
    pub fn officer(&self) -> PathBuf {
        self.deployment.officer_profile()
    }

    /// A client of the server for a new principal `name` with `role` (and `tenant`): the
    /// profile [`Self::issue_client`] makes, opened with [`Self::client`].
    ///
    /// # Errors
    /// When issuance or the client fails.
    pub fn new_client(&self, name: &str, role: &str, tenant: Option<&str>) -> Result<Client> {
        self.client(&self.issue_client(name, role, tenant)?)
    }

    /// Issues a client (`crypto-user`, `crypto-officer` or `auditor`, optionally of
    /// `tenant`) whose profile points at this server; returns the profile's path.
    ///
    /// # Errors
    /// When `kastell ca issue-client` fails.
    pub fn issue_client(&self, name: &str, role: &str, tenant: Option<&str>) -> Result<PathBuf> {
        self.deployment.issue_client(name, role, tenant, &self.url)
    }

    /// A client of this server's API with the profile at `profile` (one of this host's
    /// profiles, or one issued on another host of the deployment).
    ///
    /// # Errors
    /// When the profile or its files are unusable.
    pub fn client(&self, profile: &Path) -> Result<Client> {
        let mut profile = ClientProfile::load(profile).map_err(|e| fail(e.to_string()))?;
        self.url.clone_into(&mut profile.server);
        Client::new(&profile).map_err(|e| fail(e.to_string()))
    }

    /// Two hosts of one new deployment on a fresh database of the test cluster `db`
    /// (soft token; B a copy of A's data directory): (A, B). `None` when `db` has no
    /// PostgreSQL URL.
    ///
    /// # Errors
    /// When `init` fails or a server does not start.
    pub fn two_hosts(db: &kastell_core::store::testing::TestStore) -> Result<Option<(Self, Self)>> {
        let Some((url, password)) = db.postgres_url() else {
            return Ok(None);
        };
        let a = Self::start(&Setup::soft().postgres(&url, password.as_deref()))?;
        let b = a.another_host()?;
        Ok(Some((a, b)))
    }

    /// A second host of this deployment (on PostgreSQL), served: see
    /// [`Deployment::another_host`].
    ///
    /// # Errors
    /// When the copy fails or the server does not start.
    pub fn another_host(&self) -> Result<Self> {
        Self::serve(self.deployment.another_host()?)
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

    /// A raw HTTP client of the AWS endpoint (`[aws] listen`), trusting the deployment's
    /// root, as an AWS client does: for requests no AWS client makes (malformed
    /// signatures, missing headers).
    ///
    /// # Errors
    /// When the root certificate is unusable or the endpoint is not listening.
    pub fn aws_raw(&self) -> Result<RawClient> {
        let anonymous = self.anonymous()?;
        Ok(anonymous.with_base(&self.aws_url()?))
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

    /// Kills the server with SIGKILL (`kill -9`: no shutdown, no final checkpoint) and
    /// reaps it; [`Self::resume`] serves the data directory again.
    ///
    /// # Errors
    /// When the server is not running or cannot be killed.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Err(fail("the server is not running"));
        };
        // std's `kill` sends SIGKILL on Unix.
        child
            .kill()
            .and_then(|()| child.wait().map(drop))
            .map_err(|e| fail(format!("kill -9 {}: {e}", child.id())))
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

    /// Serves the data directory again after [`Self::stop`] (e.g. once a test has edited
    /// the stopped deployment's files); every profile is pointed at the new URL.
    ///
    /// # Errors
    /// When the server is running, or does not start (the error carries its output and
    /// log, e.g. why it refused to start).
    pub fn resume(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Err(fail("the server is running: stop it first"));
        }
        self.launch()
    }

    /// The attacker who can write the data directory but not use the token: stops the
    /// server, runs `sql` with `params` on its SQLite store file, serves again. Returns the
    /// rows the edit changed.
    ///
    /// # Errors
    /// When the server cannot stop or start again, or the edit fails.
    pub fn edit_store_offline(
        &mut self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize> {
        self.stop()?;
        let db = self
            .deployment()
            .data_dir()
            .join(kastell_core::deployment::STORE_FILE);
        let changed = rusqlite::Connection::open(&db)
            .and_then(|conn| conn.execute(sql, params))
            .map_err(|e| fail(format!("editing {}: {e}", db.display())))?;
        self.resume()?;
        Ok(changed)
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
