//! Workloads and attested key release end to end over TLS on loopback, with the real
//! `record-vault` workload and `allow-measured` policy: the workload attests, the key is
//! released to it and decrypts records encrypted earlier through the API; every way the
//! release must be refused is refused, and the audit trail names the guest of each.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell::client::{Client, RemoteError};
use kastell_tests::guest;
use kastell_tests::server::{TestServer, expect_api_error};
use kastell_tests::vault::{
    self, Vault, attest, b64, challenge, create_key, decrypt_records, encrypt, invoke,
    release_by_certificate, release_by_document, unb64,
};
use serde_json::{Value, json};

struct Fixture {
    server: TestServer,
    officer: Client,
    user: Client,
    auditor: Client,
    vault: Vault,
}

fn fixture() -> Fixture {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    let user = server
        .new_client("svc", "crypto-user", None)
        .expect("user client");
    let auditor = server
        .new_client("audit", "auditor", None)
        .expect("auditor client");
    let vault = Vault::set_up(&officer, guest("record-vault")).expect("vault");
    Fixture {
        server,
        officer,
        user,
        auditor,
        vault,
    }
}

fn challenge_as(client: &Client, key: &str) -> Result<Value, RemoteError> {
    client.post(&format!("/v1/keys/{key}/release/challenge"), &json!({}))
}

fn records(user: &Client, key: &str, plaintexts: &[&str]) -> Value {
    Value::Array(
        plaintexts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let context = json!({"record": i.to_string(), "table": "patients"});
                let ciphertext = encrypt(user, key, text.as_bytes(), &context).expect("encrypt");
                json!({"ciphertext": b64(&ciphertext), "context": context})
            })
            .collect(),
    )
}

fn plaintexts(output: &Value) -> Vec<String> {
    output["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let bytes = unb64(&r["plaintext"]).unwrap_or_else(|_| panic!("record failed: {r}"));
            String::from_utf8(bytes).expect("utf-8")
        })
        .collect()
}

fn audit_records(auditor: &Client) -> Vec<Value> {
    let page: Value = auditor.get("/v1/audit?limit=1000").expect("audit");
    page["records"].as_array().expect("records").clone()
}

#[test]
fn a_released_key_decrypts_records_encrypted_earlier_inside_the_attested_workload() {
    let f = fixture();
    let records = records(&f.user, &f.vault.records_key, &["alice: A+", "bob: 0-"]);

    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let release = release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence)
        .expect("release by certificate");
    assert_eq!(release["guest_sha384"], f.vault.workload.as_str());
    assert_eq!(release["key_id"], f.vault.records_key.as_str());
    assert_eq!(release["kind"], "key");
    let output = decrypt_records(&f.user, &f.vault, &evidence, &nonce, &release, &records)
        .expect("decrypt step");
    assert_eq!(plaintexts(&output), ["alice: A+", "bob: 0-"]);
    assert_eq!(output["variant"], "original");

    // The same flow with the Nitro-format document instead of the certificate.
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let document = evidence["document"].as_str().expect("document").to_owned();
    let release = release_by_document(&f.user, &f.vault.records_key, &nonce, &document)
        .expect("release by document");
    let output = decrypt_records(&f.user, &f.vault, &evidence, &nonce, &release, &records)
        .expect("decrypt step");
    assert_eq!(plaintexts(&output), ["alice: A+", "bob: 0-"]);

    // The audit trail shows both releases, the attestations and the invocations, each with
    // the workload's hash, and the sealing key calls the workload made.
    let trail = audit_records(&f.auditor);
    let with_guest = |operation: &str, outcome: &str| {
        trail
            .iter()
            .filter(|r| {
                r["operation"] == operation
                    && r["outcome"] == outcome
                    && r["guest"] == f.vault.workload.as_str()
            })
            .count()
    };
    assert_eq!(with_guest("release", "allowed"), 2);
    assert_eq!(with_guest("attest", "allowed"), 2);
    assert_eq!(with_guest("workload-invoke", "allowed"), 4);
    assert_eq!(with_guest("encrypt", "allowed"), 2, "state sealed twice");
    assert_eq!(with_guest("decrypt", "allowed"), 2, "state unsealed twice");
    let verified: Value = f
        .auditor
        .post("/v1/audit/verify", &json!({}))
        .expect("verify");
    assert_eq!(verified["intact"], true, "{verified}");
}

#[test]
fn a_modified_build_of_the_workload_is_refused_its_key() {
    let f = fixture();
    let modified = vault::push(&f.officer, "/v1/workloads", guest("record-vault-modified"))
        .expect("push modified");
    assert_ne!(modified, f.vault.workload);
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &modified, &nonce).expect("attest");
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence),
        403,
        "AccessDenied",
    );
    assert!(
        !message.contains(&modified),
        "the reason stays in the audit: {message}"
    );
    let trail = audit_records(&f.auditor);
    let refusal = trail
        .iter()
        .rev()
        .find(|r| r["operation"] == "release")
        .expect("release audited");
    assert_eq!(refusal["outcome"], "denied");
    assert_eq!(refusal["guest"], modified.as_str());
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("not in the key's allowed-guests"),
        "{refusal}"
    );
}

