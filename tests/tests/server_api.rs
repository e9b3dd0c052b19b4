//! The HTTPS API end to end on a real `kastell serve` (soft token): every class of error
//! with its status, name and JSON body; policies, rotation and signatures through the API;
//! the OpenAPI document and metrics; a restart that keeps every kind of state; and a
//! bounded concurrent load after which the audit trail still verifies.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::Instant;

use base64::Engine as _;
use kastell::client::{Client, RemoteError, segment};
use kastell_tests::server::{RawResponse, Setup, TestServer, expect_api_error};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// Checks that `response` is the JSON error `status` `name` (exactly `error` and
/// `message`); returns the message.
#[track_caller]
fn expect_error(response: &RawResponse, status: u16, name: &str) -> String {
    let (error, message) = response
        .error()
        .unwrap_or_else(|e| panic!("expected {status} {name}: {e}"));
    assert_eq!(
        (response.status, error.as_str()),
        (status, name),
        "{message}"
    );
    message
}

fn create_key(officer: &Client, body: &Value) -> String {
    let key: Value = officer.post("/v1/keys", body).expect("key created");
    key["id"].as_str().expect("key id").to_owned()
}

fn encrypt(user: &Client, key: &str, plaintext: &[u8], context: &Value) -> String {
    let out: Value = user
        .post(
            &format!("/v1/keys/{}/encrypt", segment(key)),
            &json!({ "plaintext": b64(plaintext), "context": context }),
        )
        .expect("encrypted");
    out["ciphertext"].as_str().expect("ciphertext").to_owned()
}

fn decrypt(user: &Client, ciphertext: &str, context: &Value) -> Result<Vec<u8>, RemoteError> {
    let out: Value = user.post(
        "/v1/decrypt",
        &json!({ "ciphertext": ciphertext, "context": context }),
    )?;
    Ok(unb64(&out["plaintext"]))
}

fn upload_policy(officer: &Client, name: &str) -> String {
    kastell_tests::vault::push(officer, "/v1/policies", kastell_tests::guest(name))
        .expect("policy stored")
}

fn verify_audit(auditor: &Client) -> Value {
    let report: Value = auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("audit verified");
    assert_eq!(report["intact"], true, "{report}");
    report
}

/// Every audit record, a page at a time.
fn audit_records(auditor: &Client) -> Vec<Value> {
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = auditor
            .get(&format!("/v1/audit?after={after}&limit=1000"))
            .expect("audit page");
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next"].as_u64() {
            Some(next) => after = next,
            None => return records,
        }
    }
}

/// The value of the metric line that starts with `prefix` (name and labels).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no metric `{prefix}` in:\n{text}"))
}

