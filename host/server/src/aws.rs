//! The AWS KMS-compatible endpoint: a second router over the same key service, on its own
//! TLS listener (`[aws] listen`; no client certificate). Every request is `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target: TrentService.<Op>`,
//! signed with SigV4 by an access key ([`sigv4`]: header or presigned form); the access
//! key names the principal and its role (two where separation of duties is off), and the
//! key service checks role, state, usage and policy and audits as for `/v1`. Errors are
//! AWS's: `{"__type": "<Name>Exception", "message"}` with AWS's status
//! ([`kastell_proto::aws::AwsException`]). STS `GetCallerIdentity` shares the listener
//! ([`sts`]).

mod operations;
pub mod sigv4;
pub mod sts;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kastell_core::clients::Duties;
use kastell_core::keys::{Caller, KeyError};
use kastell_proto::KeyId;
use kastell_proto::aws::{AwsException, ErrorBody};

use super::Shared;

/// The endpoint's settings and its cache of signing keys.
pub struct AwsEndpoint {
    /// The region requests are signed for and ARNs name.
    pub region: String,
    /// The account ARNs name.
    pub account_id: String,
    /// Whether an access key with two roles is refused (`[aws] separation_of_duties`).
    pub duties: Duties,
    signing_keys: sigv4::SigningKeys,
}

impl std::fmt::Debug for AwsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsEndpoint")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl AwsEndpoint {
    /// An endpoint for `region` and `account_id`.
    #[must_use]
    pub fn new(region: &str, account_id: &str) -> Self {
        Self {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            duties: Duties::default(),
            signing_keys: sigv4::SigningKeys::default(),
        }
    }

    /// The same endpoint, letting access keys hold two roles when `duties` says so.
    #[must_use]
    pub fn with_duties(mut self, duties: Duties) -> Self {
        self.duties = duties;
        self
    }

    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    #[must_use]
    pub fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account_id)
    }

    /// `arn:aws:kms:<region>:<account>:alias/<name>` for `alias/<name>`.
    #[must_use]
    pub fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias}", self.region, self.account_id)
    }

    /// The key reference the key service takes (a key id or `alias/<name>`) for what AWS
    /// accepts: a key id, a key ARN, an alias name or an alias ARN of this region and
    /// account.
    ///
    /// # Errors
    /// `NotFoundException` for an ARN of another region or account and for a key id that
    /// is not a UUID (AWS's answer: no key has it), `InvalidArnException` for a malformed
    /// ARN.
    pub fn key_reference(&self, given: &str) -> Result<String, AwsError> {
        let reference = self.reference_of(given)?;
        if reference.starts_with("alias/") || reference.parse::<KeyId>().is_ok() {
            Ok(reference)
        } else {
            Err(AwsError::new(
                AwsException::NotFound,
                format!("Invalid keyId {given}"),
            ))
        }
    }

    /// [`Self::key_reference`] before the key id's form is checked.
    fn reference_of(&self, given: &str) -> Result<String, AwsError> {
        let Some(rest) = given.strip_prefix("arn:") else {
            return Ok(given.to_owned());
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [_partition, service, region, account, resource] = parts.as_slice() else {
            return Err(AwsError::new(
                AwsException::InvalidArn,
                format!("ARN `{given}` is not arn:aws:kms:<region>:<account>:<resource>"),
            ));
        };
        if *service != "kms" || *region != self.region || *account != self.account_id {
            return Err(AwsError::new(
                AwsException::NotFound,
                format!(
                    "Invalid arn {given}: this endpoint serves {}",
                    self.key_arn("")
                ),
            ));
        }
        Ok(resource
            .strip_prefix("key/")
            .map_or_else(|| (*resource).to_owned(), str::to_owned))
    }
}

/// An error as AWS answers it.
#[derive(Debug)]
pub struct AwsError {
    /// The exception.
    pub exception: AwsException,
    /// The message.
    pub message: String,
}

impl AwsError {
    /// `exception` with `message`.
    pub fn new(exception: AwsException, message: impl Into<String>) -> Self {
        Self {
            exception,
            message: message.into(),
        }
    }
}

