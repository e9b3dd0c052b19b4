//! A PostgreSQL cluster of a test's own, for tests that stop, start or restart the database
//! under load (which must not disturb the other tests on the shared cluster of
//! `scripts/postgres-env`): `initdb` in a temporary directory, the server on a free port of
//! 127.0.0.1 with password authentication, a role `kastell` owning a database `kastell`.
//! As root every PostgreSQL command runs as the `postgres` user (`runuser`), as
//! `scripts/postgres-env` does. Stopped (immediately) and removed when dropped.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kastell_core::store::testing::TEST_POSTGRES_ENV;

use crate::server::{Result, fail};

/// A private PostgreSQL cluster on loopback.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    running: bool,
}

impl Cluster {
    /// Creates and starts a cluster; `fsync` says whether commits are flushed to disk
    /// (the shared test cluster runs without). `None`, with the reason printed, when
    /// PostgreSQL tests are not asked for ([`TEST_POSTGRES_ENV`] unset, outside CI), as
    /// [`kastell_core::store::testing::TestStore::postgres`] does.
    ///
    /// # Errors
    /// When PostgreSQL is not installed, or the cluster cannot be made or started.
    ///
    /// # Panics
    /// Under `CI=true` without [`TEST_POSTGRES_ENV`].
    pub fn start(fsync: bool) -> Result<Option<Self>> {
        if std::env::var(TEST_POSTGRES_ENV).map_or(true, |v| v.is_empty()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{TEST_POSTGRES_ENV} is unset: CI runs the PostgreSQL tests (source \
                 scripts/postgres-env)"
            );
            eprintln!(
                "skipping: {TEST_POSTGRES_ENV} is unset (source scripts/postgres-env to run \
                 the PostgreSQL tests)"
            );
            return Ok(None);
        }
        let bin = postgres_bin()?;
        let dir = tempfile::tempdir().map_err(|e| fail(format!("tempdir: {e}")))?;
        let root = dir.path();
        let io = |what: &str, e: std::io::Error| fail(format!("{what}: {e}"));
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| io("chmod", e))?;
        let password = hex::encode(rand_bytes()?);
        std::fs::write(root.join("pwfile"), format!("{password}\n"))
            .map_err(|e| io("pwfile", e))?;
        if as_root()? {
            run(Command::new("chown").args(["-R", "postgres:"]).arg(root))?;
        }
        let mut cluster = Self {
            bin,
            port: 0,
            password,
            running: false,
            dir,
        };
        cluster.owner_run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                &format!("--pwfile={}", cluster.dir.path().join("pwfile").display()),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let hba = cluster.data().join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .map_err(|e| io("pg_hba.conf", e))?;
        let fsync = if fsync { "on" } else { "off" };
        let mut started = Err(fail("no port tried"));
        for _ in 0..5 {
            cluster.port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
                 -c fsync={fsync} -c max_connections=200",
                cluster.port,
                cluster.dir.path().display()
            );
            let data = cluster.data().display().to_string();
            let log = cluster
                .dir
                .path()
                .join("postgres.log")
                .display()
                .to_string();
            started = cluster.pg_ctl(&[
                "-D", &data, "-w", "-t", "60", "-l", &log, "-o", &options, "start",
            ]);
            if started.is_ok() {
                break;
            }
        }
        started.map_err(|e| fail(format!("{e}\n{}", cluster.log())))?;
        cluster.running = true;
        let socket = cluster.dir.path().display().to_string();
        let port = cluster.port.to_string();
        let password = cluster.password.clone();
        cluster.owner_run(
            "psql",
            &[
                "-h",
                &socket,
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                &format!("CREATE ROLE kastell LOGIN CREATEDB PASSWORD '{password}'"),
                "-c",
                "CREATE DATABASE kastell OWNER kastell",
            ],
        )?;
        Ok(Some(cluster))
    }

    /// The database's URL without the password (what `[store] url` takes), and the
    /// password.
    #[must_use]
    pub fn url(&self) -> (String, String) {
        (
            format!("postgres://kastell@127.0.0.1:{}/kastell", self.port),
            self.password.clone(),
        )
    }

    /// The database's URL with the password, for a test's own connections.
    #[must_use]
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://kastell:{}@127.0.0.1:{}/kastell",
            self.password, self.port
        )
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are dropped).
    ///
    /// # Errors
    /// When `pg_ctl` fails.
    pub fn stop(&mut self) -> Result<()> {
        let data = self.data().display().to_string();
        self.pg_ctl(&["-D", &data, "-w", "-t", "60", "-m", "fast", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Starts the server again after [`Self::stop`], with the options of its first start.
    ///
    /// # Errors
    /// When `pg_ctl` fails.
    pub fn resume(&mut self) -> Result<()> {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("postgres.log").display().to_string();
        // `restart` on a stopped cluster starts it with the options of its last start
        // (postmaster.opts).
        self.pg_ctl(&["-D", &data, "-w", "-t", "60", "-l", &log, "restart"])
            .map_err(|e| fail(format!("{e}\n{}", self.log())))?;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl restart -m fast`: connections dropped, the server back at once.
    ///
    /// # Errors
    /// When `pg_ctl` fails.
    pub fn restart(&mut self) -> Result<()> {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.pg_ctl(&[
            "-D", &data, "-w", "-t", "60", "-l", &log, "-m", "fast", "restart",
        ])
        .map_err(|e| fail(format!("{e}\n{}", self.log())))
    }

    /// The server's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        self.owner_run("pg_ctl", args)
    }

    /// Runs the PostgreSQL program `program` as the cluster's owner.
    fn owner_run(&self, program: &str, args: &[&str]) -> Result<()> {
        let path = self.bin.join(program);
        let mut command = if as_root()? {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        command.args(args).current_dir(self.dir.path());
        run(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            let _ = self.pg_ctl(&["-D", &data, "-w", "-m", "immediate", "stop"]);
        }
    }
}

/// Runs `command`; an error carries its output.
fn run(command: &mut Command) -> Result<()> {
    let out = command
        .output()
        .map_err(|e| fail(format!("{command:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(format!(
            "{command:?} exited with {}:\n{}{}",
            out.status,
            crate::text(&out.stdout),
            crate::text(&out.stderr)
        )))
    }
}

fn as_root() -> Result<bool> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .map_err(|e| fail(format!("/proc/self: {e}")))
}

/// Where PostgreSQL's programs are: `KASTELL_POSTGRES_BIN` (`scripts/postgres-env` exports
/// it), else Debian's `/usr/lib/postgresql/<version>/bin`.
fn postgres_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("KASTELL_POSTGRES_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").map_err(|e| {
        fail(format!(
            "PostgreSQL is not installed (/usr/lib/postgresql: {e})"
        ))
    })?;
    versions
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .find(|bin| Path::new(bin).join("initdb").is_file())
        .ok_or_else(|| fail("no initdb under /usr/lib/postgresql/*/bin"))
}

/// A port the kernel hands out on 127.0.0.1 (free now; tried again by the caller when
/// another process takes it first).
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| fail(format!("a free port: {e}")))
}

fn rand_bytes() -> Result<[u8; 24]> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| fail(format!("/dev/urandom: {e}")))?;
    Ok(bytes)
}
