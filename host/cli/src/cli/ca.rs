//! `kastell ca …` and `kastell attest issue`: the owner's EU root, host attestation CAs,
//! revocation, and attestation certificates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use kastell_attest::Measurement;
use kastell_attest::ca::{Owner, Revoked};
use kastell_attest::claims::Claims;
use kastell_attest::identity::{ClientIdentity, ROLES};
use kastell_attest::x509::parse_certificates;
use p384::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use time::OffsetDateTime;

use super::deployment::{DeploymentArgs, deployment_error};
use super::{CliError, ca_error, client_error};
use kastell_core::ca::{CaFiles, HOST_CA_KEY, HostCa, TokenSigner, runtime_version};
use kastell_core::clients::{PROFILE_FILE, new_client};
use kastell_core::config::DEFAULT_LISTEN;

const DAY: u64 = 86_400;

/// CA commands.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the owner's root: a P-384 key on this deployment's token and a self-signed
    /// certificate (saved as ca/root.pem and printed).
    InitRoot {
        /// Common name, e.g. "Example GmbH Kastell Root".
        #[arg(long)]
        common_name: String,
        /// Organization (O).
        #[arg(long)]
        organization: String,
        /// Country (C): an EU/EEA member state's ISO 3166-1 alpha-2 code.
        #[arg(long)]
        country: String,
        /// Validity in years.
        #[arg(long, default_value_t = 20)]
        years: u64,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Create (if missing) this host's CA key on its token and print its public key (PEM),
    /// for the root's `issue-host-ca`.
    HostKey {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// On the root's deployment: certify a host CA key; prints the certificate (PEM).
    IssueHostCa {
        /// The host CA public key (PEM, from `kastell ca host-key`).
        #[arg(long)]
        host_key: PathBuf,
        /// Common name of the host CA.
        #[arg(long)]
        common_name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// On the host: check and install the root and host CA certificates.
    Install {
        /// The owner's root certificate.
        #[arg(long)]
        root: PathBuf,
        /// This host's CA certificate.
        #[arg(long)]
        host_ca: PathBuf,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Issue a client certificate for the HTTPS API with this deployment's root key: a new
    /// P-384 key (key.pem, 0600), its certificate (cert.pem), a copy of the root (root.pem)
    /// and profile.toml, in --out-dir.
    IssueClient {
        /// The principal (the certificate's CN): 1–128 of A–Z a–z 0–9 - _ .
        #[arg(long)]
        principal: String,
        /// The one role the certificate carries.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(ROLES))]
        role: String,
        /// The tenant the principal belongs to, if any.
        #[arg(long)]
        tenant: Option<String>,
        /// Folder for the new client's files (created 0700; must not hold a profile).
        #[arg(long)]
        out_dir: PathBuf,
        /// The server's URL in the profile [default: from the configured listen address].
        #[arg(long)]
        server_url: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Revoke a certificate this host CA issued (by serial number, hex).
    Revoke {
        /// Serial number in hex, as `kastell-verify` prints it.
        serial: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Revoke a client certificate (by serial, hex) in this deployment's store, offline: a
    /// running server refuses it within seconds (`kastell user revoke` does it online).
    RevokeClient {
        /// Serial number in hex, as `ca issue-client`, `user list` or `openssl x509
        /// -serial` print it.
        serial: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Issue a CRL of this host CA (DER to --out, or PEM on standard output).
    Crl {
        /// Validity in days.
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// Output file (DER).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
}

/// Attestation commands.
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Issue a Nitro-format attestation document (COSE_Sign1) for a guest: PCR0 = the
    /// guest's SHA-384, PCR1 = this Kastell binary's SHA-384, PCR2 = the policy's.
    Document {
        #[command(flatten)]
        guest: GuestArgs,
        /// The guest's public key (P-384, SPKI PEM), if it has one.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Output file (the raw COSE_Sign1 bytes).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Issue an attestation certificate binding a guest's public key to its measurement.
    Issue {
        #[command(flatten)]
        guest: GuestArgs,
        /// The guest's public key (P-384, SPKI PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// Host identifier in the claims (default: the host CA's subject).
        #[arg(long)]
        host_id: Option<String>,
        /// Validity in seconds.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Print the host CA certificate after the attestation certificate.
        #[arg(long)]
        chain: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

fn one_certificate(path: &Path) -> Result<kastell_attest::x509::Certificate, CliError> {
    let mut certs = parse_certificates(&read(path)?)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    if certs.len() != 1 {
        return Err(CliError::usage(format!(
            "{}: expected one certificate, found {}",
            path.display(),
            certs.len()
        )));
    }
    Ok(certs.remove(0))
}

fn public_key(path: &Path) -> Result<p384::PublicKey, CliError> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| CliError::usage(format!("{}: not PEM text", path.display())))?;
    p384::PublicKey::from_public_key_pem(text.trim()).map_err(|e| {
        CliError::usage(format!(
            "{}: not a P-384 public key in SPKI PEM: {e}",
            path.display()
        ))
    })
}

fn hex_arg(text: &str, flag: &str) -> Result<Vec<u8>, CliError> {
    hex::decode(text).map_err(|e| CliError::usage(format!("{flag} {text}: not hex: {e}")))
}

fn token(
    args: &DeploymentArgs,
) -> Result<std::sync::Arc<dyn kastell_core::token::Token>, CliError> {
    args.deployment()?.open_token().map_err(deployment_error)
}

fn print_pem(cert: &kastell_attest::x509::Certificate) -> Result<(), CliError> {
    print!(
        "{}",
        cert.to_pem()
            .map_err(|e| CliError::internal(e.to_string()))?
    );
    Ok(())
}

/// Revocations recorded in `ca/revoked.txt`: `<serial hex> <unix seconds>` per line.
fn revocations(files: &CaFiles) -> Result<Vec<Revoked>, CliError> {
    let path = files.path("revoked.txt");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::internal(format!("{}: {e}", path.display()))),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let bad = || CliError::internal(format!("{}: malformed line `{line}`", path.display()));
            let (serial, at) = line.split_once(' ').ok_or_else(bad)?;
            Ok(Revoked {
                serial: hex::decode(serial).map_err(|_| bad())?,
                at: OffsetDateTime::from_unix_timestamp(at.trim().parse().map_err(|_| bad())?)
                    .map_err(|_| bad())?,
            })
        })
        .collect()
}

/// Runs a CA command.
pub(super) fn run_ca(command: CaCommand) -> Result<(), CliError> {
    match command {
        CaCommand::InitRoot {
            common_name,
            organization,
            country,
            years,
            deployment,
        } => {
            let owner = Owner {
                common_name,
                organization,
                country,
            };
            let files = CaFiles::new(&deployment.data_dir()?);
            let root = kastell_core::ca::init_root(
                token(&deployment)?,
                &files,
                &owner,
                Duration::from_secs(years * 365 * DAY),
            )
            .map_err(ca_error)?;
            print_pem(&root)
        }
        CaCommand::HostKey { deployment } => {
            let signer = TokenSigner::open(token(&deployment)?, HOST_CA_KEY, true)
                .map_err(|e| CliError::internal(e.to_string()))?;
            let pem = kastell_attest::signer::Signer::public_key(&signer)
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| CliError::internal(e.to_string()))?;
            print!("{pem}");
            Ok(())
        }
        CaCommand::IssueHostCa {
            host_key,
            common_name,
            days,
            deployment,
        } => {
            let key = public_key(&host_key)?;
            let cert = kastell_core::ca::issue_host_ca(
                token(&deployment)?,
                &CaFiles::new(&deployment.data_dir()?),
                &key,
                &common_name,
                Duration::from_secs(days * DAY),
            )
            .map_err(ca_error)?;
            print_pem(&cert)
        }
        CaCommand::Install {
            root,
            host_ca,
            deployment,
        } => {
            let (root, host_ca) = (one_certificate(&root)?, one_certificate(&host_ca)?);
            let ca = HostCa::install(
                token(&deployment)?,
                &CaFiles::new(&deployment.data_dir()?),
                root,
                host_ca,
            )
            .map_err(ca_error)?;
            println!(
                "installed: host CA {} under root {}",
                ca.certificate.tbs_certificate.subject, ca.root.tbs_certificate.subject
            );
            Ok(())
        }
        CaCommand::IssueClient {
            principal,
            role,
            tenant,
            out_dir,
            server_url,
            days,
            deployment,
        } => {
            let identity = ClientIdentity {
                principal,
                role,
                tenant,
            };
            let url = match server_url {
                Some(url) => url,
                None => super::init::server_url(
                    deployment
                        .config()?
                        .server
                        .listen
                        .as_deref()
                        .unwrap_or(DEFAULT_LISTEN),
                )?,
            };
            let store = deployment
                .deployment()?
                .open_store()
                .map_err(super::deployment::deployment_error)?;
            kastell_core::clients::check_principal(&*store, &identity).map_err(client_error)?;
            let (profile, certificate) = new_client(
                token(&deployment)?,
                &CaFiles::new(&deployment.data_dir()?),
                &identity,
                Duration::from_secs(days * DAY),
                &out_dir,
                &url,
            )
            .map_err(client_error)?;
            let issuer = super::deployment::operator(kastell_proto::Role::CryptoOfficer, None);
            kastell_core::clients::register(&*store, &certificate, &identity, &issuer.id)
                .map_err(|e| CliError::internal(e.to_string()))?;
            let serial = kastell_core::clients::serial_of(&certificate);
            let tenant = identity
                .tenant
                .as_deref()
                .map_or_else(String::new, |t| format!(", tenant {t}"));
            println!(
                "issued client `{}` ({}{tenant}), valid {days} days",
                identity.principal, identity.role
            );
            println!("  key          {}", profile.key.display());
            println!("  certificate  {}", profile.certificate.display());
            println!("  root         {}", profile.ca.display());
            println!("  profile      {}", out_dir.join(PROFILE_FILE).display());
            println!("  serial       {serial}");
            Ok(())
        }
        CaCommand::RevokeClient {
            serial,
            reason,
            deployment,
        } => {
            let serial = kastell_core::clients::parse_serial(&serial).map_err(CliError::usage)?;
            let store = super::deployment::existing_store(&deployment)?;
            let officer = super::deployment::operator(kastell_proto::Role::CryptoOfficer, None);
            match kastell_core::clients::revoke(&*store, &serial, &officer.id, &reason)
                .map_err(|e| CliError::internal(e.to_string()))?
            {
                Some(_) => println!("revoked client certificate {serial}"),
                None => println!("client certificate {serial} was revoked already"),
            }
            Ok(())
        }
        CaCommand::Revoke { serial, deployment } => {
            let bytes = hex_arg(&serial, "serial")?;
            let files = CaFiles::new(&deployment.data_dir()?);
            let mut list = revocations(&files)?;
            if list.iter().any(|r| r.serial == bytes) {
                println!("{serial} was already revoked");
                return Ok(());
            }
            list.push(Revoked {
                serial: bytes,
                at: OffsetDateTime::now_utc(),
            });
            let text: String = list
                .iter()
                .map(|r| format!("{} {}\n", hex::encode(&r.serial), r.at.unix_timestamp()))
                .collect();
            files
                .write("revoked.txt", text.as_bytes())
                .map_err(ca_error)?;
            println!("revoked {serial}; publish a new CRL with `kastell ca crl`");
            Ok(())
        }
        CaCommand::Crl {
            days,
            out,
            deployment,
        } => {
            let files = CaFiles::new(&deployment.data_dir()?);
            let ca = HostCa::load(token(&deployment)?, &files).map_err(ca_error)?;
            let number = std::fs::read_to_string(files.path("crl-number"))
                .ok()
                .and_then(|n| n.trim().parse::<u32>().ok())
                .unwrap_or(0)
                + 1;
            let crl = ca
                .crl(
                    number,
                    &revocations(&files)?,
                    Duration::from_secs(days * DAY),
                )
                .map_err(ca_error)?;
            files
                .write("crl-number", number.to_string().as_bytes())
                .map_err(ca_error)?;
            match out {
                Some(path) => std::fs::write(&path, &crl)
                    .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display()))),
                None => {
                    let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl)
                        .map_err(|e| CliError::internal(e.to_string()))?;
                    print!("{pem}");
                    Ok(())
                }
            }
        }
    }
}

