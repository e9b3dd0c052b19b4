//! Attested release across hosts and over time: two deployments with two different EU
//! roots (one on the soft token, one on SoftHSM2 through PKCS#11), where host B releases to
//! a workload attested by host A only once A's root is configured as trusted; challenges
//! and attestations that are too old; and a data-key release opened by a relying party
//! that holds its own attested key.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::io::Write as _;
use std::time::Duration;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use kastell::client::Client;
use kastell_attest::Measurement;
use kastell_attest::hpke::{self, MaterialKind, ReleaseInfo, Sealed};
use kastell_tests::guest;
use kastell_tests::relying::{attested_key, open_release, uuid_bytes};
use kastell_tests::server::{Deployment, Setup, SoftHsm, TestServer, expect_api_error};
use kastell_tests::vault::{
    self, Vault, attest, b64, challenge, create_key, decrypt_records, encrypt,
    release_by_certificate, unb64,
};
use serde_json::{Value, json};
use serial_test::serial;

fn append_config(deployment: &Deployment, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(deployment.config())
        .expect("config");
    file.write_all(text.as_bytes()).expect("append");
}

fn user(server: &TestServer, name: &str) -> Client {
    server
        .client(
            &server
                .issue_client(name, "crypto-user", None)
                .expect("issue"),
        )
        .expect("client")
}

#[test]
#[serial(softhsm)]
fn host_b_releases_to_a_workload_attested_by_host_a_only_when_a_root_is_trusted() {
    if !std::path::Path::new(SoftHsm::MODULE).is_file() {
        eprintln!("SKIPPED: {} is missing; install softhsm2", SoftHsm::MODULE);
        return;
    }
    // Host A (soft token) runs the workload; host B (SoftHSM2) holds the records key.
    let host_a = TestServer::start_soft().expect("host A");
    let hsm = SoftHsm::create("kastell-host-b").expect("softhsm");
    let mut host_b = TestServer::start(&Setup::softhsm(&hsm).expect("setup")).expect("host B");
    let a_root = std::fs::read_to_string(host_a.deployment().root_certificate()).expect("root A");
    let b_root = std::fs::read_to_string(host_b.deployment().root_certificate()).expect("root B");
    assert_ne!(a_root, b_root, "two owners, two roots");

    let officer_a = host_a.client(&host_a.officer()).expect("officer A");
    let vault_a = Vault::set_up(&officer_a, guest("record-vault")).expect("vault on A");
    let app_a = user(&host_a, "app");

    let officer_b = host_b.client(&host_b.officer()).expect("officer B");
    let policy_b =
        vault::push(&officer_b, "/v1/policies", guest("allow-measured")).expect("policy");
    let records_key = create_key(
        &officer_b,
        &json!({"spec": "AES_256", "policy": policy_b, "releasable": true,
                "tags": {"allowed-guests": vault_a.workload}}),
    )
    .expect("records key on B");
    let app_b = user(&host_b, "app");
    let context = json!({"ward": "3"});
    let ciphertext = encrypt(&app_b, &records_key, b"encrypted on host B", &context).expect("enc");

    // B does not trust A's root yet.
    let nonce = challenge(&app_b, &records_key).expect("challenge");
    let evidence = attest(&app_a, &vault_a, &vault_a.workload, &nonce).expect("attest on A");
    let message = expect_api_error(
        release_by_certificate(&app_b, &records_key, &nonce, &evidence),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("chain"), "{message}");

    // B's owner adds A's root to its trusted roots and restarts.
    let a_root_file = host_b.deployment().data_dir().join("host-a-root.pem");
    std::fs::write(&a_root_file, &a_root).expect("copy A's root");
    append_config(
        host_b.deployment(),
        &format!(
            "\n[release]\ntrusted_roots = [{:?}]\n",
            a_root_file.display().to_string()
        ),
    );
    host_b.restart().expect("restart B");
    let app_b = host_b
        .client(
            &host_b
                .deployment()
                .data_dir()
                .join("clients/app/profile.toml"),
        )
        .expect("app on B");

    let nonce = challenge(&app_b, &records_key).expect("challenge");
    let evidence = attest(&app_a, &vault_a, &vault_a.workload, &nonce).expect("attest on A");
    let release = release_by_certificate(&app_b, &records_key, &nonce, &evidence)
        .expect("B releases to A's workload");
    let output = decrypt_records(
        &app_a,
        &vault_a,
        &evidence,
        &nonce,
        &release,
        &json!([{"ciphertext": b64(&ciphertext), "context": context}]),
    )
    .expect("decrypt on A");
    assert_eq!(
        unb64(&output["records"][0]["plaintext"]).expect("plaintext"),
        b"encrypted on host B"
    );

    // B's audit trail names A's workload for both attempts.
    let auditor_b = host_b
        .client(
            &host_b
                .issue_client("auditor", "auditor", None)
                .expect("auditor"),
        )
        .expect("auditor");
    let page: Value = auditor_b.get("/v1/audit?limit=1000").expect("audit");
    let releases: Vec<(&str, &str)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "release")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["guest"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        releases,
        [("denied", ""), ("allowed", vault_a.workload.as_str())],
        "the untrusted attestation proves no guest; the trusted one names A's workload"
    );
}

