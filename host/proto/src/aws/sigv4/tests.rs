//! SigV4 parsing and canonicalisation: AWS's published example, both forms, and each bad
//! input refused by kind.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::*;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sign(secret: &str, signed: &Signed, to_sign: &str) -> String {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), signed.date.as_bytes());
    for part in [
        signed.region.as_str(),
        signed.service.as_str(),
        "aws4_request",
    ] {
        key = hmac(&key, part.as_bytes());
    }
    hex::encode(hmac(&key, to_sign.as_bytes()))
}

const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn example_headers(authorization: &'static str) -> Vec<(&'static str, &'static [u8])> {
    vec![
        (
            "content-type",
            b"application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", b"iam.amazonaws.com"),
        ("x-amz-date", b"20150830T123600Z"),
        ("authorization", authorization.as_bytes()),
    ]
}

/// AWS's worked example of SigV4 (IAM `ListUsers`, 2015-08-30, from the AWS General
/// Reference, "Signature Version 4 signing process"): its canonical request's hash and
/// its signature.
#[test]
fn aws_s_published_example_is_reproduced() {
    let headers = example_headers(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    );
    let request = Request {
        method: "GET",
        path: "/",
        query: "Version=2010-05-08&Action=ListUsers",
        headers: &headers,
    };
    let signed = parse(&request).unwrap();
    assert_eq!(signed.form, Form::Header);
    assert_eq!(signed.access_key_id, "AKIDEXAMPLE");
    let to_sign = signed.string_to_sign(&request, &payload_hash(b"")).unwrap();
    assert_eq!(
        to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
         f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(sign(EXAMPLE_SECRET, &signed, &to_sign), signed.signature);
    let at = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(signed.check("iam", "us-east-1", at + 60), Ok(()));
}

fn presigned(query: &str) -> Result<Signed, Refusal> {
    let headers = [("host", &b"127.0.0.1:8444"[..])];
    parse(&Request {
        method: "GET",
        path: "/",
        query,
        headers: &headers,
    })
}

const PRESIGNED: &str = "Action=GetCallerIdentity&Version=2011-06-15\
    &X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=KSTLAAAAAAAAAAAAAAAA%2F20261207%2Feu-central-1%2Fsts%2Faws4_request\
    &X-Amz-Date=20261207T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=00000000000000000000000000000000000000000000000000000000000000aa";

#[test]
fn a_presigned_query_is_read_and_its_signature_left_out_of_the_canonical_query() {
    let signed = presigned(PRESIGNED).unwrap();
    assert_eq!(signed.form, Form::Query);
    assert_eq!(signed.service, "sts");
    assert_eq!(signed.expires, Some(60));
    let headers = [("host", &b"127.0.0.1:8444"[..])];
    let request = Request {
        method: "GET",
        path: "/",
        query: PRESIGNED,
        headers: &headers,
    };
    let canonical = signed.canonical_request(&request, EMPTY_SHA256).unwrap();
    assert_eq!(
        canonical,
        "GET\n/\nAction=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=KSTLAAAAAAAAAAAAAAAA%2F20261207%2Feu-central-1%2Fsts%2Faws4_request\
         &X-Amz-Date=20261207T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\n\
         host:127.0.0.1:8444\n\nhost\n"
            .to_owned()
            + EMPTY_SHA256
    );
    let at = signed.signed_at;
    assert_eq!(signed.check("sts", "eu-central-1", at + 60), Ok(()));
    let expired = signed.check("sts", "eu-central-1", at + 61).unwrap_err();
    assert_eq!(expired.kind, RefusalKind::Invalid);
    assert!(
        expired.message.starts_with("Signature expired"),
        "{expired:?}"
    );
}

#[test]
fn malformed_presigned_queries_are_incomplete_signatures() {
    for (bad, says) in [
        (PRESIGNED.replace("&X-Amz-Expires=60", ""), "must include"),
        (
            PRESIGNED.replace("Expires=60", "Expires=0"),
            "X-Amz-Expires",
        ),
        (
            PRESIGNED.replace("Expires=60", "Expires=604801"),
            "X-Amz-Expires",
        ),
        (
            PRESIGNED.replace("Expires=60", "Expires=+60"),
            "X-Amz-Expires",
        ),
        (
            PRESIGNED.replace("HMAC-SHA256", "HMAC-SHA1"),
            "X-Amz-Algorithm",
        ),
        (
            PRESIGNED.to_owned() + "&X-Amz-Date=20261207T120000Z",
            "more than once",
        ),
        (PRESIGNED.replace("%2Fsts", "%2"), "%"),
        (
            PRESIGNED.replace("Date=20261207T120000Z", "Date=20261307T120000Z"),
            "X-Amz-Date",
        ),
    ] {
        let refused = presigned(&bad).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Incomplete, "{bad}");
        assert!(refused.message.contains(says), "{bad}: {refused:?}");
    }
    let both = [
        ("host", &b"h"[..]),
        (
            "authorization",
            b"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
        ),
    ];
    let refused = parse(&Request {
        method: "GET",
        path: "/",
        query: PRESIGNED,
        headers: &both,
    })
    .unwrap_err();
    assert!(
        refused.message.starts_with("Only one auth mechanism"),
        "{refused:?}"
    );
}

