//! A client of the Kastell API over mutual TLS, configured by a [`ClientProfile`]: the
//! server's URL, the root that certifies the server, and the client's certificate and key.
//! Requests and answers are the API's types (`kastell_proto::api`): generic verbs here, one
//! typed call per endpoint in `keys.rs` and `deployment.rs`. The command line's remote
//! commands and the load generator use it.

mod deployment;
mod grants;
mod keys;

use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kastell_core::clients::ClientProfile;
use kastell_proto::api::ErrorBody;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The server answered with an error.
    #[error("{name}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error's name (`AccessDenied`, `NotFound`, …).
        name: String,
        /// The server's message.
        message: String,
    },
    /// The profile's files are unusable.
    #[error("{0}")]
    Profile(String),
    /// The server could not be reached, or its answer could not be read.
    #[error("{0}")]
    Transport(String),
}

/// The TLS configuration of `profile`: the root it names as the only anchor for the
/// server, and its certificate and key as the client identity.
///
/// # Errors
/// [`RemoteError::Profile`] naming the file that is missing or malformed.
pub fn tls_config(profile: &ClientProfile) -> Result<rustls::ClientConfig, RemoteError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| RemoteError::Profile(format!("cannot read {}: {e}", path.display())))
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = read(&profile.ca)?;
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| {
            RemoteError::Profile(format!(
                "{}: not a PEM certificate: {e}",
                profile.ca.display()
            ))
        })?;
        roots.add(cert).map_err(|e| {
            RemoteError::Profile(format!("{}: unusable root: {e}", profile.ca.display()))
        })?;
    }
    if roots.is_empty() {
        return Err(RemoteError::Profile(format!(
            "{}: no certificate",
            profile.ca.display()
        )));
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(&profile.certificate)?)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                RemoteError::Profile(format!(
                    "{}: not a PEM certificate: {e}",
                    profile.certificate.display()
                ))
            })?;
    let key_pem = zeroize::Zeroizing::new(read(&profile.key)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        RemoteError::Profile(format!(
            "{}: not a PEM private key: {e}",
            profile.key.display()
        ))
    })?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RemoteError::Profile(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            RemoteError::Profile(format!(
                "{} and {} do not make a client identity: {e}",
                profile.certificate.display(),
                profile.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A blocking client (for commands).
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
}

/// Percent-encodes one path segment (key ids, aliases, measurements).
#[must_use]
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for `profile`.
    ///
    /// # Errors
    /// As [`tls_config`].
    pub fn new(profile: &ClientProfile) -> Result<Self, RemoteError> {
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls_config(profile)?)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| RemoteError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: profile.server.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, RemoteError> {
        let response = request.send().map_err(|e| {
            RemoteError::Transport(format!("cannot reach {}: {}", self.base, error_chain(&e)))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => RemoteError::Api {
                status: status.as_u16(),
                name: body.error,
                message: body.message,
            },
            Err(_) => RemoteError::Api {
                status: status.as_u16(),
                name: format!("Http{}", status.as_u16()),
                message: text.chars().take(200).collect(),
            },
        })
    }

    fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<T, RemoteError> {
        let response = self.finish(request)?;
        response
            .json()
            .map_err(|e| RemoteError::Transport(format!("unreadable answer: {e}")))
    }

    /// GET `path`, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        self.json(self.http.get(self.url(path)))
    }

    /// GET `path` with `query` as its query string, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T, RemoteError> {
        self.json(self.http.get(self.url(path)).query(query))
    }

    /// POST a JSON body to `path`, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, RemoteError> {
        self.json(self.http.post(self.url(path)).json(body))
    }

    /// POST to `path` an endpoint that takes no body (an empty JSON object is sent), JSON
    /// answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        /// `{}`.
        #[derive(Serialize)]
        struct NoBody {}
        self.post(path, &NoBody {})
    }

    /// DELETE `path`, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        self.json(self.http.delete(self.url(path)))
    }

    /// PUT a JSON body to `path`, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, RemoteError> {
        self.json(self.http.put(self.url(path)).json(body))
    }

    /// POST raw bytes with `content_type`, JSON answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T, RemoteError> {
        self.json(
            self.http
                .post(self.url(path))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
    }

    /// GET `path`, raw answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, RemoteError> {
        let response = self.finish(self.http.get(self.url(path)))?;
        response
            .bytes()
            .map(|b| b.to_vec())
            .map_err(|e| RemoteError::Transport(format!("unreadable answer: {e}")))
    }

    /// GET `path`, its body written to `out` as it arrives (memory stays bounded whatever
    /// its size); the bytes written.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get_to(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64, RemoteError> {
        let mut response = self.finish(self.http.get(self.url(path)))?;
        response
            .copy_to(out)
            .map_err(|e| RemoteError::Transport(format!("unreadable answer: {e}")))
    }

    /// GET `path`, text answer.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn get_text(&self, path: &str) -> Result<String, RemoteError> {
        let response = self.finish(self.http.get(self.url(path)))?;
        response
            .text()
            .map_err(|e| RemoteError::Transport(format!("unreadable answer: {e}")))
    }
}

/// An error with its causes on one line (reqwest hides the TLS reason in its sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
