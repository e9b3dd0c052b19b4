//! Command-line options, and the [`Settings`] of a run checked and derived from them: the
//! URL (only loopback unless `--allow-remote`) or URLs (`--paths`), the headers and body
//! (or bodies), the TLS configuration and the run's length.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::BoxError;
use crate::sigv4::Signer;

/// The longest run accepted, in seconds.
const MAX_DURATION: u64 = 600;
/// The most requests accepted in one run, and the most lines of a `--bodies` file.
const MAX_REQUESTS: u64 = 10_000_000;
/// The largest `--bodies` file read, in bytes (1 GiB).
const MAX_BODIES_FILE: u64 = 1 << 30;
/// The largest `--paths` file read, in bytes (64 MiB).
const MAX_PATHS_FILE: u64 = 64 << 20;
/// The most paths of a `--paths` file.
const MAX_PATHS: usize = 1_000_000;
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
    /// profile's server. With --paths, the base the paths are appended to (e.g.
    /// `https://127.0.0.1:8443`, or `/` for the profile's server).
    #[arg(long)]
    pub(crate) url: String,
    /// Request paths, one per line (blank lines skipped), each starting with `/`: each
    /// request goes to --url (without a trailing `/`) followed by the next path, cycling
    /// through the file in its order, shared by all connections (e.g. encrypt requests
    /// spread over many keys). At most 1 million paths and 64 MiB.
    #[arg(long)]
    pub(crate) paths: Option<PathBuf>,
    /// HTTP method.
    #[arg(long, value_enum, ignore_case = true, default_value = "post")]
    pub(crate) method: Method,
    /// Request body (JSON, sent as application/json unless a Content-Type header is given).
    #[arg(long, conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Read the request body from this file.
    #[arg(long, conflicts_with = "bodies")]
    pub(crate) body_file: Option<PathBuf>,
    /// Request bodies, one per line (blank lines skipped), each sent exactly once across
    /// all connections, warm-up included; the run ends when they are used up (e.g.
    /// single-use release requests from kastell-attestations).
    #[arg(long, conflicts_with = "body")]
    pub(crate) bodies: Option<PathBuf>,
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
    /// Sign every request with AWS SigV4 as `ACCESS_KEY_ID:SECRET` (service `kms`), for
    /// the AWS KMS-compatible endpoint (e.g. with `--header 'X-Amz-Target:
    /// TrentService.Encrypt'` and `--header 'Content-Type: application/x-amz-json-1.1'`).
    #[arg(long, value_name = "ID:SECRET", requires = "aws_region")]
    pub(crate) sigv4: Option<String>,
    /// The region SigV4 signatures are scoped to (the endpoint's `[aws] region`).
    #[arg(long, requires = "sigv4")]
    pub(crate) aws_region: Option<String>,
}

/// What the requests of a run carry.
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// The same body in every request.
    Same(Vec<u8>),
    /// Each body in one request only; the run ends when they are used up.
    Each(Vec<Vec<u8>>),
}

impl Payload {
    /// The bodies, whichever the kind.
    fn bodies(&self) -> &[Vec<u8>] {
        match self {
            Self::Empty => &[],
            Self::Same(body) => std::slice::from_ref(body),
            Self::Each(bodies) => bodies,
        }
    }
}

/// What a run sends and how long it lasts: the options, checked.
pub(crate) struct Settings {
    /// The endpoint (a `--url` path joined to the profile's server); with `--paths`, the
    /// base of the endpoints.
    pub(crate) url: reqwest::Url,
    /// With `--paths`: the endpoints, used in turn (shared with the run, not copied).
    pub(crate) urls: Option<Arc<Vec<reqwest::Url>>>,
    /// The request's method.
    pub(crate) method: reqwest::Method,
    /// The requests' body or bodies (shared with the run, not copied).
    pub(crate) payload: Arc<Payload>,
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
    /// With `--sigv4`: the signer of every request.
    pub(crate) sigv4: Option<Arc<Signer>>,
}

impl Settings {
    /// Checks `args` and derives the run's settings from them.
    ///
    /// # Errors
    /// When an option is out of range, the profile, body or root certificates cannot be
    /// read, the URL is not a loopback `http(s)` URL, or a header or a body is malformed.
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
            .map(kastell_core::clients::ClientProfile::load)
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
        let urls = args
            .paths
            .as_deref()
            .map(|path| read_paths(path, &url).map(Arc::new))
            .transpose()?;
        let mut headers = parse_headers(&args.headers)?;
        let payload = match (&args.body, &args.body_file, &args.bodies) {
            (Some(text), _, _) => Payload::Same(text.clone().into_bytes()),
            (None, Some(path), _) => Payload::Same(
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            ),
            (None, None, Some(path)) => Payload::Each(read_bodies(path)?),
            (None, None, None) => Payload::Empty,
        };
        if !payload.bodies().is_empty() && !headers.contains_key(CONTENT_TYPE) {
            check_json(&payload)?;
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let tls = match &profile {
            Some(profile) => kastell::client::tls_config(profile)?,
            None => plain_tls(args.ca.as_deref(), url.scheme() == "https")?,
        };
        Ok(Self {
            url,
            urls,
            method: reqwest::Method::from(args.method),
            payload: Arc::new(payload),
            headers,
            tls,
            connections: args.connections,
            timeout: args.timeout,
            threads: args.threads,
            warmup: args.warmup,
            duration,
            requests,
            sigv4: match (&args.sigv4, &args.aws_region) {
                (Some(spec), Some(region)) => Some(Arc::new(Signer::parse(spec, region)?)),
                _ => None,
            },
        })
    }
}

