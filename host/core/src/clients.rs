//! Client identities for the HTTPS API: client certificates signed by the deployment's root
//! key, and the *profile* a client program reads to reach the server.
//!
//! A profile is a folder holding a P-384 private key (`key.pem`, PKCS#8, mode 0600), its
//! client certificate (`cert.pem`: principal, role and tenant, see
//! [`kastell_attest::identity`]), the root the client trusts for the server (`root.pem`)
//! and `profile.toml` naming them with the server's URL:
//!
//! ```toml
//! server = "https://127.0.0.1:8443"
//! ca = "root.pem"             # relative paths are relative to the profile's folder
//! certificate = "cert.pem"
//! key = "key.pem"
//! ```
//!
//! The server trusts the root as the anchor of client certificates, so issuing one needs the
//! root key: `kastell init` (the first officer), `kastell ca issue-client` (any role).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kastell_attest::identity::{ClientIdentity, issue_client};
use kastell_attest::signer::Signer as _;
use kastell_attest::x509::Certificate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::{BACKDATE, CaFiles, HostCaError, ROOT_KEY, TokenSigner};
use crate::token::{Token, TokenError};

mod key;

pub use key::ClientKey;

/// File name of a profile inside its folder.
pub const PROFILE_FILE: &str = "profile.toml";
/// File name of the client's private key inside a profile folder.
pub const KEY_FILE: &str = "key.pem";
/// File name of the client's public key (SPKI PEM), what an officer's `user add` takes.
pub const PUBLIC_KEY_FILE: &str = "public.pem";
/// File name of the client certificate inside a profile folder.
pub const CERTIFICATE_FILE: &str = "cert.pem";
/// File name of the trusted root inside a profile folder.
pub const ROOT_FILE: &str = "root.pem";