#[test]
fn malformed_requests_get_a_json_error_of_their_class() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256" }));
    let user_profile = server
        .issue_client("svc", "crypto-user", None)
        .expect("user");
    let raw = server.raw(&user_profile).unwrap();
    let encrypt_path = format!("/v1/keys/{key}/encrypt");
    let post = |content_type: Option<&str>, body: &str| {
        let mut request = raw.request(Method::POST, &encrypt_path);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        raw.send(request.body(body.to_owned())).unwrap()
    };
    let json_type = Some("application/json");

    // The body is the right shape: the request succeeds (so the errors below are the body's).
    let fine = post(json_type, r#"{"plaintext":"aGVsbG8="}"#);
    assert_eq!(fine.status, 200, "{}", fine.text());

    expect_error(&post(json_type, r#"{"plaintext": "#), 400, "MalformedJson");
    expect_error(&post(json_type, "not json at all"), 400, "MalformedJson");
    let unknown = expect_error(
        &post(json_type, r#"{"plaintext":"aGVsbG8=","plaintxt":"x"}"#),
        422,
        "InvalidRequest",
    );
    assert!(unknown.contains("plaintxt"), "{unknown}");
    expect_error(
        &post(json_type, r#"{"plaintext":5}"#),
        422,
        "InvalidRequest",
    );
    expect_error(&post(json_type, r"{}"), 422, "InvalidRequest");
    expect_error(
        &post(None, r#"{"plaintext":"aGVsbG8="}"#),
        415,
        "UnsupportedMediaType",
    );
    expect_error(
        &post(Some("text/plain"), r#"{"plaintext":"aGVsbG8="}"#),
        415,
        "UnsupportedMediaType",
    );
    let base64 = expect_error(
        &post(json_type, r#"{"plaintext":"not base64!"}"#),
        400,
        "InvalidBase64",
    );
    assert!(base64.contains("plaintext"), "names the field: {base64}");

    // Routes and methods the API does not have.
    let nowhere = raw.send(raw.request(Method::GET, "/v1/nowhere")).unwrap();
    expect_error(&nowhere, 404, "NotFound");
    let delete = raw.send(raw.request(Method::DELETE, "/v1/keys")).unwrap();
    expect_error(&delete, 405, "MethodNotAllowed");
    let get_decrypt = raw.send(raw.request(Method::GET, "/v1/decrypt")).unwrap();
    expect_error(&get_decrypt, 405, "MethodNotAllowed");

    // Bad query parameters and key specs.
    let limit = raw
        .send(raw.request(Method::GET, "/v1/keys?limit=lots"))
        .unwrap();
    expect_error(&limit, 400, "InvalidInput");
    let officer_raw = server.raw(&server.officer()).unwrap();
    let spec = officer_raw
        .json(Method::POST, "/v1/keys", &json!({ "spec": "DES" }))
        .unwrap();
    let message = expect_error(&spec, 400, "InvalidInput");
    assert!(message.contains("AES_256"), "{message}");
}

#[test]
fn a_body_over_the_configured_limit_is_refused_with_413() {
    let server = TestServer::start(&Setup::soft().body_limit(4096)).expect("server starts");
    let config = std::fs::read_to_string(server.deployment().config()).unwrap();
    assert!(config.contains("body_limit = 4096"), "{config}");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256" }));
    let user_profile = server
        .issue_client("svc", "crypto-user", None)
        .expect("user");
    let raw = server.raw(&user_profile).unwrap();
    let path = format!("/v1/keys/{key}/encrypt");

    // 2 KiB of plaintext is about 2.7 KiB of JSON: under the limit.
    let small = raw
        .json(
            Method::POST,
            &path,
            &json!({ "plaintext": b64(&[7; 2048]) }),
        )
        .unwrap();
    assert_eq!(small.status, 200, "{}", small.text());
    let large = raw
        .json(
            Method::POST,
            &path,
            &json!({ "plaintext": b64(&[7; 8192]) }),
        )
        .unwrap();
    expect_error(&large, 413, "PayloadTooLarge");

    // Policy uploads (raw bytes, not JSON) have the same limit.
    let officer_raw = server.raw(&server.officer()).unwrap();
    let upload = officer_raw
        .send(
            officer_raw
                .request(Method::POST, "/v1/policies")
                .header(CONTENT_TYPE, "application/wasm")
                .body(vec![0u8; 16 * 1024]),
        )
        .unwrap();
    expect_error(&upload, 413, "PayloadTooLarge");
}

#[test]
fn key_state_usage_and_ciphertext_errors_have_their_own_names() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let aes = create_key(&officer, &json!({ "spec": "AES_256" }));
    let ec = create_key(&officer, &json!({ "spec": "ECC_NIST_P384" }));
    let user_profile = server
        .issue_client("svc", "crypto-user", None)
        .expect("user");
    let user = server.client(&user_profile).unwrap();
    let raw = server.raw(&user_profile).unwrap();
    let none = json!({});

    // Unknown keys, by id and by alias.
    let unknown = "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c";
    let response = raw
        .json(
            Method::POST,
            &format!("/v1/keys/{unknown}/encrypt"),
            &json!({ "plaintext": "aGk=" }),
        )
        .unwrap();
    expect_error(&response, 404, "NotFound");
    expect_api_error(
        officer.get::<Value>(&format!("/v1/keys/{}", segment("alias/nothing"))),
        404,
        "NotFound",
    );

    // Wrong usage: an ECC key does not encrypt, an AES key does not sign.
    let response = raw
        .json(
            Method::POST,
            &format!("/v1/keys/{ec}/encrypt"),
            &json!({ "plaintext": "aGk=" }),
        )
        .unwrap();
    expect_error(&response, 400, "InvalidKeyUsage");
    expect_api_error(
        user.post::<Value>(
            &format!("/v1/keys/{aes}/sign"),
            &json!({ "message": "aGk=" }),
        ),
        400,
        "InvalidKeyUsage",
    );

    // A tampered ciphertext: one bit of the GCM output, one of the header's key id.
    let ciphertext = encrypt(&user, &aes, b"attack at dawn", &none);
    let bytes = unb64(&json!(ciphertext));
    let mut last = bytes.clone();
    *last.last_mut().unwrap() ^= 1;
    let response = raw
        .json(
            Method::POST,
            "/v1/decrypt",
            &json!({ "ciphertext": b64(&last) }),
        )
        .unwrap();
    let message = expect_error(&response, 400, "InvalidCiphertext");
    assert!(!message.contains("tag"), "no detail leaks: {message}");
    let truncated = raw
        .json(
            Method::POST,
            "/v1/decrypt",
            &json!({ "ciphertext": b64(&bytes[..5]) }),
        )
        .unwrap();
    expect_error(&truncated, 400, "InvalidCiphertext");
    // The right ciphertext under the wrong context fails the same way.
    expect_api_error(
        decrypt(&user, &ciphertext, &json!({ "tenant": "acme" })),
        400,
        "InvalidCiphertext",
    );
    assert_eq!(
        decrypt(&user, &ciphertext, &none).unwrap(),
        b"attack at dawn"
    );

    // A disabled key refuses every use with 409 Disabled, until enabled again.
    let _: Value = officer
        .post(&format!("/v1/keys/{aes}/disable"), &none)
        .unwrap();
    let response = raw
        .json(
            Method::POST,
            &format!("/v1/keys/{aes}/encrypt"),
            &json!({ "plaintext": "aGk=" }),
        )
        .unwrap();
    expect_error(&response, 409, "Disabled");
    expect_api_error(decrypt(&user, &ciphertext, &none), 409, "Disabled");
    let _: Value = officer
        .post(&format!("/v1/keys/{aes}/enable"), &none)
        .unwrap();
    assert_eq!(
        decrypt(&user, &ciphertext, &none).unwrap(),
        b"attack at dawn"
    );

    // A key pending deletion: 409 InvalidState.
    let _: Value = officer
        .post(
            &format!("/v1/keys/{aes}/schedule-deletion"),
            &json!({ "days": 7 }),
        )
        .unwrap();
    expect_api_error(decrypt(&user, &ciphertext, &none), 409, "InvalidState");
    expect_api_error(
        officer.post::<Value>(
            &format!("/v1/keys/{aes}/schedule-deletion"),
            &json!({ "days": 3 }),
        ),
        400,
        "InvalidInput",
    );
}

#[test]
fn an_invalid_policy_is_refused_with_the_validation_message() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.raw(&server.officer()).unwrap();
    let upload = |content_type: &str, body: Vec<u8>| {
        officer
            .send(
                officer
                    .request(Method::POST, "/v1/policies")
                    .header(CONTENT_TYPE, content_type)
                    .body(body),
            )
            .unwrap()
    };
    let random = expect_error(
        &upload("application/wasm", b"these are not the bytes".to_vec()),
        400,
        "InvalidPolicy",
    );
    assert!(random.contains("not a WebAssembly binary"), "{random}");
    let core = wat::parse_str("(module (func (export \"f\")))").unwrap();
    let message = expect_error(&upload("application/wasm", core), 400, "InvalidPolicy");
    assert!(message.contains("core WebAssembly module"), "{message}");
    expect_error(
        &upload(
            "application/octet-stream",
            kastell_tests::guest("tenant-context"),
        ),
        415,
        "UnsupportedMediaType",
    );
    // Nothing was stored.
    let list = officer
        .send(officer.request(Method::GET, "/v1/policies"))
        .unwrap();
    assert_eq!(list.json().unwrap()["policies"], json!([]));
    // A malformed measurement, and one that is not stored.
    let malformed = officer
        .send(officer.request(Method::GET, "/v1/policies/md5:abc"))
        .unwrap();
    expect_error(&malformed, 400, "InvalidInput");
    let absent = format!("/v1/policies/sha384:{}", "ab".repeat(48));
    let absent = officer.send(officer.request(Method::GET, &absent)).unwrap();
    expect_error(&absent, 404, "NotFound");
}

#[test]
fn tenant_context_policy_admits_its_tenant_and_refuses_another() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let measurement = upload_policy(&officer, "tenant-context");
    // Uploading the same component again names the same measurement.
    assert_eq!(upload_policy(&officer, "tenant-context"), measurement);
    let policy = officer
        .get_bytes(&format!("/v1/policies/{measurement}"))
        .unwrap();
    assert_eq!(policy, kastell_tests::guest("tenant-context"));
    let key = create_key(
        &officer,
        &json!({ "spec": "AES_256", "alias": "alias/acme-data", "policy": measurement }),
    );
    let acme = server
        .client(
            &server
                .issue_client("svc-acme", "crypto-user", Some("acme"))
                .unwrap(),
        )
        .unwrap();
    let other = server
        .client(
            &server
                .issue_client("svc-other", "crypto-user", Some("other"))
                .unwrap(),
        )
        .unwrap();
    let auditor = server
        .client(&server.issue_client("audit", "auditor", None).unwrap())
        .unwrap();

    let acme_context = json!({ "tenant": "acme" });
    let ciphertext = encrypt(&acme, "alias/acme-data", b"acme ledger", &acme_context);
    assert_eq!(
        decrypt(&acme, &ciphertext, &acme_context).unwrap(),
        b"acme ledger"
    );
    let data_key: Value = acme
        .post(
            &format!("/v1/keys/{key}/generate-data-key"),
            &json!({ "context": acme_context }),
        )
        .unwrap();
    assert_eq!(unb64(&data_key["plaintext"]).len(), 32);

    // Another tenant's user, with acme's context or its own.
    expect_api_error(
        decrypt(&other, &ciphertext, &acme_context),
        403,
        "AccessDenied",
    );
    // With its own tenant in the context the policy lets it try, but the ciphertext is
    // bound to acme's context.
    expect_api_error(
        decrypt(&other, &ciphertext, &json!({ "tenant": "other" })),
        400,
        "InvalidCiphertext",
    );
    // The policy permits encryption operations only, and needs a tenant in the context.
    expect_api_error(
        acme.post::<Value>(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": "aGk=" }),
        ),
        403,
        "AccessDenied",
    );

    // The audit trail says why (the client only learns "AccessDenied").
    let records = audit_records(&auditor);
    let reasons: Vec<&str> = records
        .iter()
        .filter(|r| r["principal"] == "svc-other" && r["outcome"] == "denied")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("tenant in context differs")),
        "{reasons:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["principal"] == "svc-acme" && r["policy"] == measurement.as_str()),
        "records name the policy that decided"
    );

    // Policy evaluations and requests are counted.
    let metrics = acme.get_text("/metrics").unwrap();
    assert!(
        metric(&metrics, "kastell_policy_evaluation_duration_seconds_count") >= 5.0,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "kastell_requests_total{operation=\"POST /v1/decrypt\",status=\"403\"}"
        ) >= 1.0,
        "{metrics}"
    );
}

#[test]
fn rotation_keeps_old_ciphertexts_decryptable() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256", "alias": "alias/r" }));
    let user = server
        .client(&server.issue_client("svc", "crypto-user", None).unwrap())
        .unwrap();
    let none = json!({});
    let old = encrypt(&user, &key, b"version one", &none);
    let rotated: Value = officer
        .post(&format!("/v1/keys/{}/rotate", segment("alias/r")), &none)
        .unwrap();
    assert_eq!(rotated["current_version"], 2, "{rotated}");
    assert_eq!(rotated["versions"].as_array().unwrap().len(), 2);
    let new = encrypt(&user, &key, b"version two", &none);
    assert_ne!(old, new);
    assert_eq!(decrypt(&user, &old, &none).unwrap(), b"version one");
    assert_eq!(decrypt(&user, &new, &none).unwrap(), b"version two");

    // Re-encrypt moves the old ciphertext to the current version; then version 1 retires.
    let moved: Value = user
        .post(
            "/v1/re-encrypt",
            &json!({ "ciphertext": old, "destination": key }),
        )
        .unwrap();
    let moved = moved["ciphertext"].as_str().unwrap().to_owned();
    let _: Value = officer
        .put(
            &format!("/v1/keys/{key}/min-decryption-version"),
            &json!({ "version": 2 }),
        )
        .unwrap();
    assert_eq!(decrypt(&user, &moved, &none).unwrap(), b"version one");
    let refused = decrypt(&user, &old, &none);
    assert!(
        matches!(refused, Err(RemoteError::Api { status: 400.., .. })),
        "version 1 is retired: {refused:?}"
    );
}

