//! The three example policies in `examples/`, built to `.wasm`, decide as documented; so do
//! the re-encrypt fixtures `write-only` (contract 0.2.0) and `legacy-write-only` (0.1.0).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{Operation, Role};
use std::sync::OnceLock;

use kastell_attest::Measurement;
use kastell_core::sandbox::{DenyCause, Evidence, PolicyRequest, Sandbox, SandboxLimits, Verdict};
use kastell_tests::{guest, request, tenant_request};

/// One sandbox for the file: each policy is compiled once and cached by its SHA-384.
fn evaluate(policy: &str, request: &PolicyRequest) -> Verdict {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    let sandbox = SANDBOX.get_or_init(|| Sandbox::new(SandboxLimits::default()).expect("sandbox"));
    let policy = sandbox.load_policy(&guest(policy)).expect("policy loads");
    sandbox.evaluate(&policy, request).verdict
}

fn denied_because(verdict: &Verdict, words: &str) -> bool {
    matches!(verdict, Verdict::Deny(DenyCause::Policy(reason)) if reason.contains(words))
}

const NOW: u64 = 1_764_064_800; // 2025-11-25T10:00:00Z, a Tuesday

#[test]
fn tenant_context_allows_only_matching_tenant_for_crypto_users_encrypting_or_decrypting() {
    assert_eq!(
        evaluate("tenant-context", &tenant_request("acme")),
        Verdict::Allow
    );
    assert!(denied_because(
        &evaluate("tenant-context", &tenant_request("globex")),
        "differs"
    ));
    let officer = request(
        Operation::Decrypt,
        ("admin", &[Role::CryptoOfficer], Some("acme")),
        &[],
        &[("tenant", "acme")],
        NOW,
    );
    assert!(denied_because(
        &evaluate("tenant-context", &officer),
        "crypto-user"
    ));
    let no_context = request(
        Operation::Decrypt,
        ("svc", &[Role::CryptoUser], Some("acme")),
        &[],
        &[],
        NOW,
    );
    assert!(denied_because(
        &evaluate("tenant-context", &no_context),
        "no tenant"
    ));
    let encrypt = request(
        Operation::Encrypt,
        ("svc", &[Role::CryptoUser], Some("acme")),
        &[],
        &[("tenant", "acme")],
        NOW,
    );
    assert_eq!(evaluate("tenant-context", &encrypt), Verdict::Allow);
    let sign = request(
        Operation::Sign,
        ("svc", &[Role::CryptoUser], Some("acme")),
        &[],
        &[("tenant", "acme")],
        NOW,
    );
    assert!(denied_because(
        &evaluate("tenant-context", &sign),
        "only encryption operations"
    ));
}

fn attested(
    operation: Operation,
    guest_bytes: &[u8],
    allowed: &str,
    not_after: u64,
) -> PolicyRequest {
    let mut req = request(
        operation,
        ("enclave-svc", &[Role::CryptoUser], None),
        &[("allowed-guests", allowed)],
        &[],
        NOW,
    );
    req.evidence = Some(Evidence {
        guest_sha384: Measurement::of(guest_bytes),
        policy_sha384: None,
        issuer: "CN=Kastell host CA, O=Example GmbH, C=DE".to_owned(),
        not_after,
        pcrs: std::collections::BTreeMap::new(),
    });
    req
}

#[test]
fn allow_measured_releases_only_to_listed_unexpired_guests() {
    let listed = Measurement::of(b"good guest").to_string();
    let allow_list = format!("sha384:{}, {listed}", "ab".repeat(48));
    for op in [Operation::Release, Operation::Decrypt] {
        let req = attested(op, b"good guest", &allow_list, NOW + 300);
        assert_eq!(evaluate("allow-measured", &req), Verdict::Allow, "{op:?}");
    }
    let other = attested(Operation::Release, b"evil guest", &allow_list, NOW + 300);
    assert!(denied_because(
        &evaluate("allow-measured", &other),
        "not in the key's allowed-guests"
    ));

    let expired = attested(Operation::Release, b"good guest", &allow_list, NOW - 1);
    assert!(denied_because(
        &evaluate("allow-measured", &expired),
        "no valid attestation"
    ));

    let mut unattested = attested(Operation::Release, b"good guest", &allow_list, NOW + 300);
    unattested.evidence = None;
    assert!(denied_because(
        &evaluate("allow-measured", &unattested),
        "no valid attestation"
    ));

    let sign = attested(Operation::Sign, b"good guest", &allow_list, NOW + 300);
    assert!(denied_because(
        &evaluate("allow-measured", &sign),
        "only release and decrypt"
    ));

    // Encryption reveals nothing: any caller may encrypt, attested or not.
    let mut encrypt = attested(Operation::Encrypt, b"evil guest", &allow_list, NOW + 300);
    assert_eq!(evaluate("allow-measured", &encrypt), Verdict::Allow);
    encrypt.evidence = None;
    assert_eq!(evaluate("allow-measured", &encrypt), Verdict::Allow);
}

