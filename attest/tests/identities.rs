//! Client certificates for mutual TLS: the principal, its one role and its tenant, readable
//! by openssl, and every contradictory or missing identity refused by name.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use der::Encode as _;
use der::asn1::{Ia5String, OctetString};
use kastell_attest::ca::{CaError, issue_host_ca, issue_root};
use kastell_attest::identity::{ClientIdentity, client_identity, issue_client};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::Trust;
use kastell_attest::x509::Certificate;
use time::OffsetDateTime;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use common::{YEAR, owner, resign, write_pem};

struct Ca {
    key: SoftSigner,
    cert: Certificate,
    root: Certificate,
    now: OffsetDateTime,
}

fn ca() -> Ca {
    let now = OffsetDateTime::now_utc();
    let root_key = SoftSigner::generate();
    let root = issue_root(&root_key, &owner("FR"), now - Duration::from_secs(60), YEAR).unwrap();
    let key = SoftSigner::generate();
    let cert = issue_host_ca(
        &root_key,
        &root,
        &key.public_key(),
        "Operators CA",
        now - Duration::from_secs(60),
        YEAR,
    )
    .unwrap();
    Ca {
        key,
        cert,
        root,
        now,
    }
}

fn identity(role: &str, tenant: Option<&str>) -> ClientIdentity {
    ClientIdentity {
        principal: "svc-billing".into(),
        role: role.into(),
        tenant: tenant.map(str::to_owned),
    }
}

fn issue(ca: &Ca, identity: &ClientIdentity) -> Result<Certificate, CaError> {
    issue_client(
        &ca.key,
        &ca.cert,
        &SoftSigner::generate().public_key(),
        identity,
        ca.now,
        YEAR,
    )
}

#[test]
fn a_client_certificate_names_principal_role_and_tenant_and_chains_to_the_root() {
    let ca = ca();
    for (role, tenant) in [
        ("crypto-user", Some("acme")),
        ("crypto-officer", None),
        ("auditor", None),
    ] {
        let wanted = identity(role, tenant);
        let cert = issue(&ca, &wanted).unwrap();
        assert_eq!(client_identity(&cert), Ok(wanted));
        let trust = Trust {
            anchors: vec![ca.root.clone()],
            intermediates: vec![ca.cert.clone()],
            crls: Vec::new(),
            at: ca.now + Duration::from_secs(1),
        };
        trust.verify_chain(&cert).expect("chains to the root");
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = issue(&ca, &identity("crypto-user", Some("acme"))).unwrap();
    let path = write_pem(dir.path(), "client.pem", &[&cert]);
    let out = Command::new("openssl")
        .args(["x509", "-in", &path, "-noout", "-text"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for words in [
        "URI:urn:kastell:role:crypto-user",
        "URI:urn:kastell:tenant:acme",
        "TLS Web Client Authentication",
        "CN = svc-billing",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
}

#[test]
fn bad_identities_are_refused_at_issuance_and_when_read() {
    let ca = ca();
    for (bad, words) in [
        (identity("root", None), "unknown role"),
        (
            ClientIdentity {
                principal: String::new(),
                ..identity("auditor", None)
            },
            "principal",
        ),
        (
            ClientIdentity {
                principal: "a b".into(),
                ..identity("auditor", None)
            },
            "principal",
        ),
        (identity("crypto-user", Some("acme/../x")), "tenant"),
    ] {
        match issue(&ca, &bad) {
            Err(CaError::Subject(reason)) => assert!(reason.contains(words), "{reason}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }

    // Forged (re-signed by the CA's key): two roles, no role, two tenants, no clientAuth.
    let good = issue(&ca, &identity("crypto-user", Some("acme"))).unwrap();
    let with_names = |uris: &[&str]| {
        resign(&good, &ca.key, |c| {
            let san = c
                .tbs_certificate
                .extensions
                .as_mut()
                .unwrap()
                .iter_mut()
                .find(|e| e.extn_id.dotted() == "2.5.29.17")
                .unwrap();
            let names = uris
                .iter()
                .map(|u| GeneralName::UniformResourceIdentifier(Ia5String::new(u).unwrap()))
                .collect();
            san.extn_value = OctetString::new(SubjectAltName(names).to_der().unwrap()).unwrap();
        })
    };
    for (uris, words) in [
        (
            vec![
                "urn:kastell:role:crypto-user",
                "urn:kastell:role:crypto-officer",
            ],
            "carries exactly one",
        ),
        (vec!["urn:kastell:tenant:acme"], "no role"),
        (vec!["urn:kastell:role:superuser"], "unknown role"),
        (
            vec![
                "urn:kastell:role:auditor",
                "urn:kastell:tenant:a",
                "urn:kastell:tenant:b",
            ],
            "more than one tenant",
        ),
    ] {
        let err = client_identity(&with_names(&uris)).unwrap_err();
        assert!(err.contains(words), "{uris:?}: {err}");
    }
    let not_client = resign(&good, &ca.key, |c| {
        c.tbs_certificate
            .extensions
            .as_mut()
            .unwrap()
            .retain(|e| e.extn_id.dotted() != "2.5.29.37");
    });
    assert!(
        client_identity(&not_client)
            .unwrap_err()
            .contains("clientAuth")
    );
}
