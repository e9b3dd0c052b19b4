//! `kastell demo`: the whole product in one command, on the embedded default (soft token
//! and SQLite) in a temporary directory. It runs the real commands a user would type,
//! printing each one and what it answered: init, serve, push the tenant-context policy,
//! create a key bound to it, encrypt and decrypt as an allowed tenant, a denial for another
//! tenant and for the officer, rotation, and the audit trail verifying.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::CliError;

/// Options of `kastell demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The tenant-context policy component [default: `tenant_context.wasm` as
    /// `scripts/build-guests` leaves it next to this binary's target directory].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Keep the deployment in this (new) directory instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Where `scripts/build-guests` puts the example policy, relative to this binary
/// (`target/<profile>/kastell` → `target/wasm32-wasip2/guest/`).
fn default_policy() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    let path = target
        .join("wasm32-wasip2")
        .join("guest")
        .join("tenant_context.wasm");
    path.is_file().then_some(path)
}

/// The running server; stopped (SIGTERM, then kill) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let stopped = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

struct Demo {
    exe: PathBuf,
    step: u32,
}

impl Demo {
    fn say(&mut self, title: &str) {
        self.step += 1;
        println!("\n\x1b[1m== {}. {title}\x1b[0m", self.step);
    }

    /// Runs `kastell args…`, printing the command and its output; returns its stdout and
    /// whether it succeeded.
    fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<(bool, String), CliError> {
        println!("$ kastell {}", args.join(" "));
        let mut child = Command::new(&self.exe)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::Internal(format!("cannot run {}: {e}", self.exe.display())))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            std::io::Write::write_all(&mut stdin, bytes)
                .map_err(|e| CliError::Internal(e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| CliError::Internal(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stdout.lines().chain(stderr.lines()) {
            println!("  {line}");
        }
        if !out.status.success() {
            println!("  (exit {})", out.status.code().unwrap_or(-1));
        }
        Ok((out.status.success(), stdout))
    }

    /// As [`Demo::run`], failing the demo when the command fails.
    fn must(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, CliError> {
        match self.run(args, input)? {
            (true, out) => Ok(out),
            (false, _) => Err(CliError::Internal(format!(
                "the demo stopped: `kastell {}` failed",
                args.join(" ")
            ))),
        }
    }

    /// As [`Demo::run`], failing the demo when the command succeeds (a refusal expected).
    fn refused(&self, args: &[&str], input: Option<&[u8]>) -> Result<(), CliError> {
        match self.run(args, input)? {
            (false, _) => Ok(()),
            (true, _) => Err(CliError::Internal(format!(
                "the demo stopped: `kastell {}` should have been refused",
                args.join(" ")
            ))),
        }
    }
}

/// `key decrypt --context tenant=acme --profile PROFILE`: the record's decryption.
fn decrypt_as(profile: &str) -> [&str; 6] {
    [
        "key",
        "decrypt",
        "--context",
        "tenant=acme",
        "--profile",
        profile,
    ]
}

fn free_port() -> Result<u16, CliError> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CliError::Internal(format!("no free loopback port: {e}")))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| CliError::Internal(e.to_string()))
}

fn start_server(exe: &Path, config: &Path) -> Result<Server, CliError> {
    let config = config.to_string_lossy();
    println!("$ kastell serve --config {config} &");
    let mut child = Command::new(exe)
        .args(["serve", "--config", &config])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| CliError::Internal(format!("cannot start the server: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::Internal("the server's output is not readable".into()))?;
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) if line.starts_with("kastell listening on") => {
            println!("  {line}");
            // Keep draining the server's output so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            Ok(server)
        }
        other => Err(CliError::Internal(format!(
            "the server did not start: {}",
            other.and_then(Result::ok).unwrap_or_default()
        ))),
    }
}