/// The guest and what the evidence binds, shared by the attestation commands.
#[derive(Debug, clap::Args)]
pub struct GuestArgs {
    /// The guest component (its SHA-384 is the guest measurement).
    #[arg(
        long = "guest",
        conflicts_with = "guest_hash",
        required_unless_present = "guest_hash"
    )]
    file: Option<PathBuf>,
    /// The guest measurement, `sha384:<hex>`, instead of --guest.
    #[arg(long)]
    guest_hash: Option<String>,
    /// The policy measurement the guest runs under.
    #[arg(long)]
    policy: Option<String>,
    /// The relying party's nonce (hex, ≤ 512 bytes).
    #[arg(long, default_value = "")]
    nonce: String,
    /// User data (hex, ≤ 512 bytes).
    #[arg(long, default_value = "")]
    user_data: String,
}

impl GuestArgs {
    fn measurements(&self) -> Result<(Measurement, Option<Measurement>), CliError> {
        let guest = match (&self.file, &self.guest_hash) {
            (Some(path), _) => Measurement::of(&read(path)?),
            (None, Some(text)) => text
                .parse()
                .map_err(|e| CliError::usage(format!("--guest-hash {text}: {e}")))?,
            (None, None) => return Err(CliError::usage("give --guest or --guest-hash")),
        };
        let policy = self
            .policy
            .as_deref()
            .map(|p| {
                p.parse::<Measurement>()
                    .map_err(|e| CliError::usage(format!("--policy {p}: {e}")))
            })
            .transpose()?;
        Ok((guest, policy))
    }
}

