//! The host's side of attestation: CA keys on the deployment's token, the certificates in
//! `<data dir>/ca/`, and issuing attestation certificates and CRLs with them.
//!
//! Two deployments take part: the **root**'s (ideally offline: its own data directory and
//! token, `kastell ca init-root`, `kastell ca issue-host-ca`) and each **host**'s (`kastell
//! ca host-key`, `kastell ca install`, then `kastell attest issue` and `kastell ca crl`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kastell_attest::ca::{self, CaError, Owner, Revoked};
use kastell_attest::claims::Claims;
use kastell_attest::signer::{SignError, Signer};
use kastell_attest::verify::{Expectations, Trust, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use time::OffsetDateTime;

use crate::token::{Token, TokenError, TokenKeyKind};

/// Label of the root CA key on the root deployment's token.
pub const ROOT_KEY: &str = "kastell-root-ca";
/// Label of the host attestation CA key on the host's token.
pub const HOST_CA_KEY: &str = "kastell-host-ca";
/// Label of the document-signing key on the host's token.
pub const DOCUMENT_KEY: &str = "kastell-document-signer";
/// Lifetime of a document-signing certificate; a new one is issued when less than a day
/// is left.
pub const DOCUMENT_SIGNER_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// How far CA certificates and CRLs are backdated, so that relying parties whose clocks
/// run a little behind accept them. Attestation certificates are not backdated: their
/// issue time is the evidence's age.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostCaError {
    /// The token failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Issuing failed (e.g. a non-EU country).
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The set-up is incomplete or inconsistent (what to do is in the message).
    #[error("{0}")]
    Setup(String),
}

impl HostCaError {
    /// The stable code: a refused CA operation, bad input (a file) or an internal failure.
    #[must_use]
    pub fn code(&self) -> kastell_proto::ErrorCode {
        use kastell_proto::ErrorCode as C;
        match self {
            Self::Ca(_) | Self::Setup(_) => C::InvalidCertificate,
            Self::File { .. } => C::InvalidInput,
            Self::Token(_) => C::Internal,
        }
    }
}

/// A CA key on a token.
pub struct TokenSigner {
    token: Arc<dyn Token>,
    label: String,
    public: p384::PublicKey,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// The P-384 key `label` on `token`; with `create`, generated first when missing.
    ///
    /// # Errors
    /// [`TokenError::KeyNotFound`] (without `create`), or the token's failure.
    pub fn open(token: Arc<dyn Token>, label: &str, create: bool) -> Result<Self, TokenError> {
        if create && !token.contains(label)? {
            token.generate(label, TokenKeyKind::EcP384)?;
        }
        let sec1 = token.public_key(label)?;
        let public = p384::PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| TokenError::Malformed("EC point"))?;
        Ok(Self {
            token,
            label: label.to_owned(),
            public,
        })
    }
}

impl TokenSigner {
    /// The token the key is on.
    #[must_use]
    pub fn token(&self) -> Arc<dyn Token> {
        Arc::clone(&self.token)
    }
}

impl Signer for TokenSigner {
    fn public_key(&self) -> p384::PublicKey {
        self.public
    }

    fn sign_digest(&self, digest: &[u8; 48]) -> Result<[u8; 96], SignError> {
        let raw = self
            .token
            .sign_digest(&self.label, digest)
            .map_err(|e| SignError(e.to_string()))?;
        <[u8; 96]>::try_from(raw.as_slice())
            .map_err(|_| SignError("the token returned a malformed signature".into()))
    }
}

/// Name of the CA folder inside a data directory.
pub const CA_DIR: &str = "ca";

/// The `ca/` folder of a data directory.
#[derive(Debug, Clone)]
pub struct CaFiles {
    dir: PathBuf,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> HostCaError {
    HostCaError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl CaFiles {
    /// The `ca/` folder of `data_dir`.
    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(CA_DIR),
        }
    }

    /// Path of a file in the folder.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads the one certificate in `name`.
    ///
    /// # Errors
    /// A missing or malformed file, with a hint at the command that creates it.
    pub fn certificate(&self, name: &str, made_by: &str) -> Result<Certificate, HostCaError> {
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(|e| {
            HostCaError::Setup(format!("{}: {e} (run `{made_by}` first)", path.display()))
        })?;
        let mut certs = parse_certificates(&bytes).map_err(|e| file_error(&path, e))?;
        match certs.len() {
            1 => Ok(certs.remove(0)),
            n => Err(file_error(&path, format!("holds {n} certificates, not 1"))),
        }
    }

    /// Writes `contents` to `name` atomically (mode 0600; the folder made 0700 when
    /// missing).
    ///
    /// # Errors
    /// The file system's failure.
    pub fn write(&self, name: &str, contents: &[u8]) -> Result<PathBuf, HostCaError> {
        crate::files::create_private_dir(&self.dir).map_err(|e| file_error(&self.dir, e))?;
        let path = self.path(name);
        crate::files::write_atomic(&path, contents).map_err(|e| file_error(&path, e))?;
        Ok(path)
    }
}