#[test]
fn signatures_verify_with_p384_against_the_served_public_key() {
    use p384::ecdsa::signature::Verifier as _;
    use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p384::ecdsa::{Signature, VerifyingKey};
    use p384::pkcs8::DecodePublicKey as _;
    use sha2::Digest as _;

    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(&officer, &json!({ "spec": "ECC_NIST_P384" }));
    let user = server
        .client(&server.issue_client("signer", "crypto-user", None).unwrap())
        .unwrap();
    let message = b"pay 100 EUR to DE89 3704 0044 0532 0130 00";

    let public: Value = user.get(&format!("/v1/keys/{key}/public-key")).unwrap();
    let verifying = VerifyingKey::from_public_key_der(&unb64(&public["spki"])).unwrap();
    let from_pem = VerifyingKey::from_public_key_pem(public["pem"].as_str().unwrap()).unwrap();
    assert_eq!(verifying, from_pem);

    let signed: Value = user
        .post(
            &format!("/v1/keys/{key}/sign"),
            &json!({ "message": b64(message) }),
        )
        .unwrap();
    assert_eq!(signed["key_id"], key.as_str());
    assert_eq!(signed["version"], 1);
    let der = unb64(&signed["signature"]);
    let signature = Signature::from_der(&der).expect("a DER ECDSA signature");
    verifying
        .verify(message, &signature)
        .expect("p384 verifies the server's signature");
    assert!(verifying.verify(b"pay 1000 EUR", &signature).is_err());

    // Signing a SHA-384 digest gives a signature over the same message.
    let digest = sha2::Sha384::digest(message);
    let signed: Value = user
        .post(
            &format!("/v1/keys/{key}/sign"),
            &json!({ "digest": b64(&digest) }),
        )
        .unwrap();
    let signature = Signature::from_der(&unb64(&signed["signature"])).unwrap();
    verifying.verify_prehash(&digest, &signature).unwrap();
    verifying.verify(message, &signature).unwrap();

    // The server's verify agrees, and refuses a changed message.
    let check = |message: &[u8]| -> bool {
        let out: Value = user
            .post(
                &format!("/v1/keys/{key}/verify"),
                &json!({ "message": b64(message), "signature": b64(&der) }),
            )
            .unwrap();
        out["valid"].as_bool().unwrap()
    };
    assert!(check(message));
    assert!(!check(b"pay 1000 EUR"));
    expect_api_error(
        user.post::<Value>(
            &format!("/v1/keys/{key}/sign"),
            &json!({ "message": "aGk=", "digest": b64(&digest) }),
        ),
        400,
        "InvalidInput",
    );
}

