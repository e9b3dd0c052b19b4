//! TLS: the server's certificate and the client-certificate check.
//!
//! The server's key is generated in memory at every start and never written anywhere; its
//! certificate is issued then by the host CA (key on the token) for the configured names,
//! so clients that trust the deployment's root trust the server, and renewed with a new
//! key while the server runs, when a third of its validity is left. Client certificates must
//! chain to the root; connections without one are accepted by TLS but every endpoint
//! except `/healthz` answers 401.

use kastell_proto::Role;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kastell_attest::identity::{ClientIdentity, client_identity, issue_server};
use kastell_attest::x509::Certificate;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use kastell_core::ca::{BACKDATE, CaFiles, HostCa};
use kastell_core::keys::Caller;
use kastell_core::token::Token;

/// How long the server's certificate is valid unless configured (`server.certificate_days`).
pub const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// The server's certificate and key: issued at start by the host CA (key on the token)
/// for a key generated in memory, and replaced by a new one when less than a third of its
/// validity is left ([`ServerCertificate::renew_if_due`]). Handshakes always get the
/// current one.
pub struct ServerCertificate {
    token: Arc<dyn Token>,
    files: CaFiles,
    names: Vec<String>,
    lifetime: Duration,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, OffsetDateTime)>,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("names", &self.names)
            .field("not_after", &self.not_after())
            .finish_non_exhaustive()
    }
}

fn der(cert: &Certificate) -> Result<CertificateDer<'static>, String> {
    cert.to_der_bytes()
        .map(CertificateDer::from)
        .map_err(|e| e.to_string())
}

impl ServerCertificate {
    /// Issues the first certificate for `names`, valid for `lifetime`.
    ///
    /// # Errors
    /// No host CA installed, a malformed name, or the token.
    pub fn issue(
        token: Arc<dyn Token>,
        files: &CaFiles,
        names: &[String],
        lifetime: Duration,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let first = Self::new_key(&token, files, names, lifetime, &provider)?;
        Ok(Self {
            token,
            files: files.clone(),
            names: names.to_vec(),
            lifetime,
            provider,
            current: RwLock::new(first),
        })
    }

