//! [`RawClient`]: HTTP requests the typed client does not make, and the [`RawResponse`]
//! they get, with checks of the API's error shape.

use std::time::Duration;

use super::{Result, fail};

/// An HTTP client for requests [`Client`](kastell::client::Client) does not make:
/// malformed bodies, other content types, other methods, no client certificate. Every
/// answer is returned, errors included.
#[derive(Debug, Clone)]
pub struct RawClient {
    http: reqwest::blocking::Client,
    base: String,
}

/// A response as it came.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl RawClient {
    /// A client of the server at `base` (`https://127.0.0.1:<port>`) over `tls`.
    pub(super) fn new(tls: rustls::ClientConfig, base: &str) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            http,
            base: base.to_owned(),
        })
    }

    /// The same client for another server of the deployment (`https://127.0.0.1:<port>`).
    #[must_use]
    pub fn with_base(self, base: &str) -> Self {
        Self {
            base: base.to_owned(),
            ..self
        }
    }

    /// A request for `path` (e.g. `/v1/keys`) to add headers and a body to.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `request` and reads the whole answer.
    ///
    /// # Errors
    /// When the server cannot be reached or the TLS handshake fails (with the causes).
    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<RawResponse> {
        let response = request.send().map_err(|e| fail(error_chain(&e)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .bytes()
            .map_err(|e| fail(error_chain(&e)))?
            .to_vec();
        Ok(RawResponse {
            status,
            content_type,
            body,
        })
    }

    /// Sends `method path` with a JSON body (`content-type: application/json`).
    ///
    /// # Errors
    /// As [`Self::send`].
    pub fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<RawResponse> {
        self.send(self.request(method, path).json(body))
    }
}

impl RawResponse {
    /// The body as JSON.
    ///
    /// # Errors
    /// When it is not JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            fail(format!(
                "status {}: not JSON ({e}): {}",
                self.status,
                self.text()
            ))
        })
    }

    /// The body as text (lossy).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error body's name and message, after checking that the answer is an error
    /// (4xx or 5xx) of type `application/json` whose body is an object with exactly the
    /// string fields `error` and `message`.
    ///
    /// # Errors
    /// Naming what differs from that shape.
    pub fn error(&self) -> Result<(String, String)> {
        if self.status < 400 {
            return Err(fail(format!(
                "expected an error, got {}: {}",
                self.status,
                self.text()
            )));
        }
        if !self.content_type.starts_with("application/json") {
            return Err(fail(format!(
                "status {}: error of content-type `{}`, not JSON: {}",
                self.status,
                self.content_type,
                self.text()
            )));
        }
        let value = self.json()?;
        let object = value.as_object().ok_or_else(|| {
            fail(format!(
                "status {}: error body is not an object",
                self.status
            ))
        })?;
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let field = |name: &str| object.get(name).and_then(serde_json::Value::as_str);
        match (keys.as_slice(), field("error"), field("message")) {
            (["error", "message"], Some(error), Some(message)) => {
                Ok((error.to_owned(), message.to_owned()))
            }
            _ => Err(fail(format!(
                "status {}: error body is not {{\"error\", \"message\"}}: {value}",
                self.status
            ))),
        }
    }
}

/// An error with its causes on one line (reqwest hides the TLS reason in its sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
