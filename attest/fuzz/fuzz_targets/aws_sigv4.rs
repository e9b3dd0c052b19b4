//! SigV4 as the AWS endpoint reads a request (`kastell_proto::aws::sigv4`): any bytes become
//! a request, its fields split at NUL bytes (method, path, query, body, then header names
//! and values in turn), which is parsed from its `Authorization` header or presigned query
//! string, checked at a few times and canonicalised. Nothing may panic; a canonical query
//! reads back as itself, and a date reads back as itself.

#![no_main]

use kastell_proto::aws::sigv4::{self, Request};
use libfuzzer_sys::fuzz_target;

fn text(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
}

fuzz_target!(|input: &[u8]| {
    let mut fields = input.split(|&b| b == 0);
    let method = text(fields.next());
    let path = text(fields.next());
    let query = text(fields.next());
    let body = fields.next().unwrap_or_default();
    let rest: Vec<&[u8]> = fields.collect();
    let names: Vec<String> = rest
        .chunks(2)
        .map(|pair| text(pair.first().copied()))
        .collect();
    let headers: Vec<(&str, &[u8])> = names
        .iter()
        .zip(rest.chunks(2))
        .map(|(name, pair)| (name.as_str(), pair.get(1).copied().unwrap_or_default()))
        .collect();

    if let Ok(canonical) = sigv4::canonical_query(&query, None) {
        assert_eq!(
            sigv4::canonical_query(&canonical, None).as_deref(),
            Ok(canonical.as_str()),
            "a canonical query is its own canonical form"
        );
    }
    if let Some(at) = sigv4::parse_amz_date(&path) {
        assert_eq!(sigv4::amz_date(at), path, "a date reads back as itself");
    }

    let request = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
    };
    let Ok(signed) = sigv4::parse(&request) else {
        return;
    };
    assert_eq!(signed.signature.len(), 64);
    for now in [
        signed.signed_at,
        signed.signed_at + 901,
        0,
        i64::MAX,
        i64::MIN,
    ] {
        let _ = signed.check("kms", "eu-central-1", now);
    }
    let payload = sigv4::payload_hash(body);
    if let Ok(to_sign) = signed.string_to_sign(&request, &payload) {
        assert!(to_sign.starts_with(sigv4::ALGORITHM));
    }
});