#[test]
fn a_nonce_is_used_once_and_only_for_its_key() {
    let f = fixture();
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence).expect("first use");
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("already used"), "{message}");

    // A nonce nobody issued, and one issued for another key.
    let made_up = b64(&[7; 32]);
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.records_key, &made_up, &evidence),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("unknown"), "{message}");
    let other = challenge(&f.user, &f.vault.state_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &other).expect("attest");
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.records_key, &other, &evidence),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("another key"), "{message}");
}

#[test]
fn an_attestation_for_another_nonce_or_tampered_is_rejected() {
    let f = fixture();
    // Attested with one nonce, presented with another (valid, unused) one.
    let first = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &first).expect("attest");
    let second = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.records_key, &second, &evidence),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("nonce"), "{message}");

    // A document with one byte of its signature flipped.
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let mut document = unb64(&evidence["document"]).expect("document");
    let last = document.len() - 1;
    document[last] ^= 0x01;
    let message = expect_api_error(
        release_by_document(&f.user, &f.vault.records_key, &nonce, &b64(&document)),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("signature"), "{message}");

    // A certificate without its chain has no path to the root.
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let message = expect_api_error(
        release_by_certificate(
            &f.user,
            &f.vault.records_key,
            &nonce,
            &json!({"certificate": evidence["certificate"], "chain": []}),
        ),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("chain"), "{message}");
}