/// Why a client profile could not be created or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Issuing the certificate failed: no root here, a malformed identity, the token.
    #[error(transparent)]
    Ca(#[from] HostCaError),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A profile is malformed: invalid TOML, a missing, unknown or invalid key.
    #[error("{path}: {message}")]
    Profile {
        /// The profile file.
        path: PathBuf,
        /// What is wrong, naming the key (and line, for TOML errors).
        message: String,
    },
    /// The folder already holds a client key or profile; nothing was overwritten.
    #[error("{0} already holds a client profile or key; choose another folder")]
    Exists(PathBuf),
    /// The principal name is the system's own (`kastell`, `kastell-…`).
    #[error("principal `{0}` is reserved for Kastell itself")]
    Reserved(String),
    /// The principal holds certificates of another role: a name keeps one role for life.
    #[error(
        "principal `{principal}` is a {bound}: a principal keeps its role for life, so it \
         cannot be issued as a {asked}"
    )]
    RoleBound {
        /// The principal.
        principal: String,
        /// The role its certificates carry.
        bound: String,
        /// The role asked for.
        asked: String,
    },
    /// Two roles were asked for while separation of duties is on, or two that may never
    /// be held together.
    #[error("principal `{principal}`: {asked} {why}")]
    RolesCombined {
        /// The principal.
        principal: String,
        /// The roles asked for (or held and asked), joined with `,`.
        asked: String,
        /// Why they may not be held together.
        why: &'static str,
    },
    /// The registry could not be read.
    #[error("the client registry: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ClientError {
    /// The stable code: that of the CA error, `AlreadyExists`, or bad input (a file or
    /// profile).
    #[must_use]
    pub fn code(&self) -> kastell_proto::ErrorCode {
        use kastell_proto::ErrorCode as C;
        match self {
            Self::Ca(err) => err.code(),
            Self::Exists(_) => C::AlreadyExists,
            Self::Reserved(_) | Self::RoleBound { .. } | Self::RolesCombined { .. } => {
                C::AccessDenied
            }
            Self::Profile { .. } | Self::File { .. } => C::InvalidInput,
            Self::Store(_) => C::Internal,
        }
    }
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> ClientError {
    ClientError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Issues a client certificate for `public_key` naming `identity`, signed by the root key
/// on `token` (the server trusts the root as the client certificates' anchor), valid from
/// [`BACKDATE`] ago for `lifetime`.
///
/// # Errors
/// [`HostCaError::Setup`] when this deployment has no root (or its root certificate is for
/// another key than the token's); [`HostCaError::Ca`] for an unknown role or a malformed
/// principal or tenant; the token.
pub fn issue_client_certificate(
    token: Arc<dyn Token>,
    files: &CaFiles,
    identity: &ClientIdentity,
    public_key: &p384::PublicKey,
    lifetime: Duration,
) -> Result<Certificate, HostCaError> {
    let root = files.certificate("root.pem", "kastell init` or `kastell ca init-root")?;
    let signer = TokenSigner::open(token, ROOT_KEY, false).map_err(|e| match e {
        TokenError::KeyNotFound(_) => HostCaError::Setup(format!(
            "this token has no root key `{ROOT_KEY}`: client certificates are issued on the \
             root's deployment"
        )),
        other => other.into(),
    })?;
    let certified = kastell_attest::verify::public_key(&root)
        .map_err(|e| HostCaError::Setup(format!("{}: {e}", files.path("root.pem").display())))?;
    if certified != signer.public_key() {
        return Err(HostCaError::Setup(format!(
            "{} is for another key than this token's root key `{ROOT_KEY}`",
            files.path("root.pem").display()
        )));
    }
    Ok(issue_client(
        &signer,
        &root,
        public_key,
        identity,
        OffsetDateTime::now_utc() - BACKDATE,
        lifetime,
    )?)
}

/// What a client needs to reach the server: its URL, the root to trust for it, and the
/// client's certificate and key (`profile.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientProfile {
    /// The server's URL, e.g. `https://127.0.0.1:8443`.
    pub server: String,
    /// The root certificate (PEM) the client trusts for the server.
    pub ca: PathBuf,
    /// The client certificate (PEM).
    pub certificate: PathBuf,
    /// The client's private key (PKCS#8 PEM).
    pub key: PathBuf,
}

/// Checks that `url` is an `https://` URL with a host.
fn check_server(url: &str) -> Result<(), String> {
    match url.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "server `{url}` must be an https:// URL (e.g. https://127.0.0.1:8443)"
        )),
    }
}

