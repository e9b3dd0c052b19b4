//! `kastell access-key`: access keys of the AWS KMS-compatible endpoint.
//!
//! Through a server (`--profile`, an officer's): `create` asks for a key under the same
//! quorum as client certificates (`issue-officer` for a key with the crypto-officer role,
//! `issue-client` for the others) with the public key of the profile's own key; the secret
//! comes back sealed to it (HPKE) and is opened here, with the profile's private key, to be
//! printed once. When the class needs approvals, `collect` fetches it once approved.
//! `list` and `revoke` (an officer's key under `issue-officer`) go through the server too.
//!
//! Offline, on the deployment's data directory (`--data-dir`, `--config`): whoever opens
//! the token there holds every key already, as with `kastell ca issue-client`, so the
//! secret is printed directly (for bootstrapping a deployment on its own host).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use kastell_core::clients::{ClientKey, ClientProfile};
use kastell_core::keys::AccessKeyIdentity;
use kastell_proto::api::{
    AccessKeyCreated, AccessKeyIssued, AccessKeyList, AccessKeyQuery, AccessKeyRequest, Gated,
    RevokeRequest, SecretBase64, delivery_aad, delivery_info,
};
use kastell_proto::{ErrorCode, Role};

use super::deployment::{DeploymentArgs, operator};
use super::io::{print_admin, print_answer};
use super::officer::ServerArgs;
use super::remote::{connect, remote_error};
use super::{CliError, client_error};

