//! `kastell key …`: create, administer and use keys on the local deployment, or on a server
//! with `--profile`. Each command is written once, over [`backend::Keys`]: read the
//! inputs, call, write the outputs ([`super::io`]); `local.rs` and `remote.rs` say how a
//! call is carried.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm};
use kastell_proto::api::Gated;
use kastell_proto::{EncryptionContext, ErrorCode, KeySpec, KeyUsage, Origin};
use serde::Serialize;

mod backend;
mod local;
mod remote;

use super::CliError;
use super::deployment::DeploymentArgs;
use super::io::{
    parse_pair, print_admin, print_answer, print_json, read_binary, read_data, write_output,
};
use backend::{Answer, Keys, NewKeyArgs, Signed};

/// Key commands. Administrative ones act as crypto-officer, the others as crypto-user.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (prints its description as JSON).
    Create {
        /// A key spec: AES_256; RSA_2048, RSA_3072, RSA_4096; ECC_NIST_P256, ECC_NIST_P384,
        /// ECC_NIST_P521, ECC_SECG_P256K1; HMAC_224, HMAC_256, HMAC_384, HMAC_512;
        /// ML_DSA_44, ML_DSA_65, ML_DSA_87 (HMAC_SHA384 is read as HMAC_384).
        #[arg(long, value_parser = parse_spec)]
        spec: KeySpec,
        /// ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC or KEY_AGREEMENT, one the spec
        /// allows (default: the spec's first: RSA keys encrypt, ECC keys sign).
        #[arg(long, value_parser = vocabulary::<KeyUsage>)]
        usage: Option<KeyUsage>,
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
    /// Commands that use a key (crypto-user).
    #[command(flatten)]
    Use(UseCommand),
}

