//! AWS STS `GetCallerIdentity` on the AWS endpoint's listener, so that SDK tooling that
//! asks who it is (`aws sts get-caller-identity`, boto3's `sts` client, presigned
//! `GetCallerIdentity` URLs as Kubernetes and Vault use them) works: the query protocol
//! (`Action=GetCallerIdentity&Version=2011-06-15`, form-encoded in a `POST /` or in the
//! query string), signed with SigV4 for service `sts` and this endpoint's region, answered
//! in XML with the access key's principal as AWS names an IAM user. Errors are STS's:
//! `<ErrorResponse>` with STS's codes (`InvalidClientTokenId`, `SignatureDoesNotMatch`,
//! `IncompleteSignature`, …).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kastell_proto::aws::sigv4::query_pairs;
use kastell_proto::aws::sts::{self, Action, CallerIdentity, StsError};

use super::AwsState;
use super::sigv4::{Denied, Service, authenticate};

/// Whether the request is an STS call (no `X-Amz-Target`; a form body or an `Action` in the
/// query string).
#[must_use]
pub fn is_call(headers: &HeaderMap, uri: &Uri) -> bool {
    sts::is_sts(
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        headers.contains_key("x-amz-target"),
        uri.query().unwrap_or(""),
    )
}

fn xml(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// A request id for the answer (16 random bytes, hex): AWS sends one with every answer.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    // An id only: zeros if the generator fails.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// The answer to an STS call whose body could not be read (too large, cut off).
#[must_use]
pub fn unreadable(why: &str) -> Response {
    let error = StsError::new(
        "MalformedQueryString",
        400,
        format!("the request body is unreadable or too large: {why}"),
    );
    xml(error.status, error.to_xml(&request_id()))
}

/// Answers an STS call: its route for the metrics (a fixed set), the principal (or `-`) and
/// the response.
pub async fn answer(
    state: &AwsState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (&'static str, String, Response) {
    match call(state, method, uri, headers, body).await {
        Ok((principal, identity)) => (
            "AWS STS GetCallerIdentity",
            principal,
            xml(200, identity.to_xml(&request_id())),
        ),
        Err(error) => (
            "AWS STS",
            "-".to_owned(),
            xml(error.status, error.to_xml(&request_id())),
        ),
    }
}

async fn call(
    state: &AwsState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(String, CallerIdentity), StsError> {
    let caller = authenticate(state, Service::Sts, method, uri, headers, body)
        .await
        .map_err(|denied| match denied {
            Denied::Refused(refusal) => {
                let (code, status) = refusal.kind.sts();
                StsError::new(code, status, refusal.message)
            }
            Denied::Internal => StsError::new("InternalFailure", 500, "internal error"),
        })?;
    if !(*method == Method::POST || *method == Method::GET) || uri.path() != "/" {
        return Err(StsError::new(
            "InvalidAction",
            400,
            "the STS endpoint takes POST / or GET / only",
        ));
    }
    let bad = |why: String| StsError::new("MalformedQueryString", 400, why);
    let text =
        std::str::from_utf8(body).map_err(|_| bad("the form body is not UTF-8".to_owned()))?;
    let mut params = query_pairs(uri.query().unwrap_or("")).map_err(bad)?;
    params.extend(query_pairs(text).map_err(bad)?);
    match sts::action(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))? {
        Action::GetCallerIdentity => {
            let account = &state.endpoint.account_id;
            Ok((
                caller.id.clone(),
                CallerIdentity {
                    arn: kastell_proto::aws::user_arn(account, &caller.id),
                    user_id: caller.id,
                    account: account.clone(),
                },
            ))
        }
    }
}
