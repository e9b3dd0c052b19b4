//! Parsing the signing information of a request, from the `Authorization` header or from a
//! presigned query string.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::text::{parse_amz_date, query_pairs, shorten};
use super::{
    ALGORITHM, Form, MAX_EXPIRES_SECS, QUERY_PARAMS, Refusal, RefusalKind, Request,
    SIGNATURE_PARAM, Signed, TERMINATOR, incomplete, invalid,
};

/// Parses the signing information of `request`, from its `Authorization` header or its
/// presigned query string.
///
/// # Errors
/// [`RefusalKind::Missing`] when there is neither; [`RefusalKind::Incomplete`] when both are
/// there or either is malformed (with AWS's message naming what); [`RefusalKind::Invalid`]
/// for a credential scope that does not end with `aws4_request`.
pub fn parse(request: &Request<'_>) -> Result<Signed, Refusal> {
    let params = query_pairs(request.query).map_err(|why| incomplete(format!("query: {why}")))?;
    let presigned = params
        .iter()
        .any(|(k, _)| k == "X-Amz-Algorithm" || k == SIGNATURE_PARAM);
    match (request.header("authorization"), presigned) {
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or \
             the Authorization header should be specified",
        )),
        (Some(value), false) => parse_header(request, value),
        (None, true) => parse_query(&params),
        (None, false) => Err(Refusal::new(
            RefusalKind::Missing,
            "Missing Authentication Token",
        )),
    }
}

fn parse_header(request: &Request<'_>, value: &[u8]) -> Result<Signed, Refusal> {
    let text = core::str::from_utf8(value)
        .ok()
        .filter(|t| t.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .ok_or_else(|| incomplete("Authorization header is not visible ASCII"))?;
    let rest = text
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| {
            incomplete(format!(
                "Authorization header requires the algorithm {ALGORITHM}"
            ))
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (slot, value) = if let Some(v) = part.strip_prefix("Credential=") {
            (&mut credential, v)
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            (&mut signed, v)
        } else if let Some(v) = part.strip_prefix("Signature=") {
            (&mut signature, v)
        } else {
            return Err(incomplete(format!(
                "'{}' not a valid key=value pair in Authorization header",
                shorten(part)
            )));
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(
                "Authorization header names Credential, SignedHeaders or Signature twice",
            ));
        }
    }
    let missing = |what: &str| {
        incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={}",
            shorten(text)
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let amz_date = request
        .header("x-amz-date")
        .and_then(|v| core::str::from_utf8(v).ok())
        .ok_or_else(|| {
            incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a \
                 'Date' header.",
            )
        })?;
    build(
        Form::Header,
        credential,
        signed,
        signature,
        amz_date.trim(),
        None,
    )
}

fn parse_query(params: &[(String, String)]) -> Result<Signed, Refusal> {
    let mut found: [Option<&str>; 6] = [None; 6];
    for (key, value) in params {
        if let Some(i) = QUERY_PARAMS.iter().position(|p| p == key)
            && found[i].replace(value).is_some()
        {
            return Err(incomplete(format!(
                "the query string gives {key} more than once"
            )));
        }
    }
    let [
        Some(algorithm),
        Some(credential),
        Some(amz_date),
        Some(expires),
        Some(signed),
        Some(signature),
    ] = found
    else {
        return Err(incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', \
             'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', \
             'X-Amz-Expires'. Re-examine the query-string parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let expires = expires
        .parse::<u32>()
        .ok()
        .filter(|n| {
            (1..=MAX_EXPIRES_SECS).contains(n) && expires.bytes().all(|b| b.is_ascii_digit())
        })
        .ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to \
                 {MAX_EXPIRES_SECS}, not '{}'",
                shorten(expires)
            ))
        })?;
    build(
        Form::Query,
        credential,
        signed,
        signature,
        amz_date,
        Some(expires),
    )
}

fn build(
    form: Form,
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<u32>,
) -> Result<Signed, Refusal> {
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            shorten(credential)
        )));
    };
    if access_key_id.is_empty() {
        return Err(incomplete("Credential names no access key id"));
    }
    if *terminator != TERMINATOR {
        return Err(invalid(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            shorten(terminator)
        )));
    }
    let mut signed_headers: Vec<String> = Vec::new();
    for name in signed.split(';') {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(incomplete(format!(
                "SignedHeaders must be lowercase header names separated by ';', not '{}'",
                shorten(signed)
            )));
        }
        signed_headers.push(name.to_owned());
    }
    signed_headers.sort_unstable();
    signed_headers.dedup();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("SignedHeaders must include host"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal digits"));
    }
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date '{}' is not YYYYMMDD'T'HHMMSS'Z'",
            shorten(amz_date)
        ))
    })?;
    Ok(Signed {
        form,
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date: amz_date.to_owned(),
        signed_at,
        expires,
    })
}
