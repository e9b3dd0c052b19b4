//! AWS Signature Version 4 as a verifier reads it: the signing information of a received
//! request parsed from either place the SDKs put it (the `Authorization` header, or the
//! presigned query string `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`), its scope and time checked,
//! and the string to sign rebuilt from what was received: the method, the path, the query
//! (canonicalised: decoded, re-encoded, sorted, the signature left out), the headers the
//! client listed as signed and the SHA-256 of the body that actually arrived.
//!
//! The HMAC itself (the signing key derived from the secret, and the constant-time
//! comparison) belongs to the server, which holds the secrets and caches signing keys. What
//! is here is pure and takes any bytes: `host/proto/fuzz` fuzzes it, and the server's tests
//! check it against AWS's published example and against the signers of botocore, the AWS
//! CLI and the AWS SDK for Rust (`aws-sigv4`).
//!
//! A refusal carries a [`RefusalKind`]; [`RefusalKind::kms`] and [`RefusalKind::sts`] are
//! the one table from it to the exception KMS answers and the error code STS answers.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest as _, Sha256};

use super::AwsException;

/// The only signing algorithm.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far the request's date may be from the server's clock, either way (15 minutes).
pub const CLOCK_SKEW_SECS: i64 = 15 * 60;
/// The longest `X-Amz-Expires` (seven days, as at AWS).
pub const MAX_EXPIRES_SECS: u32 = 604_800;
/// The SHA-256 of nothing, lowercase hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const TERMINATOR: &str = "aws4_request";
const SIGNATURE_PARAM: &str = "X-Amz-Signature";
const QUERY_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    SIGNATURE_PARAM,
];

/// What kind of refusal: the one table to AWS's names for it, on KMS and on STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// Neither an `Authorization` header nor a presigned query string.
    Missing,
    /// The signing information is malformed or incomplete.
    Incomplete,
    /// The signature does not match, or its scope, date or expiry is wrong.
    Invalid,
    /// The access key is unknown or revoked.
    UnknownKey,
    /// The access key is valid but may not be used as it is (two roles while separation of
    /// duties is on).
    Denied,
}

impl RefusalKind {
    /// The exception KMS answers (`__type`).
    #[must_use]
    pub const fn kms(self) -> AwsException {
        match self {
            Self::Missing => AwsException::MissingAuthenticationToken,
            Self::Incomplete => AwsException::IncompleteSignature,
            Self::Invalid => AwsException::InvalidSignature,
            Self::UnknownKey => AwsException::UnrecognizedClient,
            Self::Denied => AwsException::AccessDenied,
        }
    }

    /// The error code STS answers (`<Code>`) and its HTTP status.
    #[must_use]
    pub const fn sts(self) -> (&'static str, u16) {
        match self {
            Self::Missing => ("MissingAuthenticationToken", 403),
            Self::Incomplete => ("IncompleteSignature", 400),
            Self::Invalid => ("SignatureDoesNotMatch", 403),
            Self::UnknownKey => ("InvalidClientTokenId", 403),
            Self::Denied => ("AccessDenied", 403),
        }
    }
}

/// A refused request: the kind and AWS's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind.
    pub kind: RefusalKind,
    /// The message.
    pub message: String,
}

impl Refusal {
    /// A refusal of `kind` saying `message`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

fn incomplete(message: impl Into<String>) -> Refusal {
    Refusal::new(RefusalKind::Incomplete, message)
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new(RefusalKind::Invalid, message)
}

/// A received request as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, as received (`POST`).
    pub method: &'a str,
    /// The path, as received (still percent-encoded).
    pub path: &'a str,
    /// The query string without `?`, as received (still percent-encoded).
    pub query: &'a str,
    /// Every header line, name and value as received; a name may repeat.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> Request<'a> {
    fn header_values<'b>(&'b self, name: &'b str) -> impl Iterator<Item = &'a [u8]> + 'b {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

/// Where the request carries its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// A presigned request: the `X-Amz-*` query parameters.
    Query,
}

/// The signing information of a request, parsed but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Where it was found.
    pub form: Form,
    /// The access key id.
    pub access_key_id: String,
    /// The scope's date, `YYYYMMDD`.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed header names, lowercase, sorted, without duplicates.
    pub signed_headers: Vec<String>,
    /// The signature, 64 lowercase hexadecimal digits.
    pub signature: String,
    /// The request's time as signed, `YYYYMMDD'T'HHMMSS'Z'`.
    pub amz_date: String,
    /// The same time, Unix seconds.
    pub signed_at: i64,
    /// `X-Amz-Expires` of a presigned request, seconds.
    pub expires: Option<u32>,
}