#[test]
fn openapi_document_lists_the_routes_and_metrics_are_prometheus_text() {
    let server = TestServer::start_soft().expect("server starts");
    let auditor = server
        .client(&server.issue_client("audit", "auditor", None).unwrap())
        .unwrap();
    let document: Value = auditor.get("/v1/openapi.json").unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/v1/keys",
        "/v1/keys/{key}/encrypt",
        "/v1/decrypt",
        "/v1/policies",
        "/v1/audit/verify",
        "/v1/workloads",
        "/v1/workloads/{measurement}/invoke",
        "/v1/keys/{key}/release/challenge",
        "/v1/keys/{key}/release",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} not in {:?}", paths.keys());
    }
    assert!(paths["/v1/keys/{key}/encrypt"]["post"].is_object());

    let metrics = auditor.get_text("/metrics").unwrap();
    assert!(metrics.contains("kastell_requests_total"), "{metrics}");
    assert!(
        metrics.contains("kastell_policy_evaluation_duration_seconds"),
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "kastell_requests_total{operation=\"GET /v1/openapi.json\",status=\"200\"}"
        ) >= 1.0,
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "OpenMetrics text");
}

#[test]
fn a_restart_keeps_keys_aliases_policies_audit_and_ciphertexts() {
    let mut server = TestServer::start_soft().expect("server starts");
    let user_profile = server
        .issue_client("svc-acme", "crypto-user", Some("acme"))
        .unwrap();
    let auditor_profile = server.issue_client("audit", "auditor", None).unwrap();
    let (measurement, aes, ec, ciphertext, signature, spki_before, records_before, report_before) = {
        let officer = server.client(&server.officer()).unwrap();
        let user = server.client(&user_profile).unwrap();
        let auditor = server.client(&auditor_profile).unwrap();
        let measurement = upload_policy(&officer, "tenant-context");
        let aes = create_key(
            &officer,
            &json!({ "spec": "AES_256", "alias": "alias/keep", "policy": measurement,
                     "tags": { "owner": "acme" }, "description": "kept" }),
        );
        let ec = create_key(
            &officer,
            &json!({ "spec": "ECC_NIST_P384", "alias": "alias/signer" }),
        );
        let ciphertext = encrypt(
            &user,
            "alias/keep",
            b"survives",
            &json!({ "tenant": "acme" }),
        );
        let signed: Value = user
            .post(
                &format!("/v1/keys/{ec}/sign"),
                &json!({ "message": b64(b"signed before") }),
            )
            .unwrap();
        let public: Value = user.get(&format!("/v1/keys/{ec}/public-key")).unwrap();
        let report = verify_audit(&auditor);
        let records = audit_records(&auditor);
        (
            measurement,
            aes,
            ec,
            ciphertext,
            signed["signature"].as_str().unwrap().to_owned(),
            public["spki"].clone(),
            records,
            report,
        )
    };
    let url_before = server.url().to_owned();

    server
        .restart()
        .expect("the server stops gracefully and starts again");

    // Clients made now read the profiles the restart pointed at the new port.
    let officer = server.client(&server.officer()).unwrap();
    let user = server.client(&user_profile).unwrap();
    let auditor = server.client(&auditor_profile).unwrap();
    if server.url() != url_before {
        let stale = kastell_core::clients::ClientProfile {
            server: url_before,
            ..kastell_core::clients::ClientProfile::load(&user_profile).unwrap()
        };
        assert!(
            Client::new(&stale)
                .unwrap()
                .get::<Value>("/v1/keys")
                .is_err()
        );
    }

    let kept: Value = officer
        .get(&format!("/v1/keys/{}", segment("alias/keep")))
        .unwrap();
    assert_eq!(kept["id"], aes.as_str());
    assert_eq!(kept["policy"], measurement.as_str());
    assert_eq!(kept["tags"], json!({ "owner": "acme" }));
    assert_eq!(kept["description"], "kept");
    let signer: Value = officer
        .get(&format!("/v1/keys/{}", segment("alias/signer")))
        .unwrap();
    assert_eq!(signer["id"], ec.as_str());
    let policies: Value = officer.get("/v1/policies").unwrap();
    assert_eq!(policies["policies"], json!([measurement]));

    assert_eq!(
        decrypt(&user, &ciphertext, &json!({ "tenant": "acme" })).unwrap(),
        b"survives"
    );
    let verified: Value = user
        .post(
            &format!("/v1/keys/{ec}/verify"),
            &json!({ "message": b64(b"signed before"), "signature": signature }),
        )
        .unwrap();
    assert_eq!(verified["valid"], true);
    let public: Value = user.get(&format!("/v1/keys/{ec}/public-key")).unwrap();
    assert_eq!(public["spki"], spki_before);

    // The audit trail: the same records, more after them, and intact.
    let report = verify_audit(&auditor);
    assert!(
        report["records"].as_u64().unwrap() > report_before["records"].as_u64().unwrap(),
        "before {report_before}, after {report}"
    );
    let records = audit_records(&auditor);
    assert_eq!(records[..records_before.len()], records_before[..]);
    assert!(records.len() > records_before.len());
}

