//! TLS: the server's certificate and the client-certificate check.
//!
//! The server's key is generated in memory at every start and never written anywhere; its
//! certificate is issued then by the host CA (key on the token) for the configured names,
//! so clients that trust the deployment's root trust the server. Client certificates must
//! chain to the root; connections without one are accepted by TLS but every endpoint
//! except `/healthz` answers 401.

use std::sync::Arc;
use std::time::Duration;

use kastell_attest::identity::{ClientIdentity, client_identity, issue_server};
use kastell_attest::x509::Certificate;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use time::OffsetDateTime;

use crate::ca::{BACKDATE, CaFiles, HostCa};
use crate::keys::Caller;
use crate::sandbox::Role;
use crate::token::Token;

/// How long the server's certificate is valid; a restart issues a new one.
pub const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// Builds the TLS configuration: a fresh key, its certificate from the host CA, and the
/// root as the only anchor for client certificates.
///
/// # Errors
/// A message naming what is missing (no root or host CA installed) or failed.
pub fn server_config(
    token: Arc<dyn Token>,
    files: &CaFiles,
    names: &[String],
) -> Result<rustls::ServerConfig, String> {
    let ca = HostCa::load(token, files).map_err(|e| {
        format!("the server's certificate comes from the host CA: {e} (run `kastell init`)")
    })?;
    let key = p384::SecretKey::random(&mut rand_core::OsRng);
    let leaf = issue_server(
        ca.signer(),
        &ca.certificate,
        &key.public_key(),
        "Kastell server",
        names,
        OffsetDateTime::now_utc() - BACKDATE,
        SERVER_CERT_LIFETIME + BACKDATE,
    )
    .map_err(|e| format!("cannot issue the server certificate: {e}"))?;
    let der = |cert: &Certificate| {
        cert.to_der_bytes()
            .map(CertificateDer::from)
            .map_err(|e| e.to_string())
    };
    let chain = vec![der(&leaf)?, der(&ca.certificate)?];
    let pkcs8 = p384::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
        .map_err(|e| format!("cannot encode the server key: {e}"))?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()));

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(der(&ca.root)?)
        .map_err(|e| format!("the root certificate is not usable as a TLS anchor: {e}"))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("cannot set up client-certificate checks: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private)
        .map_err(|e| format!("the server certificate is unusable: {e}"))?;
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
                Ok((caller, crate::clients::serial_of(&cert)))
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
    let role: Role = serde_json::from_value(serde_json::Value::String(identity.role.clone()))
        .map_err(|_| format!("unknown role `{}`", identity.role))?;
    Ok(Caller {
        id: identity.principal.clone(),
        roles: vec![role],
        tenant: identity.tenant.clone(),
    })
}