fn with_authorization(value: &[u8]) -> Result<Signed, Refusal> {
    let headers = [
        ("host", &b"h"[..]),
        ("x-amz-date", b"20261207T120000Z"),
        ("authorization", value),
    ];
    parse(&Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
    })
}

#[test]
fn malformed_authorization_headers_are_incomplete_signatures_and_no_header_is_missing() {
    let missing = parse(&Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &[("host", b"h")],
    })
    .unwrap_err();
    assert_eq!(missing.kind, RefusalKind::Missing);
    let sig = "0".repeat(64);
    for bad in [
        format!(
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature={sig}"
        ),
        format!("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature={sig}"),
        format!(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"
        ),
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=zz".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=Host, Signature={sig}"
        ),
        format!("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Signature={sig}"),
        format!(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature={sig}, Signature={sig}"
        ),
        format!("AWS4-HMAC-SHA256 a/b/c/d/aws4_request, SignedHeaders=host, Signature={sig}"),
        format!(
            "AWS4-HMAC-SHA256 Credential=/b/c/d/aws4_request, SignedHeaders=host, Signature={sig}"
        ),
    ] {
        let refused = with_authorization(bad.as_bytes()).unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Incomplete, "{bad}: {refused:?}");
    }
    let not_text = with_authorization(b"AWS4-HMAC-SHA256 \xff").unwrap_err();
    assert_eq!(not_text.kind, RefusalKind::Incomplete);
    let terminator = with_authorization(
        format!(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws5_request, SignedHeaders=host, Signature={sig}"
        )
        .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(terminator.kind, RefusalKind::Invalid);
}

#[test]
fn scope_and_clock_are_checked_with_aws_s_messages() {
    let signed = with_authorization(
        format!(
            "AWS4-HMAC-SHA256 Credential=KSTLAAAAAAAAAAAAAAAA/20261207/eu-central-1/kms/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        )
        .as_bytes(),
    )
    .unwrap();
    let at = signed.signed_at;
    assert_eq!(signed.check("kms", "eu-central-1", at + 15 * 60), Ok(()));
    assert_eq!(signed.check("kms", "eu-central-1", at - 15 * 60), Ok(()));
    let expired = signed
        .check("kms", "eu-central-1", at + 15 * 60 + 1)
        .unwrap_err();
    assert_eq!(expired.kind, RefusalKind::Invalid);
    assert_eq!(
        expired.message,
        "Signature expired: 20261207T120000Z is now earlier than 20261207T120001Z \
         (20261207T121501Z - 15 min.)"
    );
    let future = signed
        .check("kms", "eu-central-1", at - 16 * 60)
        .unwrap_err();
    assert!(
        future.message.starts_with("Signature not yet current"),
        "{future:?}"
    );
    let region = signed.check("kms", "eu-west-1", at).unwrap_err();
    assert!(
        region.message.contains("valid region, not 'eu-central-1'"),
        "{region:?}"
    );
    let service = signed.check("sts", "eu-central-1", at).unwrap_err();
    assert!(
        service.message.contains("correct service: 'sts'"),
        "{service:?}"
    );
    let other_day = Signed {
        date: "20261206".into(),
        ..signed
    };
    let date = other_day.check("kms", "eu-central-1", at).unwrap_err();
    assert!(
        date.message.starts_with("Date in Credential scope"),
        "{date:?}"
    );
}

#[test]
fn the_payload_is_always_signed_and_signed_headers_must_be_there() {
    let signed = with_authorization(
        format!(
            "AWS4-HMAC-SHA256 Credential=K/20261207/r/kms/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-target, Signature={}",
            "0".repeat(64)
        )
        .as_bytes(),
    )
    .unwrap();
    let headers = [
        ("host", &b"h"[..]),
        ("x-amz-date", b"20261207T120000Z"),
        ("x-amz-target", b"  TrentService.Encrypt   x  "),
        ("x-amz-target", b"second"),
    ];
    let request = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
    };
    let canonical = signed.canonical_request(&request, EMPTY_SHA256).unwrap();
    assert!(
        canonical.contains("\nx-amz-target:TrentService.Encrypt x,second\n"),
        "{canonical}"
    );
    let missing = Request {
        headers: &headers[..2],
        ..request
    };
    let refused = signed
        .canonical_request(&missing, EMPTY_SHA256)
        .unwrap_err();
    assert_eq!(refused.kind, RefusalKind::Invalid);
    assert!(refused.message.contains("'x-amz-target'"), "{refused:?}");
    for claimed in [&b"UNSIGNED-PAYLOAD"[..], b"abc"] {
        let mut with = headers.to_vec();
        with.push(("x-amz-content-sha256", claimed));
        let request = Request {
            headers: &with,
            ..request
        };
        let refused = signed
            .canonical_request(&request, EMPTY_SHA256)
            .unwrap_err();
        assert_eq!(refused.kind, RefusalKind::Invalid);
    }
    let mut with = headers.to_vec();
    with.push(("x-amz-content-sha256", EMPTY_SHA256.as_bytes()));
    let request = Request {
        headers: &with,
        ..request
    };
    assert!(signed.canonical_request(&request, EMPTY_SHA256).is_ok());
}

