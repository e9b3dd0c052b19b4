//! `kastell access-key`: access keys of the AWS KMS-compatible endpoint, issued offline on
//! the deployment's data directory (`--data-dir`, `--config`): whoever opens the token
//! there holds every key already, as with `kastell ca issue-client`. Issuance and
//! revocation through a server, under the `issue-client`/`issue-officer` quorum, are the
//! next step (see the README's "AWS KMS-compatible endpoint").

use clap::Subcommand;
use kastell_attest::identity::ClientIdentity;
use kastell_proto::Role;
use kastell_proto::api::{AccessKeyCreated, AccessKeyList, SecretBase64};

use super::CliError;
use super::deployment::{DeploymentArgs, operator};
use super::io::print_answer;

/// `kastell access-key …`.
#[derive(Debug, Subcommand)]
pub enum AccessKeyCommand {
    /// Issue an access key acting as a principal with one role; prints JSON
    /// {"access_key_id", "secret_access_key", "arn"} (the secret is shown this once).
    Create {
        /// The principal its requests act as: 1–128 of A–Z a–z 0–9 - _ .
        #[arg(long)]
        principal: String,
        /// crypto-user (uses keys), crypto-officer (administers them) or auditor. A
        /// principal keeps one role for life, across certificates and access keys.
        #[arg(long)]
        role: String,
        /// The principal's tenant, if any.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// List the access keys issued here (never their secrets).
    List {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Revoke an access key: the AWS endpoint refuses it from the next request on.
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

fn offline(deployment: &DeploymentArgs) -> Result<(), CliError> {
    if deployment.profile.is_some() {
        return Err(CliError::usage(
            "access keys are issued on the deployment's data directory for now: give \
             --data-dir or --config instead of --profile",
        ));
    }
    Ok(())
}

/// Runs `kastell access-key …`.
pub(super) fn run(command: AccessKeyCommand) -> Result<(), CliError> {
    match command {
        AccessKeyCommand::Create {
            principal,
            role,
            tenant,
            deployment,
        } => {
            offline(&deployment)?;
            let account = deployment.config()?.aws.account_id().to_owned();
            let service = deployment.open()?;
            let officer = operator(Role::CryptoOfficer, None);
            let identity = ClientIdentity {
                principal,
                role,
                tenant,
            };
            let issued = service
                .issue_access_key(&officer, &identity)
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
        AccessKeyCommand::List { deployment } => {
            offline(&deployment)?;
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
                    break;
                }
            }
            print_answer(&AccessKeyList { access_keys: all }, deployment.json)
        }
        AccessKeyCommand::Revoke {
            id,
            reason,
            deployment,
        } => {
            offline(&deployment)?;
            let service = deployment.open()?;
            let officer = operator(Role::CryptoOfficer, None);
            let now = service
                .revoke_access_key(&officer, &id, &reason)
                .map_err(key_error)?;
            if now {
                println!("revoked access key {id}");
            } else {
                println!("access key {id} was revoked already");
            }
            Ok(())
        }
    }
}