#[test]
fn expired_challenges_and_stale_attestations_are_refused() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    append_config(
        &deployment,
        "\n[release]\nchallenge_ttl_secs = 3\nmax_attestation_age_secs = 1\n",
    );
    let server = TestServer::serve(deployment).expect("serve");
    let officer = server.client(&server.officer()).expect("officer");
    let vault = Vault::set_up(&officer, guest("record-vault")).expect("vault");
    let app = user(&server, "app");

    // The challenge outlives its 3 s.
    let nonce = challenge(&app, &vault.records_key).expect("challenge");
    std::thread::sleep(Duration::from_millis(3_200));
    let evidence = attest(&app, &vault, &vault.workload, &nonce).expect("attest");
    let message = expect_api_error(
        release_by_certificate(&app, &vault.records_key, &nonce, &evidence),
        403,
        "InvalidNonce",
    );
    assert!(message.contains("expired"), "{message}");

    // A fresh challenge, but the attestation is presented more than 1 s after issue.
    let nonce = challenge(&app, &vault.records_key).expect("challenge");
    let evidence = attest(&app, &vault, &vault.workload, &nonce).expect("attest");
    std::thread::sleep(Duration::from_millis(2_100));
    let message = expect_api_error(
        release_by_certificate(&app, &vault.records_key, &nonce, &evidence),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("more than the allowed 1 s"), "{message}");
}

/// Decrypts a Kastell ciphertext (v1) with raw key bytes, as the format documents it.
fn decrypt_v1(
    key: &[u8],
    ciphertext: &[u8],
    context: &kastell_proto::EncryptionContext,
) -> Vec<u8> {
    let (header, sealed) = kastell_proto::ciphertext::Header::parse(ciphertext).expect("header");
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).expect("key");
    cipher
        .decrypt(
            &header.nonce.into(),
            Payload {
                msg: sealed,
                aad: &header.aad(context),
            },
        )
        .expect("authentic")
}

#[test]
fn a_data_key_release_matches_its_wrapped_copy_and_the_key_release_decrypts_it() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    let policy = vault::push(&officer, "/v1/policies", guest("allow-measured")).expect("policy");
    let guest_hash = Measurement::of(b"a relying party's enclave build");
    let key = create_key(
        &officer,
        &json!({"spec": "AES_256", "policy": policy, "releasable": true,
                "tags": {"allowed-guests": guest_hash.to_string()}}),
    )
    .expect("key");
    let app = user(&server, "app");
    let release = |body: Value| -> Value {
        app.post(&format!("/v1/keys/{key}/release"), &body)
            .expect("release")
    };

    // A fresh data key, sealed to the attested key and wrapped under the key.
    let nonce_b64 = challenge(&app, &key).expect("challenge");
    let nonce = unb64(&Value::String(nonce_b64.clone())).unwrap();
    let (recipient, attestation) =
        attested_key(&server, &guest_hash.to_string(), &nonce, 300).expect("attested key");
    let data_key = release(json!({
        "nonce": nonce_b64, "certificate": attestation["certificate"],
        "chain": attestation["chain"], "kind": "data-key", "context": {"file": "7"}
    }));
    assert_eq!(data_key["kind"], "data-key");
    assert_eq!(data_key["format"], "raw");
    let plaintext = open_release(
        &recipient,
        &data_key,
        &guest_hash,
        &nonce,
        MaterialKind::DataKey,
    )
    .expect("opens");
    assert_eq!(plaintext.len(), 32);
    let wrapped = unb64(&data_key["data_key_ciphertext"]).unwrap();

    // The key's own material, released the same way, decrypts the wrapped copy.
    let nonce_b64 = challenge(&app, &key).expect("challenge");
    let nonce = unb64(&Value::String(nonce_b64.clone())).unwrap();
    let (recipient, attestation) =
        attested_key(&server, &guest_hash.to_string(), &nonce, 300).expect("attested key");
    let material = release(json!({
        "nonce": nonce_b64, "certificate": attestation["certificate"], "chain": attestation["chain"]
    }));
    let key_bytes = open_release(
        &recipient,
        &material,
        &guest_hash,
        &nonce,
        MaterialKind::Key,
    )
    .expect("opens");
    let mut context = kastell_proto::EncryptionContext::default();
    context.0.insert("file".into(), "7".into());
    assert_eq!(material["format"], "raw", "an AES_256 key is its 32 bytes");
    assert_eq!(
        decrypt_v1(key_bytes.expose(), &wrapped, &context),
        plaintext.expose()
    );

    // An attestation certificate past its end is refused, whatever its claims.
    let nonce_b64 = challenge(&app, &key).expect("challenge");
    let nonce = unb64(&Value::String(nonce_b64.clone())).unwrap();
    let (_, short_lived) =
        attested_key(&server, &guest_hash.to_string(), &nonce, 1).expect("attested key");
    std::thread::sleep(Duration::from_millis(1_100));
    let message = expect_api_error(
        app.post::<Value>(
            &format!("/v1/keys/{key}/release"),
            &json!({"nonce": nonce_b64, "certificate": short_lived["certificate"],
                    "chain": short_lived["chain"]}),
        ),
        403,
        "AttestationRejected",
    );
    assert!(
        message.contains("validity") && message.contains("expired"),
        "{message}"
    );

    // Opening with the wrong kind fails: the AAD binds it.
    let key_id = uuid_bytes(material["key_id"].as_str().unwrap()).unwrap();
    let info = ReleaseInfo::new(&key_id, &guest_hash, &nonce).unwrap();
    let sealed = Sealed {
        encapsulated_key: unb64(&material["encapsulated_key"]).unwrap(),
        ciphertext: unb64(&material["ciphertext"]).unwrap(),
    };
    assert!(
        hpke::open(
            &recipient,
            &info,
            &hpke::release_aad(MaterialKind::DataKey, 1),
            &sealed
        )
        .is_err()
    );
}