/// Runs an attestation command.
pub(super) fn run_attest(command: AttestCommand) -> Result<(), CliError> {
    if let AttestCommand::Document {
        guest,
        public_key: key_path,
        out,
        deployment,
    } = command
    {
        let (measurement, policy) = guest.measurements()?;
        let key = key_path.as_deref().map(public_key).transpose()?;
        let files = CaFiles::new(&deployment.data_dir()?);
        let token = token(&deployment)?;
        let ca = HostCa::load(token.clone(), &files).map_err(ca_error)?;
        let optional = |hex: &str, flag: &str| -> Result<Option<Vec<u8>>, CliError> {
            Ok(Some(hex_arg(hex, flag)?).filter(|b| !b.is_empty()))
        };
        let content = kastell_attest::document::DocumentContent {
            module_id: ca.certificate.tbs_certificate.subject.to_string(),
            timestamp_ms: u64::try_from(OffsetDateTime::now_utc().unix_timestamp())
                .unwrap_or(0)
                .saturating_mul(1000),
            guest: measurement,
            runtime: kastell_core::ca::runtime_measurement().map_err(ca_error)?,
            policy,
            public_key: key.map(Into::into),
            user_data: optional(&guest.user_data, "--user-data")?,
            nonce: optional(&guest.nonce, "--nonce")?,
        };
        let document = ca
            .issue_document(token, &files, &content)
            .map_err(ca_error)?;
        return std::fs::write(&out, document)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())));
    }
    let AttestCommand::Issue {
        guest,
        public_key: key_path,
        host_id,
        seconds,
        chain,
        deployment,
    } = command
    else {
        return Err(CliError::internal("unhandled attest command"));
    };
    let (measurement, policy) = guest.measurements()?;
    let key = public_key(&key_path)?;
    let files = CaFiles::new(&deployment.data_dir()?);
    let ca = HostCa::load(token(&deployment)?, &files).map_err(ca_error)?;
    let claims = Claims {
        guest: measurement,
        policy,
        nonce: hex_arg(&guest.nonce, "--nonce")?,
        user_data: hex_arg(&guest.user_data, "--user-data")?,
        host_id: host_id.unwrap_or_else(|| ca.certificate.tbs_certificate.subject.to_string()),
        runtime_version: runtime_version(),
    };
    let cert = ca
        .issue(&key, &claims, Duration::from_secs(seconds))
        .map_err(ca_error)?;
    print_pem(&cert)?;
    if chain {
        print_pem(&ca.certificate)?;
    }
    Ok(())
}
