//! Running the demo's commands: the `kastell` binary itself (and `kastell-verify`), each
//! command printed as a user would type it, with what it answered; and the server it
//! talks to, started and stopped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::super::CliError;

/// A demo step that did not behave as described: the demo stops (exit 3).
pub(super) fn stopped(what: impl std::fmt::Display) -> CliError {
    CliError::internal(format!("the demo stopped: {what}"))
}

/// A command for `program` that sees none of the caller's `KASTELL_*` settings (a data
/// directory, configuration, profile, token or secret) but the log format: the demo acts
/// on its own deployment only, never on one named in the environment.
pub(super) fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("KASTELL_") && name != "KASTELL_LOG_FORMAT" {
            command.env_remove(&*name);
        }
    }
    command
}

/// What a command answered.
pub(super) struct Answer {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// The demo's state: the programs it runs and the number of the step being shown.
pub(super) struct Demo {
    /// This `kastell` executable.
    pub exe: PathBuf,
    step: u32,
}

impl Demo {
    pub fn new(exe: PathBuf) -> Self {
        Self { exe, step: 0 }
    }

    /// Starts the next step, with its one-line explanation.
    pub fn say(&mut self, title: &str) {
        self.step += 1;
        println!("\n\x1b[1m== {}. {title}\x1b[0m", self.step);
    }

    /// Runs `program args…` (shown as `name args…`), printing the command and its output.
    pub fn run_program(
        &self,
        program: &Path,
        name: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Answer, CliError> {
        println!("$ {name} {}", shell_words(args));
        let mut child = command(program)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::internal(format!("cannot run {}: {e}", program.display())))?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            std::io::Write::write_all(&mut stdin, bytes)
                .map_err(|e| CliError::internal(e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| CliError::internal(e.to_string()))?;
        let answer = Answer {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for line in answer.stdout.lines().chain(answer.stderr.lines()) {
            println!("  {line}");
        }
        if !answer.ok {
            println!("  (exit {})", out.status.code().unwrap_or(-1));
        }
        Ok(answer)
    }

    /// Runs `kastell args…`, printing the command and its output.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<Answer, CliError> {
        self.run_program(&self.exe, "kastell", args, input)
    }

    /// As [`Demo::run`], failing the demo when the command fails; its standard output.
    pub fn must(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, CliError> {
        let answer = self.run(args, input)?;
        if answer.ok {
            Ok(answer.stdout)
        } else {
            Err(stopped(format_args!(
                "`kastell {}` failed",
                shell_words(args)
            )))
        }
    }

    /// `kastell audit export --profile AUDITOR` (printed with `note`, its output not): the
    /// trail's records, one JSON line each.
    pub fn audit_export(&self, auditor: &str, note: &str) -> Result<String, CliError> {
        println!("$ kastell audit export --profile {auditor}   ({note})");
        let export = command(&self.exe)
            .args(["audit", "export", "--profile", auditor])
            .output()
            .map_err(|e| CliError::internal(e.to_string()))?;
        if !export.status.success() {
            return Err(stopped(format_args!(
                "`kastell audit export` failed: {}",
                String::from_utf8_lossy(&export.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&export.stdout).into_owned())
    }

    /// As [`Demo::run`], failing the demo unless the command is refused with the error
    /// named `error` (`AccessDenied`, …), or with any error when `error` is `None`.
    pub fn refused(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
        error: Option<&str>,
    ) -> Result<(), CliError> {
        let answer = self.run(args, input)?;
        if answer.ok {
            return Err(stopped(format_args!(
                "`kastell {}` should have been refused",
                shell_words(args)
            )));
        }
        match error {
            Some(name) if !answer.stderr.contains(name) => Err(stopped(format_args!(
                "`kastell {}` should have been refused with {name}",
                shell_words(args)
            ))),
            _ => Ok(()),
        }
    }
}

/// The arguments as a shell would need them: quoted where they hold anything but plain
/// characters.
pub(super) fn shell_words(args: &[&str]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    args.iter()
        .map(|arg| {
            if !arg.is_empty() && arg.chars().all(plain) {
                (*arg).to_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The running server; stopped (SIGTERM, then kill) when dropped.
pub(super) struct Server(Child);

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

/// A loopback port nobody listens on now.
pub(super) fn free_port() -> Result<u16, CliError> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CliError::internal(format!("no free loopback port: {e}")))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| CliError::internal(e.to_string()))
}

/// Starts `kastell serve --config CONFIG` and waits for it to listen.
pub(super) fn start_server(exe: &Path, config: &Path) -> Result<Server, CliError> {
    let config = config.to_string_lossy();
    println!("$ kastell serve --config {config} &");
    let mut child = command(exe)
        .args(["serve", "--config", &config])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| CliError::internal(format!("cannot start the server: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::internal("the server's output is not readable"))?;
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) if line.starts_with("kastell listening on") => {
            println!("  {line}");
            // Keep draining the server's output so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            Ok(server)
        }
        other => Err(CliError::internal(format!(
            "the server did not start: {}",
            other.and_then(Result::ok).unwrap_or_default()
        ))),
    }
}
