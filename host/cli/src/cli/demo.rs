//! `kastell demo`: the whole product in one command, on the embedded default (soft token
//! and SQLite) in a temporary directory. It runs the real commands a user would type,
//! printing each one and what it answered: init, serve, push the tenant-context policy,
//! create a key bound to it, encrypt and decrypt as an allowed tenant, a denial for another
//! tenant and for the officer, rotation, and the audit trail verifying; then attested key
//! release with the `record-vault` workload as the enclave stand-in ([`attested`]).

mod attested;
mod evidence;
mod runner;
mod vault;

use std::path::{Path, PathBuf};

use super::CliError;
use runner::{Demo, free_port, start_server, stopped};

/// Options of `kastell demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory of the guest components `scripts/build-guests` builds (`tenant_context`,
    /// `allow_measured`, `record_vault`, `record_vault_modified`, each `.wasm`) [default:
    /// `target/wasm32-wasip2/guest` beside this binary's target directory].
    #[arg(long)]
    pub guests: Option<PathBuf>,
    /// The tenant-context policy component [default: `tenant_context.wasm` in the guests
    /// directory].
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Keep the deployment in this (new) directory instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Where `scripts/build-guests` puts the guest components, relative to this binary
/// (`target/<profile>/kastell` → `target/wasm32-wasip2/guest/`).
fn default_guests(exe: &Path) -> Option<PathBuf> {
    let target = exe.parent()?.parent()?;
    Some(target.join("wasm32-wasip2").join("guest"))
}

/// The components the demo runs, each checked to exist before anything starts.
struct Guests {
    /// The tenant-context policy.
    tenant_context: PathBuf,
    /// allow-measured, record-vault and its modified build.
    attested: attested::Components,
}

impl Guests {
    /// The components in `--guests DIR` (or the default directory), `--policy` overriding
    /// the tenant-context policy.
    ///
    /// # Errors
    /// [`CliError::usage`] naming every component missing and `scripts/build-guests`.
    fn locate(args: &DemoArgs, exe: &Path) -> Result<Self, CliError> {
        let dir = args
            .guests
            .clone()
            .or_else(|| default_guests(exe))
            .ok_or_else(|| CliError::usage("give the guest components' directory: --guests DIR"))?;
        let tenant_context = args
            .policy
            .clone()
            .unwrap_or_else(|| dir.join("tenant_context.wasm"));
        let guests = Self {
            tenant_context,
            attested: attested::Components {
                policy: dir.join("allow_measured.wasm"),
                workload: dir.join("record_vault.wasm"),
                modified: dir.join("record_vault_modified.wasm"),
            },
        };
        let missing: Vec<String> = [
            &guests.tenant_context,
            &guests.attested.policy,
            &guests.attested.workload,
            &guests.attested.modified,
        ]
        .into_iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
        if missing.is_empty() {
            Ok(guests)
        } else {
            Err(CliError::usage(format!(
                "the demo's guest components are missing ({}): run `scripts/build-guests` \
                 or give --guests DIR",
                missing.join(", ")
            )))
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

/// Runs the demo.
pub(super) fn run(args: DemoArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::internal(format!("cannot find this program: {e}")))?;
    let guests = Guests::locate(&args, &exe)?;
    let temp;
    let dir = match args.keep {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().map_err(|e| CliError::internal(e.to_string()))?;
            temp.path().to_path_buf()
        }
    };
    let mut demo = Demo::new(exe);
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
    let policy = guests.tenant_context.to_string_lossy().into_owned();
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
        return Err(stopped("the decrypted record differs"));
    }

    demo.say("globex's application is refused by the policy, whatever context it claims");
    demo.refused(
        &decrypt_as(&globex),
        Some(&ciphertext),
        Some("AccessDenied"),
    )?;
    demo.say("The officer administers keys but cannot use them (separation of duties)");
    demo.refused(
        &decrypt_as(&officer),
        Some(&ciphertext),
        Some("AccessDenied"),
    )?;

    demo.say("Rotation: new data uses version 2, old ciphertexts still decrypt");
    demo.must(
        &["key", "rotate", "alias/records", "--profile", &officer],
        None,
    )?;
    demo.must(&decrypt_as(&acme), Some(&ciphertext))?;

    demo.say("The auditor verifies the hash-chained, signed audit trail");
    demo.must(&["audit", "verify", "--profile", &auditor], None)?;
    let text = demo.audit_export(&auditor, "the last three records")?;
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(3)..] {
        println!("  {line}");
    }
    println!(
        "  (the encryption context is kept only as an HMAC: `context_hmac`; denials are \
         recorded with their reason)"
    );

    attested::run(
        &mut demo,
        &attested::Parties {
            dir: &dir,
            root: &format!("{d}/ca/root.pem"),
            officer: &officer,
            app: &acme,
            auditor: &auditor,
        },
        &guests.attested,
    )?;

    demo.say("Done: stopping the server");
    drop(server);
    println!("the deployment was in {d}");
    Ok(())
}
