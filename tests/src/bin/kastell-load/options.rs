//! Command-line options, and the [`Settings`] of a run checked and derived from them: the
//! URL (only loopback unless `--allow-remote`), the headers and body, the TLS
//! configuration and the run's length.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::BoxError;

/// The longest run accepted, in seconds.
const MAX_DURATION: u64 = 600;
/// The most requests accepted in one run.
const MAX_REQUESTS: u64 = 10_000_000;
/// System root bundles tried, in order, for `https://` without `--profile` or `--ca`.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// HTTP methods.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl From<Method> for reqwest::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => Self::GET,
            Method::Post => Self::POST,
            Method::Put => Self::PUT,
            Method::Delete => Self::DELETE,
        }
    }
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Closed-loop HTTP(S) load generator (one keep-alive connection per task)"
)]
pub(crate) struct Args {
    /// Full URL of the endpoint; with --profile, a path (`/v1/...`) is appended to the
    /// profile's server.
    #[arg(long)]
    pub(crate) url: String,
    /// HTTP method.
    #[arg(long, value_enum, ignore_case = true, default_value = "post")]
    pub(crate) method: Method,
    /// Request body (JSON, sent as application/json unless a Content-Type header is given).
    #[arg(long, conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    pub(crate) body_file: Option<PathBuf>,
    /// Extra header `Name: value` (repeatable), e.g. `X-Vault-Token: ...`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// Kastell client profile (`profile.toml`): mutual TLS with its certificate and root.
    #[arg(long)]
    pub(crate) profile: Option<PathBuf>,
    /// Root certificates (PEM) to trust for `https://` without --profile [default: the
    /// system bundle].
    #[arg(long, conflicts_with = "profile")]
    pub(crate) ca: Option<PathBuf>,
    /// Concurrent connections, one task each.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) connections: u32,
    /// Measured run length in seconds (at most 600) [default: 10 unless --requests].
    #[arg(long)]
    pub(crate) duration: Option<u64>,
    /// Total measured requests (at most 10 million).
    #[arg(long)]
    pub(crate) requests: Option<u64>,
    /// Warm-up seconds before measuring (requests sent, not counted).
    #[arg(long, default_value_t = 1)]
    pub(crate) warmup: u64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) timeout: u64,
    /// Runtime worker threads [default: one per CPU].
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Label printed with the figures.
    #[arg(long, default_value = "")]
    pub(crate) label: String,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Accept a host other than loopback.
    #[arg(long)]
    pub(crate) allow_remote: bool,
}

/// What a run sends and how long it lasts: the options, checked.
pub(crate) struct Settings {
    /// The endpoint (a `--url` path joined to the profile's server).
    pub(crate) url: reqwest::Url,
    /// The request's method.
    pub(crate) method: reqwest::Method,
    /// The request's body.
    pub(crate) body: Option<Vec<u8>>,
    /// Headers of every request (`--header`, and the default content type).
    pub(crate) headers: HeaderMap,
    /// TLS: the profile's identity and root, or `--ca`, or the system bundle.
    pub(crate) tls: rustls::ClientConfig,
    /// Concurrent connections, one task each.
    pub(crate) connections: u32,
    /// Per-request timeout in seconds.
    pub(crate) timeout: u64,
    /// Runtime worker threads.
    pub(crate) threads: Option<usize>,
    /// Warm-up seconds.
    pub(crate) warmup: u64,
    /// Measured seconds, if limited.
    pub(crate) duration: Option<u64>,
    /// Measured requests, if limited.
    pub(crate) requests: Option<u64>,
}

impl Settings {
    /// Checks `args` and derives the run's settings from them.
    ///
    /// # Errors
    /// When an option is out of range, the profile, body or root certificates cannot be
    /// read, the URL is not a loopback `http(s)` URL, or a header or the body is malformed.
    pub(crate) fn from_args(args: &Args) -> Result<Self, BoxError> {
        let (duration, requests) = match (args.duration, args.requests) {
            (None, None) => (Some(10), None),
            other => other,
        };
        if duration.is_some_and(|d| d == 0 || d > MAX_DURATION) {
            return Err(format!("--duration must be 1..={MAX_DURATION} seconds").into());
        }
        if requests.is_some_and(|n| n == 0 || n > MAX_REQUESTS) {
            return Err(format!("--requests must be 1..={MAX_REQUESTS}").into());
        }
        if args.warmup > MAX_DURATION {
            return Err(format!("--warmup must be at most {MAX_DURATION} seconds").into());
        }
        let profile = args
            .profile
            .as_deref()
            .map(kastell::clients::ClientProfile::load)
            .transpose()?;
        let url = match (&profile, args.url.starts_with('/')) {
            (Some(profile), true) => {
                format!("{}{}", profile.server.trim_end_matches('/'), args.url)
            }
            (None, true) => return Err("a path as --url needs --profile".into()),
            (_, false) => args.url.clone(),
        };
        let url = reqwest::Url::parse(&url).map_err(|e| format!("--url {url}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--url {url}: only http and https are supported").into());
        }
        if !args.allow_remote && !is_loopback(&url) {
            return Err(format!("--url {url}: not a loopback host (give --allow-remote)").into());
        }
        let mut headers = parse_headers(&args.headers)?;
        let body = match (&args.body, &args.body_file) {
            (Some(text), _) => Some(text.clone().into_bytes()),
            (None, Some(path)) => Some(
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            ),
            (None, None) => None,
        };
        if let Some(body) = &body
            && !headers.contains_key(CONTENT_TYPE)
        {
            serde_json::from_slice::<serde::de::IgnoredAny>(body)
                .map_err(|e| format!("the body is not JSON ({e}); give a Content-Type header"))?;
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let tls = match &profile {
            Some(profile) => kastell::client::tls_config(profile)?,
            None => plain_tls(args.ca.as_deref(), url.scheme() == "https")?,
        };
        Ok(Self {
            url,
            method: reqwest::Method::from(args.method),
            body,
            headers,
            tls,
            connections: args.connections,
            timeout: args.timeout,
            threads: args.threads,
            warmup: args.warmup,
            duration,
            requests,
        })
    }
}

/// Whether the URL's host is `localhost` or a loopback address.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Parses `Name: value` headers.
fn parse_headers(lines: &[String]) -> Result<HeaderMap, BoxError> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header `{line}`: expected `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| format!("--header: bad name `{}`: {e}", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|e| format!("--header {name}: bad value: {e}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// TLS without a client identity: trusting `ca`, or the system bundle for `https://`.
fn plain_tls(ca: Option<&Path>, https: bool) -> Result<rustls::ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    let file = match ca {
        Some(path) => Some(path.to_path_buf()),
        None if https => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()),
        None => None,
    };
    if let Some(path) = file {
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            // System bundles may hold certificates webpki rejects: skip those.
            let _ = roots.add(cert.map_err(|e| format!("{}: {e}", path.display()))?);
        }
        if roots.is_empty() {
            return Err(format!("{}: no usable root certificate", path.display()).into());
        }
    } else if https {
        return Err("https without --profile: give --ca (no system bundle found)".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