/// Every malformed or contradictory release request and invocation is refused with its
/// named error, before any key is touched.
#[test]
fn malformed_release_requests_and_invocations_are_refused_by_name() {
    let f = fixture();
    let key = &f.vault.records_key;
    let post = |body: Value| {
        f.user
            .post::<Value>(&format!("/v1/keys/{key}/release"), &body)
    };
    let nonce = challenge(&f.user, key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let cert = evidence["certificate"].clone();
    let doc = evidence["document"].clone();
    let chain = evidence["chain"].clone();
    let cases = [
        (
            json!({"nonce": nonce}),
            400,
            "InvalidInput",
            "exactly one of",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "document": doc}),
            400,
            "InvalidInput",
            "exactly one of",
        ),
        (
            json!({"nonce": nonce, "document": doc, "chain": chain}),
            400,
            "InvalidInput",
            "`chain` goes with `certificate`",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "chain": [cert, cert, cert, cert, cert]}),
            400,
            "InvalidInput",
            "at most 4",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "context": {"a": "b"}}),
            400,
            "InvalidInput",
            "`context` is for `kind: data-key`",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "kind": "data-key", "version": 1}),
            400,
            "InvalidInput",
            "current version",
        ),
        (
            json!({"nonce": "%%%", "certificate": cert}),
            400,
            "InvalidBase64",
            "nonce",
        ),
        (
            json!({"nonce": nonce, "certificate": "%%%"}),
            400,
            "InvalidBase64",
            "certificate",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "kind": "everything"}),
            422,
            "InvalidRequest",
            "kind",
        ),
        (
            json!({"nonce": nonce, "certificate": cert, "extra": 1}),
            422,
            "InvalidRequest",
            "extra",
        ),
    ];
    for (body, status, name, words) in cases {
        let message = expect_api_error(post(body.clone()), status, name);
        assert!(message.contains(words), "{body}: {message}");
    }
    // None of those touched the nonce: it still releases.
    release_by_certificate(&f.user, key, &nonce, &evidence).expect("the nonce is intact");

    // Past the nonce: a wrong-length nonce, a certificate that is not X.509, a version that
    // does not exist, a data key from a non-AES key, a disabled key, an unknown key.
    let message = expect_api_error(
        post(json!({"nonce": b64(&[1; 5]), "certificate": cert})),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("5 bytes"), "{message}");
    let nonce = challenge(&f.user, key).expect("challenge");
    let message = expect_api_error(
        post(json!({"nonce": nonce, "certificate": b64(b"not a certificate")})),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("not an X.509 certificate"), "{message}");
    let nonce = challenge(&f.user, key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let message = expect_api_error(
        post(
            json!({"nonce": nonce, "certificate": evidence["certificate"],
                    "chain": evidence["chain"], "version": 9}),
        ),
        400,
        "InvalidInput",
    );
    assert!(message.contains("no version 9"), "{message}");
    let signing = create_key(
        &f.officer,
        &json!({"spec": "ECC_NIST_P384", "policy": f.vault.policy, "releasable": true,
                "tags": {"allowed-guests": f.vault.workload}}),
    )
    .expect("signing key");
    let nonce = challenge(&f.user, &signing).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    expect_api_error(
        f.user.post::<Value>(
            &format!("/v1/keys/{signing}/release"),
            &json!({"nonce": nonce, "certificate": evidence["certificate"],
                    "chain": evidence["chain"], "kind": "data-key"}),
        ),
        400,
        "InvalidKeyUsage",
    );
    f.officer
        .post::<Value>(&format!("/v1/keys/{key}/disable"), &json!({}))
        .expect("disable");
    let nonce = challenge(&f.user, key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    expect_api_error(
        release_by_certificate(&f.user, key, &nonce, &evidence),
        409,
        "Disabled",
    );
    expect_api_error(
        release_by_certificate(&f.user, "alias/none", &nonce, &evidence),
        404,
        "NotFound",
    );

    // Invocations: input that is not base64, a measurement that is not one.
    expect_api_error(
        f.user.post::<Value>(
            &format!("/v1/workloads/{}/invoke", f.vault.workload),
            &json!({"input": "%%%"}),
        ),
        400,
        "InvalidBase64",
    );
    let message = expect_api_error(
        f.user
            .post::<Value>("/v1/workloads/sha384:xyz/invoke", &json!({"input": ""})),
        400,
        "InvalidInput",
    );
    assert!(message.contains("sha384:xyz"), "{message}");
}

/// A crypto-user signs a Nitro-format document of its own making (the allowed guest's
/// hash, the challenge nonce, its own public key) with its client key, which chains to the
/// trusted root: it is no document signer, so the release is refused.
#[test]
fn a_document_forged_with_a_client_key_is_rejected() {
    use kastell_attest::document::{DocumentContent, issue_document};
    use kastell_attest::signer::Signer as _;
    use p384::pkcs8::DecodePrivateKey as _;
    let f = fixture();
    let profile = f
        .server
        .issue_client("forger", "crypto-user", None)
        .expect("forger");
    let forger = f.server.client(&profile).expect("client");
    let folder = profile.parent().expect("folder");
    let secret = p384::SecretKey::from_pkcs8_pem(
        &std::fs::read_to_string(folder.join("key.pem")).expect("key.pem"),
    )
    .expect("client key");
    let scalar: [u8; 48] = secret.to_bytes().into();
    let signer = kastell_attest::signer::SoftSigner::from_bytes(&scalar).expect("signer");
    let read_cert = |name: &str| {
        kastell_attest::x509::parse_certificates(
            &std::fs::read(folder.join(name)).expect("certificate"),
        )
        .expect("PEM")
        .remove(0)
    };
    let (client_cert, root) = (read_cert("cert.pem"), read_cert("root.pem"));
    let nonce = challenge(&forger, &f.vault.records_key).expect("challenge");
    let content = DocumentContent {
        module_id: "forged".into(),
        timestamp_ms: u64::try_from(kastell_core::keys::unix_now_ms()).unwrap(),
        guest: f.vault.workload.parse().expect("measurement"),
        runtime: kastell_attest::Measurement::of(b"any"),
        policy: None,
        public_key: Some(
            kastell_attest::signer::SoftSigner::generate()
                .public_key()
                .into(),
        ),
        user_data: None,
        nonce: Some(unb64(&Value::String(nonce.clone())).expect("nonce")),
    };
    let document = issue_document(&signer, &client_cert, &[root], &content).expect("forged");
    let message = expect_api_error(
        release_by_document(&forger, &f.vault.records_key, &nonce, &b64(&document)),
        403,
        "AttestationRejected",
    );
    assert!(
        message.contains("not a document-signing certificate"),
        "{message}"
    );
}

#[test]
fn keys_not_created_releasable_or_without_a_sound_policy_are_never_released() {
    let f = fixture();
    // The state key: same policy and allow-list, but not releasable.
    let nonce = challenge(&f.user, &f.vault.state_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let message = expect_api_error(
        release_by_certificate(&f.user, &f.vault.state_key, &nonce, &evidence),
        409,
        "InvalidState",
    );
    assert!(message.contains("not created releasable"), "{message}");

    // A releasable key bound to a policy that panics: the trap denies.
    let panicking =
        vault::push(&f.officer, "/v1/policies", guest("hostile-panic")).expect("push policy");
    let trapping = create_key(
        &f.officer,
        &json!({"spec": "AES_256", "policy": panicking, "releasable": true}),
    )
    .expect("key");
    let nonce = challenge(&f.user, &trapping).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    expect_api_error(
        release_by_certificate(&f.user, &trapping, &nonce, &evidence),
        403,
        "AccessDenied",
    );
    let trail = audit_records(&f.auditor);
    let refusal = trail
        .iter()
        .rev()
        .find(|r| r["operation"] == "release")
        .expect("audited");
    assert_eq!(refusal["outcome"], "denied");
    assert!(
        refusal["reason"].as_str().unwrap().starts_with("sandbox:"),
        "{refusal}"
    );

    // A releasable key with no policy at all.
    let unbound =
        create_key(&f.officer, &json!({"spec": "AES_256", "releasable": true})).expect("key");
    let nonce = challenge(&f.user, &unbound).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    expect_api_error(
        release_by_certificate(&f.user, &unbound, &nonce, &evidence),
        403,
        "AccessDenied",
    );
    // Token-resident keys cannot even be created releasable.
    let refused = f.officer.post::<Value>(
        "/v1/keys",
        &json!({"spec": "AES_256", "origin": "token", "releasable": true}),
    );
    expect_api_error(refused, 400, "InvalidInput");
}

#[test]
fn workload_faults_and_errors_fail_closed_and_are_audited() {
    let f = fixture();
    let message = expect_api_error(
        invoke(&f.user, &f.vault.workload, &json!({"step": "nonsense"})),
        422,
        "WorkloadError",
    );
    assert!(message.contains("unknown step"), "{message}");
    let message = expect_api_error(
        invoke(
            &f.user,
            &f.vault.workload,
            &json!({"step": "attest", "nonce": "%%%"}),
        ),
        422,
        "WorkloadError",
    );
    assert!(!message.is_empty());
    // The officer may upload but not invoke; the user may invoke but not upload.
    expect_api_error(
        invoke(&f.officer, &f.vault.workload, &json!({"step": "ping"})),
        403,
        "AccessDenied",
    );
    expect_api_error(
        f.user
            .post_bytes::<Value>("/v1/workloads", "application/wasm", guest("record-vault")),
        403,
        "AccessDenied",
    );
    // Only crypto-users ask for releases; an officer cannot use up a user's challenge.
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    expect_api_error(
        release_by_certificate(&f.officer, &f.vault.records_key, &nonce, &evidence),
        403,
        "AccessDenied",
    );
    expect_api_error(
        challenge_as(&f.auditor, &f.vault.records_key),
        403,
        "AccessDenied",
    );
    release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence)
        .expect("the challenge is still usable by its user");
    // A policy is not a workload, nor a workload a policy.
    let message = expect_api_error(
        f.officer
            .post_bytes::<Value>("/v1/workloads", "application/wasm", guest("tenant-context")),
        400,
        "InvalidWorkload",
    );
    assert!(message.contains("exports `evaluate`"), "{message}");
    expect_api_error(
        f.officer
            .post_bytes::<Value>("/v1/workloads", "application/wasm", b"not wasm".to_vec()),
        400,
        "InvalidWorkload",
    );
    expect_api_error(
        invoke(&f.user, &format!("sha384:{}", "0".repeat(96)), &json!({})),
        404,
        "NotFound",
    );
    let pong = invoke(&f.user, &f.vault.workload, &json!({"step": "ping"})).expect("ping");
    assert_eq!(pong["pong"], true);
    let trail = audit_records(&f.auditor);
    // The workload's own error text goes to the caller only; the trail keeps its length.
    let refusals: Vec<&str> = trail
        .iter()
        .filter(|r| r["operation"] == "workload-invoke" && r["outcome"] == "denied")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        refusals
            .iter()
            .any(|why| why.starts_with("the workload returned an error (")),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().all(|why| !why.contains("unknown step")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|why| why.starts_with("no workload sha384:000")),
        "{refusals:?}"
    );
}