/// The non-blank lines of `path`, each a body (a final `\r` removed).
fn read_bodies(path: &Path) -> Result<Vec<Vec<u8>>, BoxError> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_BODIES_FILE {
        return Err(format!(
            "--bodies {}: {size} bytes, more than the {MAX_BODIES_FILE} accepted",
            path.display()
        )
        .into());
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bodies: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if bodies.is_empty() {
        return Err(format!("--bodies {}: no body", path.display()).into());
    }
    if bodies.len() as u64 > MAX_REQUESTS {
        return Err(format!(
            "--bodies {}: {} bodies, more than the {MAX_REQUESTS} accepted",
            path.display(),
            bodies.len()
        )
        .into());
    }
    Ok(bodies)
}

/// The URLs of the `--paths` file `path`: `base` (without a trailing `/`) followed by each
/// non-blank line (a final `\r` removed), which must start with `/` and hold no
/// whitespace or control character.
fn read_paths(path: &Path, base: &reqwest::Url) -> Result<Vec<reqwest::Url>, BoxError> {
    let name = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {name}: {e}"))?
        .len();
    if size > MAX_PATHS_FILE {
        return Err(format!(
            "--paths {name}: {size} bytes, more than the {MAX_PATHS_FILE} accepted"
        )
        .into());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let prefix = base.as_str().trim_end_matches('/');
    let mut urls = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("--paths {name}, line {}", index + 1);
        if !line.starts_with('/') {
            return Err(format!("{}: `{line}` does not start with `/`", at()).into());
        }
        if line.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                format!("{}: `{line}` holds whitespace or a control character", at()).into(),
            );
        }
        if urls.len() == MAX_PATHS {
            return Err(format!("--paths {name}: more than the {MAX_PATHS} paths accepted").into());
        }
        let url = reqwest::Url::parse(&format!("{prefix}{line}"))
            .map_err(|e| format!("{}: `{line}`: {e}", at()))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "{}: `{line}` leaves {}",
                at(),
                base.origin().ascii_serialization()
            )
            .into());
        }
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(format!("--paths {name}: no path").into());
    }
    Ok(urls)
}

/// Checks that every body is JSON, naming the first that is not.
fn check_json(payload: &Payload) -> Result<(), BoxError> {
    for (index, body) in payload.bodies().iter().enumerate() {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            let which = match payload {
                Payload::Each(_) => format!("body {} of --bodies", index + 1),
                _ => "the body".to_owned(),
            };
            return Err(format!("{which} is not JSON ({e}); give a Content-Type header").into());
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temporary file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("written");
        file
    }

    #[test]
    fn bodies_are_the_non_blank_lines() {
        let file = bodies_file("{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}");
        let bodies = read_bodies(file.path()).expect("read");
        assert_eq!(
            bodies,
            [
                b"{\"a\":1}".to_vec(),
                b"{\"b\":2}".to_vec(),
                b"{\"c\":3}".to_vec()
            ]
        );
        check_json(&Payload::Each(bodies)).expect("JSON");
    }

    #[test]
    fn a_bodies_file_without_a_body_or_with_bad_json_is_refused() {
        let empty = bodies_file("\n \n");
        let err = read_bodies(empty.path()).expect_err("refused");
        assert!(err.to_string().contains("no body"), "{err}");
        let bad = read_bodies(bodies_file("{}\nnot json\n").path()).expect("read");
        let err = check_json(&Payload::Each(bad)).expect_err("refused");
        assert!(err.to_string().contains("body 2 of --bodies"), "{err}");
    }

    fn base() -> reqwest::Url {
        reqwest::Url::parse("https://127.0.0.1:8443/").expect("URL")
    }

    #[test]
    fn paths_are_appended_to_the_base_in_order() {
        let file = bodies_file("/v1/keys/a/encrypt\n\n/v1/keys/b/encrypt\r\n");
        let urls = read_paths(file.path(), &base()).expect("read");
        let urls: Vec<&str> = urls.iter().map(reqwest::Url::as_str).collect();
        assert_eq!(
            urls,
            [
                "https://127.0.0.1:8443/v1/keys/a/encrypt",
                "https://127.0.0.1:8443/v1/keys/b/encrypt"
            ]
        );
        let prefixed = reqwest::Url::parse("http://localhost:8200/api").expect("URL");
        let urls = read_paths(bodies_file("/x\n").path(), &prefixed).expect("read");
        assert_eq!(urls[0].as_str(), "http://localhost:8200/api/x");
    }

    #[test]
    fn malformed_paths_files_are_refused_by_line() {
        for (text, expected) in [
            ("\n  \n", "no path"),
            (
                "/ok\nv1/keys\n",
                "line 2: `v1/keys` does not start with `/`",
            ),
            ("/a b\n", "line 1: `/a b` holds whitespace"),
            ("/ok\n/a\tb\n", "line 2"),
        ] {
            let err = read_paths(bodies_file(text).path(), &base()).expect_err(text);
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn bodies_exclude_the_other_body_options() {
        let base = ["kastell-load", "--url", "http://127.0.0.1:1/"];
        let with = |extra: &[&str]| Args::try_parse_from(base.iter().chain(extra));
        assert!(with(&["--bodies", "f"]).is_ok());
        assert!(with(&["--bodies", "f", "--body", "{}"]).is_err());
        assert!(with(&["--bodies", "f", "--body-file", "g"]).is_err());
    }
}
