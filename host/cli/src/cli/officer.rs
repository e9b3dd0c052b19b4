//! Officers' commands against a server: `kastell approve`, `kastell approvals`,
//! `kastell quorum`, `kastell user`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use kastell_proto::api::{
    ApprovalQuery, ApproveRequest, ClientList, ClientQuery, ClientRequest, Gated, RevokeRequest,
    SetQuorumRequest,
};
use kastell_proto::{ErrorCode, PendingState};

use super::io::{print_admin, print_answer};
use super::remote::{connect, remote_error};
use super::{CliError, client_error};
use kastell_core::clients::{
    self, CERTIFICATE_FILE, ClientKey, ClientProfile, KEY_FILE, PUBLIC_KEY_FILE, ROOT_FILE,
};
use kastell_core::quorum;

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
        /// delete-key, bind-policy, quorum, issue-officer, issue-client or export-backup.
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
    /// Make a client's key where the client will live (run by the client, not the
    /// officer): --out-dir/key.pem (owner-only; it never leaves) and public.pem, which an
    /// officer passes to `user add --public-key`.
    Key {
        /// Folder for key.pem and public.pem (created owner-only).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Issue a client certificate through the server for a public key the client made
    /// (`user key`), and write cert.pem, root.pem and profile.toml to --out-dir. Of quorum
    /// class issue-officer for officers, issue-client for users and auditors; when the
    /// class needs approvals, run `user collect` once approved.
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
        /// The client's public key (public.pem from `user key`).
        #[arg(long)]
        public_key: PathBuf,
        /// Folder for cert.pem, root.pem and profile.toml: the client's own folder (beside
        /// its key.pem) or one whose files the client copies there.
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
        /// The folder given to `user add` (holding the client's key.pem or public.pem).
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Approves an operation: fetches it, checks its canonical bytes against its digest,
/// shows what is signed, signs with the profile's key and sends the signature.
pub(super) fn approve(args: ApproveArgs) -> Result<(), CliError> {
    let client = connect(&args.server.profile)?;
    let detail = client.approval(&args.id).map_err(remote_error)?;
    let canonical = BASE64
        .decode(&detail.canonical)
        .map_err(|e| CliError::internal(format!("the server's canonical bytes: {e}")))?;
    let digest = hex::encode(quorum::digest_of(&canonical));
    if detail.operation.digest != digest {
        return Err(CliError::internal(
            "the server's canonical bytes do not match the operation's digest; not signing",
        ));
    }
    eprintln!(
        "signing operation {} (class {}, requested by {}), sha384 {digest}:\n{}",
        args.id,
        detail.operation.class,
        detail.operation.requester,
        String::from_utf8_lossy(&canonical).trim_end()
    );
    let profile =
        ClientProfile::load(&args.server.profile).map_err(|e| CliError::usage(e.to_string()))?;
    let key = ClientKey::load(&profile.key).map_err(client_error)?;
    let request = ApproveRequest {
        signature: BASE64.encode(quorum::sign_approval(&key, &canonical)),
    };
    let answer = client.approve(&args.id, &request).map_err(remote_error)?;
    if args.server.json {
        return print_answer(&answer, true);
    }
    let (have, need) = (answer.have, answer.need);
    if answer.duplicate {
        println!("you had approved {} already ({have} of {need})", args.id);
    } else if let Some(result) = &answer.result {
        println!("approved: {have} of {need}; the operation ran");
        print_answer(result, false)?;
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
            let query = ApprovalQuery {
                state: Some(state.clone()),
                ..ApprovalQuery::default()
            };
            let answer = client.list_approvals(&query).map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            if answer.operations.is_empty() {
                println!("no {state} operations");
            }
            for op in &answer.operations {
                let action = serde_json::to_value(&op.action)
                    .map_err(|e| CliError::internal(e.to_string()))?;
                println!(
                    "{}  {}  {}  by {}  approvals {}  {action}",
                    op.id,
                    op.state,
                    op.class,
                    op.requester,
                    op.approvals.len(),
                );
            }
            Ok(())
        }
        ApprovalsCommand::Show { id, server } => {
            let client = connect(&server.profile)?;
            let answer = client.approval(&id).map_err(remote_error)?;
            print_answer(&answer, server.json)
        }
    }
}

/// Runs `kastell quorum …`.
pub(super) fn quorum(command: QuorumCommand) -> Result<(), CliError> {
    match command {
        QuorumCommand::Show { server } => {
            let client = connect(&server.profile)?;
            let answer = client.quorum().map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            for setting in &answer.settings {
                println!("{:<14} {}", setting.class.as_str(), setting.required);
            }
            Ok(())
        }
        QuorumCommand::Set {
            class,
            required,
            server,
        } => {
            let client = connect(&server.profile)?;
            let answer = client
                .set_quorum(&class, &SetQuorumRequest { required })
                .map_err(remote_error)?;
            print_admin(&answer, server.json)
        }
    }
}