fn sign_at(time: u64, tags: &[(&str, &str)]) -> PolicyRequest {
    request(
        Operation::Sign,
        ("signer", &[Role::CryptoUser], None),
        tags,
        &[],
        time,
    )
}

#[test]
fn office_hours_signs_only_inside_the_tagged_window_and_verifies_any_time() {
    let window = [
        ("office-hours.start", "08:00"),
        ("office-hours.end", "18:00"),
    ];
    let tuesday_10 = NOW;
    let tuesday_07 = NOW - 3 * 3600;
    let tuesday_18 = NOW + 8 * 3600;
    let saturday_10 = NOW + 4 * 86_400;
    assert_eq!(
        evaluate("office-hours", &sign_at(tuesday_10, &window)),
        Verdict::Allow
    );
    assert!(denied_because(
        &evaluate("office-hours", &sign_at(tuesday_07, &window)),
        "outside office hours"
    ));
    assert!(denied_because(
        &evaluate("office-hours", &sign_at(tuesday_18, &window)),
        "outside office hours"
    ));
    assert!(denied_because(
        &evaluate("office-hours", &sign_at(saturday_10, &window)),
        "outside office days"
    ));
    for (operation, verdict) in [
        (Operation::Verify, None),
        (Operation::GetPublicKey, None),
        (Operation::Encrypt, Some("permits only sign, verify")),
    ] {
        let mut at_night = sign_at(tuesday_07, &window);
        at_night.operation = operation;
        match verdict {
            None => assert_eq!(evaluate("office-hours", &at_night), Verdict::Allow),
            Some(words) => assert!(denied_because(&evaluate("office-hours", &at_night), words)),
        }
    }

    let weekend = [
        ("office-hours.start", "08:00"),
        ("office-hours.end", "18:00"),
        ("office-hours.days", "mon-sun"),
    ];
    assert_eq!(
        evaluate("office-hours", &sign_at(saturday_10, &weekend)),
        Verdict::Allow
    );
    assert!(denied_because(
        &evaluate("office-hours", &sign_at(tuesday_10, &[])),
        "lacks valid"
    ));
    let bad = [
        ("office-hours.start", "25:00"),
        ("office-hours.end", "18:00"),
    ];
    assert!(denied_because(
        &evaluate("office-hours", &sign_at(tuesday_10, &bad)),
        "lacks valid"
    ));
}

/// The re-encrypt request of `examples/requests/re-encrypt-from-acme.json` (source side,
/// naming the destination in `other_key`), as `kastell policy eval` reads it.
fn re_encrypt_example() -> PolicyRequest {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/requests/re-encrypt-from-acme.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect("example request")).expect("parses")
}

#[test]
fn tenant_context_allows_re_encrypt_in_both_directions_only_for_the_matching_tenant() {
    let from = re_encrypt_example();
    assert_eq!(from.operation, Operation::ReEncryptFrom);
    assert!(
        from.other_key.is_some(),
        "the request names the destination"
    );
    assert_eq!(evaluate("tenant-context", &from), Verdict::Allow);
    let mut to = from.clone();
    to.operation = Operation::ReEncryptTo;
    assert_eq!(evaluate("tenant-context", &to), Verdict::Allow);
    let mut foreign = from;
    foreign.principal.tenant = Some("globex".to_owned());
    assert!(denied_because(
        &evaluate("tenant-context", &foreign),
        "differs"
    ));
}

/// The write-only fixture (contract 0.2.0) tells the directions apart: ciphertexts may be
/// moved in, never out, and its denial names the destination the request carries.
#[test]
fn a_0_2_0_policy_tells_re_encrypt_from_and_to_apart_and_sees_the_other_key() {
    let mut from = re_encrypt_example();
    assert!(denied_because(
        &evaluate("write-only", &from),
        "re-encrypt-from to 5c1e2f3a-7b4d-4e8f-9a0b-1c2d3e4f5a6b"
    ));
    from.operation = Operation::ReEncryptTo;
    assert_eq!(evaluate("write-only", &from), Verdict::Allow);
    from.other_key = None;
    assert!(denied_because(
        &evaluate("write-only", &from),
        "names no source key"
    ));
    from.operation = Operation::Decrypt;
    assert!(denied_because(
        &evaluate("write-only", &from),
        "decrypt denied"
    ));
}

