//! `kastell grant`: the AWS KMS grants of a key, through a server (`--profile`): create,
//! list, retire, revoke. The server's key service decides each call by the key's AWS key
//! policy and audits it; the grants are those the AWS endpoint's `CreateGrant`,
//! `ListGrants`, `RetireGrant` and `RevokeGrant` serve.

use std::collections::BTreeMap;

use clap::Subcommand;
use kastell_proto::api::{CreateGrantBody, GrantList};

use super::CliError;
use super::io::{parse_pair, print_answer};
use super::officer::ServerArgs;
use super::remote::{connect, remote_error};

/// `kastell grant …`.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Create a grant on a key; prints it (JSON), with its id and token.
    Create {
        /// Key id or alias.
        key: String,
        /// The principal it allows: `arn:aws:iam::<account>:user/<principal>` (or
        /// `arn:aws:iam::<account>:root` for every principal of the account).
        #[arg(long)]
        grantee: String,
        /// A grant operation it allows (Decrypt, Encrypt, GenerateDataKey, …); repeat.
        #[arg(long = "operation", required = true)]
        operations: Vec<String>,
        /// The principal that may retire it.
        #[arg(long)]
        retiring: Option<String>,
        /// Allow only requests whose encryption context is exactly these name=value
        /// pairs; repeat.
        #[arg(long = "context-equals", value_parser = parse_pair, conflicts_with = "subset")]
        equals: Vec<(String, String)>,
        /// Allow only requests whose encryption context includes these name=value pairs;
        /// repeat.
        #[arg(long = "context-subset", value_parser = parse_pair, id = "subset")]
        subset: Vec<(String, String)>,
        /// Its name (the same name and parameters answer the same grant).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List a key's grants (JSON).
    List {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Retire a grant (as its retiring principal, or its grantee when it allows
    /// RetireGrant).
    Retire {
        /// Key id or alias.
        key: String,
        /// The grant's id.
        grant: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a grant (the key policy must allow kms:RevokeGrant).
    Revoke {
        /// Key id or alias.
        key: String,
        /// The grant's id.
        grant: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn pairs(given: Vec<(String, String)>) -> Option<BTreeMap<String, String>> {
    (!given.is_empty()).then(|| given.into_iter().collect())
}

/// Runs `kastell grant …`.
pub(super) fn run(command: GrantCommand) -> Result<(), CliError> {
    match command {
        GrantCommand::Create {
            key,
            grantee,
            operations,
            retiring,
            equals,
            subset,
            name,
            server,
        } => {
            let body = CreateGrantBody {
                grantee_principal: grantee,
                retiring_principal: retiring,
                operations,
                encryption_context_equals: pairs(equals),
                encryption_context_subset: pairs(subset),
                name,
            };
            let client = connect(&server.profile)?;
            let grant = client.create_grant(&key, &body).map_err(remote_error)?;
            print_answer(&grant, server.json)
        }
        GrantCommand::List { key, server } => {
            let client = connect(&server.profile)?;
            let list: GrantList = client.list_grants(&key).map_err(remote_error)?;
            print_answer(&list, server.json)
        }
        GrantCommand::Retire { key, grant, server } => {
            let client = connect(&server.profile)?;
            let removed = client.retire_grant(&key, &grant).map_err(remote_error)?;
            print_answer(&removed, server.json)
        }
        GrantCommand::Revoke { key, grant, server } => {
            let client = connect(&server.profile)?;
            let removed = client.revoke_grant(&key, &grant).map_err(remote_error)?;
            print_answer(&removed, server.json)
        }
    }
}
