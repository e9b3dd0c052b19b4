//! SigV4 verification (header form) of requests to the AWS endpoint: the `Authorization`
//! header parsed, its scope checked (date, the deployment's region, service `kms`,
//! `aws4_request`), `X-Amz-Date` within 15 minutes of now, then the signature recomputed
//! over the received request (the headers the client signed, the body's SHA-256) with the
//! access key's signing key and compared in constant time.
//!
//! Canonicalisation is written here, short and checked against AWS's published example
//! and against botocore and the AWS CLI in `tests/tests/aws_clients.rs`: the AWS SDK's
//! `aws-sigv4` crate is a signer (it adds the headers a signer sends, and `expect`s on
//! header bytes a hostile client controls), not a verifier.

use aws_lc_rs::{digest, hmac};
use axum::http::{HeaderMap, Method};
use kastell_proto::aws::AwsException;

/// How far `X-Amz-Date` may be from the server's clock, either way.
pub const CLOCK_SKEW_SECS: i64 = 15 * 60;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request's signature was refused, with AWS's exception for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The exception.
    pub exception: AwsException,
    /// AWS's message for it.
    pub message: String,
}

fn refuse(exception: AwsException, message: impl Into<String>) -> Refusal {
    Refusal {
        exception,
        message: message.into(),
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD` of the scope.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed headers, lowercase, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature, lowercase hex.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
///
/// # Errors
/// `MissingAuthenticationTokenException` without the header, `IncompleteSignatureException`
/// for a malformed one.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, Refusal> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(refuse(
            AwsException::MissingAuthenticationToken,
            "Missing Authentication Token",
        ));
    };
    let incomplete = |what: &str| {
        refuse(
            AwsException::IncompleteSignature,
            format!("Authorization header {what}"),
        )
    };
    let text = value
        .to_str()
        .map_err(|_| incomplete("is not visible ASCII"))?;
    let rest = text
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| incomplete(&format!("requires the algorithm {ALGORITHM}")))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else {
            return Err(incomplete("has an unknown part"));
        }
    }
    let credential = credential.ok_or_else(|| incomplete("requires a Credential"))?;
    let signed = signed.ok_or_else(|| incomplete("requires SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("requires a Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete(
            "Credential must be <access key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    if *terminator != "aws4_request" {
        return Err(refuse(
            AwsException::InvalidSignature,
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not \
                 '{terminator}'."
            ),
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
    if signed_headers.iter().any(|h| {
        h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) {
        return Err(incomplete("SignedHeaders must be lowercase header names"));
    }
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("SignedHeaders must include host"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal digits"));
    }
    Ok(Authorization {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// The request's `X-Amz-Date` as Unix seconds, and its text.
///
/// # Errors
/// `IncompleteSignatureException` when it is missing or malformed.
pub fn request_time(headers: &HeaderMap) -> Result<(i64, String), Refusal> {
    let text = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            refuse(
                AwsException::IncompleteSignature,
                "Authorization header requires existence of either a 'X-Amz-Date' or a \
                 'Date' header.",
            )
        })?;
    let malformed = || {
        refuse(
            AwsException::IncompleteSignature,
            format!("X-Amz-Date `{text}` is not YYYYMMDD'T'HHMMSS'Z'"),
        )
    };
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return Err(malformed());
    }
    let number = |range: std::ops::Range<usize>| -> Result<u32, Refusal> {
        let part = text.get(range).ok_or_else(malformed)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        part.parse().map_err(|_| malformed())
    };
    let year = i32::try_from(number(0..4)?).map_err(|_| malformed())?;
    let month = u8::try_from(number(4..6)?)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(malformed)?;
    let small = |n: u32| u8::try_from(n).map_err(|_| malformed());
    let date = time::Date::from_calendar_date(year, month, small(number(6..8)?)?)
        .map_err(|_| malformed())?;
    let clock = time::Time::from_hms(
        small(number(9..11)?)?,
        small(number(11..13)?)?,
        small(number(13..15)?)?,
    )
    .map_err(|_| malformed())?;
    let at = time::PrimitiveDateTime::new(date, clock).assume_utc();
    Ok((at.unix_timestamp(), text.to_owned()))
}

fn amz(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds).map_or_else(
        |_| String::new(),
        |t| {
            format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}

/// Checks the scope against the deployment and the date against the clock (`now`, Unix
/// seconds).
///
/// # Errors
/// `InvalidSignatureException` with AWS's message for each case.
pub fn check_scope(
    auth: &Authorization,
    amz_date: &str,
    signed_at: i64,
    now: i64,
    region: &str,
) -> Result<(), Refusal> {
    if auth.service != "kms" {
        return Err(refuse(
            AwsException::InvalidSignature,
            "Credential should be scoped to correct service: 'kms'.",
        ));
    }
    if auth.region != region {
        return Err(refuse(
            AwsException::InvalidSignature,
            format!(
                "Credential should be scoped to a valid region, not '{}'. This endpoint \
                 serves '{region}'.",
                auth.region
            ),
        ));
    }
    if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        return Err(refuse(
            AwsException::InvalidSignature,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP.",
        ));
    }
    if signed_at < now - CLOCK_SKEW_SECS {
        return Err(refuse(
            AwsException::InvalidSignature,
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                amz(now - CLOCK_SKEW_SECS),
                amz(now)
            ),
        ));
    }
    if signed_at > now + CLOCK_SKEW_SECS {
        return Err(refuse(
            AwsException::InvalidSignature,
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                amz(now + CLOCK_SKEW_SECS),
                amz(now)
            ),
        ));
    }
    Ok(())
}

/// The signing key of `secret` for a date, region and service.
#[must_use]
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> hmac::Key {
    let mut first = Vec::with_capacity(4 + secret.len());
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret);
    let first = zeroize::Zeroizing::new(first);
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, &first);
    for part in [date, region, service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A header's canonical value: every value of it, trimmed, inner runs of spaces made one,
/// joined with commas. `None` when it is absent or not visible ASCII.
fn canonical_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        values.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    (!values.is_empty()).then(|| values.join(","))
}

/// The string to sign for a request (`path` `/`, no query: the endpoint takes nothing
/// else).
///
/// # Errors
/// `InvalidSignatureException` when a signed header is absent or not visible ASCII, or
/// `X-Amz-Content-Sha256` is not the body's hash.
pub fn string_to_sign(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization,
    amz_date: &str,
) -> Result<String, Refusal> {
    let payload = sha256_hex(body);
    if let Some(claimed) = headers.get("x-amz-content-sha256")
        && claimed.as_bytes() != payload.as_bytes()
        && claimed.as_bytes() != b"UNSIGNED-PAYLOAD"
    {
        return Err(refuse(
            AwsException::InvalidSignature,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    let mut sorted = auth.signed_headers.clone();
    sorted.sort();
    sorted.dedup();
    let mut canonical = format!("{method}\n{path}\n{query}\n");
    for name in &sorted {
        let value = canonical_value(headers, name).ok_or_else(|| {
            refuse(
                AwsException::InvalidSignature,
                format!("The signed header '{name}' is missing or not visible ASCII."),
            )
        })?;
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&sorted.join(";"));
    canonical.push('\n');
    canonical.push_str(&payload);
    Ok(format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        sha256_hex(canonical.as_bytes())
    ))
}

/// Whether `signature` (lowercase hex) is the HMAC of `string_to_sign` under `key`, in
/// constant time.
#[must_use]
pub fn signature_matches(key: &hmac::Key, string_to_sign: &str, signature: &str) -> bool {
    let expected = hex(hmac::sign(key, string_to_sign.as_bytes()).as_ref());
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), signature.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is a failed test")]
    use super::*;

    /// AWS's worked example of SigV4 (IAM ListUsers, 2015-08-30, from the AWS General
    /// Reference "Signature Version 4 signing process"): its signing key and signature.
    #[test]
    fn the_signature_of_aws_s_published_example_is_reproduced() {
        let secret = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let key = signing_key(secret, "20150830", "us-east-1", "iam");
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            axum::http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .unwrap(),
        );
        let auth = parse_authorization(&headers).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        let to_sign = string_to_sign(
            &Method::GET,
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &headers,
            b"",
            &auth,
            "20150830T123600Z",
        )
        .unwrap();
        assert!(
            signature_matches(&key, &to_sign, &auth.signature),
            "{to_sign}"
        );
        let tampered = to_sign.replace("20150830T123600Z", "20150830T123601Z");
        assert!(!signature_matches(&key, &tampered, &auth.signature));
    }

    #[test]
    fn scope_and_clock_are_checked_with_aws_s_messages() {
        let auth = Authorization {
            access_key_id: "KSTLAAAAAAAAAAAAAAAA".into(),
            date: "20261207".into(),
            region: "eu-central-1".into(),
            service: "kms".into(),
            signed_headers: vec!["host".into()],
            signature: "0".repeat(64),
        };
        let (at, text) = {
            let mut h = HeaderMap::new();
            h.insert("x-amz-date", "20261207T120000Z".parse().unwrap());
            request_time(&h).unwrap()
        };
        assert_eq!(
            check_scope(&auth, &text, at, at + 60, "eu-central-1"),
            Ok(())
        );
        let expired = check_scope(&auth, &text, at, at + 16 * 60, "eu-central-1").unwrap_err();
        assert_eq!(expired.exception, AwsException::InvalidSignature);
        assert!(
            expired
                .message
                .starts_with("Signature expired: 20261207T120000Z"),
            "{expired:?}"
        );
        let future = check_scope(&auth, &text, at, at - 16 * 60, "eu-central-1").unwrap_err();
        assert!(
            future.message.starts_with("Signature not yet current"),
            "{future:?}"
        );
        let region = check_scope(&auth, &text, at, at, "eu-west-1").unwrap_err();
        assert!(region.message.contains("valid region"), "{region:?}");
        let service = Authorization {
            service: "s3".into(),
            ..auth
        };
        let wrong = check_scope(&service, &text, at, at, "eu-central-1").unwrap_err();
        assert!(
            wrong.message.contains("correct service: 'kms'"),
            "{wrong:?}"
        );
    }

    #[test]
    fn malformed_authorization_headers_are_incomplete_signatures() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            parse_authorization(&headers).unwrap_err().exception,
            AwsException::MissingAuthenticationToken
        );
        for bad in [
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            headers.insert(axum::http::header::AUTHORIZATION, bad.parse().unwrap());
            assert_eq!(
                parse_authorization(&headers).unwrap_err().exception,
                AwsException::IncompleteSignature,
                "{bad}"
            );
        }
    }
}