impl Signed {
    /// Checks the scope against the service and region this endpoint serves, and the date
    /// (and a presigned request's expiry) against `now` (Unix seconds).
    ///
    /// # Errors
    /// [`RefusalKind::Invalid`] with AWS's message for each case: another service or
    /// region, a scope date that is not the request's, `Signature expired` (older than 15
    /// minutes, or past `X-Amz-Expires`), `Signature not yet current` (more than 15 minutes
    /// ahead).
    pub fn check(&self, service: &str, region: &str, now: i64) -> Result<(), Refusal> {
        if self.service != service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        if self.region != region {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'. This endpoint \
                 serves '{region}'.",
                shorten(&self.region)
            )));
        }
        if self.amz_date.get(..8) != Some(self.date.as_str()) {
            return Err(invalid(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                 date from HTTP.",
            ));
        }
        if self.signed_at < now.saturating_sub(CLOCK_SKEW_SECS) {
            return Err(invalid(format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                self.amz_date,
                amz_date(now.saturating_sub(CLOCK_SKEW_SECS)),
                amz_date(now)
            )));
        }
        if self.signed_at > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(invalid(format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                self.amz_date,
                amz_date(now.saturating_add(CLOCK_SKEW_SECS)),
                amz_date(now)
            )));
        }
        if let Some(expires) = self.expires
            && self.signed_at.saturating_add(i64::from(expires)) < now
        {
            return Err(invalid(format!(
                "Signature expired: {} plus X-Amz-Expires {expires} s ended at {}, before {}",
                self.amz_date,
                amz_date(self.signed_at.saturating_add(i64::from(expires))),
                amz_date(now)
            )));
        }
        Ok(())
    }

    /// Whether the client signed the header `name` (lowercase).
    #[must_use]
    pub fn signs(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h == name)
    }

    /// The canonical request of `request` as this signature covers it, over a body whose
    /// SHA-256 is `payload_sha256` (lowercase hex, [`payload_hash`]).
    ///
    /// # Errors
    /// [`RefusalKind::Invalid`] when a signed header is absent or not text, or
    /// `X-Amz-Content-Sha256` is not the body's hash (an unsigned payload included: the body
    /// is always signed here); [`RefusalKind::Incomplete`] for a malformed query string.
    pub fn canonical_request(
        &self,
        request: &Request<'_>,
        payload_sha256: &str,
    ) -> Result<String, Refusal> {
        if let Some(claimed) = request.header("x-amz-content-sha256")
            && claimed != payload_sha256.as_bytes()
        {
            return Err(invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed \
                 (the payload must be signed: UNSIGNED-PAYLOAD is not accepted).",
            ));
        }
        let mut canonical = String::with_capacity(256 + request.query.len());
        canonical.push_str(request.method);
        canonical.push('\n');
        canonical.push_str(request.path);
        canonical.push('\n');
        let skip = match self.form {
            Form::Header => None,
            Form::Query => Some(SIGNATURE_PARAM),
        };
        canonical.push_str(
            &canonical_query(request.query, skip)
                .map_err(|why| incomplete(format!("query: {why}")))?,
        );
        canonical.push('\n');
        for name in &self.signed_headers {
            canonical.push_str(name);
            canonical.push(':');
            let mut first = true;
            let mut any = false;
            for value in request.header_values(name) {
                any = true;
                let text = core::str::from_utf8(value)
                    .map_err(|_| invalid(format!("The signed header '{name}' is not text.")))?;
                if !first {
                    canonical.push(',');
                }
                first = false;
                let mut words = text.split_ascii_whitespace();
                if let Some(word) = words.next() {
                    canonical.push_str(word);
                    for word in words {
                        canonical.push(' ');
                        canonical.push_str(word);
                    }
                }
            }
            if !any {
                return Err(invalid(format!(
                    "The request signature covers the header '{name}', which is missing."
                )));
            }
            canonical.push('\n');
        }
        canonical.push('\n');
        for (i, name) in self.signed_headers.iter().enumerate() {
            if i > 0 {
                canonical.push(';');
            }
            canonical.push_str(name);
        }
        canonical.push('\n');
        canonical.push_str(payload_sha256);
        Ok(canonical)
    }

    /// The string to sign for `request` ([`Self::canonical_request`], hashed, after the
    /// algorithm, the time and the scope).
    ///
    /// # Errors
    /// As [`Self::canonical_request`].
    pub fn string_to_sign(
        &self,
        request: &Request<'_>,
        payload_sha256: &str,
    ) -> Result<String, Refusal> {
        let canonical = self.canonical_request(request, payload_sha256)?;
        let mut out = String::with_capacity(
            ALGORITHM.len()
                + self.amz_date.len()
                + self.date.len()
                + self.region.len()
                + self.service.len()
                + TERMINATOR.len()
                + 64
                + 8,
        );
        for part in [
            ALGORITHM,
            "\n",
            &self.amz_date,
            "\n",
            &self.date,
            "/",
            &self.region,
            "/",
        ] {
            out.push_str(part);
        }
        for part in [self.service.as_str(), "/", TERMINATOR, "\n"] {
            out.push_str(part);
        }
        push_hex(&mut out, &Sha256::digest(canonical.as_bytes()));
        Ok(out)
    }
}

/// `bytes` in lowercase hexadecimal, appended to `out` (a table lookup per digit: this runs
/// three times per signed request).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// The SHA-256 of a body, lowercase hex.
#[must_use]
pub fn payload_hash(body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_SHA256.to_owned();
    }
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &Sha256::digest(body));
    out
}

mod parse;
mod text;

pub use parse::parse;

use text::shorten;
pub use text::{amz_date, canonical_query, parse_amz_date, query_pairs};

#[cfg(test)]
mod tests;