/// Creates the root key on `token` and the self-signed root certificate, saved as
/// `ca/root.pem`.
///
/// # Errors
/// [`HostCaError::Setup`] when a root key exists already; a non-EU country; the token.
pub fn init_root(
    token: Arc<dyn Token>,
    files: &CaFiles,
    owner: &Owner,
    lifetime: Duration,
) -> Result<Certificate, HostCaError> {
    if token.contains(ROOT_KEY)? {
        return Err(HostCaError::Setup(format!(
            "the token already holds a root key `{ROOT_KEY}`; a deployment has one root"
        )));
    }
    // Check the subject before creating a key that would then be unused.
    ca::name(&owner.common_name, &owner.organization, &owner.country)?;
    let signer = TokenSigner::open(token, ROOT_KEY, true)?;
    let root = ca::issue_root(
        &signer,
        owner,
        OffsetDateTime::now_utc() - BACKDATE,
        lifetime,
    )?;
    files.write("root.pem", pem(&root)?.as_bytes())?;
    Ok(root)
}

fn pem(cert: &Certificate) -> Result<String, HostCaError> {
    cert.to_pem()
        .map_err(|e| HostCaError::Ca(CaError::Encoding(e.to_string())))
}

/// Signs a host CA certificate for `host_key` with the root key on `token`.
///
/// # Errors
/// No root set up here; the token.
pub fn issue_host_ca(
    token: Arc<dyn Token>,
    files: &CaFiles,
    host_key: &p384::PublicKey,
    common_name: &str,
    lifetime: Duration,
) -> Result<Certificate, HostCaError> {
    let root = files.certificate("root.pem", "kastell ca init-root")?;
    let signer = TokenSigner::open(token, ROOT_KEY, false)?;
    Ok(ca::issue_host_ca(
        &signer,
        &root,
        host_key,
        common_name,
        OffsetDateTime::now_utc() - BACKDATE,
        lifetime,
    )?)
}

/// A host's attestation CA, ready to issue.
#[derive(Debug)]
pub struct HostCa {
    /// The owner's root.
    pub root: Certificate,
    /// The host CA certificate.
    pub certificate: Certificate,
    signer: TokenSigner,
}

impl HostCa {
    /// Checks and installs `root` and `host_ca` in `files`: the host CA's key must be the
    /// token's host CA key, and a test attestation must verify against the root.
    ///
    /// # Errors
    /// [`HostCaError::Setup`] naming the mismatch.
    pub fn install(
        token: Arc<dyn Token>,
        files: &CaFiles,
        root: Certificate,
        host_ca: Certificate,
    ) -> Result<Self, HostCaError> {
        let signer = TokenSigner::open(token, HOST_CA_KEY, false).map_err(|e| match e {
            TokenError::KeyNotFound(_) => HostCaError::Setup(format!(
                "this token has no host CA key `{HOST_CA_KEY}`: run `kastell ca host-key` first"
            )),
            other => other.into(),
        })?;
        let certified = kastell_attest::verify::public_key(&host_ca)
            .map_err(|e| HostCaError::Setup(e.to_string()))?;
        if certified != signer.public_key() {
            return Err(HostCaError::Setup(
                "the host CA certificate is for another key than this token's host CA key".into(),
            ));
        }
        let ca = Self {
            root,
            certificate: host_ca,
            signer,
        };
        let probe = ca.issue(
            &p384::SecretKey::random(&mut rand_core::OsRng).public_key(),
            &Claims {
                guest: kastell_attest::Measurement::of(b"installation check"),
                policy: None,
                nonce: Vec::new(),
                user_data: Vec::new(),
                host_id: "installation check".into(),
                runtime_version: runtime_version(),
            },
            Duration::from_secs(60),
        )?;
        let trust = Trust {
            anchors: vec![ca.root.clone()],
            intermediates: vec![ca.certificate.clone()],
            crls: Vec::new(),
            at: OffsetDateTime::now_utc(),
        };
        verify_attestation(&probe, &trust, &Expectations::default()).map_err(|e| {
            HostCaError::Setup(format!(
                "an attestation issued with this host CA does not verify against the root: {e}"
            ))
        })?;
        files.write("root.pem", pem(&ca.root)?.as_bytes())?;
        files.write("host-ca.pem", pem(&ca.certificate)?.as_bytes())?;
        Ok(ca)
    }

    /// The installed host CA.
    ///
    /// # Errors
    /// Not installed, or the token lacks the key.
    pub fn load(token: Arc<dyn Token>, files: &CaFiles) -> Result<Self, HostCaError> {
        Ok(Self {
            root: files.certificate("root.pem", "kastell ca install")?,
            certificate: files.certificate("host-ca.pem", "kastell ca install")?,
            signer: TokenSigner::open(token, HOST_CA_KEY, false)?,
        })
    }

