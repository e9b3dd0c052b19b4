//! `kastell key …`: create, administer and use keys on the local deployment, or on a server
//! with `--profile`.
//!
//! Binary outputs (ciphertexts, signatures, MACs, random bytes) go to `--out` as raw bytes,
//! or to standard output as one line of base64. Binary inputs are read raw or as base64.

use kastell_proto::{EncryptionContext, ErrorCode, KeySpec, Origin, Role};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use serde::Serialize;

mod remote;

pub(super) use remote::{connect, print_admin, print_answer, remote_error};

use super::CliError;
use super::deployment::{DeploymentArgs, operator};
use kastell_core::keys::{KeyError, KeyRecord, KeyService, NewKey, SignInput, unix_now};

/// Key commands. Administrative ones act as crypto-officer, the others as crypto-user.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (prints its description as JSON).
    Create {
        /// AES_256, ECC_NIST_P384 or HMAC_SHA384.
        #[arg(long, value_parser = parse_spec)]
        spec: KeySpec,
        /// `wrapped` (host-generated, stored wrapped under the token's master key) or
        /// `token` (generated in the token, never leaves it).
        #[arg(long, default_value = "wrapped", value_parser = parse_origin)]
        origin: Origin,
        /// First alias, `alias/<name>`.
        #[arg(long)]
        alias: Option<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// A tag `name=value` (repeatable).
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// Measurement of a policy in the registry (`sha384:…`) to bind.
        #[arg(long)]
        policy: Option<String>,
        /// Allow attested guests to get its material when its policy allows `release`
        /// (fixed at creation; not for `--origin token`).
        #[arg(long)]
        releasable: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Describe a key as JSON.
    Show {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// List keys as JSON.
    List {
        /// Start after this key id.
        #[arg(long)]
        after: Option<String>,
        /// At most this many keys (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Add a version that encrypts and signs from now on.
    Rotate {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Enable a disabled key.
    Enable {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Disable a key (every use is refused until enabled).
    Disable {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Schedule destruction after a waiting period of 7–30 days.
    ScheduleDeletion {
        /// Key id or alias.
        key: String,
        /// Waiting period in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Cancel a scheduled deletion (the key comes back disabled).
    CancelDeletion {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Destroy the keys whose deletion window has ended (also done whenever a deployment
    /// is opened); prints their ids.
    DestroyDue {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Point an alias at a key (creating or re-pointing it).
    Alias {
        /// `alias/<name>`.
        alias: String,
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Replace a key's tags (and description).
    Tag {
        /// Key id or alias.
        key: String,
        /// A tag `name=value` (repeatable); none clears the tags.
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Bind a key to a policy in the registry, or unbind it.
    BindPolicy {
        /// Key id or alias.
        key: String,
        /// The policy's measurement (`sha384:…`).
        #[arg(long, required_unless_present = "none")]
        policy: Option<String>,
        /// Unbind.
        #[arg(long, conflicts_with = "policy")]
        none: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Set the oldest version that still decrypts and verifies.
    SetMinVersion {
        /// Key id or alias.
        key: String,
        /// Version number.
        version: u32,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Encrypt a file (AES-256-GCM); the encryption context is bound as AAD.
    Encrypt {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Decrypt a ciphertext (raw or base64) with the same encryption context.
    Decrypt {
        /// Refuse unless the ciphertext is under this key (id or alias).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Decrypt and encrypt again under another key, keeping the context.
    ReEncrypt {
        /// Destination key id or alias.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Generate a 256-bit data key; prints JSON with the key's ciphertext and (unless
    /// --without-plaintext) its plaintext in base64.
    GenerateDataKey {
        /// Key id or alias.
        key: String,
        /// Return only the encrypted data key.
        #[arg(long)]
        without_plaintext: bool,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Sign a message (or, with --digest, a SHA-384 digest) with ECDSA P-384; DER output.
    Sign {
        /// Key id or alias.
        key: String,
        /// The input is a 48-byte SHA-384 digest, not the message.
        #[arg(long)]
        digest: bool,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Verify a DER signature (raw or base64); exit 1 when it is invalid.
    Verify {
        /// Key id or alias.
        key: String,
        /// The signature file.
        #[arg(long)]
        signature: PathBuf,
        /// The input is a 48-byte SHA-384 digest, not the message.
        #[arg(long)]
        digest: bool,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Print a signing key's public key (SPKI PEM, or DER with --der and --out).
    PublicKey {
        /// Key id or alias.
        key: String,
        /// Write DER instead of PEM.
        #[arg(long)]
        der: bool,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// HMAC-SHA-384 of a file.
    Mac {
        /// Key id or alias.
        key: String,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Verify an HMAC-SHA-384 (raw or base64); exit 1 when it is invalid.
    VerifyMac {
        /// Key id or alias.
        key: String,
        /// The MAC file.
        #[arg(long)]
        mac: PathBuf,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Random bytes from the token (1–1024).
    Random {
        /// How many bytes.
        bytes: usize,
        /// Output file (default: base64 on standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        use_args: UseArgs,
    },
}

/// Input and output files of a data command.
#[derive(Debug, clap::Args)]
pub struct Io {
    /// Input file (`-` for standard input).
    #[arg(long = "in", default_value = "-")]
    input: PathBuf,
    /// Output file for raw bytes (default: base64 on standard output; plaintext raw).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What a key-using command carries besides its data.
#[derive(Debug, clap::Args)]
pub struct UseArgs {
    /// An encryption context entry `name=value` (repeatable); bound as AAD and shown to
    /// the key's policy.
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Tenant the caller acts for (shown to the key's policy as the principal's tenant).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    deployment: DeploymentArgs,
}

impl UseArgs {
    fn context(&self) -> EncryptionContext {
        EncryptionContext(self.context.iter().cloned().collect())
    }
}

pub(super) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected name=value, not `{text}`")),
    }
}

fn parse_spec(text: &str) -> Result<KeySpec, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not AES_256, ECC_NIST_P384 or HMAC_SHA384"))
}

fn parse_origin(text: &str) -> Result<Origin, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not `wrapped` or `token`"))
}

fn parse_measurement(text: &str) -> Result<kastell_attest::Measurement, CliError> {
    text.parse()
        .map_err(|e| CliError::usage(format!("--policy {text}: {e}")))
}

/// Maps a key error to the exit code of its [`kastell_proto::ErrorCode`]: refusals 1, bad
/// input 2, internal failures 3.
fn key_error(err: KeyError) -> CliError {
    CliError::new(err.code(), err.to_string())
}

pub(super) fn read_data(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
        return Ok(bytes);
    }
    super::read_input(&path.to_path_buf())
}

/// Reads binary input that may be raw or base64 text; `is_raw` recognises the raw form.
fn read_binary(path: &Path, is_raw: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, CliError> {
    let bytes = read_data(path)?;
    if is_raw(&bytes) {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    BASE64.decode(text.trim()).map_err(|_| {
        CliError::usage(format!(
            "{}: neither the raw form nor base64",
            path.display()
        ))
    })
}

fn write_output(out: Option<&Path>, bytes: &[u8], text_default: bool) -> Result<(), CliError> {
    match out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display()))),
        None if text_default => {
            println!("{}", BASE64.encode(bytes));
            Ok(())
        }
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(|e| CliError::internal(format!("cannot write standard output: {e}"))),
    }
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// The JSON printed by `generate-data-key`.
#[derive(Serialize)]
struct DataKeyOut {
    key: String,
    ciphertext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<String>,
}

impl KeyCommand {
    /// The deployment (or server) options of the command.
    fn deployment(&self) -> &DeploymentArgs {
        match self {
            Self::Create { deployment, .. }
            | Self::Show { deployment, .. }
            | Self::List { deployment, .. }
            | Self::Rotate { deployment, .. }
            | Self::Enable { deployment, .. }
            | Self::Disable { deployment, .. }
            | Self::ScheduleDeletion { deployment, .. }
            | Self::CancelDeletion { deployment, .. }
            | Self::DestroyDue { deployment }
            | Self::Alias { deployment, .. }
            | Self::Tag { deployment, .. }
            | Self::BindPolicy { deployment, .. }
            | Self::SetMinVersion { deployment, .. } => deployment,
            Self::Encrypt { use_args, .. }
            | Self::Decrypt { use_args, .. }
            | Self::ReEncrypt { use_args, .. }
            | Self::GenerateDataKey { use_args, .. }
            | Self::Sign { use_args, .. }
            | Self::Verify { use_args, .. }
            | Self::PublicKey { use_args, .. }
            | Self::Mac { use_args, .. }
            | Self::VerifyMac { use_args, .. }
            | Self::Random { use_args, .. } => &use_args.deployment,
        }
    }
}

/// Runs a key command: on the server named by `--profile`, else on the local deployment.
pub(super) fn run(command: KeyCommand) -> Result<(), CliError> {
    let args = command.deployment();
    if let Some(profile) = args.profile.clone() {
        let raw = args.json;
        return remote::run(&profile, raw, command);
    }
    match command {
        KeyCommand::Create {
            spec,
            origin,
            alias,
            description,
            tags,
            policy,
            releasable,
            deployment,
        } => {
            let policy = policy.as_deref().map(parse_measurement).transpose()?;
            let new = NewKey {
                spec,
                origin,
                description,
                tags: tags.into_iter().collect(),
                policy,
                releasable,
            };
            administer(&deployment, |service, officer| {
                service.create_key(officer, new, alias.as_deref())
            })
        }
        KeyCommand::Show { key, deployment } => {
            let service = deployment.open()?;
            let caller = operator(Role::CryptoOfficer, None);
            print_json(&service.describe_key(&caller, &key).map_err(key_error)?)
        }
        KeyCommand::List {
            after,
            limit,
            deployment,
        } => {
            let service = deployment.open()?;
            let caller = operator(Role::CryptoOfficer, None);
            let keys = service
                .list_keys(&caller, after.as_deref(), limit)
                .map_err(key_error)?;
            print_json(&keys)
        }
        KeyCommand::Rotate { key, deployment } => administer(&deployment, |service, officer| {
            service.rotate(officer, &key)
        }),
        KeyCommand::Enable { key, deployment } => administer(&deployment, |service, officer| {
            service.set_enabled(officer, &key, true)
        }),
        KeyCommand::Disable { key, deployment } => administer(&deployment, |service, officer| {
            service.set_enabled(officer, &key, false)
        }),
        KeyCommand::ScheduleDeletion {
            key,
            days,
            deployment,
        } => administer(&deployment, |service, officer| {
            service.schedule_deletion(officer, &key, days)
        }),
        KeyCommand::CancelDeletion { key, deployment } => {
            administer(&deployment, |service, officer| {
                service.cancel_deletion(officer, &key)
            })
        }
        KeyCommand::DestroyDue { deployment } => {
            let service = deployment.open()?;
            for id in service.destroy_due(unix_now()).map_err(key_error)? {
                println!("{id}");
            }
            checkpoint(&service)
        }
        KeyCommand::Alias {
            alias,
            key,
            deployment,
        } => {
            let service = deployment.open()?;
            service
                .set_alias(&operator(Role::CryptoOfficer, None), &alias, &key)
                .map_err(key_error)?;
            println!("{alias}");
            checkpoint(&service)
        }
        KeyCommand::Tag {
            key,
            tags,
            description,
            deployment,
        } => administer(&deployment, |service, officer| {
            service.update_tags(officer, &key, tags.into_iter().collect(), description)
        }),
        KeyCommand::BindPolicy {
            key,
            policy,
            none: _,
            deployment,
        } => {
            let policy = policy.as_deref().map(parse_measurement).transpose()?;
            administer(&deployment, |service, officer| {
                service.bind_policy(officer, &key, policy)
            })
        }
        KeyCommand::SetMinVersion {
            key,
            version,
            deployment,
        } => administer(&deployment, |service, officer| {
            service.set_min_decryption_version(officer, &key, version)
        }),
        other => use_key(other),
    }
}

/// Runs an administrative command as crypto-officer and prints the key it returns.
fn administer(
    deployment: &DeploymentArgs,
    operation: impl FnOnce(&KeyService, &kastell_core::keys::Caller) -> Result<KeyRecord, KeyError>,
) -> Result<(), CliError> {
    let service = deployment.open()?;
    let key = operation(&service, &operator(Role::CryptoOfficer, None)).map_err(key_error)?;
    print_json(&service.description_of(&key).map_err(key_error)?)?;
    checkpoint(&service)
}

/// Signs the audit trail's head before the command ends, so that what it did is covered.
fn checkpoint(service: &KeyService) -> Result<(), CliError> {
    service.checkpoint().map_err(key_error)?;
    Ok(())
}

/// Runs a command that uses a key, as crypto-user.
fn use_key(command: KeyCommand) -> Result<(), CliError> {
    let user = |args: &UseArgs| operator(Role::CryptoUser, args.tenant.clone());
    let (service, args) = match &command {
        KeyCommand::Encrypt { use_args, .. }
        | KeyCommand::Decrypt { use_args, .. }
        | KeyCommand::ReEncrypt { use_args, .. }
        | KeyCommand::GenerateDataKey { use_args, .. }
        | KeyCommand::Sign { use_args, .. }
        | KeyCommand::Verify { use_args, .. }
        | KeyCommand::PublicKey { use_args, .. }
        | KeyCommand::Mac { use_args, .. }
        | KeyCommand::VerifyMac { use_args, .. }
        | KeyCommand::Random { use_args, .. } => (use_args.deployment.open()?, use_args),
        _ => return Err(CliError::internal("not a key-using command")),
    };
    let caller = user(args);
    let context = args.context();
    let outcome = perform(&service, &caller, &context, &command);
    // Refusals are audited too: cover them with a checkpoint before reporting.
    checkpoint(&service)?;
    match outcome? {
        true => Ok(()),
        false => Err(CliError::new(
            ErrorCode::InvalidSignature,
            "invalid: does not verify",
        )),
    }
}

/// Performs a key-using command; `Ok(false)` when a verification fails.
fn perform(
    service: &KeyService,
    caller: &kastell_core::keys::Caller,
    context: &EncryptionContext,
    command: &KeyCommand,
) -> Result<bool, CliError> {
    let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
    let is_der = |b: &[u8]| b.first() == Some(&0x30);
    let is_mac = |b: &[u8]| b.len() == 48;
    Ok(match command {
        KeyCommand::Encrypt { key, io, .. } => {
            let plaintext = read_data(&io.input)?;
            let ciphertext = service
                .encrypt(caller, key, &plaintext, context)
                .map_err(key_error)?;
            write_output(io.out.as_deref(), &ciphertext, true)?;
            true
        }
        KeyCommand::Decrypt { key, io, .. } => {
            let ciphertext = read_binary(&io.input, is_ciphertext)?;
            let (_, plaintext) = service
                .decrypt(caller, key.as_deref(), &ciphertext, context)
                .map_err(key_error)?;
            write_output(io.out.as_deref(), plaintext.expose(), false)?;
            true
        }
        KeyCommand::ReEncrypt { to, io, .. } => {
            let ciphertext = read_binary(&io.input, is_ciphertext)?;
            let out = service
                .re_encrypt(caller, &ciphertext, context, to)
                .map_err(key_error)?;
            write_output(io.out.as_deref(), &out, true)?;
            true
        }
        KeyCommand::GenerateDataKey {
            key,
            without_plaintext,
            ..
        } => {
            let data_key = service
                .generate_data_key(caller, key, context, !without_plaintext)
                .map_err(key_error)?;
            print_json(&DataKeyOut {
                key: key.clone(),
                ciphertext: BASE64.encode(&data_key.ciphertext),
                plaintext: data_key.plaintext.map(|p| BASE64.encode(p.expose())),
            })?;
            true
        }
        KeyCommand::Sign {
            key, digest, io, ..
        } => {
            let input = read_data(&io.input)?;
            let sign_input = if *digest {
                SignInput::Digest(&input)
            } else {
                SignInput::Message(&input)
            };
            let signature = service.sign(caller, key, sign_input).map_err(key_error)?;
            write_output(io.out.as_deref(), &signature.der, true)?;
            true
        }
        KeyCommand::Verify {
            key,
            signature,
            digest,
            io,
            ..
        } => {
            let input = read_data(&io.input)?;
            let der = read_binary(signature, is_der)?;
            let sign_input = if *digest {
                SignInput::Digest(&input)
            } else {
                SignInput::Message(&input)
            };
            service
                .verify(caller, key, sign_input, &der)
                .map_err(key_error)?
        }
        KeyCommand::PublicKey { key, der, out, .. } => {
            let public = service.public_key(caller, key).map_err(key_error)?;
            if *der {
                write_output(out.as_deref(), &public.spki_der, true)?;
            } else {
                write_output(out.as_deref(), public.spki_pem.as_bytes(), false)?;
            }
            true
        }
        KeyCommand::Mac { key, io, .. } => {
            let input = read_data(&io.input)?;
            let mac = service
                .generate_mac(caller, key, &input)
                .map_err(key_error)?;
            write_output(io.out.as_deref(), &mac, true)?;
            true
        }
        KeyCommand::VerifyMac { key, mac, io, .. } => {
            let input = read_data(&io.input)?;
            let mac = read_binary(mac, is_mac)?;
            service
                .verify_mac(caller, key, &input, &mac)
                .map_err(key_error)?
        }
        KeyCommand::Random { bytes, out, .. } => {
            let random = service.generate_random(caller, *bytes).map_err(key_error)?;
            write_output(out.as_deref(), &random, true)?;
            true
        }
        _ => return Err(CliError::internal("not a key-using command")),
    })
}