/// Writes the certificate, the root and the profile into `dir` (which holds the key).
fn finish_profile(
    dir: &Path,
    officer: &ClientProfile,
    certificate: &str,
) -> Result<PathBuf, CliError> {
    let root = std::fs::read(&officer.ca)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", officer.ca.display())))?;
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

/// The public key of the client whose folder `dir` is: its key.pem's, else its
/// public.pem; none when it holds neither.
fn folder_key(dir: &Path) -> Result<Option<p384::PublicKey>, CliError> {
    if dir.join(KEY_FILE).is_file() {
        return Ok(Some(
            ClientKey::load(&dir.join(KEY_FILE))
                .map_err(client_error)?
                .public_key(),
        ));
    }
    if dir.join(PUBLIC_KEY_FILE).is_file() {
        return ClientKey::read_public(&dir.join(PUBLIC_KEY_FILE))
            .map(Some)
            .map_err(client_error);
    }
    Ok(None)
}

/// Refuses a folder that holds another client's key than `key`.
fn check_folder_key(dir: &Path, key: &p384::PublicKey) -> Result<(), CliError> {
    match folder_key(dir)? {
        Some(found) if found != *key => Err(CliError::new(
            ErrorCode::AlreadyExists,
            format!(
                "{} holds another client's key; give that client's folder or a new one",
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Runs `kastell user …`.
pub(super) fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Key { out_dir } => {
            let public = ClientKey::create_in(&out_dir).map_err(client_error)?;
            println!(
                "key: {} (owner-only; it stays here)",
                out_dir.join(KEY_FILE).display()
            );
            println!(
                "public key: {} (give it to an officer: kastell user add --public-key …)",
                public.display()
            );
            Ok(())
        }
        UserCommand::Add {
            principal,
            role,
            tenant,
            days,
            public_key,
            out_dir,
            server,
        } => {
            let officer =
                ClientProfile::load(&server.profile).map_err(|e| CliError::usage(e.to_string()))?;
            let client = connect(&server.profile)?;
            let dir = std::path::absolute(&out_dir)
                .map_err(|e| CliError::usage(format!("{}: {e}", out_dir.display())))?;
            let key = ClientKey::read_public(&public_key).map_err(client_error)?;
            check_folder_key(&dir, &key)?;
            let public = std::fs::read_to_string(&public_key).map_err(|e| {
                CliError::usage(format!("cannot read {}: {e}", public_key.display()))
            })?;
            let request = ClientRequest {
                principal: principal.clone(),
                role: role.clone(),
                tenant,
                public_key: public,
                days: Some(days),
            };
            let answer = client.issue_client(&request).map_err(remote_error)?;
            clients::create_private_dir(&dir).map_err(client_error)?;
            if server.json {
                print_answer(&answer, true)?;
            }
            match &answer {
                Gated::Done(issued) => {
                    let profile = finish_profile(&dir, &officer, &issued.certificate)?;
                    if !server.json {
                        println!(
                            "issued client `{principal}` ({role}), serial {}: {}",
                            issued.serial,
                            profile.display()
                        );
                    }
                }
                Gated::Pending(pending) => {
                    let id = &pending.operation.id;
                    eprintln!(
                        "pending approval: operation {id} needs {} officer approvals; once \
                         approved run `kastell user collect {id} --out-dir {}`",
                        pending.required,
                        dir.display()
                    );
                }
            }
            Ok(())
        }
        UserCommand::List { server } => {
            let client = connect(&server.profile)?;
            let mut query = ClientQuery {
                after: None,
                limit: Some(1000),
            };
            let mut all = Vec::new();
            loop {
                let rows = client.list_clients(&query).map_err(remote_error)?.clients;
                let full = rows.len() == 1000;
                query.after = rows.last().map(|row| row.serial.clone());
                all.extend(rows);
                if !full {
                    break;
                }
            }
            if server.json {
                return print_answer(&ClientList { clients: all }, true);
            }
            for row in &all {
                let revoked = if row.revoked_ms.is_none() {
                    ""
                } else {
                    "  REVOKED"
                };
                println!(
                    "{}  {}  {}{}{revoked}",
                    row.serial,
                    row.principal,
                    row.role,
                    row.tenant
                        .as_deref()
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
            let serial = clients::parse_serial(&serial).map_err(CliError::usage)?;
            let answer = client
                .revoke_client(&serial, &RevokeRequest { reason })
                .map_err(remote_error)?;
            if server.json {
                return print_answer(&answer, true);
            }
            match answer {
                Gated::Done(revoked) if revoked.revoked_now => {
                    println!("revoked client certificate {serial}");
                }
                Gated::Done(_) => println!("client certificate {serial} was revoked already"),
                Gated::Pending(pending) => print_admin(&Gated::<()>::Pending(pending), false)?,
            }
            Ok(())
        }
        UserCommand::Collect {
            id,
            out_dir,
            server,
        } => {
            let officer =
                ClientProfile::load(&server.profile).map_err(|e| CliError::usage(e.to_string()))?;
            let client = connect(&server.profile)?;
            let operation = client.approval(&id).map_err(remote_error)?.operation;
            let state = operation.state;
            let serial = match operation.outcome.strip_prefix("serial ") {
                Some(serial) if state == PendingState::Executed => serial.to_owned(),
                _ => {
                    return Err(CliError::new(
                        ErrorCode::InvalidState,
                        format!("operation {id} is {state}; no certificate to collect yet"),
                    ));
                }
            };
            let certificate_pem = client
                .client(&serial)
                .map_err(remote_error)?
                .certificate
                .unwrap_or_default();
            let dir = std::path::absolute(&out_dir)
                .map_err(|e| CliError::usage(format!("{}: {e}", out_dir.display())))?;
            let key = folder_key(&dir)?.ok_or_else(|| {
                CliError::usage(format!(
                    "{} has neither key.pem nor public.pem: give the folder `user add` wrote",
                    dir.display()
                ))
            })?;
            let certificate: kastell_attest::x509::Certificate =
                der::DecodePem::from_pem(certificate_pem.as_bytes())
                    .map_err(|e| CliError::internal(format!("the issued certificate: {e}")))?;
            if kastell_attest::verify::public_key(&certificate).ok() != Some(key) {
                return Err(CliError::new(
                    ErrorCode::InvalidCertificate,
                    format!(
                        "operation {id} issued a certificate for another key than the one in {}",
                        dir.display()
                    ),
                ));
            }
            let profile = finish_profile(&dir, &officer, &certificate_pem)?;
            println!("collected: {}", profile.display());
            Ok(())
        }
    }
}