/// `kastell access-key …`.
#[derive(Debug, Subcommand)]
pub enum AccessKeyCommand {
    /// Issue an access key acting as a principal; prints JSON {"access_key_id",
    /// "secret_access_key", "arn"} (the secret is shown this once). With --profile through
    /// the server, under the same quorum as client certificates.
    Create {
        /// The principal its requests act as: 1–128 of A–Z a–z 0–9 - _ .
        #[arg(long)]
        principal: String,
        /// crypto-user (uses keys), crypto-officer (administers them) or auditor. A
        /// principal keeps one role for life, across certificates and access keys; where
        /// `[aws] separation_of_duties = false`, give --role twice for crypto-officer and
        /// crypto-user.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The principal's tenant, if any.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Fetch an access key whose `create` needed approvals, once approved, and print it
    /// as `create` does (its secret opens only with the requester's profile key).
    Collect {
        /// The approved operation's id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the access keys issued (never their secrets).
    List {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Revoke an access key: through the server (--profile) the AWS endpoint refuses it from
    /// the next request on; offline (--config) once it reads the key's row again, within
    /// `[aws] access_key_recheck_ms` (1 s by default).
    Revoke {
        /// The access key id.
        id: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
}

fn key_error(err: kastell_core::keys::KeyError) -> CliError {
    CliError::new(err.code(), err.to_string())
}

/// Runs `kastell access-key …`.
pub(super) fn run(command: AccessKeyCommand) -> Result<(), CliError> {
    match command {
        AccessKeyCommand::Create {
            principal,
            roles,
            tenant,
            deployment,
        } => match &deployment.profile {
            Some(profile) => create_remote(profile, principal, roles, tenant, deployment.json),
            None => create_offline(&deployment, principal, roles, tenant),
        },
        AccessKeyCommand::Collect { id, server } => {
            let client = connect(&server.profile)?;
            let issued = client.collect_access_key(&id).map_err(remote_error)?;
            print_opened(&server.profile, &issued, Some(&id))
        }
        AccessKeyCommand::List { deployment } => {
            let all = match &deployment.profile {
                Some(profile) => list_remote(profile)?,
                None => list_offline(&deployment)?,
            };
            print_answer(&AccessKeyList { access_keys: all }, deployment.json)
        }
        AccessKeyCommand::Revoke {
            id,
            reason,
            deployment,
        } => {
            let now = match &deployment.profile {
                Some(profile) => {
                    let client = connect(profile)?;
                    let answer = client
                        .revoke_access_key(&id, &RevokeRequest { reason })
                        .map_err(remote_error)?;
                    match answer {
                        Gated::Done(revoked) => revoked.revoked_now,
                        Gated::Pending(pending) => {
                            return print_admin(&Gated::<()>::Pending(pending), deployment.json);
                        }
                    }
                }
                None => {
                    let service = deployment.open()?;
                    let officer = operator(Role::CryptoOfficer, None);
                    service
                        .revoke_access_key(&officer, &id, &reason)
                        .map_err(key_error)?
                }
            };
            if now {
                println!("revoked access key {id}");
            } else {
                println!("access key {id} was revoked already");
            }
            Ok(())
        }
    }
}

fn create_offline(
    deployment: &DeploymentArgs,
    principal: String,
    roles: Vec<String>,
    tenant: Option<String>,
) -> Result<(), CliError> {
    let config = deployment.config()?;
    let account = config.aws.account_id().to_owned();
    let duties = config.aws.duties();
    let service = deployment.open()?;
    let parsed = roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| CliError::usage(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Named here (code and reason); the key service refuses the same without saying why.
    kastell_core::clients::check_access_key_principal(
        &*service.store(),
        &principal,
        &parsed,
        duties,
    )
    .map_err(|e| CliError::new(e.code(), format!("{}: {e}", e.code())))?;
    let officer = operator(Role::CryptoOfficer, None);
    let identity = AccessKeyIdentity {
        principal,
        roles,
        tenant,
    };
    let issued = service
        .issue_access_key(&officer, &identity, duties)
        .map_err(key_error)?;
    let secret = String::from_utf8(issued.secret.expose().to_vec())
        .map_err(|_| CliError::internal("the secret is not text"))?;
    let created = AccessKeyCreated {
        access_key_id: issued.info.access_key_id.clone(),
        secret_access_key: SecretBase64::new(secret),
        arn: format!("arn:aws:iam::{account}:user/{}", issued.info.principal),
    };
    print_answer(&created, true)
}

fn create_remote(
    profile: &Path,
    principal: String,
    roles: Vec<String>,
    tenant: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let key = profile_key(profile)?;
    let client = connect(profile)?;
    let request = AccessKeyRequest {
        principal,
        roles,
        tenant,
        public_key: key.public_key_pem().map_err(client_error)?,
    };
    match client.issue_access_key(&request).map_err(remote_error)? {
        Gated::Done(issued) => print_opened(profile, &issued, None),
        Gated::Pending(pending) => {
            let id = &pending.operation.id;
            eprintln!(
                "pending approval: operation {id} needs {} officer approvals; once approved \
                 run `kastell access-key collect {id} --profile {}`",
                pending.required,
                profile.display()
            );
            if json {
                print_answer(&Gated::<()>::Pending(pending), true)?;
            }
            Ok(())
        }
    }
}

fn profile_key(profile: &Path) -> Result<ClientKey, CliError> {
    let loaded = ClientProfile::load(profile).map_err(|e| CliError::usage(e.to_string()))?;
    ClientKey::load(&loaded.key).map_err(client_error)
}

/// Opens the sealed secret with the profile's key and prints what `create` prints.
fn print_opened(
    profile: &Path,
    issued: &AccessKeyIssued,
    operation: Option<&str>,
) -> Result<(), CliError> {
    let recipient = profile_key(profile)?
        .recipient_key()
        .map_err(client_error)?;
    let decode = |field: &str, text: &str| {
        BASE64
            .decode(text)
            .map_err(|e| CliError::internal(format!("the server's {field}: {e}")))
    };
    let sealed = kastell_attest::hpke::Sealed {
        encapsulated_key: decode("encapsulated_key", &issued.sealed_secret.encapsulated_key)?,
        ciphertext: decode("ciphertext", &issued.sealed_secret.ciphertext)?,
    };
    let opened = kastell_attest::hpke::open_with_info(
        &recipient,
        &delivery_info(&issued.access_key_id),
        &delivery_aad(&issued.principal, &issued.roles, issued.tenant.as_deref()),
        &sealed,
    )
    .map_err(|_| {
        CliError::new(
            ErrorCode::AccessDenied,
            format!(
                "the secret of access key {} does not open with the key of {}: it was sealed \
                 to the public key of the request{} (its requester's profile)",
                issued.access_key_id,
                profile.display(),
                operation
                    .map(|id| format!(" in operation {id}"))
                    .unwrap_or_default()
            ),
        )
    })?;
    let secret = String::from_utf8(opened.expose().to_vec())
        .map_err(|_| CliError::internal("the secret is not text"))?;
    let created = AccessKeyCreated {
        access_key_id: issued.access_key_id.clone(),
        secret_access_key: SecretBase64::new(secret),
        arn: issued.arn.clone(),
    };
    print_answer(&created, true)
}

fn list_remote(profile: &Path) -> Result<Vec<kastell_proto::api::AccessKeyInfo>, CliError> {
    let client = connect(profile)?;
    let mut query = AccessKeyQuery {
        after: None,
        limit: Some(1000),
    };
    let mut all = Vec::new();
    loop {
        let page = client
            .list_access_keys(&query)
            .map_err(remote_error)?
            .access_keys;
        let full = page.len() == 1000;
        query.after = page.last().map(|k| k.access_key_id.clone());
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

fn list_offline(
    deployment: &DeploymentArgs,
) -> Result<Vec<kastell_proto::api::AccessKeyInfo>, CliError> {
    let service = deployment.open()?;
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = service
            .store()
            .access_keys(after.as_deref(), 1000)
            .map_err(|e| CliError::internal(e.to_string()))?;
        let full = page.len() == 1000;
        after = page.last().map(|k| k.access_key_id.clone());
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}