/// Runs the demo.
pub(super) fn run(args: DemoArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Internal(format!("cannot find this program: {e}")))?;
    let policy = args.policy.or_else(default_policy).ok_or_else(|| {
        CliError::Usage(
            "the tenant-context policy was not found: run `scripts/build-guests` or give \
             --policy PATH/tenant_context.wasm"
                .into(),
        )
    })?;
    let temp;
    let dir = match args.keep {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().map_err(|e| CliError::Internal(e.to_string()))?;
            temp.path().to_path_buf()
        }
    };
    let mut demo = Demo { exe, step: 0 };
    let d = dir.to_string_lossy().into_owned();
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://{listen}");

    demo.say("A deployment: the owner's EU root CA, a host CA, token keys, the first officer");
    demo.must(
        &[
            "init",
            "--org",
            "Example GmbH",
            "--country",
            "DE",
            "--data-dir",
            &d,
            "--listen",
            &listen,
        ],
        None,
    )?;
    let config = format!("{d}/kastell.toml");
    let officer = format!("{d}/clients/officer/profile.toml");

    demo.say("Client certificates carry one role (and a tenant): two applications, an auditor");
    for (name, role, tenant) in [
        ("app-acme", "crypto-user", Some("acme")),
        ("app-globex", "crypto-user", Some("globex")),
        ("auditor", "auditor", None),
    ] {
        let out = format!("{d}/clients/{name}");
        let mut command = vec![
            "ca",
            "issue-client",
            "--principal",
            name,
            "--role",
            role,
            "--out-dir",
            &out,
            "--server-url",
            &url,
            "--config",
            &config,
        ];
        if let Some(tenant) = tenant {
            command.extend(["--tenant", tenant]);
        }
        demo.must(&command, None)?;
    }
    let acme = format!("{d}/clients/app-acme/profile.toml");
    let globex = format!("{d}/clients/app-globex/profile.toml");
    let auditor = format!("{d}/clients/auditor/profile.toml");

    demo.say("The server: HTTPS with mutual TLS on loopback");
    let server = start_server(&demo.exe, Path::new(&config))?;

    demo.say("The officer pushes the tenant-context policy (stored under its SHA-384)");
    let policy = policy.to_string_lossy().into_owned();
    let measurement = demo.must(&["policy", "push", &policy, "--profile", &officer], None)?;
    let measurement = measurement.trim().to_owned();

    demo.say("…and creates a key bound to it");
    demo.must(
        &[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/records",
            "--policy",
            &measurement,
            "--profile",
            &officer,
        ],
        None,
    )?;

    demo.say("acme's application encrypts a record with context tenant=acme, and decrypts it");
    let record = b"patient 4711: blood type A+";
    let ciphertext = demo.must(
        &[
            "key",
            "encrypt",
            "alias/records",
            "--context",
            "tenant=acme",
            "--profile",
            &acme,
        ],
        Some(record),
    )?;
    let ciphertext = ciphertext.trim().as_bytes().to_vec();
    let plaintext = demo.must(&decrypt_as(&acme), Some(&ciphertext))?;
    if plaintext.as_bytes() != record {
        return Err(CliError::Internal(
            "the demo stopped: the decrypted record differs".into(),
        ));
    }

    demo.say("globex's application is refused by the policy, whatever context it claims");
    demo.refused(&decrypt_as(&globex), Some(&ciphertext))?;
    demo.say("The officer administers keys but cannot use them (separation of duties)");
    demo.refused(&decrypt_as(&officer), Some(&ciphertext))?;

    demo.say("Rotation: new data uses version 2, old ciphertexts still decrypt");
    demo.must(
        &["key", "rotate", "alias/records", "--profile", &officer],
        None,
    )?;
    demo.must(&decrypt_as(&acme), Some(&ciphertext))?;

    demo.say("The auditor verifies the hash-chained, signed audit trail");
    demo.must(&["audit", "verify", "--profile", &auditor], None)?;
    println!("$ kastell audit export --profile {auditor}   (the last three records)");
    let export = Command::new(&demo.exe)
        .args(["audit", "export", "--profile", &auditor])
        .output()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let text = String::from_utf8_lossy(&export.stdout);
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(3)..] {
        println!("  {line}");
    }
    println!(
        "  (the encryption context is kept only as an HMAC: `context_hmac`; denials are \
         recorded with their reason)"
    );

    demo.say("Done: stopping the server");
    drop(server);
    println!("the deployment was in {d}");
    Ok(())
}