#[test]
fn the_workload_may_not_unseal_state_for_another_measurement() {
    let f = fixture();
    let modified = vault::push(&f.officer, "/v1/workloads", guest("record-vault-modified"))
        .expect("push modified");
    let nonce = challenge(&f.user, &f.vault.records_key).expect("challenge");
    let evidence = attest(&f.user, &f.vault, &f.vault.workload, &nonce).expect("attest");
    let release =
        release_by_certificate(&f.user, &f.vault.records_key, &nonce, &evidence).expect("release");
    // The modified build holds the original's sealed state and release, but the state key's
    // policy refuses to decrypt it for the modified build's measurement.
    let other = Vault {
        workload: modified,
        ..f.vault.clone()
    };
    let message = expect_api_error(
        decrypt_records(&f.user, &other, &evidence, &nonce, &release, &json!([])),
        422,
        "WorkloadError",
    );
    assert!(message.contains("AccessDenied"), "{message}");
    // And the user, holding no evidence, may not decrypt the sealed state either.
    let refused = f.user.post::<Value>(
        "/v1/decrypt",
        &json!({"ciphertext": evidence["sealed_state"], "context": {"purpose": "record-vault-state"}}),
    );
    expect_api_error(refused, 403, "AccessDenied");
    drop(f.server);
}