    fn new_key(
        token: &Arc<dyn Token>,
        files: &CaFiles,
        names: &[String],
        lifetime: Duration,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<(Arc<CertifiedKey>, OffsetDateTime), String> {
        let ca = HostCa::load(Arc::clone(token), files).map_err(|e| {
            format!("the server's certificate comes from the host CA: {e} (run `kastell init`)")
        })?;
        let key = p384::SecretKey::random(&mut rand_core::OsRng);
        let not_after = OffsetDateTime::now_utc() + lifetime;
        let leaf = issue_server(
            ca.signer(),
            &ca.certificate,
            &key.public_key(),
            "Kastell server",
            names,
            OffsetDateTime::now_utc() - BACKDATE,
            lifetime + BACKDATE,
        )
        .map_err(|e| format!("cannot issue the server certificate: {e}"))?;
        let chain = vec![der(&leaf)?, der(&ca.certificate)?];
        let pkcs8 = p384::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
            .map_err(|e| format!("cannot encode the server key: {e}"))?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()));
        let certified = CertifiedKey::from_der(chain, private, provider)
            .map_err(|e| format!("the server certificate is unusable: {e}"))?;
        Ok((Arc::new(certified), not_after))
    }

    /// The current certificate chain and key (what handshakes get).
    #[must_use]
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0,
        )
    }

    /// When the current certificate expires.
    #[must_use]
    pub fn not_after(&self) -> OffsetDateTime {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
    }

    /// Whether a certificate valid for `lifetime` until `not_after` is due for renewal at
    /// `now`: when less than a third of its lifetime is left.
    #[must_use]
    pub fn due(not_after: OffsetDateTime, lifetime: Duration, now: OffsetDateTime) -> bool {
        not_after - now < lifetime / 3
    }

    /// Issues a new key and certificate when the current one is [`ServerCertificate::due`];
    /// returns whether it did. New handshakes get the new one; open connections go on.
    ///
    /// # Errors
    /// As [`ServerCertificate::issue`]; the current certificate stays in use.
    pub fn renew_if_due(&self, now: OffsetDateTime) -> Result<bool, String> {
        if !Self::due(self.not_after(), self.lifetime, now) {
            return Ok(false);
        }
        let next = Self::new_key(
            &self.token,
            &self.files,
            &self.names,
            self.lifetime,
            &self.provider,
        )?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(true)
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Builds the TLS configuration: `certificate` for the server, and the root as the only
/// anchor for client certificates.
///
/// # Errors
/// A message naming what is missing (no root installed) or failed.
pub fn server_config(
    certificate: Arc<ServerCertificate>,
    files: &CaFiles,
) -> Result<rustls::ServerConfig, String> {
    let root = files
        .certificate("root.pem", "kastell init")
        .map_err(|e| format!("client certificates chain to the root: {e}"))?;
    let provider = Arc::clone(&certificate.provider);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(der(&root)?)
        .map_err(|e| format!("the root certificate is not usable as a TLS anchor: {e}"))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("cannot set up client-certificate checks: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Builds the AWS endpoint's TLS configuration: `certificate` for the server, no client
/// certificate asked for (AWS clients sign each request instead and can only be given a
/// CA bundle, `AWS_CA_BUNDLE`).
///
/// # Errors
/// A message naming what failed.
pub fn aws_server_config(
    certificate: Arc<ServerCertificate>,
) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::clone(&certificate.provider);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Who is on the other end of a connection, as its certificate says.
#[derive(Debug, Clone)]
pub enum Peer {
    /// No client certificate.
    Anonymous,
    /// A certificate that chains to the root but does not name a usable identity.
    Malformed(String),
    /// A principal with one role, the certificate that names it (DER) and its serial
    /// (lowercase hex).
    Known(Arc<Caller>, Arc<[u8]>, Arc<str>),
}

impl Peer {
    /// Reads the leaf of the verified client chain (TLS has checked the chain).
    #[must_use]
    pub fn of(certificates: Option<&[CertificateDer<'_>]>) -> Self {
        let Some(leaf) = certificates.and_then(|c| c.first()) else {
            return Self::Anonymous;
        };
        let known = der::Decode::from_der(leaf.as_ref())
            .map_err(|e| format!("the client certificate does not decode: {e}"))
            .and_then(|cert: Certificate| {
                let caller = caller(&client_identity(&cert)?)?;
                Ok((caller, kastell_core::clients::serial_of(&cert)))
            });
        match known {
            Ok((caller, serial)) => Self::Known(
                Arc::new(caller),
                Arc::from(leaf.as_ref()),
                Arc::from(serial),
            ),
            Err(why) => Self::Malformed(why),
        }
    }
}

/// The caller a client identity names.
///
/// # Errors
/// An unknown role.
pub fn caller(identity: &ClientIdentity) -> Result<Caller, String> {
    let role: Role = identity
        .role
        .parse()
        .map_err(|_| format!("unknown role `{}`", identity.role))?;
    Ok(Caller {
        id: identity.principal.clone(),
        roles: vec![role],
        tenant: identity.tenant.clone(),
        evidence: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_renewed_when_a_third_of_its_lifetime_is_left() {
        let now = OffsetDateTime::now_utc();
        let thirty_days = Duration::from_secs(30 * 86_400);
        let day = Duration::from_secs(86_400);
        assert!(!ServerCertificate::due(now + thirty_days, thirty_days, now));
        assert!(!ServerCertificate::due(now + day * 11, thirty_days, now));
        assert!(ServerCertificate::due(now + day * 9, thirty_days, now));
        assert!(
            ServerCertificate::due(now - day, thirty_days, now),
            "expired"
        );
    }
}
