//! Attacks on the release's memory of decoded intermediates (issue 22): the server decodes
//! a host CA certificate once per exact DER and keeps it with the anchors, so a release
//! verifies its chain without decoding the same bytes again. Remembering the bytes must buy
//! an attacker nothing: after a genuine release has put the host CA in memory, a forged
//! host CA with the same names but the attacker's key, and a leaf that names the
//! remembered host CA as its issuer but is signed by the attacker, are each refused by the
//! signature check (`AttestationRejected`), and the genuine chain still releases.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::time::Duration;

use kastell_attest::Measurement;
use kastell_attest::ca::{issue_attestation, issue_host_ca};
use kastell_attest::claims::Claims;
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::x509::{Certificate, decode_canonical, name_text};
use kastell_tests::guest;
use kastell_tests::server::{TestServer, expect_api_error};
use kastell_tests::vault::{Vault, attest, b64, challenge, release_by_certificate, unb64};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The common name in an RFC 4514 name text (`CN=…,O=…,C=…`).
fn common_name(text: &str) -> String {
    text.split(',')
        .find_map(|part| part.strip_prefix("CN="))
        .expect("a CN")
        .to_owned()
}

/// An attestation certificate for `guest` and `nonce`, issued by `ca` and signed by
/// `signer` (whoever holds it), with a fresh guest key.
fn leaf(signer: &SoftSigner, ca: &Certificate, guest: &str, nonce: &str) -> Certificate {
    let claims = Claims {
        guest: guest.parse::<Measurement>().expect("measurement"),
        policy: None,
        nonce: unb64(&Value::String(nonce.to_owned())).expect("nonce"),
        user_data: Vec::new(),
        host_id: "forged".into(),
        runtime_version: "0".into(),
    };
    issue_attestation(
        signer,
        ca,
        &SoftSigner::generate().public_key(),
        &claims,
        OffsetDateTime::now_utc() - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .expect("leaf")
}

fn der(cert: &Certificate) -> String {
    b64(&cert.to_der_bytes().expect("DER"))
}

#[test]
fn a_remembered_host_ca_vouches_for_no_leaf_or_look_alike_it_did_not_sign() {
    let server = TestServer::start_soft().expect("server");
    let officer = server.client(&server.officer()).expect("officer");
    let user = server
        .new_client("svc", "crypto-user", None)
        .expect("user client");
    let vault = Vault::set_up(&officer, guest("record-vault")).expect("vault");
    let key = &vault.records_key;

    // A genuine release: the host CA's DER is now decoded and remembered.
    let nonce = challenge(&user, key).expect("challenge");
    let evidence = attest(&user, &vault, &vault.workload, &nonce).expect("attest");
    release_by_certificate(&user, key, &nonce, &evidence).expect("genuine release");
    let chain = evidence["chain"].as_array().expect("chain").clone();
    assert!(!chain.is_empty(), "the host CA first: {chain:?}");
    let host_ca: Certificate =
        decode_canonical(&unb64(&chain[0]).expect("host CA DER")).expect("host CA");

    // A look-alike host CA: the same subject and issuer names, the attacker's key, signed
    // by the attacker (who does not hold the root's key).
    let attacker = SoftSigner::generate();
    let mut named_like_root = host_ca.clone();
    named_like_root.tbs_certificate.subject = host_ca.tbs_certificate.issuer.clone();
    let forged_ca = issue_host_ca(
        &attacker,
        &named_like_root,
        &attacker.public_key(),
        &common_name(&name_text(&host_ca.tbs_certificate.subject)),
        OffsetDateTime::now_utc() - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .expect("forged CA");
    assert_eq!(
        forged_ca.tbs_certificate.subject, host_ca.tbs_certificate.subject,
        "the look-alike carries the host CA's exact name"
    );
    assert_eq!(
        forged_ca.tbs_certificate.issuer,
        host_ca.tbs_certificate.issuer
    );
    let nonce = challenge(&user, key).expect("challenge");
    let forged_leaf = leaf(&attacker, &forged_ca, &vault.workload, &nonce);
    let message = expect_api_error(
        release_by_certificate(
            &user,
            key,
            &nonce,
            &json!({"certificate": der(&forged_leaf), "chain": [der(&forged_ca)]}),
        ),
        403,
        "AttestationRejected",
    );
    assert!(message.contains("signature"), "{message}");

    // The remembered intermediates' exact DER, with a leaf that names the host CA as issuer
    // but that the attacker signed; and the look-alike sent beside the genuine host CA.
    let mut with_look_alike = chain.clone();
    with_look_alike.push(json!(der(&forged_ca)));
    for chain in [Value::Array(chain.clone()), Value::Array(with_look_alike)] {
        let nonce = challenge(&user, key).expect("challenge");
        let forged_leaf = leaf(&attacker, &host_ca, &vault.workload, &nonce);
        let message = expect_api_error(
            release_by_certificate(
                &user,
                key,
                &nonce,
                &json!({"certificate": der(&forged_leaf), "chain": chain}),
            ),
            403,
            "AttestationRejected",
        );
        assert!(message.contains("signature"), "{message}");
    }

    // The genuine chain still releases: nothing forged was taken for it.
    let nonce = challenge(&user, key).expect("challenge");
    let evidence = attest(&user, &vault, &vault.workload, &nonce).expect("attest");
    assert_eq!(
        evidence["chain"],
        Value::Array(chain),
        "the same intermediates' DER"
    );
    release_by_certificate(&user, key, &nonce, &evidence).expect("genuine release");
}