    /// The host CA's signer (its key on the token), for the certificates it issues besides
    /// attestations (the server's TLS certificate).
    #[must_use]
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Issues an attestation certificate for `guest_key` with `claims`, valid from now for
    /// `lifetime`.
    ///
    /// # Errors
    /// Oversized claims, or the token.
    pub fn issue(
        &self,
        guest_key: &p384::PublicKey,
        claims: &Claims,
        lifetime: Duration,
    ) -> Result<Certificate, HostCaError> {
        Ok(ca::issue_attestation(
            &self.signer,
            &self.certificate,
            guest_key,
            claims,
            OffsetDateTime::now_utc(),
            lifetime,
        )?)
    }

    /// A CRL numbered `number` listing `revoked`, valid for `lifetime` from now (DER).
    ///
    /// # Errors
    /// The token.
    pub fn crl(
        &self,
        number: u32,
        revoked: &[Revoked],
        lifetime: Duration,
    ) -> Result<Vec<u8>, HostCaError> {
        let now = OffsetDateTime::now_utc();
        Ok(ca::issue_crl(
            &self.signer,
            &self.certificate,
            number,
            revoked,
            now - BACKDATE,
            now + lifetime,
        )?)
    }
}

impl HostCa {
    /// Issues a Nitro-format attestation document for `content`, signed by the host's
    /// document-signing key (created on the token and certified by the host CA on first
    /// use, renewed when less than a day of its validity is left). The CA bundle is the
    /// root and the host CA.
    ///
    /// # Errors
    /// The token, or content over the document's limits.
    pub fn issue_document(
        &self,
        token: Arc<dyn Token>,
        files: &CaFiles,
        content: &kastell_attest::document::DocumentContent,
    ) -> Result<Vec<u8>, HostCaError> {
        let (signer, certificate) = self.document_signer(token, files)?;
        self.sign_document(&signer, &certificate, content)
    }

    /// The document-signing key (created on the token when missing) and a certificate for
    /// it with more than a day left: the one in `document-signer.pem` if it is current and
    /// marked for document signing and serverAuth (for webpki-based verifiers), else a new
    /// one (written there).
    ///
    /// # Errors
    /// The token or the file system.
    pub fn document_signer(
        &self,
        token: Arc<dyn Token>,
        files: &CaFiles,
    ) -> Result<(TokenSigner, Certificate), HostCaError> {
        let signer = TokenSigner::open(token, DOCUMENT_KEY, true)?;
        let now = OffsetDateTime::now_utc();
        let current = files
            .certificate("document-signer.pem", "kastell attest document")
            .ok()
            .filter(|cert| {
                kastell_attest::verify::public_key(cert).ok() == Some(signer.public_key())
                    && document_signer_current(cert, now)
                    && kastell_attest::document::is_interoperable_document_signer(cert)
            });
        if let Some(cert) = current {
            return Ok((signer, cert));
        }
        let cert = ca::issue_document_signer(
            &self.signer,
            &self.certificate,
            &signer.public_key(),
            "Kastell document signer",
            now - BACKDATE,
            DOCUMENT_SIGNER_LIFETIME,
        )?;
        files.write("document-signer.pem", pem(&cert)?.as_bytes())?;
        Ok((signer, cert))
    }

    /// A Nitro-format document for `content`, signed by `signer` whose certificate is
    /// `certificate` (from [`HostCa::document_signer`]); the CA bundle is the root and the
    /// host CA.
    ///
    /// # Errors
    /// Content over the document's limits, or the token.
    pub fn sign_document(
        &self,
        signer: &TokenSigner,
        certificate: &Certificate,
        content: &kastell_attest::document::DocumentContent,
    ) -> Result<Vec<u8>, HostCaError> {
        kastell_attest::document::issue_document(
            signer,
            certificate,
            &[self.root.clone(), self.certificate.clone()],
            content,
        )
        .map_err(|e| HostCaError::Setup(format!("cannot issue the document: {e}")))
    }
}

/// Whether a document-signing certificate has more than a day of validity left at `now`.
#[must_use]
pub fn document_signer_current(cert: &Certificate, now: OffsetDateTime) -> bool {
    kastell_attest::verify::not_after(cert) > now + Duration::from_secs(86_400)
}

/// The measurement of the running Kastell binary (PCR1 of documents).
///
/// # Errors
/// The executable cannot be read.
pub fn runtime_measurement() -> Result<kastell_attest::Measurement, HostCaError> {
    let exe = std::env::current_exe().map_err(|e| HostCaError::Setup(e.to_string()))?;
    let bytes = std::fs::read(&exe).map_err(|e| file_error(&exe, e))?;
    Ok(kastell_attest::Measurement::of(&bytes))
}

/// `kastell <version>`, the runtime version in claims.
#[must_use]
pub fn runtime_version() -> String {
    format!("kastell {}", env!("CARGO_PKG_VERSION"))
}