impl ClientProfile {
    /// Reads `path`; relative paths in it are resolved against the profile's folder.
    ///
    /// # Errors
    /// [`ClientError::File`] for an unreadable file; [`ClientError::Profile`] for invalid
    /// TOML, a missing or unknown key, or a server that is not an `https://` URL, naming
    /// the file and the key.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        let profile_error = |message: String| ClientError::Profile {
            path: path.to_path_buf(),
            message,
        };
        let mut profile: Self = toml::from_str(&text)
            .map_err(|e| profile_error(e.to_string().trim_end().replace('\n', " | ")))?;
        check_server(&profile.server).map_err(profile_error)?;
        for (key, value) in [
            ("ca", &profile.ca),
            ("certificate", &profile.certificate),
            ("key", &profile.key),
        ] {
            if value.as_os_str().is_empty() {
                return Err(profile_error(format!("`{key}` is empty")));
            }
        }
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        for file in [&mut profile.ca, &mut profile.certificate, &mut profile.key] {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(profile)
    }

    /// Writes the profile as `dir/profile.toml` (atomically); paths inside `dir` are stored
    /// relative to it, so the folder can be moved whole. Returns the file's path.
    ///
    /// # Errors
    /// [`ClientError::File`] when the file cannot be written.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ClientError> {
        let relative = |file: &Path| file.strip_prefix(dir).unwrap_or(file).to_path_buf();
        let stored = Self {
            server: self.server.clone(),
            ca: relative(&self.ca),
            certificate: relative(&self.certificate),
            key: relative(&self.key),
        };
        let path = dir.join(PROFILE_FILE);
        let text = toml::to_string(&stored).map_err(|e| file_error(&path, e))?;
        write_file(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// Creates a client in `dir` (created `0700` when missing): a new P-384 key, its
/// certificate for `identity` signed by the root key on `token`, valid for `lifetime`, a
/// copy of the root, and a profile for `server_url`. Writes `key.pem` (PKCS#8, mode 0600),
/// `cert.pem`, `root.pem` and, last, `profile.toml`; returns the profile with absolute
/// paths and the certificate (for [`register`]). The private key exists only in zeroizing
/// memory and in `key.pem`.
///
/// # Errors
/// [`ClientError::Exists`] when `dir` holds a profile or key already;
/// [`ClientError::Profile`] for a server URL that is not `https://`; as
/// [`issue_client_certificate`]; [`ClientError::File`] when a file cannot be written.
pub fn new_client(
    token: Arc<dyn Token>,
    files: &CaFiles,
    identity: &ClientIdentity,
    lifetime: Duration,
    dir: &Path,
    server_url: &str,
) -> Result<(ClientProfile, Certificate), ClientError> {
    let dir = std::path::absolute(dir).map_err(|e| file_error(dir, e))?;
    check_server(server_url).map_err(|message| ClientError::Profile {
        path: dir.join(PROFILE_FILE),
        message,
    })?;
    if dir.join(PROFILE_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Err(ClientError::Exists(dir));
    }
    let root = files.certificate("root.pem", "kastell init` or `kastell ca init-root")?;
    let key = ClientKey::generate();
    let certificate =
        issue_client_certificate(token, files, identity, &key.public_key(), lifetime)?;
    create_private_dir(&dir)?;
    let profile = ClientProfile {
        server: server_url.to_owned(),
        ca: dir.join(ROOT_FILE),
        certificate: dir.join(CERTIFICATE_FILE),
        key: dir.join(KEY_FILE),
    };
    key.write(&profile.key)?;
    drop(key);
    write_file(
        &profile.certificate,
        pem(&certificate, &profile.certificate)?.as_bytes(),
    )?;
    write_file(&profile.ca, pem(&root, &profile.ca)?.as_bytes())?;
    profile.write(&dir)?;
    Ok((profile, certificate))
}

fn pem(cert: &Certificate, path: &Path) -> Result<String, ClientError> {
    cert.to_pem().map_err(|e| file_error(path, e))
}

/// Creates `dir` (and missing parents) readable by its owner only.
///
/// # Errors
/// [`ClientError::File`] naming the folder.
pub fn create_private_dir(dir: &Path) -> Result<(), ClientError> {
    crate::files::create_private_dir(dir).map_err(|e| file_error(dir, e))
}

/// Writes `contents` to `path` with [`crate::files::write_atomic`] (atomic, mode 0600).
///
/// # Errors
/// [`ClientError::File`] naming the file.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), ClientError> {
    crate::files::write_atomic(path, contents).map_err(|e| file_error(path, e))
}

/// A certificate's serial number as the registry and the commands write it: lowercase hex.
#[must_use]
pub fn serial_of(certificate: &Certificate) -> String {
    hex::encode(certificate.tbs_certificate.serial_number.as_bytes())
}

/// Normalises a serial typed by a person (`AB:CD…`, `0xabcd…`, any case) to lowercase hex.
///
/// # Errors
/// Not hexadecimal, or empty.
pub fn parse_serial(text: &str) -> Result<String, String> {
    let cleaned: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("serial `{text}` is not hexadecimal"));
    }
    Ok(cleaned)
}

/// Whether `principal` is one of the system's own names: `kastell`, or beginning
/// `kastell-`, `kastell.` or `kastell_`, in any case.
#[must_use]
pub fn is_reserved(principal: &str) -> bool {
    let lower = principal.to_ascii_lowercase();
    let system = crate::keys::SYSTEM_PRINCIPAL;
    lower == system
        || ["-", ".", "_"]
            .iter()
            .any(|sep| lower.starts_with(&format!("{system}{sep}")))
}

