//! API errors: `{"error": "<Name>", "message": "..."}` with the status that fits, and the
//! JSON extractor that turns every malformed body into one of them.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use kastell_core::keys::KeyError;
use kastell_proto::ErrorCode;
use kastell_proto::api::ErrorBody;

/// An error response: a stable [`ErrorCode`] (which fixes the HTTP status) and a message.
#[derive(Debug)]
pub struct ApiError {
    /// The code: the body's `error` and the HTTP status.
    pub code: ErrorCode,
    /// The body's `message`.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 400 InvalidInput.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::InvalidInput, message)
    }

    /// 403 AccessDenied.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::AccessDenied, message)
    }

    /// 404 NotFound.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::NotFound, message)
    }

    /// 500 Internal: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::of(
            ErrorCode::Internal,
            "the server failed; the cause is in its log",
        )
    }

    /// The HTTP status of this error's code.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.code.as_str().to_owned(),
            message: self.message,
        };
        (status, Json(body)).into_response()
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error.code() {
            ErrorCode::Internal => Self::internal(&error),
            // Where the database is and why it is away go to the log, not to the client.
            ErrorCode::StoreUnavailable => {
                tracing::warn!(%error, "the store is unavailable");
                Self::of(
                    ErrorCode::StoreUnavailable,
                    "the store is unavailable; try again shortly",
                )
            }
            code => Self::of(code, error.message()),
        }
    }
}

/// A JSON body whose every rejection is an [`ApiError`]: malformed JSON (400
/// MalformedJson), a body that does not fit the schema, unknown fields included (422
/// InvalidRequest), a missing `content-type: application/json` (415), a body over the
/// limit (413 PayloadTooLarge).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonSyntaxError(_) => ApiError::of(ErrorCode::MalformedJson, text),
        JsonRejection::JsonDataError(_) => ApiError::of(ErrorCode::InvalidRequest, text),
        JsonRejection::MissingJsonContentType(_) => ApiError::of(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON with `content-type: application/json`",
        ),
        other => body_rejection(other.status(), text),
    }
}

/// A path whose parameters do not decode (bad percent-encoding, not UTF-8): 400
/// InvalidInput as JSON, like every other error.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid_input(rejection.body_text())),
        }
    }
}

/// A body that could not be read: too large (413) or broken off (400).
pub fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::of(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the server's limit (server.body_limit)",
        )
    } else {
        ApiError::of(ErrorCode::InvalidRequest, text)
    }
}

/// Checks that an upload says `content-type: application/wasm`.
///
/// # Errors
/// 415 UnsupportedMediaType.
pub fn require_wasm(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let wasm = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/wasm"));
    if wasm {
        Ok(())
    } else {
        Err(ApiError::of(
            ErrorCode::UnsupportedMediaType,
            "upload the component's bytes with `content-type: application/wasm`",
        ))
    }
}

/// Decodes the base64 field `field`.
///
/// # Errors
/// 400 InvalidBase64 naming the field.
pub fn base64_field(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| ApiError::of(ErrorCode::InvalidBase64, format!("{field}: {e}")))
}

/// Encodes bytes for a response field.
#[must_use]
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