/// A policy of the old contract (kastell:runtime@0.1.0) that allows `re-encrypt` but
/// denies `decrypt` no longer lets a ciphertext out: for `re-encrypt-from` it is asked
/// `decrypt` too, and its denial says so; `re-encrypt-to` is asked `re-encrypt` as before.
#[test]
fn a_0_1_0_policy_that_denies_decrypt_denies_re_encrypt_from() {
    let sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
    let policy = sandbox
        .load_policy(&guest("legacy-write-only"))
        .expect("a 0.1.0 policy still loads");
    assert_eq!(policy.world(), "kastell:runtime/policy@0.1.0");
    let mut request = re_encrypt_example();
    let from = sandbox.evaluate(&policy, &request);
    assert!(
        denied_because(
            &from.verdict,
            "kastell:runtime@0.1.0 policy asked `decrypt` for `re-encrypt-from`: legacy write-only: decrypt denied"
        ),
        "{:?}",
        from.verdict
    );
    request.operation = Operation::ReEncryptTo;
    assert_eq!(sandbox.evaluate(&policy, &request).verdict, Verdict::Allow);
    request.operation = Operation::Encrypt;
    assert_eq!(sandbox.evaluate(&policy, &request).verdict, Verdict::Allow);
    request.operation = Operation::Decrypt;
    assert!(denied_because(
        &sandbox.evaluate(&policy, &request).verdict,
        "legacy write-only: decrypt denied"
    ));
}

/// The request in `examples/requests/<name>`, as `kastell policy eval` reads it.
fn example_request(name: &str) -> PolicyRequest {
    let path = format!("{}/../examples/requests/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).expect("example request")).expect("parses")
}

/// Issue 17: the request names the algorithm, so a policy allows RSASSA-PSS signatures
/// and refuses PKCS#1 v1.5 ones on the same key; verifying stays open.
#[test]
fn pss_only_allows_rsassa_pss_signatures_and_denies_pkcs1_v1_5_by_name() {
    let pss = example_request("sign-rsa-pss.json");
    assert_eq!(pss.algorithm.as_deref(), Some("RSASSA_PSS_SHA_256"));
    assert_eq!(evaluate("pss-only", &pss), Verdict::Allow);
    let pkcs1 = example_request("sign-rsa-pkcs1.json");
    assert!(denied_because(
        &evaluate("pss-only", &pkcs1),
        "RSASSA-PSS only, not RSASSA_PKCS1_V1_5_SHA_256"
    ));
    let mut verify = pkcs1;
    verify.operation = Operation::Verify;
    assert_eq!(evaluate("pss-only", &verify), Verdict::Allow);
    let mut unnamed = pss;
    unnamed.algorithm = None;
    assert!(denied_because(
        &evaluate("pss-only", &unnamed),
        "names no algorithm"
    ));
}

/// Issue 17: a 0.1.0 policy cannot name the new key specs or operations. The
/// legacy-write-only fixture allows everything but `decrypt`, yet a request on an RSA key,
/// or for derive-shared-secret or a data key pair, is denied without asking it (fail
/// closed), the reason naming what the old contract cannot express; a request it can
/// express is asked as before.
#[test]
fn a_0_1_0_policy_is_denied_fail_closed_for_specs_and_operations_it_cannot_name() {
    let sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
    let policy = sandbox
        .load_policy(&guest("legacy-write-only"))
        .expect("a 0.1.0 policy still loads");
    let rsa = example_request("sign-rsa-pss.json");
    assert!(
        denied_because(
            &sandbox.evaluate(&policy, &rsa).verdict,
            "a kastell:runtime@0.1.0 policy cannot express RSA_3072 keys: denied"
        ),
        "{:?}",
        sandbox.evaluate(&policy, &rsa).verdict
    );
    let mut p384 = example_request("sign-tuesday-10h.json");
    assert_eq!(sandbox.evaluate(&policy, &p384).verdict, Verdict::Allow);
    for operation in [
        Operation::DeriveSharedSecret,
        Operation::GenerateDataKeyPair,
        Operation::GenerateDataKeyPairWithoutPlaintext,
    ] {
        p384.operation = operation;
        assert!(
            denied_because(
                &sandbox.evaluate(&policy, &p384).verdict,
                &format!("cannot express the operation `{operation}`")
            ),
            "{operation}"
        );
    }
}