#[test]
fn canonical_queries_are_decoded_re_encoded_and_sorted() {
    assert_eq!(
        canonical_query("b=2&a=%7e x&a=1&c&d=%2f+%2B", None).unwrap(),
        "a=1&a=~%20x&b=2&c=&d=%2F%20%2B"
    );
    assert_eq!(
        canonical_query("X-Amz-Signature=1&z=%C3%A9", Some("X-Amz-Signature")).unwrap(),
        "z=%C3%A9"
    );
    assert!(canonical_query("a=%zz", None).is_err());
    assert!(canonical_query("a=%ff", None).is_err(), "not UTF-8");
    assert_eq!(canonical_query("", None).unwrap(), "");
}

#[test]
fn amz_dates_are_read_and_written_exactly() {
    for (text, unix) in [
        ("19700101T000000Z", 0),
        ("20150830T123600Z", 1_440_938_160),
        ("20240229T235959Z", 1_709_251_199),
        ("20000301T000000Z", 951_868_800),
    ] {
        assert_eq!(parse_amz_date(text), Some(unix), "{text}");
        assert_eq!(amz_date(unix), text);
    }
    assert_eq!(amz_date(i64::MIN), "00000101T000000Z");
    assert_eq!(amz_date(i64::MAX), "99991231T235959Z");
    assert_eq!(parse_amz_date("00000101T000000Z"), Some(-62_167_219_200));
    assert_eq!(parse_amz_date("99991231T235959Z"), Some(253_402_300_799));
    for bad in [
        "20230229T000000Z",
        "20261207T240000Z",
        "20261207T120000",
        "2026-12-07T12:00:00Z",
        "2026120\u{e9}T12000Z",
        "+0261207T120000Z",
        "",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn each_refusal_has_kms_s_and_sts_s_name() {
    use RefusalKind as K;
    assert_eq!(K::UnknownKey.kms().name(), "UnrecognizedClientException");
    assert_eq!(K::UnknownKey.sts(), ("InvalidClientTokenId", 403));
    assert_eq!(K::Invalid.kms().name(), "InvalidSignatureException");
    assert_eq!(K::Invalid.sts(), ("SignatureDoesNotMatch", 403));
    assert_eq!(K::Incomplete.kms().name(), "IncompleteSignatureException");
    assert_eq!(K::Incomplete.sts().0, "IncompleteSignature");
    assert_eq!(
        K::Missing.kms().name(),
        "MissingAuthenticationTokenException"
    );
    assert_eq!(K::Denied.kms().name(), "AccessDeniedException");
}
