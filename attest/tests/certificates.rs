//! The owner's EU root, a host attestation CA and attestation certificates: issued, read by
//! openssl (`x509 -text`, `verify`, CRL checking), verified by the library and by
//! `kastell-verify`, and every way of getting them wrong rejected with its named check.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Command;
use std::time::Duration;

use der::Encode as _;
use der::asn1::{BitString, OctetString};
use kastell_attest::Measurement;
use kastell_attest::ca::{
    CaError, Owner, Revoked, issue_attestation, issue_crl, issue_host_ca, issue_root,
};
use kastell_attest::claims::{CLAIMS_OID, Claims};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::{Check, Expectations, Trust, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use time::OffsetDateTime;

mod common;

use common::{YEAR, owner, resign, write_pem};

struct Pki {
    root_key: SoftSigner,
    root: Certificate,
    ca_key: SoftSigner,
    ca: Certificate,
    guest_key: SoftSigner,
    claims: Claims,
    leaf: Certificate,
    now: OffsetDateTime,
}

fn claims() -> Claims {
    Claims {
        guest: Measurement::of(b"the guest component"),
        policy: Some(Measurement::of(b"the policy component")),
        nonce: vec![0xab; 32],
        user_data: b"session 7".to_vec(),
        host_id: "host-fra-1".into(),
        runtime_version: "kastell 0.1.0".into(),
    }
}

fn pki() -> Pki {
    let now = OffsetDateTime::now_utc();
    let root_key = SoftSigner::generate();
    let root = issue_root(
        &root_key,
        &owner("DE"),
        now - Duration::from_secs(60),
        20 * YEAR,
    )
    .expect("root");
    let ca_key = SoftSigner::generate();
    let ca = issue_host_ca(
        &root_key,
        &root,
        &ca_key.public_key(),
        "Kastell host CA host-fra-1",
        now - Duration::from_secs(60),
        YEAR,
    )
    .expect("host CA");
    let guest_key = SoftSigner::generate();
    let claims = claims();
    let leaf = issue_attestation(
        &ca_key,
        &ca,
        &guest_key.public_key(),
        &claims,
        now - Duration::from_secs(5),
        Duration::from_secs(300),
    )
    .expect("attestation certificate");
    Pki {
        root_key,
        root,
        ca_key,
        ca,
        guest_key,
        claims,
        leaf,
        now,
    }
}

impl Pki {
    fn trust(&self) -> Trust {
        Trust {
            anchors: vec![self.root.clone()],
            intermediates: vec![self.ca.clone()],
            crls: Vec::new(),
            at: self.now,
        }
    }

    fn expect(&self) -> Expectations {
        Expectations {
            guests: vec![self.claims.guest],
            policy: self.claims.policy,
            nonce: Some(self.claims.nonce.clone()),
            max_age: Some(Duration::from_secs(60)),
        }
    }
}

fn rejected(leaf: &Certificate, trust: &Trust, expect: &Expectations, check: Check, words: &str) {
    let err = verify_attestation(leaf, trust, expect).expect_err("must be rejected");
    assert_eq!(err.check, check, "{err}");
    assert!(err.to_string().contains(words), "{err}");
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_fresh_chain_verifies_and_reports_chain_and_claims() {
    let pki = pki();
    let verified = verify_attestation(&pki.leaf, &pki.trust(), &pki.expect()).expect("valid");
    assert_eq!(verified.claims, pki.claims);
    assert_eq!(verified.chain.chain.len(), 3);
    assert_eq!(
        verified.chain.chain[2].subject,
        "CN=Example GmbH Kastell Root,O=Example GmbH,C=DE"
    );
    assert_eq!(verified.chain.chain[2].country.as_deref(), Some("DE"));
    assert_eq!(
        verified.public_key,
        hex::encode(pki.guest_key.public_key().to_sec1_bytes())
    );
    for words in [
        "trust anchor",
        "guest hash",
        "policy hash",
        "nonce matches",
        "issued",
    ] {
        assert!(
            verified.chain.checks.iter().any(|c| c.contains(words)),
            "{words}: {:?}",
            verified.chain.checks
        );
    }
    // PEM and DER both parse; several certificates per PEM file.
    let pem = format!("{}{}", pki.leaf.to_pem().unwrap(), pki.ca.to_pem().unwrap());
    assert_eq!(parse_certificates(pem.as_bytes()).unwrap().len(), 2);
    let der = pki.leaf.to_der().unwrap();
    assert_eq!(parse_certificates(&der).unwrap(), vec![pki.leaf.clone()]);
}

#[test]
fn openssl_reads_every_certificate_and_verifies_the_chain_and_the_crl() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let root = write_pem(dir.path(), "root.pem", &[&pki.root]);
    let inter = write_pem(dir.path(), "inter.pem", &[&pki.ca]);
    let leaf = write_pem(dir.path(), "leaf.pem", &[&pki.leaf]);
    for path in [&root, &inter, &leaf] {
        let (ok, text) = openssl(&["x509", "-in", path, "-noout", "-text"]);
        assert!(ok, "{text}");
        assert!(
            text.contains("ecdsa-with-SHA384") && text.contains("secp384r1"),
            "{text}"
        );
    }
    let (_, text) = openssl(&["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(
        text.contains(CLAIMS_OID),
        "openssl shows the claims extension: {text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    let (_, text) = openssl(&["x509", "-in", &inter, "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    let (ok, text) = openssl(&["verify", "-CAfile", &root, "-untrusted", &inter, &leaf]);
    assert!(ok && text.contains("OK"), "{text}");

    // A CRL from the host CA: openssl accepts it, then refuses the revoked leaf.
    let crl_path = dir.path().join("ca.crl");
    let serial = pki.leaf.tbs_certificate.serial_number.as_bytes().to_vec();
    let crl = issue_crl(
        &pki.ca_key,
        &pki.ca,
        1,
        &[Revoked {
            serial,
            at: pki.now - Duration::from_secs(1),
        }],
        pki.now - Duration::from_secs(30),
        pki.now + Duration::from_secs(86_400),
    )
    .unwrap();
    std::fs::write(&crl_path, &crl).unwrap();
    let crl_pem = dir.path().join("ca-crl.pem");
    let (ok, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &crl_path.display().to_string(),
        "-out",
        &crl_pem.display().to_string(),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &root,
        "-untrusted",
        &inter,
        "-CRLfile",
        &crl_pem.display().to_string(),
        &leaf,
    ]);
    assert!(!ok && text.contains("revoked"), "{text}");
}

#[test]
fn every_way_of_getting_it_wrong_is_rejected_with_its_named_check() {
    let pki = pki();
    let trust = pki.trust();
    let expect = pki.expect();

    // Wrong root: another owner's root with the same name and another key.
    let other_key = SoftSigner::generate();
    let other_root = issue_root(&other_key, &owner("DE"), pki.now - YEAR / 2, YEAR).unwrap();
    let wrong_root = Trust {
        anchors: vec![other_root.clone()],
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &wrong_root,
        &expect,
        Check::Signature,
        "does not verify",
    );
    let unrelated = Trust {
        anchors: vec![
            issue_root(
                &other_key,
                &Owner {
                    organization: "Other AG".into(),
                    ..owner("AT")
                },
                pki.now,
                YEAR,
            )
            .unwrap(),
        ],
        ..pki.trust()
    };
    rejected(&pki.leaf, &unrelated, &expect, Check::Chain, "wrong root");
    // Another owner's root named exactly like the real one is the only anchor, and the real
    // root comes along as if it were an intermediate: the path ends at a self-signed root
    // the relying party does not trust, and says so.
    let namesake = Trust {
        anchors: vec![issue_root(&other_key, &owner("DE"), pki.now, YEAR).unwrap()],
        intermediates: vec![pki.ca.clone(), pki.root.clone()],
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &namesake,
        &expect,
        Check::Chain,
        "not one of the trusted roots",
    );
    let leaf_as_root = Trust {
        anchors: vec![pki.leaf.clone()],
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &leaf_as_root,
        &expect,
        Check::Chain,
        "itself given as a trusted root",
    );

    // Time: expired and not yet valid.
    let later = Trust {
        at: pki.now + Duration::from_secs(3600),
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &later,
        &Expectations::default(),
        Check::Validity,
        "expired at",
    );
    let earlier = Trust {
        at: pki.now - Duration::from_secs(3600),
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &earlier,
        &Expectations::default(),
        Check::Validity,
        "not valid before",
    );

    // Tampered signature; tampered claims (the signature no longer covers them).
    let mut tampered = pki.leaf.clone();
    let mut sig = tampered.signature.raw_bytes().to_vec();
    let n = sig.len();
    sig[n - 3] ^= 1;
    tampered.signature = BitString::from_bytes(&sig).unwrap();
    rejected(
        &tampered,
        &trust,
        &expect,
        Check::Signature,
        "does not verify",
    );
    let mut edited = pki.leaf.clone();
    let exts = edited.tbs_certificate.extensions.as_mut().unwrap();
    let claims_ext = exts
        .iter_mut()
        .find(|e| e.extn_id.dotted() == CLAIMS_OID)
        .unwrap();
    let mut value = claims_ext.extn_value.as_bytes().to_vec();
    let guest_at = value
        .windows(48)
        .position(|w| w == pki.claims.guest.as_bytes())
        .unwrap();
    value[guest_at] ^= 1;
    claims_ext.extn_value = OctetString::new(value).unwrap();
    rejected(
        &edited,
        &trust,
        &expect,
        Check::Signature,
        "does not verify",
    );

    // Expectations: guest, policy, nonce, age.
    let other_guest = Measurement::of(b"another guest");
    let mut wrong = pki.expect();
    wrong.guests = vec![other_guest];
    rejected(
        &pki.leaf,
        &trust,
        &wrong,
        Check::GuestHash,
        &format!("expected {other_guest}, got {}", pki.claims.guest),
    );
    let mut wrong = pki.expect();
    wrong.policy = Some(other_guest);
    rejected(&pki.leaf, &trust, &wrong, Check::PolicyHash, "expected");
    let mut wrong = pki.expect();
    wrong.nonce = Some(vec![1, 2, 3]);
    rejected(&pki.leaf, &trust, &wrong, Check::Nonce, "expected 010203");
    let mut wrong = pki.expect();
    wrong.max_age = Some(Duration::from_secs(1));
    rejected(
        &pki.leaf,
        &trust,
        &wrong,
        Check::Age,
        "more than the allowed 1 s",
    );

    // Revoked by the host CA's CRL; a CRL out of date; a CRL from outside the chain.
    let serial = pki.leaf.tbs_certificate.serial_number.as_bytes().to_vec();
    let revoked = [Revoked {
        serial,
        at: pki.now - Duration::from_secs(1),
    }];
    let crl = |signer: &SoftSigner, ca: &Certificate, revoked: &[Revoked], until: Duration| {
        issue_crl(
            signer,
            ca,
            1,
            revoked,
            pki.now - Duration::from_secs(60),
            pki.now + until,
        )
        .unwrap()
    };
    let with_crl = |crl: Vec<u8>| Trust {
        crls: vec![crl],
        ..pki.trust()
    };
    rejected(
        &pki.leaf,
        &with_crl(crl(&pki.ca_key, &pki.ca, &revoked, YEAR)),
        &expect,
        Check::Revoked,
        "was revoked at",
    );
    verify_attestation(
        &pki.leaf,
        &with_crl(crl(&pki.ca_key, &pki.ca, &[], YEAR)),
        &expect,
    )
    .expect("an empty CRL revokes nothing");
    rejected(
        &pki.leaf,
        &with_crl(
            issue_crl(
                &pki.ca_key,
                &pki.ca,
                1,
                &[],
                pki.now - YEAR,
                pki.now - YEAR / 2,
            )
            .unwrap(),
        ),
        &expect,
        Check::Crl,
        "valid from",
    );
    rejected(
        &pki.leaf,
        &with_crl(crl(&other_key, &other_root, &[], YEAR)),
        &expect,
        Check::Crl,
        "signature does not verify",
    );
    rejected(
        &pki.leaf,
        &with_crl(b"garbage".to_vec()),
        &expect,
        Check::Crl,
        "not a CRL",
    );

    // An intermediate without the CA flag (re-signed by the real root).
    let not_ca = common::without_ca_flag(&pki.ca, &pki.root_key);
    let leaf_under = resign(&pki.leaf, &pki.ca_key, |_| {});
    rejected(
        &leaf_under,
        &Trust {
            intermediates: vec![not_ca],
            ..pki.trust()
        },
        &expect,
        Check::BasicConstraints,
        "is not a CA",
    );

    // Path too long: a second CA under the host CA (path length 0).
    let sub_key = SoftSigner::generate();
    let sub = issue_host_ca(
        &pki.ca_key,
        &pki.ca,
        &sub_key.public_key(),
        "sub CA",
        pki.now - Duration::from_secs(60),
        YEAR,
    )
    .unwrap();
    let deep_leaf = issue_attestation(
        &sub_key,
        &sub,
        &pki.guest_key.public_key(),
        &pki.claims,
        pki.now - Duration::from_secs(5),
        Duration::from_secs(300),
    )
    .unwrap();
    rejected(
        &deep_leaf,
        &Trust {
            intermediates: vec![pki.ca.clone(), sub],
            ..pki.trust()
        },
        &expect,
        Check::PathLength,
        "allows 0 CA certificate(s) below it, the chain has 1",
    );

    // A root outside the EU/EEA: refused at issuance, and by the verifier when forged.
    assert!(matches!(
        issue_root(&other_key, &owner("US"), pki.now, YEAR),
        Err(CaError::Subject(reason)) if reason.contains("not an EU or EEA member state")
    ));
    let (us_root, us_ca) = common::non_eu_root(&pki.root, &pki.ca, &pki.root_key);
    rejected(
        &pki.leaf,
        &Trust {
            anchors: vec![us_root],
            intermediates: vec![us_ca],
            ..pki.trust()
        },
        &expect,
        Check::RootCountry,
        "`US` is not an EU or EEA member state",
    );

    // An unknown critical extension.
    let critical = common::with_unknown_critical_extension(&pki.leaf, &pki.ca_key);
    rejected(
        &critical,
        &trust,
        &expect,
        Check::CriticalExtension,
        "1.3.6.1.4.1.311.99",
    );

    // Another algorithm: ecdsa-with-SHA256 named in the certificate.
    let sha256 = resign(&pki.leaf, &pki.ca_key, |c| {
        let oid = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
        c.tbs_certificate.signature.oid = oid;
        c.signature_algorithm.oid = oid;
    });
    rejected(
        &sha256,
        &trust,
        &expect,
        Check::Algorithm,
        "only ecdsa-with-SHA384",
    );

    // Truncated and garbage input never parse.
    let der = pki.leaf.to_der().unwrap();
    for bad in [
        &der[..der.len() / 2],
        b"garbage".as_slice(),
        b"",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert!(
            parse_certificates(bad).is_err(),
            "{:?}",
            &bad[..bad.len().min(16)]
        );
    }
    let _ = &pki.ca_key;
}

#[test]
fn kastell_verify_prints_the_chain_and_claims_and_exits_by_outcome() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let root = write_pem(dir.path(), "root.pem", &[&pki.root]);
    let inter = write_pem(dir.path(), "inter.pem", &[&pki.ca]);
    let leaf = write_pem(dir.path(), "leaf.pem", &[&pki.leaf]);
    let leaf_der = dir.path().join("leaf.der");
    std::fs::write(&leaf_der, pki.leaf.to_der().unwrap()).unwrap();
    let guest = pki.claims.guest.to_string();
    let verify = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kastell-verify"))
            .args(args)
            .output()
            .expect("kastell-verify runs")
    };
    let nonce = hex::encode(&pki.claims.nonce);
    let out = verify(&[
        "cert",
        &leaf,
        "--root",
        &root,
        "--chain",
        &inter,
        "--expect-guest",
        &guest,
        "--nonce",
        &nonce,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for words in [
        "VALID",
        "C=DE",
        "[trust anchor]",
        &guest,
        "host-fra-1",
        "checks passed",
        "nonce matches",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    let out = verify(&[
        "cert",
        &leaf_der.display().to_string(),
        "--root",
        &root,
        "--chain",
        &inter,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["claims"]["guest"], guest.as_str());
    assert_eq!(json["chain"].as_array().unwrap().len(), 3);

    let other = Measurement::of(b"x").to_string();
    let out = verify(&[
        "cert",
        &leaf,
        "--root",
        &root,
        "--chain",
        &inter,
        "--expect-guest",
        &other,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["check"], "guest-hash");
    let out = verify(&[
        "cert",
        &leaf,
        "--root",
        &root,
        "--chain",
        &inter,
        "--expect-guest",
        &other,
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "INVALID: guest hash mismatch: expected {other}, got {guest}"
    )));

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for args in [
        vec!["cert", garbage.to_str().unwrap(), "--root", &root],
        vec!["cert", &leaf, "--root", "/nonexistent/root.pem"],
        vec!["cert", &leaf],
        vec!["cert", &leaf, "--root", &root, "--at", "yesterday"],
    ] {
        let out = verify(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = verify(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("root country"));
}

#[test]
fn a_certificate_in_any_form_but_canonical_der_is_refused_so_unsigned_bytes_cannot_pass() {
    // The same certificate, once as issued and once with `critical BOOLEAN FALSE` written
    // out in the claims extension (found by the fuzzer): both decode to the same value, and
    // the signature covers only the first.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let canonical = std::fs::read(data.join("attestation-canonical.der")).unwrap();
    let explicit = std::fs::read(data.join("attestation-explicit-default.der")).unwrap();
    assert_eq!(explicit.len(), canonical.len() + 3);
    assert_eq!(parse_certificates(&canonical).unwrap().len(), 1);
    let err = parse_certificates(&explicit).unwrap_err();
    assert!(err.contains("canonical DER"), "{err}");
}
