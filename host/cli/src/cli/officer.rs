//! Officers' commands against a server: `kastell approve`, `kastell approvals`,
//! `kastell quorum`, `kastell user`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::CliError;
use super::key::{connect, print_admin, print_answer, remote_error};
use kastell_core::clients::{self, CERTIFICATE_FILE, ClientProfile, KEY_FILE, ROOT_FILE};

/// The server and the caller's profile.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Client profile (`profile.toml`) of the caller.
    #[arg(long, env = "KASTELL_PROFILE")]
    pub profile: PathBuf,
    /// Print the server's JSON answer as it came.
    #[arg(long)]
    pub json: bool,
}

/// `kastell approve OP_ID`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The pending operation's id.
    pub id: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `kastell approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List operations (pending by default).
    List {
        /// pending, executed, expired, failed or all.
        #[arg(long, default_value = "pending")]
        state: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one operation and the exact bytes an approval signs.
    Show {
        /// The operation's id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `kastell quorum …`.
#[derive(Debug, Subcommand)]
pub enum QuorumCommand {
    /// Print the approvals each class of administrative operation needs.
    Show {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Set a class's requirement (itself needs the `quorum` class's approvals).
    Set {
        /// delete-key, bind-policy, quorum, issue-officer or export-backup.
        class: String,
        /// Approvals from distinct officers, 1–16.
        required: u32,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `kastell user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a client: a key generated here, its certificate issued by the server, and a
    /// profile in --out-dir. Officer certificates may need approvals (then run `user
    /// collect` once approved).
    Add {
        /// The principal (certificate CN).
        #[arg(long)]
        principal: String,
        /// crypto-officer, crypto-user or auditor.
        #[arg(long)]
        role: String,
        /// The tenant, if any.
        #[arg(long)]
        tenant: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Folder for key.pem, cert.pem, root.pem and profile.toml.
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the client certificates the deployment issued (serial, principal, role,
    /// tenant, validity, revocation).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a client certificate by serial (hex, as `user add`, `user list` or
    /// `openssl x509 -serial` print it): the server refuses it from then on.
    Revoke {
        /// The certificate's serial number.
        serial: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Fetch the certificate of an approved `user add` into its folder.
    Collect {
        /// The operation's id.
        id: String,
        /// The folder `user add` wrote the key to.
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn field<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// Approves an operation: fetches it, checks its canonical bytes against its digest,
/// shows what is signed, signs with the profile's key and sends the signature.
pub(super) fn approve(args: ApproveArgs) -> Result<(), CliError> {
    let client = connect(&args.server.profile)?;
    let path = format!("/v1/approvals/{}", crate::client::segment(&args.id));
    let detail: Value = client.get(&path).map_err(remote_error)?;
    let canonical = BASE64
        .decode(field(&detail, "/canonical").as_str().unwrap_or_default())
        .map_err(|e| CliError::Internal(format!("the server's canonical bytes: {e}")))?;
    let digest = hex::encode(sha2::Sha384::digest(&canonical));
    if field(&detail, "/operation/digest").as_str() != Some(digest.as_str()) {
        return Err(CliError::Internal(
            "the server's canonical bytes do not match the operation's digest; not signing".into(),
        ));
    }
    eprintln!(
        "signing operation {} (class {}, requested by {}), sha384 {digest}:\n{}",
        args.id,
        field(&detail, "/operation/class").as_str().unwrap_or("?"),
        field(&detail, "/operation/requester")
            .as_str()
            .unwrap_or("?"),
        String::from_utf8_lossy(&canonical).trim_end()
    );
    let profile =
        ClientProfile::load(&args.server.profile).map_err(|e| CliError::Usage(e.to_string()))?;
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(&profile.key)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", profile.key.display())))?,
    );
    let secret: p384::SecretKey = p384::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem)
        .map_err(|e| CliError::Usage(format!("{}: not a P-384 key: {e}", profile.key.display())))?;
    let signing = p384::ecdsa::SigningKey::from(&secret);
    let signature: p384::ecdsa::Signature = signature::Signer::sign(&signing, &canonical);
    let answer: Value = client
        .post(
            &path,
            &json!({ "signature": BASE64.encode(signature.to_der().as_bytes()) }),
        )
        .map_err(remote_error)?;
    if args.server.json {
        return print_answer(&answer, true);
    }
    let (have, need) = (field(&answer, "/have"), field(&answer, "/need"));
    if field(&answer, "/duplicate").as_bool() == Some(true) {
        println!("you had approved {} already ({have} of {need})", args.id);
    } else if answer.get("result").is_some_and(|r| !r.is_null()) {
        println!("approved: {have} of {need}; the operation ran");
        print_answer(field(&answer, "/result"), false)?;
    } else {
        println!("approved: {have} of {need}");
    }
    Ok(())
}

/// Runs `kastell approvals …`.
pub(super) fn approvals(command: ApprovalsCommand) -> Result<(), CliError> {
    match command {
        ApprovalsCommand::List { state, server } => {
            let client = connect(&server.profile)?;
            let answer: Value = client
                .get(&format!(
                    "/v1/approvals?state={}",
                    crate::client::segment(&state)
                ))
                .map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            let operations = answer
                .get("operations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if operations.is_empty() {
                println!("no {state} operations");
            }
            for op in &operations {
                println!(
                    "{}  {}  {}  by {}  approvals {}  {}",
                    field(op, "/id").as_str().unwrap_or("?"),
                    field(op, "/state").as_str().unwrap_or("?"),
                    field(op, "/class").as_str().unwrap_or("?"),
                    field(op, "/requester").as_str().unwrap_or("?"),
                    field(op, "/approvals").as_array().map_or(0, Vec::len),
                    field(op, "/action"),
                );
            }
            Ok(())
        }
        ApprovalsCommand::Show { id, server } => {
            let client = connect(&server.profile)?;
            let answer: Value = client
                .get(&format!("/v1/approvals/{}", crate::client::segment(&id)))
                .map_err(remote_error)?;
            print_answer(&answer, server.json)
        }
    }
}

/// Runs `kastell quorum …`.
pub(super) fn quorum(command: QuorumCommand) -> Result<(), CliError> {
    match command {
        QuorumCommand::Show { server } => {
            let client = connect(&server.profile)?;
            let answer: Value = client.get("/v1/quorum").map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            for setting in answer
                .get("settings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                println!(
                    "{:<14} {}",
                    field(&setting, "/class").as_str().unwrap_or("?"),
                    field(&setting, "/required")
                );
            }
            Ok(())
        }
        QuorumCommand::Set {
            class,
            required,
            server,
        } => {
            let client = connect(&server.profile)?;
            let answer: Value = client
                .put(
                    &format!("/v1/quorum/{}", crate::client::segment(&class)),
                    &json!({ "required": required }),
                )
                .map_err(remote_error)?;
            print_admin(&answer, server.json)
        }
    }
}

fn client_error(err: clients::ClientError) -> CliError {
    CliError::Usage(err.to_string())
}

/// Writes the certificate, the root and the profile into `dir` (which holds the key).
fn finish_profile(
    dir: &Path,
    officer: &ClientProfile,
    certificate: &str,
) -> Result<PathBuf, CliError> {
    let root = std::fs::read(&officer.ca)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", officer.ca.display())))?;
    clients::write_file(&dir.join(ROOT_FILE), &root).map_err(client_error)?;
    clients::write_file(&dir.join(CERTIFICATE_FILE), certificate.as_bytes())
        .map_err(client_error)?;
    ClientProfile {
        server: officer.server.clone(),
        ca: dir.join(ROOT_FILE),
        certificate: dir.join(CERTIFICATE_FILE),
        key: dir.join(KEY_FILE),
    }
    .write(dir)
    .map_err(client_error)
}

/// Runs `kastell user …`.
pub(super) fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            principal,
            role,
            tenant,
            days,
            out_dir,
            server,
        } => {
            let officer =
                ClientProfile::load(&server.profile).map_err(|e| CliError::Usage(e.to_string()))?;
            let client = connect(&server.profile)?;
            let dir = std::path::absolute(&out_dir)
                .map_err(|e| CliError::Usage(format!("{}: {e}", out_dir.display())))?;
            if dir.join(KEY_FILE).exists() {
                return Err(CliError::Invalid(format!(
                    "{} holds a key already; choose another folder",
                    dir.display()
                )));
            }
            let secret = p384::SecretKey::random(&mut rand_core::OsRng);
            let public = p384::pkcs8::EncodePublicKey::to_public_key_pem(
                &secret.public_key(),
                p384::pkcs8::LineEnding::LF,
            )
            .map_err(|e| CliError::Internal(e.to_string()))?;
            let key_pem =
                p384::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, p384::pkcs8::LineEnding::LF)
                    .map_err(|e| CliError::Internal(e.to_string()))?;
            drop(secret);
            let answer: Value = client
                .post(
                    "/v1/clients",
                    &json!({
                        "principal": principal, "role": role, "tenant": tenant,
                        "public_key": public, "days": days,
                    }),
                )
                .map_err(remote_error)?;
            clients::create_private_dir(&dir).map_err(client_error)?;
            clients::write_file(&dir.join(KEY_FILE), key_pem.as_bytes()).map_err(client_error)?;
            if server.json {
                print_answer(&answer, true)?;
            }
            match answer.get("certificate").and_then(Value::as_str) {
                Some(certificate) => {
                    let profile = finish_profile(&dir, &officer, certificate)?;
                    if !server.json {
                        println!(
                            "issued client `{principal}` ({role}), serial {}: {}",
                            field(&answer, "/serial").as_str().unwrap_or("?"),
                            profile.display()
                        );
                    }
                }
                None => {
                    let id = field(&answer, "/operation/id").as_str().unwrap_or("?");
                    eprintln!(
                        "pending approval: operation {id} needs {} officer approvals; the key \
                         is in {}; once approved run `kastell user collect {id} --out-dir {}`",
                        field(&answer, "/required"),
                        dir.display(),
                        dir.display()
                    );
                }
            }
            Ok(())
        }
        UserCommand::List { server } => {
            let client = connect(&server.profile)?;
            let mut after: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let path = match &after {
                    Some(serial) => format!("/v1/clients?limit=1000&after={serial}"),
                    None => "/v1/clients?limit=1000".to_owned(),
                };
                let page: Value = client.get(&path).map_err(remote_error)?;
                let rows = page
                    .get("clients")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let full = rows.len() == 1000;
                after = rows
                    .last()
                    .and_then(|r| r.get("serial"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                all.extend(rows);
                if !full {
                    break;
                }
            }
            if server.json {
                return print_answer(&json!({ "clients": all }), true);
            }
            for row in &all {
                let revoked = if field(row, "/revoked_ms").is_null() {
                    ""
                } else {
                    "  REVOKED"
                };
                println!(
                    "{}  {}  {}{}{revoked}",
                    field(row, "/serial").as_str().unwrap_or("?"),
                    field(row, "/principal").as_str().unwrap_or("?"),
                    field(row, "/role").as_str().unwrap_or("?"),
                    field(row, "/tenant")
                        .as_str()
                        .map(|t| format!(" (tenant {t})"))
                        .unwrap_or_default(),
                );
            }
            Ok(())
        }
        UserCommand::Revoke {
            serial,
            reason,
            server,
        } => {
            let client = connect(&server.profile)?;
            let serial = clients::parse_serial(&serial).map_err(CliError::Usage)?;
            let answer: Value = client
                .post(
                    &format!("/v1/clients/{serial}/revoke"),
                    &json!({ "reason": reason }),
                )
                .map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            if answer.get("revoked_now").and_then(Value::as_bool) == Some(true) {
                println!("revoked client certificate {serial}");
            } else {
                println!("client certificate {serial} was revoked already");
            }
            Ok(())
        }
        UserCommand::Collect {
            id,
            out_dir,
            server,
        } => {
            let officer =
                ClientProfile::load(&server.profile).map_err(|e| CliError::Usage(e.to_string()))?;
            let client = connect(&server.profile)?;
            let detail: Value = client
                .get(&format!("/v1/approvals/{}", crate::client::segment(&id)))
                .map_err(remote_error)?;
            let state = field(&detail, "/operation/state").as_str().unwrap_or("?");
            let outcome = field(&detail, "/operation/outcome").as_str().unwrap_or("");
            let serial = match outcome.strip_prefix("serial ") {
                Some(serial) if state == "executed" => serial.to_owned(),
                _ => {
                    return Err(CliError::Invalid(format!(
                        "operation {id} is {state}; no certificate to collect yet"
                    )));
                }
            };
            let issued: Value = client
                .get(&format!("/v1/clients/{}", crate::client::segment(&serial)))
                .map_err(remote_error)?;
            let certificate_pem = field(&issued, "/certificate")
                .as_str()
                .unwrap_or("")
                .to_owned();
            let dir = std::path::absolute(&out_dir)
                .map_err(|e| CliError::Usage(format!("{}: {e}", out_dir.display())))?;
            if !dir.join(KEY_FILE).is_file() {
                return Err(CliError::Usage(format!(
                    "{} has no key.pem: give the folder `user add` wrote",
                    dir.display()
                )));
            }
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(dir.join(KEY_FILE))
                    .map_err(|e| CliError::Usage(format!("cannot read key.pem: {e}")))?,
            );
            let secret: p384::SecretKey = p384::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| CliError::Usage(format!("key.pem: not a P-384 key: {e}")))?;
            let certificate: kastell_attest::x509::Certificate =
                der::DecodePem::from_pem(certificate_pem.as_bytes())
                    .map_err(|e| CliError::Internal(format!("the issued certificate: {e}")))?;
            if kastell_attest::verify::public_key(&certificate).ok() != Some(secret.public_key()) {
                return Err(CliError::Invalid(format!(
                    "operation {id} issued a certificate for another key than {}",
                    dir.join(KEY_FILE).display()
                )));
            }
            let profile = finish_profile(&dir, &officer, &certificate_pem)?;
            println!("collected: {}", profile.display());
            Ok(())
        }
    }
}