/// Commands that use a key, as crypto-user.
#[derive(Debug, Subcommand)]
pub enum UseCommand {
    /// Encrypt a file (AES-256-GCM); the encryption context is bound as AAD.
    Encrypt {
        /// Key id or alias.
        key: String,
        /// SYMMETRIC_DEFAULT (AES keys, the default), RSAES_OAEP_SHA_1 or
        /// RSAES_OAEP_SHA_256 (RSA keys: required; the output is the raw OAEP ciphertext).
        #[arg(long, value_parser = vocabulary::<EncryptionAlgorithm>)]
        algorithm: Option<EncryptionAlgorithm>,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Decrypt a ciphertext (raw or base64) with the same encryption context.
    Decrypt {
        /// Refuse unless the ciphertext is under this key (id or alias); required with an
        /// RSA-OAEP --algorithm.
        #[arg(long)]
        key: Option<String>,
        /// As for `encrypt` (RSA-OAEP ciphertexts do not name their key or algorithm).
        #[arg(long, value_parser = vocabulary::<EncryptionAlgorithm>)]
        algorithm: Option<EncryptionAlgorithm>,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Decrypt and encrypt again under another key, keeping the context (the source key's
    /// policy must allow `re-encrypt-from`, the destination's `re-encrypt-to`).
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
    /// Sign a message (or, with --digest, its digest); DER output for ECDSA.
    Sign {
        /// Key id or alias.
        key: String,
        /// The input is the message's digest (the algorithm's hash length), not the
        /// message (the same as --message-type DIGEST).
        #[arg(long)]
        digest: bool,
        /// RAW (default) or DIGEST.
        #[arg(long, value_parser = vocabulary::<MessageType>)]
        message_type: Option<MessageType>,
        /// The signing algorithm (RSASSA_PSS_SHA_256, RSASSA_PKCS1_V1_5_SHA_256, …;
        /// required for RSA keys; default: the spec's only one, e.g. ECDSA_SHA_384).
        #[arg(long, value_parser = vocabulary::<SigningAlgorithm>)]
        algorithm: Option<SigningAlgorithm>,
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
        /// The input is the message's digest, not the message.
        #[arg(long)]
        digest: bool,
        /// RAW (default) or DIGEST.
        #[arg(long, value_parser = vocabulary::<MessageType>)]
        message_type: Option<MessageType>,
        /// As for `sign`.
        #[arg(long, value_parser = vocabulary::<SigningAlgorithm>)]
        algorithm: Option<SigningAlgorithm>,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Print an asymmetric key's public key (SPKI PEM, or DER with --der).
    PublicKey {
        /// Key id or alias.
        key: String,
        /// Write DER instead of PEM.
        #[arg(long, conflicts_with = "pem")]
        der: bool,
        /// Write PEM (the default).
        #[arg(long)]
        pem: bool,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// The HMAC of a file (the key spec's hash: HMAC_SHA_256 for HMAC_256, …).
    Mac {
        /// Key id or alias.
        key: String,
        /// The MAC algorithm (default and only choice: the spec's own).
        #[arg(long, value_parser = vocabulary::<MacAlgorithm>)]
        algorithm: Option<MacAlgorithm>,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Verify an HMAC (raw or base64); exit 1 when it is invalid.
    VerifyMac {
        /// Key id or alias.
        key: String,
        /// As for `mac`.
        #[arg(long, value_parser = vocabulary::<MacAlgorithm>)]
        algorithm: Option<MacAlgorithm>,
        /// The MAC file.
        #[arg(long)]
        mac: PathBuf,
        #[command(flatten)]
        io: Io,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// Generate an RSA or ECC key pair whose private key (PKCS#8) is encrypted under the
    /// (AES) key; prints JSON: the public key (SPKI DER, base64), the encrypted private key
    /// and (unless --without-plaintext) the private key, base64.
    GenerateDataKeyPair {
        /// Key id or alias of the AES key that encrypts the private key.
        key: String,
        /// The pair's spec: RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384,
        /// ECC_NIST_P521 or ECC_SECG_P256K1.
        #[arg(long, value_parser = parse_spec)]
        spec: KeySpec,
        /// Return only the encrypted private key.
        #[arg(long)]
        without_plaintext: bool,
        #[command(flatten)]
        use_args: UseArgs,
    },
    /// ECDH with a peer's public key (PEM or DER file): the shared secret (base64, or raw
    /// to --out).
    DeriveSharedSecret {
        /// Key id or alias (a KEY_AGREEMENT key).
        key: String,
        /// The peer's public key: SPKI PEM or DER, on the key's curve.
        #[arg(long)]
        peer: PathBuf,
        /// Output file (default: base64 on standard output).
        #[arg(long)]
        out: Option<PathBuf>,
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

impl UseCommand {
    /// What every key-using command carries besides its data.
    fn use_args(&self) -> &UseArgs {
        match self {
            Self::Encrypt { use_args, .. }
            | Self::Decrypt { use_args, .. }
            | Self::ReEncrypt { use_args, .. }
            | Self::GenerateDataKey { use_args, .. }
            | Self::Sign { use_args, .. }
            | Self::Verify { use_args, .. }
            | Self::PublicKey { use_args, .. }
            | Self::Mac { use_args, .. }
            | Self::VerifyMac { use_args, .. }
            | Self::GenerateDataKeyPair { use_args, .. }
            | Self::DeriveSharedSecret { use_args, .. }
            | Self::Random { use_args, .. } => use_args,
        }
    }
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

fn parse_spec(text: &str) -> Result<KeySpec, String> {
    vocabulary(text)
}

/// A name of one of the vocabularies (key spec, usage, algorithm, message type); an
/// unknown one is refused naming the accepted ones.
fn vocabulary<T: std::str::FromStr<Err = kastell_proto::UnknownName>>(
    text: &str,
) -> Result<T, String> {
    text.parse()
        .map_err(|err: kastell_proto::UnknownName| err.to_string())
}

/// Whether `bytes` look like base64 text rather than raw binary.
fn base64_text(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"+/=\r\n ".contains(c))
}

/// The public key in a PEM (`PUBLIC KEY`) or DER file.
fn public_key_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    let bytes = read_data(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let Some(start) = text.find("-----BEGIN PUBLIC KEY-----") else {
        return Ok(bytes);
    };
    let body: String = text[start..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    BASE64.decode(body.trim()).map_err(|_| {
        CliError::usage(format!(
            "{}: a PEM public key whose body is not base64",
            path.display()
        ))
    })
}

/// The JSON printed by `generate-data-key-pair`.
#[derive(Serialize)]
struct DataKeyPairOut {
    key: String,
    key_pair_spec: String,
    public_key: String,
    private_key_ciphertext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
}

fn parse_origin(text: &str) -> Result<Origin, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not `wrapped` or `token`"))
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
            Self::Use(command) => &command.use_args().deployment,
        }
    }
}

/// Runs a key command: on the server named by `--profile`, else on the local deployment.
pub(super) fn run(command: KeyCommand) -> Result<(), CliError> {
    let args = command.deployment();
    let raw = args.json;
    let mut keys: Box<dyn Keys> = match &args.profile {
        Some(profile) => Box::new(remote::Remote::new(super::remote::connect(profile)?, raw)),
        None => Box::new(local::Local::new(args.open()?)),
    };
    if let KeyCommand::Use(command) = &command {
        let use_args = command.use_args();
        keys.act_for(use_args.tenant.clone())?;
        let outcome = use_key(keys.as_ref(), &use_args.context(), command);
        // Refusals are audited too: cover them with a checkpoint before reporting.
        keys.checkpoint()?;
        return match outcome? {
            true => Ok(()),
            false => Err(CliError::new(
                ErrorCode::InvalidSignature,
                "invalid: does not verify",
            )),
        };
    }
    administer(keys.as_ref(), command)
}

/// Prints an answer: the server's JSON with `--json`, else what `show` prints of its value.
fn emit<T>(
    answer: Answer<T>,
    show: impl FnOnce(T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    match answer.json {
        Some(json) => print_answer(&json, true),
        None => show(answer.value),
    }
}

/// Runs an administrative command (crypto-officer) and prints the key it returns; the
/// local deployment signs an audit checkpoint after each change.
fn administer(keys: &dyn Keys, command: KeyCommand) -> Result<(), CliError> {
    let key = |answer: Answer<_>| emit(answer, |key| print_json(&key));
    let gated = |answer: Answer<_>| match answer.json {
        Some(json) => print_answer(&json, true),
        None => print_admin(&answer.value, false),
    };
    match command {
        KeyCommand::Create {
            spec,
            usage,
            origin,
            alias,
            description,
            tags,
            policy,
            releasable,
            ..
        } => key(keys.create(NewKeyArgs {
            spec,
            usage,
            origin,
            alias,
            description,
            tags: tags.into_iter().collect(),
            policy,
            releasable,
        })?)?,
        KeyCommand::Show { key: name, .. } => return key(keys.describe(&name)?),
        KeyCommand::List { after, limit, .. } => {
            return emit(keys.list(after, limit)?, |page| print_json(&page));
        }
        KeyCommand::Rotate { key: name, .. } => key(keys.rotate(&name)?)?,
        KeyCommand::Enable { key: name, .. } => key(keys.set_enabled(&name, true)?)?,
        KeyCommand::Disable { key: name, .. } => key(keys.set_enabled(&name, false)?)?,
        KeyCommand::ScheduleDeletion {
            key: name, days, ..
        } => {
            gated(keys.schedule_deletion(&name, days)?)?;
        }
        KeyCommand::CancelDeletion { key: name, .. } => key(keys.cancel_deletion(&name)?)?,
        KeyCommand::DestroyDue { .. } => {
            for id in keys.destroy_due()? {
                println!("{id}");
            }
        }
        KeyCommand::Alias {
            alias, key: name, ..
        } => {
            emit(keys.set_alias(&alias, &name)?, |answer| match answer {
                Gated::Done(()) => {
                    println!("{alias}");
                    Ok(())
                }
                pending @ Gated::Pending(_) => print_admin(&pending, false),
            })?;
        }
        KeyCommand::Tag {
            key: name,
            tags,
            description,
            ..
        } => gated(keys.update_tags(&name, tags.into_iter().collect(), description)?)?,
        KeyCommand::BindPolicy {
            key: name, policy, ..
        } => gated(keys.bind_policy(&name, policy)?)?,
        KeyCommand::SetMinVersion {
            key: name, version, ..
        } => key(keys.set_min_version(&name, version)?)?,
        KeyCommand::Use(_) => return Err(CliError::internal("not an administrative command")),
    }
    keys.checkpoint()
}

/// Whether the input is a digest: `--digest` or `--message-type DIGEST` (they must agree).
fn is_digest(digest: bool, message_type: Option<MessageType>) -> Result<bool, CliError> {
    match (digest, message_type) {
        (true, Some(MessageType::Raw)) => Err(CliError::usage(
            "--digest and --message-type RAW contradict each other",
        )),
        (digest, message_type) => Ok(digest || message_type == Some(MessageType::Digest)),
    }
}

/// Performs a key-using command (crypto-user); `Ok(false)` when a verification fails.
fn use_key(
    keys: &dyn Keys,
    context: &EncryptionContext,
    command: &UseCommand,
) -> Result<bool, CliError> {
    let is_ciphertext = |b: &[u8]| b.first() == Some(&kastell_proto::ciphertext::FORMAT_V1);
    // Signatures and MACs are read raw unless they are base64 text.
    let is_der = |b: &[u8]| b.first() == Some(&0x30) || !base64_text(b);
    let is_mac = |b: &[u8]| b.len() == 48 || !base64_text(b);
    let bytes = |answer: Answer<Vec<u8>>, out: Option<&std::path::Path>| {
        emit(answer, |bytes| write_output(out, &bytes, true))
    };
    let valid = |answer: Answer<bool>| -> Result<bool, CliError> {
        let valid = answer.value;
        if let Some(json) = answer.json {
            print_answer(&json, true)?;
        }
        Ok(valid)
    };
    match command {
        UseCommand::Encrypt {
            key, algorithm, io, ..
        } => {
            let plaintext = kastell_proto::secret::SecretBytes::new(read_data(&io.input)?);
            bytes(
                keys.encrypt(key, *algorithm, plaintext.expose(), context)?,
                io.out.as_deref(),
            )?;
        }
        UseCommand::Decrypt {
            key, algorithm, io, ..
        } => {
            // An RSA-OAEP ciphertext has no header: raw unless it is base64 text.
            let rsa = algorithm.is_some_and(|a| a != EncryptionAlgorithm::SymmetricDefault);
            let ciphertext = read_binary(&io.input, |b: &[u8]| {
                is_ciphertext(b) || (rsa && !base64_text(b))
            })?;
            emit(
                keys.decrypt(key.as_deref(), *algorithm, &ciphertext, context)?,
                |plaintext| write_output(io.out.as_deref(), plaintext.expose(), false),
            )?;
        }
        UseCommand::ReEncrypt { to, io, .. } => {
            let ciphertext = read_binary(&io.input, is_ciphertext)?;
            bytes(
                keys.re_encrypt(&ciphertext, context, to)?,
                io.out.as_deref(),
            )?;
        }
        UseCommand::GenerateDataKey {
            key,
            without_plaintext,
            ..
        } => {
            let answer = keys.generate_data_key(key, context, *without_plaintext)?;
            emit(answer, |data_key| {
                print_json(&DataKeyOut {
                    key: key.clone(),
                    ciphertext: BASE64.encode(&data_key.ciphertext),
                    plaintext: data_key.plaintext.map(|p| BASE64.encode(p.expose())),
                })
            })?;
        }
        UseCommand::Sign {
            key,
            digest,
            message_type,
            algorithm,
            io,
            ..
        } => {
            let input = read_data(&io.input)?;
            let digest = is_digest(*digest, *message_type)?;
            bytes(
                keys.sign(key, Signed::of(digest, &input), *algorithm)?,
                io.out.as_deref(),
            )?;
        }
        UseCommand::Verify {
            key,
            signature,
            digest,
            message_type,
            algorithm,
            io,
            ..
        } => {
            let input = read_data(&io.input)?;
            let der = read_binary(signature, is_der)?;
            let digest = is_digest(*digest, *message_type)?;
            return valid(keys.verify(key, Signed::of(digest, &input), *algorithm, &der)?);
        }
        UseCommand::GenerateDataKeyPair {
            key,
            spec,
            without_plaintext,
            ..
        } => {
            let answer = keys.generate_data_key_pair(key, *spec, context, *without_plaintext)?;
            emit(answer, |pair| {
                print_json(&DataKeyPairOut {
                    key: pair.key.to_string(),
                    key_pair_spec: pair.spec.as_str().to_owned(),
                    public_key: BASE64.encode(&pair.public_key),
                    private_key_ciphertext: BASE64.encode(&pair.private_key_ciphertext),
                    private_key: pair.private_key.map(|p| BASE64.encode(p.expose())),
                })
            })?;
        }
        UseCommand::DeriveSharedSecret { key, peer, out, .. } => {
            let peer = public_key_file(peer)?;
            emit(keys.derive_shared_secret(key, &peer)?, |secret| {
                write_output(out.as_deref(), secret.expose(), true)
            })?;
        }
        UseCommand::PublicKey { key, der, out, .. } => {
            emit(keys.public_key(key)?, |(spki, pem)| {
                if *der {
                    write_output(out.as_deref(), &spki, true)
                } else {
                    write_output(out.as_deref(), pem.as_bytes(), false)
                }
            })?;
        }
        UseCommand::Mac {
            key, algorithm, io, ..
        } => {
            let input = read_data(&io.input)?;
            bytes(keys.mac(key, *algorithm, &input)?, io.out.as_deref())?;
        }
        UseCommand::VerifyMac {
            key,
            algorithm,
            mac,
            io,
            ..
        } => {
            let input = read_data(&io.input)?;
            let mac = read_binary(mac, is_mac)?;
            return valid(keys.verify_mac(key, *algorithm, &input, &mac)?);
        }
        UseCommand::Random {
            bytes: len, out, ..
        } => {
            emit(keys.random(*len)?, |random| {
                write_output(out.as_deref(), random.expose(), true)
            })?;
        }
    }
    Ok(true)
}