impl From<KeyError> for AwsError {
    fn from(error: KeyError) -> Self {
        let code = error.code();
        if code == kastell_proto::ErrorCode::Internal {
            tracing::error!(error = %error, "AWS endpoint: internal failure");
            return Self::new(AwsException::KmsInternal, "internal error");
        }
        Self::new(AwsException::of(code), error.message())
    }
}

impl From<sigv4::Denied> for AwsError {
    fn from(denied: sigv4::Denied) -> Self {
        match denied {
            sigv4::Denied::Refused(refusal) => Self::new(refusal.kind.kms(), refusal.message),
            sigv4::Denied::Internal => Self::new(AwsException::KmsInternal, "internal error"),
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.exception.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            kind: self.exception.name().to_owned(),
            message: self.message,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/x-amz-json-1.1",
            )],
            json,
        )
            .into_response()
    }
}

/// What a handler shares: the server's state and the endpoint's.
#[derive(Debug, Clone)]
pub struct AwsState {
    /// The server's state (key service, metrics, quorum).
    pub shared: Shared,
    /// Region, account and signing keys.
    pub endpoint: Arc<AwsEndpoint>,
}

/// The endpoint's router: `POST /` and nothing else, within `body_limit`.
pub fn app(shared: Shared, endpoint: Arc<AwsEndpoint>, body_limit: usize) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(AwsState { shared, endpoint })
}

async fn handle(
    State(state): State<AwsState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let started = std::time::Instant::now();
    if sts::is_call(&headers, &uri) {
        let (route, principal, response) = match body {
            Ok(body) => sts::answer(&state, &method, &uri, &headers, &body).await,
            Err(e) => ("AWS STS", "-".to_owned(), sts::unreadable(&e.body_text())),
        };
        let status = response.status().as_u16();
        state
            .shared
            .metrics
            .request(route, status, started.elapsed());
        tracing::info!(route, status, principal = %principal, "request");
        return response;
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let outcome = answer(&state, &method, &uri, &headers, body).await;
    let (response, principal) = match outcome {
        Ok((response, principal)) => (response, principal),
        Err(err) => (err.into_response(), "-".to_owned()),
    };
    let status = response.status().as_u16();
    // The operation's name only when it is one of AWS's (a fixed set): never free text
    // from a client in the metrics.
    let route = match target.strip_prefix("TrentService.") {
        Some(op) if operations::is_known(op) => format!("AWS {op}"),
        _ => "AWS unknown".to_owned(),
    };
    state
        .shared
        .metrics
        .request(&route, status, started.elapsed());
    tracing::info!(route = %route, status, principal = %principal, "request");
    response
}

async fn answer(
    state: &AwsState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(Response, String), AwsError> {
    let body = body.map_err(|e| {
        AwsError::new(
            AwsException::Validation,
            format!(
                "the request body is unreadable or too large: {}",
                e.body_text()
            ),
        )
    })?;
    let caller = authenticate(state, method, uri, headers, &body).await?;
    let principal = caller.id.clone();
    if *method != Method::POST || uri.path() != "/" {
        return Err(AwsError::new(
            AwsException::UnknownOperation,
            "the AWS endpoint takes POST / only",
        ));
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-amz-json-1.1") {
        return Err(AwsError::new(
            AwsException::UnknownOperation,
            "Content-Type must be application/x-amz-json-1.1",
        ));
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("TrentService."))
        .ok_or_else(|| {
            AwsError::new(
                AwsException::UnknownOperation,
                "X-Amz-Target must be TrentService.<Operation>",
            )
        })?
        .to_owned();
    let response = operations::dispatch(state, Arc::new(caller), &target, &body).await?;
    Ok((response, principal))
}

/// The caller an access key names, once the request's signature is verified.
async fn authenticate(
    state: &AwsState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, AwsError> {
    Ok(sigv4::authenticate(state, sigv4::Service::Kms, method, uri, headers, body).await?)
}