#[test]
fn bounded_concurrent_load_has_no_errors_and_a_verifiable_trail() {
    const THREADS: usize = 16;
    const REQUESTS: usize = 2_000;
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(
        &officer,
        &json!({ "spec": "AES_256", "alias": "alias/load" }),
    );
    let user_profile = server.issue_client("load", "crypto-user", None).unwrap();
    let auditor = server
        .client(&server.issue_client("audit", "auditor", None).unwrap())
        .unwrap();
    let before = verify_audit(&auditor)["records"].as_u64().unwrap();

    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let client = server.client(&user_profile).unwrap();
                let path = format!("/v1/keys/{key}/encrypt");
                scope.spawn(move || {
                    let body = json!({ "plaintext": b64(&[0x5a; 64]) });
                    let mut failures = Vec::new();
                    for _ in 0..REQUESTS {
                        if let Err(e) = client.post::<Value>(&path, &body) {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{THREADS} × {REQUESTS} encrypt requests in {elapsed:.1?} ({:.0}/s)",
        (THREADS * REQUESTS) as f64 / elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );

    let verify_started = Instant::now();
    let report = verify_audit(&auditor);
    eprintln!("audit verify in {:.1?}: {report}", verify_started.elapsed());
    let after = report["records"].as_u64().unwrap();
    assert!(
        after >= before + (THREADS * REQUESTS) as u64,
        "{before} records before, {after} after"
    );
}

#[test]
fn a_graceful_stop_under_load_loses_no_acknowledged_operation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const THREADS: usize = 4;
    let mut server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let key = create_key(&officer, &json!({ "spec": "AES_256" }));
    let user_profile = server.issue_client("load", "crypto-user", None).unwrap();
    let auditor_profile = server.issue_client("audit", "auditor", None).unwrap();
    let clients: Vec<Client> = (0..THREADS)
        .map(|_| server.client(&user_profile).unwrap())
        .collect();
    let done = AtomicBool::new(false);

    // Clients encrypt until told to stop; SIGTERM arrives while they do.
    let (acknowledged, failures) = std::thread::scope(|scope| {
        let workers: Vec<_> = clients
            .into_iter()
            .map(|client| {
                let (path, done) = (format!("/v1/keys/{key}/encrypt"), &done);
                scope.spawn(move || {
                    let body = json!({ "plaintext": b64(&[1; 64]) });
                    let (mut ok, mut failures) = (0u64, Vec::new());
                    while !done.load(Ordering::Relaxed) {
                        match client.post::<Value>(&path, &body) {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                failures.push(e);
                                std::thread::sleep(std::time::Duration::from_millis(20));
                            }
                        }
                    }
                    (ok, failures)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let restarted = server.restart();
        done.store(true, Ordering::Relaxed);
        restarted.expect("the server stops gracefully under load and starts again");
        workers.into_iter().map(|w| w.join().expect("worker")).fold(
            (0, Vec::new()),
            |(ok, mut all), (n, failures)| {
                all.extend(failures);
                (ok + n, all)
            },
        )
    });
    assert!(acknowledged > 0, "the load ran before the stop");
    // Requests after the stop fail to connect; none gets an error answer.
    let answered: Vec<_> = failures
        .iter()
        .filter(|e| matches!(e, RemoteError::Api { .. }))
        .collect();
    assert!(answered.is_empty(), "{answered:?}");

    let auditor = server.client(&auditor_profile).unwrap();
    verify_audit(&auditor);
    let recorded = audit_records(&auditor)
        .iter()
        .filter(|r| r["principal"] == "load" && r["operation"] == "encrypt")
        .filter(|r| r["outcome"] == "allowed")
        .count() as u64;
    assert!(
        recorded >= acknowledged,
        "{acknowledged} encryptions acknowledged, {recorded} audited"
    );
}

/// Server bug: a path parameter whose percent-encoding is not UTF-8 is refused by axum's
/// `Path` extractor with `400 text/plain` ("Invalid URL: Invalid UTF-8 in `key`"), not the
/// API's JSON error.
#[test]
fn a_path_parameter_that_is_not_utf8_gets_a_json_error() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.raw(&server.officer()).unwrap();
    for (method, path) in [
        (Method::GET, "/v1/keys/%FF"),
        (Method::POST, "/v1/keys/%FF/rotate"),
        (Method::GET, "/v1/policies/%FF"),
    ] {
        let response = officer.send(officer.request(method.clone(), path)).unwrap();
        expect_error(&response, 400, "InvalidInput");
    }
}

/// Server bug: creating a key under an alias that already names another key is a client
/// error, but the store's refusal reaches the API as `500 Internal`.
#[test]
fn creating_a_key_under_an_alias_in_use_is_a_client_error() {
    let server = TestServer::start_soft().expect("server starts");
    let officer = server.raw(&server.officer()).unwrap();
    let body = json!({ "spec": "AES_256", "alias": "alias/taken" });
    let first = officer.json(Method::POST, "/v1/keys", &body).unwrap();
    assert_eq!(first.status, 201, "{}", first.text());
    let second = officer.json(Method::POST, "/v1/keys", &body).unwrap();
    let (name, message) = second.error().unwrap();
    assert!(
        matches!(second.status, 400 | 409) && name != "Internal",
        "expected 409 (or 400) naming the alias, got {} {name}: {message}",
        second.status
    );
    assert!(message.contains("alias/taken"), "{message}");
    // Nothing was created.
    let keys = officer
        .send(officer.request(Method::GET, "/v1/keys"))
        .unwrap();
    assert_eq!(keys.json().unwrap()["keys"].as_array().unwrap().len(), 1);
}