/// Whether a client certificate may be issued for `identity`: its principal is not one of
/// the system's own names (`kastell`, or beginning `kastell-`, `kastell.`, `kastell_`, in
/// any case), and no certificate issued here names the principal (in any case) with
/// another role. Call it before issuing.
///
/// # Errors
/// [`ClientError::Reserved`], [`ClientError::RoleBound`] (both `AccessDenied`),
/// [`ClientError::Store`].
pub fn check_principal(
    store: &dyn crate::store::Store,
    identity: &ClientIdentity,
) -> Result<(), ClientError> {
    if is_reserved(&identity.principal) {
        return Err(ClientError::Reserved(identity.principal.clone()));
    }
    let roles = store.client_roles(&identity.principal)?;
    match roles.into_iter().find(|role| *role != identity.role) {
        Some(bound) => Err(ClientError::RoleBound {
            principal: identity.principal.clone(),
            bound,
            asked: identity.role.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether one principal may hold crypto-officer and crypto-user at once: the setting
/// `[aws] separation_of_duties`, on unless set to `false`. It concerns access keys of the
/// AWS endpoint only (test suites and development set-ups written for AWS use one identity
/// for everything): a client certificate always carries one role, and a principal whose
/// access key holds two roles gets no certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duties {
    /// Separation of duties (the default): a principal keeps one role for life.
    #[default]
    Separated,
    /// `separation_of_duties = false`: a principal may hold crypto-officer and crypto-user.
    Combined,
}

impl Duties {
    /// The value of `separation_of_duties`.
    #[must_use]
    pub const fn from_setting(separation_of_duties: bool) -> Self {
        if separation_of_duties {
            Self::Separated
        } else {
            Self::Combined
        }
    }

    /// The value of `separation_of_duties` this is.
    #[must_use]
    pub const fn setting(self) -> bool {
        matches!(self, Self::Separated)
    }
}

/// Whether an access key with `roles` may be issued to `principal`: the name is not the
/// system's own; one role unless `duties` is [`Duties::Combined`], and then at most
/// crypto-officer and crypto-user; and the principal's certificates and access keys carry
/// no other role (with [`Duties::Combined`], crypto-officer and crypto-user go together).
///
/// # Errors
/// [`ClientError::Reserved`], [`ClientError::RolesCombined`], [`ClientError::RoleBound`]
/// (each `AccessDenied`), [`ClientError::Store`].
pub fn check_access_key_principal(
    store: &dyn crate::store::Store,
    principal: &str,
    roles: &[kastell_proto::Role],
    duties: Duties,
) -> Result<(), ClientError> {
    use kastell_proto::Role;
    if is_reserved(principal) {
        return Err(ClientError::Reserved(principal.to_owned()));
    }
    let names = |roles: &[Role]| {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let combinable = |role: &Role| matches!(role, Role::CryptoOfficer | Role::CryptoUser);
    if roles.len() > 1 {
        if duties == Duties::Separated {
            return Err(ClientError::RolesCombined {
                principal: principal.to_owned(),
                asked: names(roles),
                why: "in one access key: separation of duties is on (`[aws] \
                      separation_of_duties`), a principal holds one role",
            });
        }
        if !roles.iter().all(combinable) {
            return Err(ClientError::RolesCombined {
                principal: principal.to_owned(),
                asked: names(roles),
                why: "in one access key: only crypto-officer and crypto-user may be held \
                      together",
            });
        }
    }
    let bound = store.client_roles(principal)?;
    for held in &bound {
        if roles.iter().any(|r| r.as_str() == held) {
            continue;
        }
        let both_combinable = duties == Duties::Combined
            && held
                .parse::<Role>()
                .is_ok_and(|h| combinable(&h) && roles.iter().all(combinable));
        if !both_combinable {
            return Err(ClientError::RoleBound {
                principal: principal.to_owned(),
                bound: held.clone(),
                asked: names(roles),
            });
        }
    }
    Ok(())
}

/// Records `certificate` (issued for `identity` by `issued_by`) in the deployment's
/// registry of client certificates, with an audit record `issue-client`.
///
/// # Errors
/// The store.
pub fn register(
    store: &dyn crate::store::Store,
    certificate: &Certificate,
    identity: &ClientIdentity,
    issued_by: &str,
) -> Result<crate::audit::AuditRecord, crate::store::StoreError> {
    let serial = serial_of(certificate);
    let not_after = kastell_attest::verify::not_after(certificate);
    let row = kastell_proto::api::ClientDetail {
        client: kastell_proto::api::ClientInfo {
            serial: serial.clone(),
            principal: identity.principal.clone(),
            role: identity.role.clone(),
            tenant: identity.tenant.clone(),
            not_after_ms: i64::try_from(not_after.unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(i64::MAX),
            issued_ms: crate::keys::unix_now_ms(),
            issued_by: issued_by.to_owned(),
            revoked_ms: None,
        },
        certificate: certificate.to_pem().ok(),
    };
    let reason = format!(
        "serial {serial}: {} as {}{}",
        identity.principal,
        identity.role,
        identity
            .tenant
            .as_ref()
            .map(|t| format!(" of tenant {t}"))
            .unwrap_or_default()
    );
    store.add_client(
        &row,
        crate::audit::AuditEntry::event(
            issued_by,
            "issue-client",
            None,
            crate::audit::Outcome::Allowed,
            reason,
        ),
    )
}

/// Revokes the client certificate `serial` (lowercase hex) in the registry, by `by` for
/// `reason`, with an audit record `revoke-client`; `None` when it was revoked already.
///
/// # Errors
/// The store.
pub fn revoke(
    store: &dyn crate::store::Store,
    serial: &str,
    by: &str,
    reason: &str,
) -> Result<Option<crate::audit::AuditRecord>, crate::store::StoreError> {
    let revocation = crate::store::Revocation {
        serial: serial.to_owned(),
        revoked_ms: crate::keys::unix_now_ms(),
        revoked_by: by.to_owned(),
        reason: reason.to_owned(),
    };
    let audit = crate::audit::AuditEntry::event(
        by,
        "revoke-client",
        None,
        crate::audit::Outcome::Allowed,
        format!("serial {serial}: {reason}"),
    );
    store.revoke_client(&revocation, audit)
}

#[cfg(test)]
mod tests {
    use kastell_attest::ca::Owner;
    use kastell_attest::identity::client_identity;
    use kastell_attest::x509::parse_certificates;
    use p384::pkcs8::DecodePrivateKey as _;

    use super::*;
    use crate::token::{KdfCost, SoftToken};

    const YEAR: Duration = Duration::from_secs(365 * 86_400);

    fn root_deployment(dir: &Path) -> (Arc<dyn Token>, CaFiles) {
        let token: Arc<dyn Token> = Arc::new(
            SoftToken::create(
                &dir.join("soft-token.kst"),
                &"unit test passphrase".into(),
                KdfCost::Interactive,
            )
            .unwrap(),
        );
        let files = CaFiles::new(dir);
        let owner = Owner {
            common_name: "Example GmbH Kastell Root".into(),
            organization: "Example GmbH".into(),
            country: "DE".into(),
        };
        crate::ca::init_root(token.clone(), &files, &owner, YEAR).unwrap();
        (token, files)
    }

    fn auditor() -> ClientIdentity {
        ClientIdentity {
            principal: "erika".into(),
            role: "auditor".into(),
            tenant: Some("acme".into()),
        }
    }

    #[test]
    fn a_new_client_gets_a_private_key_a_certificate_and_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let (token, files) = root_deployment(dir.path());
        let folder = dir.path().join("clients/erika");
        let (profile, _) = new_client(
            token.clone(),
            &files,
            &auditor(),
            YEAR,
            &folder,
            "https://127.0.0.1:8443",
        )
        .unwrap();
        assert_eq!(profile.key, folder.join("key.pem"));
        assert_eq!(
            ClientProfile::load(&folder.join(PROFILE_FILE)).unwrap(),
            profile
        );
        let stored = std::fs::read_to_string(folder.join(PROFILE_FILE)).unwrap();
        assert!(stored.contains("key = \"key.pem\""), "{stored}");

        let cert = parse_certificates(&std::fs::read(&profile.certificate).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(client_identity(&cert).unwrap(), auditor());
        let key_pem = std::fs::read_to_string(&profile.key).unwrap();
        let key = p384::SecretKey::from_pkcs8_pem(&key_pem).unwrap();
        assert_eq!(
            kastell_attest::verify::public_key(&cert).unwrap(),
            key.public_key()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&profile.key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read(&profile.ca).unwrap(),
            std::fs::read(files.path("root.pem")).unwrap()
        );

        let again = new_client(token, &files, &auditor(), YEAR, &folder, "https://x:1");
        assert!(matches!(again, Err(ClientError::Exists(_))), "{again:?}");
        assert_eq!(std::fs::read_to_string(&profile.key).unwrap(), key_pem);
    }

    #[test]
    fn bad_identities_and_missing_roots_are_refused_before_any_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (token, files) = root_deployment(dir.path());
        let folder = dir.path().join("client");
        let admin = ClientIdentity {
            role: "admin".into(),
            ..auditor()
        };
        let err =
            new_client(token.clone(), &files, &admin, YEAR, &folder, "https://h:1").unwrap_err();
        assert!(err.to_string().contains("crypto-officer"), "{err}");
        let err = new_client(
            token.clone(),
            &files,
            &auditor(),
            YEAR,
            &folder,
            "http://h:1",
        )
        .unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
        assert!(!folder.exists());

        let elsewhere = CaFiles::new(&dir.path().join("no-root"));
        let key = p384::SecretKey::random(&mut rand_core::OsRng).public_key();
        let err = issue_client_certificate(token, &elsewhere, &auditor(), &key, YEAR).unwrap_err();
        assert!(matches!(err, HostCaError::Setup(_)), "{err}");
    }

    #[test]
    fn profiles_resolve_relative_paths_and_name_their_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROFILE_FILE);
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write(
            "server = \"https://kms.example:8443\"\nca = \"root.pem\"\n\
             certificate = \"/etc/kastell/cert.pem\"\nkey = \"keys/key.pem\"\n",
        );
        let profile = ClientProfile::load(&path).unwrap();
        assert_eq!(profile.ca, dir.path().join("root.pem"));
        assert_eq!(profile.certificate, PathBuf::from("/etc/kastell/cert.pem"));
        assert_eq!(profile.key, dir.path().join("keys/key.pem"));

        let message = |text: &str| {
            write(text);
            let err = ClientProfile::load(&path).unwrap_err();
            assert!(matches!(err, ClientError::Profile { .. }), "{err}");
            let message = err.to_string();
            assert!(message.contains(PROFILE_FILE), "{message}");
            message
        };
        let base = "server = \"https://h:1\"\nca = \"r\"\ncertificate = \"c\"\n";
        assert!(message(base).contains("key"));
        assert!(message(&format!("{base}key = \"k\"\nsevrer = 1\n")).contains("sevrer"));
        assert!(message(&format!("{base}key = \"\"\n")).contains("`key` is empty"));
        let plain = "server = \"http://h:1\"\nca = \"r\"\ncertificate = \"c\"\nkey = \"k\"\n";
        assert!(message(plain).contains("https://"));
        let missing = ClientProfile::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
    }
}
