//! Nitro-format attestation documents: issued as an untagged COSE_Sign1 that an independent
//! CBOR decoder reads field by field, verified by the library and by `kastell-verify doc`,
//! and every way of getting them wrong rejected with its named check.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Command;
use std::time::Duration;

use ciborium::value::Value;
use der::Encode as _;
use kastell_attest::Measurement;
use kastell_attest::ca::{
    Owner, Revoked, issue_crl, issue_document_signer, issue_host_ca, issue_root,
};
use kastell_attest::document::{
    DocumentContent, DocumentError, DocumentKey, FIELDS, RsaKey, issue_document, verify_document,
};
use kastell_attest::signer::{Signer, SoftSigner};
use kastell_attest::verify::{Check, Expectations, Trust};
use kastell_attest::x509::Certificate;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha384};
use time::OffsetDateTime;

mod common;

use common::{YEAR, owner, write_pem};

struct Pki {
    root_key: SoftSigner,
    root: Certificate,
    ca_key: SoftSigner,
    ca: Certificate,
    doc_key: SoftSigner,
    signing_cert: Certificate,
    content: DocumentContent,
    now: OffsetDateTime,
}

fn pki() -> Pki {
    let now = OffsetDateTime::now_utc();
    let root_key = SoftSigner::generate();
    let root = issue_root(&root_key, &owner("DE"), now - YEAR / 12, 20 * YEAR).unwrap();
    let ca_key = SoftSigner::generate();
    let ca = issue_host_ca(
        &root_key,
        &root,
        &ca_key.public_key(),
        "Kastell host CA host-fra-1",
        now - YEAR / 12,
        YEAR,
    )
    .unwrap();
    let doc_key = SoftSigner::generate();
    let signing_cert = issue_document_signer(
        &ca_key,
        &ca,
        &doc_key.public_key(),
        "Kastell document signer host-fra-1",
        now - Duration::from_secs(3600),
        Duration::from_secs(86_400),
    )
    .unwrap();
    let timestamp_ms =
        u64::try_from((now - Duration::from_secs(5)).unix_timestamp_nanos()).unwrap() / 1_000_000;
    let content = DocumentContent {
        module_id: "host-fra-1".into(),
        timestamp_ms,
        guest: Measurement::of(b"the guest component"),
        runtime: Measurement::of(b"kastell 0.1.0"),
        policy: Some(Measurement::of(b"the policy component")),
        public_key: Some(SoftSigner::generate().public_key().into()),
        user_data: Some(b"session 7".to_vec()),
        nonce: Some(vec![0xab; 32]),
    };
    Pki {
        root_key,
        root,
        ca_key,
        ca,
        doc_key,
        signing_cert,
        content,
        now,
    }
}

impl Pki {
    fn issue(&self, content: &DocumentContent) -> Vec<u8> {
        self.issue_with(&self.signing_cert, &[&self.root, &self.ca], content)
    }

    fn issue_with(
        &self,
        signing_cert: &Certificate,
        bundle: &[&Certificate],
        content: &DocumentContent,
    ) -> Vec<u8> {
        let bundle: Vec<Certificate> = bundle.iter().map(|c| (*c).clone()).collect();
        issue_document(&self.doc_key, signing_cert, &bundle, content).unwrap()
    }

    fn document(&self) -> Vec<u8> {
        self.issue(&self.content)
    }

    fn trust(&self) -> Trust {
        Trust {
            anchors: vec![self.root.clone()],
            intermediates: Vec::new(),
            crls: Vec::new(),
            at: self.now,
        }
    }

    fn expect(&self) -> Expectations {
        Expectations {
            guests: vec![self.content.guest],
            policy: self.content.policy,
            nonce: self.content.nonce.clone(),
            max_age: Some(Duration::from_secs(60)),
        }
    }
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn decode(bytes: &[u8]) -> Value {
    ciborium::de::from_reader(bytes).unwrap()
}

/// The four elements of an untagged COSE_Sign1.
fn parts(document: &[u8]) -> [Value; 4] {
    let Value::Array(items) = decode(document) else {
        panic!("not an array")
    };
    items.try_into().expect("four elements")
}

/// `Sig_structure` (RFC 9052, section 4.4) for COSE_Sign1 with empty external AAD.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    cbor(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]))
}

/// A COSE_Sign1 over `payload` with protected header `protected`, signed by `signer`: what a
/// forger holding the document-signing key can produce.
fn forge(signer: &SoftSigner, protected: &Value, payload: &Value) -> Vec<u8> {
    let protected = cbor(protected);
    let payload = cbor(payload);
    let digest: [u8; 48] = Sha384::digest(sig_structure(&protected, &payload)).into();
    let signature = signer.sign_digest(&digest).unwrap();
    cbor(&Value::Array(vec![
        Value::Bytes(protected),
        Value::Map(Vec::new()),
        Value::Bytes(payload),
        Value::Bytes(signature.to_vec()),
    ]))
}

/// The payload map's entries, in order.
type Fields = Vec<(Value, Value)>;

fn es384() -> Value {
    Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Integer((-35).into()),
    )])
}

/// The payload map of `document`.
fn payload_of(document: &[u8]) -> Fields {
    let [_, _, Value::Bytes(payload), _] = parts(document) else {
        panic!("payload is not a byte string")
    };
    let Value::Map(map) = decode(&payload) else {
        panic!("payload is not a map")
    };
    map
}

/// `document`'s payload after `edit`, re-signed with the document key.
fn forged_payload(pki: &Pki, edit: impl FnOnce(&mut Fields)) -> Vec<u8> {
    let mut map = payload_of(&pki.document());
    edit(&mut map);
    forge(&pki.doc_key, &es384(), &Value::Map(map))
}

fn field<'a>(map: &'a mut [(Value, Value)], name: &str) -> &'a mut Value {
    &mut map
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(name))
        .unwrap()
        .1
}

fn rejected(document: &[u8], trust: &Trust, expect: &Expectations, check: Check, words: &str) {
    let err = verify_document(document, trust, expect).expect_err("must be rejected");
    assert_eq!(err.check, check, "{err}");
    assert!(err.to_string().contains(words), "{words}: {err}");
}

/// The attack a document-signer check stops: any other key under the trusted root (a
/// client's, an attested guest's) signs a document of its own making.
#[test]
fn only_a_document_signing_certificate_may_sign_documents() {
    use kastell_attest::claims::Claims;
    use kastell_attest::identity::{ClientIdentity, issue_client};
    let pki = pki();
    let expect = pki.expect();
    // An attestation certificate for the same key under the host CA (serverAuth, claims).
    let claims = Claims {
        guest: pki.content.guest,
        policy: None,
        nonce: Vec::new(),
        user_data: Vec::new(),
        host_id: "host-fra-1".into(),
        runtime_version: "kastell 0.1.0".into(),
    };
    let attestation = kastell_attest::ca::issue_attestation(
        &pki.ca_key,
        &pki.ca,
        &pki.doc_key.public_key(),
        &claims,
        pki.now - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .unwrap();
    let by_guest = pki.issue_with(&attestation, &[&pki.root, &pki.ca], &pki.content);
    rejected(
        &by_guest,
        &pki.trust(),
        &expect,
        Check::KeyUsage,
        "not a document-signing certificate",
    );
    // A client certificate for the same key, issued by the root itself.
    let client = issue_client(
        &pki.root_key,
        &pki.root,
        &pki.doc_key.public_key(),
        &ClientIdentity {
            principal: "mallory".into(),
            role: "crypto-user".into(),
            tenant: None,
        },
        pki.now - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .unwrap();
    let by_client = pki.issue_with(&client, &[&pki.root], &pki.content);
    rejected(
        &by_client,
        &pki.trust(),
        &expect,
        Check::KeyUsage,
        "not a document-signing certificate",
    );
    // The real signer's document passes, and its certificate says what it is.
    assert!(kastell_attest::document::is_document_signer(
        &pki.signing_cert
    ));
    assert!(!kastell_attest::document::is_document_signer(&attestation));
    assert!(!kastell_attest::document::is_document_signer(&client));
    verify_document(&pki.document(), &pki.trust(), &expect).expect("the signer's document");
}

#[test]
fn a_document_round_trips_with_its_chain_and_checks() {
    let pki = pki();
    let document = pki.document();
    let verified = verify_document(&document, &pki.trust(), &pki.expect()).expect("valid");
    assert_eq!(verified.document, pki.content);
    assert_eq!(verified.chain.chain.len(), 3);
    assert_eq!(
        verified.chain.chain[0].subject,
        "CN=Kastell document signer host-fra-1,O=Example GmbH,C=DE"
    );
    assert_eq!(
        verified.chain.chain[2].subject,
        "CN=Example GmbH Kastell Root,O=Example GmbH,C=DE"
    );
    assert_eq!(verified.pcrs.len(), 3);
    assert_eq!(verified.pcrs[&0], pki.content.guest.to_hex());
    for words in [
        "COSE_Sign1 with ES384",
        "trust anchor",
        "document signature verifies",
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

    // Without a policy, public key, user data or nonce: PCR2 is zeros, the fields absent.
    let bare = DocumentContent {
        policy: None,
        public_key: None,
        user_data: None,
        nonce: None,
        ..pki.content.clone()
    };
    let document = pki.issue(&bare);
    let verified = verify_document(&document, &pki.trust(), &Expectations::default()).unwrap();
    assert_eq!(verified.document, bare);
    assert_eq!(verified.pcrs[&2], "00".repeat(48));
    let names: Vec<_> = payload_of(&document)
        .iter()
        .map(|(k, _)| k.as_text().unwrap().to_owned())
        .collect();
    assert_eq!(names, FIELDS[..6]);

    // Tag 18 (tagged COSE_Sign1) is accepted too; another tag is not.
    let tagged = cbor(&Value::Tag(18, Box::new(decode(&pki.document()))));
    verify_document(&tagged, &pki.trust(), &pki.expect()).expect("tagged COSE_Sign1");
    let wrong_tag = cbor(&Value::Tag(98, Box::new(decode(&pki.document()))));
    rejected(
        &wrong_tag,
        &pki.trust(),
        &pki.expect(),
        Check::Input,
        "tag 98",
    );
    // Null in an optional field (as the NSM writes absent fields) reads as absent.
    let nulls = forged_payload(&pki, |map| {
        *field(map, "user_data") = Value::Null;
    });
    let verified = verify_document(&nulls, &pki.trust(), &pki.expect()).unwrap();
    assert_eq!(verified.document.user_data, None);
}

/// An RSA SubjectPublicKeyInfo from `tests/data` (made with OpenSSL, see its README).
fn rsa_spki(bits: u32) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/data/rsa-{bits}-spki.der")),
    )
    .unwrap()
}

/// AWS KMS's `Recipient` encrypts to an RSA key in the document: a document attesting an
/// RSA key of 2048 or 4096 bits issues and verifies with that key; one of 1024 bits, or a
/// key that is neither P-384 nor RSA, is refused by name.
#[test]
fn a_document_attests_an_rsa_key_of_2048_to_4096_bits() {
    let pki = pki();
    for bits in [2048, 4096] {
        let der = rsa_spki(bits);
        let key = RsaKey::from_spki_der(&der).unwrap();
        assert_eq!(key.bits(), usize::try_from(bits).unwrap());
        let content = DocumentContent {
            public_key: Some(DocumentKey::Rsa(key.clone())),
            ..pki.content.clone()
        };
        let verified =
            verify_document(&pki.issue(&content), &pki.trust(), &pki.expect()).expect("valid");
        assert_eq!(verified.document.public_key, Some(DocumentKey::Rsa(key)));
        assert_eq!(
            verified.document.public_key.unwrap().to_spki_der().unwrap(),
            der
        );
    }
    let small = rsa_spki(1024);
    let err = RsaKey::from_spki_der(&small).unwrap_err();
    assert!(err.contains("1024 bits; 2048 to 4096"), "{err}");
    let forged = forged_payload(&pki, |map| {
        *field(map, "public_key") = Value::Bytes(small.clone());
    });
    rejected(
        &forged,
        &pki.trust(),
        &pki.expect(),
        Check::Document,
        "the RSA modulus has 1024 bits",
    );
    let ed25519 = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ]
    .iter()
    .copied()
    .chain([7; 32])
    .collect::<Vec<u8>>();
    let err = DocumentKey::from_spki_der(&ed25519).unwrap_err();
    assert!(
        err.contains("neither a P-384 key nor rsaEncryption"),
        "{err}"
    );
}

#[test]
fn an_independent_cbor_decoder_reads_the_nitro_layout() {
    let pki = pki();
    let document = pki.document();
    // Untagged: the first byte is a 4-element array (0x84), not tag 18 (0xd2).
    assert_eq!(document[0], 0x84);
    let [protected, unprotected, payload, signature] = parts(&document);
    let Value::Bytes(protected) = protected else {
        panic!("protected header is not a byte string")
    };
    assert_eq!(decode(&protected), es384());
    assert_eq!(protected, [0xa1, 0x01, 0x38, 0x22]);
    assert_eq!(unprotected, Value::Map(Vec::new()));
    let Value::Bytes(payload) = payload else {
        panic!("payload is not a byte string")
    };
    let Value::Bytes(signature) = signature else {
        panic!("signature is not a byte string")
    };
    assert_eq!(signature.len(), 96);

    // The signature is ECDSA P-384 over SHA-384 of the Sig_structure, r ‖ s.
    let digest = Sha384::digest(sig_structure(&protected, &payload));
    let key = p384::ecdsa::VerifyingKey::from(&pki.doc_key.public_key());
    let signature = p384::ecdsa::Signature::from_slice(&signature).unwrap();
    key.verify_prehash(&digest, &signature)
        .expect("signature over the Sig_structure");

    let Value::Map(map) = decode(&payload) else {
        panic!("payload is not a map")
    };
    let names: Vec<&str> = map.iter().map(|(k, _)| k.as_text().unwrap()).collect();
    assert_eq!(names, FIELDS);
    let get = |name: &str| {
        &map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .unwrap()
            .1
    };
    assert_eq!(get("module_id"), &Value::Text("host-fra-1".into()));
    assert_eq!(get("digest"), &Value::Text("SHA384".into()));
    assert_eq!(
        get("timestamp"),
        &Value::Integer(pki.content.timestamp_ms.into())
    );
    let Value::Map(pcrs) = get("pcrs") else {
        panic!("pcrs is not a map")
    };
    let expected_pcrs = [
        pki.content.guest,
        pki.content.runtime,
        pki.content.policy.unwrap(),
    ];
    assert_eq!(pcrs.len(), 3);
    for (i, ((index, value), m)) in pcrs.iter().zip(expected_pcrs).enumerate() {
        assert_eq!(index, &Value::Integer(i.into()));
        assert_eq!(value, &Value::Bytes(m.as_bytes().to_vec()));
    }
    assert_eq!(
        get("certificate"),
        &Value::Bytes(pki.signing_cert.to_der().unwrap())
    );
    assert_eq!(
        get("cabundle"),
        &Value::Array(vec![
            Value::Bytes(pki.root.to_der().unwrap()),
            Value::Bytes(pki.ca.to_der().unwrap()),
        ])
    );
    let spki = pki
        .content
        .public_key
        .as_ref()
        .unwrap()
        .to_spki_der()
        .unwrap();
    assert_eq!(get("public_key"), &Value::Bytes(spki));
    assert_eq!(get("user_data"), &Value::Bytes(b"session 7".to_vec()));
    assert_eq!(get("nonce"), &Value::Bytes(vec![0xab; 32]));
}

#[test]
fn issuance_refuses_what_the_format_does_not_allow() {
    let pki = pki();
    let issue = |content: &DocumentContent, signing_cert: &Certificate, bundle: &[Certificate]| {
        match issue_document(&pki.doc_key, signing_cert, bundle, content) {
            Err(DocumentError::Content(reason)) => reason,
            other => panic!("expected a content error, got {other:?}"),
        }
    };
    let bundle = [pki.root.clone(), pki.ca.clone()];
    let cert = &pki.signing_cert;
    let with = |edit: fn(&mut DocumentContent)| {
        let mut content = pki.content.clone();
        edit(&mut content);
        content
    };
    assert!(issue(&with(|c| c.nonce = Some(vec![0; 513])), cert, &bundle).contains("513 bytes"));
    assert!(
        issue(&with(|c| c.user_data = Some(vec![0; 513])), cert, &bundle).contains("user data")
    );
    assert!(issue(&with(|c| c.module_id.clear()), cert, &bundle).contains("module id"));
    assert!(issue(&with(|c| c.timestamp_ms = 0), cert, &bundle).contains("timestamp"));
    assert!(
        issue(
            &with(|c| c.policy = Some(Measurement::from_bytes([0; 48]))),
            cert,
            &bundle
        )
        .contains("all-zero")
    );
    assert!(issue(&pki.content, cert, &[]).contains("CA bundle"));
    assert!(issue(&pki.content, &pki.ca, &bundle).contains("not for the signer's key"));
}

#[test]
fn every_way_of_getting_a_document_wrong_is_rejected_with_its_named_check() {
    let pki = pki();
    let trust = pki.trust();
    let expect = pki.expect();
    let document = pki.document();

    // Wrong root: another owner's root with the same name; one with another name. The
    // document's own cabundle root does not help: only the relying party's anchors count.
    let other_key = SoftSigner::generate();
    let other_root = issue_root(&other_key, &owner("DE"), pki.now - YEAR / 2, YEAR).unwrap();
    let wrong_root = Trust {
        anchors: vec![other_root.clone()],
        ..pki.trust()
    };
    rejected(
        &document,
        &wrong_root,
        &expect,
        Check::Signature,
        "does not verify",
    );
    let unrelated_root = issue_root(
        &other_key,
        &Owner {
            organization: "Other AG".into(),
            ..owner("AT")
        },
        pki.now - YEAR / 2,
        YEAR,
    )
    .unwrap();
    let unrelated = Trust {
        anchors: vec![unrelated_root],
        ..pki.trust()
    };
    rejected(&document, &unrelated, &expect, Check::Chain, "wrong root");

    // Signing certificate expired, not yet valid.
    let later = Trust {
        at: pki.now + Duration::from_secs(2 * 86_400),
        ..pki.trust()
    };
    rejected(
        &document,
        &later,
        &Expectations::default(),
        Check::Validity,
        "expired at",
    );
    let earlier = Trust {
        at: pki.now - Duration::from_secs(2 * 3600),
        ..pki.trust()
    };
    rejected(
        &document,
        &earlier,
        &Expectations::default(),
        Check::Validity,
        "not valid before",
    );
    // A timestamp outside the signing certificate's validity.
    let mut stale = pki.content.clone();
    stale.timestamp_ms -= 2 * 3600 * 1000;
    rejected(
        &pki.issue(&stale),
        &trust,
        &Expectations::default(),
        Check::Validity,
        "outside the validity of",
    );

    // Tampered signature; tampered payload (PCR0 changed, the old signature kept).
    let [protected, unprotected, payload, signature] = parts(&document);
    let Value::Bytes(mut sig) = signature.clone() else {
        panic!()
    };
    sig[10] ^= 1;
    let tampered = cbor(&Value::Array(vec![
        protected.clone(),
        unprotected.clone(),
        payload.clone(),
        Value::Bytes(sig),
    ]));
    rejected(
        &tampered,
        &trust,
        &expect,
        Check::Signature,
        "document signature does not verify",
    );
    let mut map = payload_of(&document);
    let Value::Map(pcrs) = field(&mut map, "pcrs") else {
        panic!()
    };
    pcrs[0].1 = Value::Bytes(Measurement::of(b"another guest").as_bytes().to_vec());
    let tampered = cbor(&Value::Array(vec![
        protected,
        unprotected,
        Value::Bytes(cbor(&Value::Map(map))),
        signature,
    ]));
    rejected(
        &tampered,
        &trust,
        &Expectations::default(),
        Check::Signature,
        "document signature does not verify",
    );

    // Expectations: guest (PCR0), policy (PCR2), nonce, age (timestamp).
    let other = Measurement::of(b"another guest");
    let mut wrong = pki.expect();
    wrong.guests = vec![other];
    rejected(
        &document,
        &trust,
        &wrong,
        Check::GuestHash,
        &format!("expected {other}, got {}", pki.content.guest),
    );
    let mut wrong = pki.expect();
    wrong.policy = Some(other);
    rejected(&document, &trust, &wrong, Check::PolicyHash, "expected");
    let no_policy = pki.issue(&DocumentContent {
        policy: None,
        ..pki.content.clone()
    });
    rejected(&no_policy, &trust, &expect, Check::PolicyHash, "no policy");
    let mut wrong = pki.expect();
    wrong.nonce = Some(vec![1, 2, 3]);
    rejected(&document, &trust, &wrong, Check::Nonce, "expected 010203");
    let mut wrong = pki.expect();
    wrong.max_age = Some(Duration::from_secs(1));
    rejected(
        &document,
        &trust,
        &wrong,
        Check::Age,
        "more than the allowed 1 s",
    );

    // The signing certificate revoked by the host CA's CRL.
    let crl = issue_crl(
        &pki.ca_key,
        &pki.ca,
        1,
        &[Revoked {
            serial: pki
                .signing_cert
                .tbs_certificate
                .serial_number
                .as_bytes()
                .to_vec(),
            at: pki.now - Duration::from_secs(1),
        }],
        pki.now - Duration::from_secs(60),
        pki.now + YEAR,
    )
    .unwrap();
    rejected(
        &document,
        &Trust {
            crls: vec![crl],
            ..pki.trust()
        },
        &expect,
        Check::Revoked,
        "was revoked at",
    );

    // An intermediate without the CA flag (re-signed by the real root) in the cabundle.
    let not_ca = common::without_ca_flag(&pki.ca, &pki.root_key);
    rejected(
        &pki.issue_with(&pki.signing_cert, &[&pki.root, &not_ca], &pki.content),
        &trust,
        &expect,
        Check::BasicConstraints,
        "is not a CA",
    );

    // A root outside the EU/EEA, forged with the real root's key.
    let (us_root, us_ca) = common::non_eu_root(&pki.root, &pki.ca, &pki.root_key);
    rejected(
        &pki.issue_with(&pki.signing_cert, &[&us_root, &us_ca], &pki.content),
        &Trust {
            anchors: vec![us_root.clone()],
            ..pki.trust()
        },
        &expect,
        Check::RootCountry,
        "`US` is not an EU or EEA member state",
    );

    // An unknown critical extension in the signing certificate.
    let critical = common::with_unknown_critical_extension(&pki.signing_cert, &pki.ca_key);
    rejected(
        &pki.issue_with(&critical, &[&pki.root, &pki.ca], &pki.content),
        &trust,
        &expect,
        Check::CriticalExtension,
        "1.3.6.1.4.1.311.99",
    );

    // Another algorithm in the protected header (ES256, -7), or none; a critical parameter.
    let payload = Value::Map(payload_of(&document));
    let es256 = Value::Map(vec![(
        Value::Integer(1.into()),
        Value::Integer((-7).into()),
    )]);
    rejected(
        &forge(&pki.doc_key, &es256, &payload),
        &trust,
        &expect,
        Check::Algorithm,
        "ES256 (-7); only ES384 (-35) is accepted",
    );
    rejected(
        &forge(&pki.doc_key, &Value::Map(Vec::new()), &payload),
        &trust,
        &expect,
        Check::Algorithm,
        "names no algorithm",
    );
    let crit = Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer((-35).into())),
        (
            Value::Integer(2.into()),
            Value::Array(vec![Value::Text("x-kastell".into())]),
        ),
        (Value::Text("x-kastell".into()), Value::Bool(true)),
    ]);
    rejected(
        &forge(&pki.doc_key, &crit, &payload),
        &trust,
        &expect,
        Check::Document,
        "critical",
    );
}

#[test]
fn malformed_documents_are_rejected_by_name_and_never_panic() {
    let pki = pki();
    let trust = pki.trust();
    let expect = pki.expect();
    let bad = |edit: &dyn Fn(&mut Fields), words: &str| {
        rejected(
            &forged_payload(&pki, edit),
            &trust,
            &expect,
            Check::Document,
            words,
        );
    };
    let text = |s: &str| Value::Text(s.into());
    let remove =
        |name: &'static str| move |map: &mut Fields| map.retain(|(k, _)| k.as_text() != Some(name));

    // Missing fields.
    for name in [
        "module_id",
        "digest",
        "timestamp",
        "pcrs",
        "certificate",
        "cabundle",
    ] {
        bad(&remove(name), &format!("`{name}` is missing"));
    }
    bad(
        &|map| {
            let Value::Map(pcrs) = field(map, "pcrs") else {
                panic!()
            };
            pcrs.remove(2);
        },
        "lacks PCR2",
    );
    // Fields of the wrong type or value.
    bad(
        &|map| *field(map, "module_id") = Value::Bytes(b"host".to_vec()),
        "`module_id` is a byte string, not a text string",
    );
    bad(
        &|map| *field(map, "module_id") = text(""),
        "`module_id` is empty",
    );
    bad(
        &|map| *field(map, "digest") = text("SHA256"),
        "not \"SHA384\"",
    );
    bad(
        &|map| *field(map, "timestamp") = text("now"),
        "not a positive integer",
    );
    bad(
        &|map| *field(map, "timestamp") = Value::Integer((-1).into()),
        "not a positive integer",
    );
    bad(
        &|map| *field(map, "pcrs") = Value::Array(Vec::new()),
        "`pcrs` is an array, not a map",
    );
    bad(
        &|map| {
            let Value::Map(pcrs) = field(map, "pcrs") else {
                panic!()
            };
            pcrs[0].1 = Value::Bytes(vec![0; 32]);
        },
        "`pcrs[0]` has 32 bytes, not 48",
    );
    bad(
        &|map| {
            let Value::Map(pcrs) = field(map, "pcrs") else {
                panic!()
            };
            pcrs.push((Value::Integer(32.into()), Value::Bytes(vec![0; 48])));
        },
        "not an integer from 0 to 31",
    );
    bad(
        &|map| *field(map, "certificate") = Value::Bytes(b"not DER".to_vec()),
        "`certificate` is not an X.509 certificate",
    );
    bad(
        &|map| *field(map, "cabundle") = Value::Array(Vec::new()),
        "`cabundle` is empty",
    );
    bad(
        &|map| *field(map, "cabundle") = Value::Bytes(Vec::new()),
        "`cabundle` is a byte string, not an array",
    );
    bad(
        &|map| *field(map, "cabundle") = Value::Array(vec![text("root")]),
        "`cabundle[0]` is a text string",
    );
    bad(
        &|map| *field(map, "public_key") = Value::Bytes(vec![4; 97]),
        "`public_key` is not a P-384 or RSA (2048–4096 bits) SubjectPublicKeyInfo",
    );
    bad(
        &|map| *field(map, "user_data") = text("hello"),
        "`user_data` is a text string, not a byte string",
    );
    bad(
        &|map| *field(map, "nonce") = Value::Bytes(vec![0; 513]),
        "`nonce` has 513 bytes, not 0 to 512",
    );
    bad(
        &|map| {
            let nonce = field(map, "nonce").clone();
            map.push((text("nonce"), nonce));
        },
        "`nonce` appears twice",
    );
    bad(
        &|map| map.push((text("host"), text("x"))),
        "unexpected payload key",
    );
    bad(
        &|map| map.push((Value::Integer(1.into()), text("x"))),
        "unexpected payload key",
    );
    rejected(
        &forge(&pki.doc_key, &es384(), &Value::Array(Vec::new())),
        &trust,
        &expect,
        Check::Document,
        "the payload is an array, not a map",
    );

    // Not a COSE_Sign1 at all: truncated, garbage, empty, trailing bytes, wrong shape.
    let document = pki.document();
    let mut trailing = document.clone();
    trailing.push(0);
    for (bytes, words) in [
        (&document[..document.len() / 2], "not a CBOR document"),
        (&document[..document.len() - 1], "not a CBOR document"),
        (b"garbage".as_slice(), "not a CBOR document"),
        (b"".as_slice(), "not a CBOR document"),
        (&trailing, "follow the COSE_Sign1"),
        (&cbor(&Value::Array(Vec::new())), "not a COSE_Sign1"),
    ] {
        rejected(bytes, &trust, &expect, Check::Input, words);
    }
    // Every prefix and single-byte corruptions: an error, never a panic.
    for end in 0..document.len() {
        assert!(verify_document(&document[..end], &trust, &expect).is_err());
    }
    // Densely over the headers and the first fields, sparsely over the certificates (each
    // corruption that parses costs a chain verification).
    for at in (0..64).chain((64..document.len()).step_by(151)) {
        let mut corrupt = document.clone();
        corrupt[at] ^= 0x5a;
        assert!(verify_document(&corrupt, &trust, &expect).is_err(), "{at}");
    }
    // Deep nesting stays within the decoder's recursion limit.
    let mut deep = vec![0x81; 100_000];
    deep.push(0x00);
    assert!(verify_document(&deep, &trust, &expect).is_err());
}

#[test]
fn kastell_verify_doc_prints_pcrs_and_chain_and_exits_by_outcome() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let root = write_pem(dir.path(), "root.pem", &[&pki.root]);
    let doc_path = dir.path().join("doc.cbor");
    std::fs::write(&doc_path, pki.document()).unwrap();
    let doc = doc_path.display().to_string();
    let verify = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kastell-verify"))
            .args(args)
            .output()
            .expect("kastell-verify runs")
    };
    let guest = pki.content.guest.to_string();
    let nonce = hex::encode(pki.content.nonce.as_ref().unwrap());
    let out = verify(&[
        "doc",
        &doc,
        "--root",
        &root,
        "--expect-guest",
        &guest,
        "--nonce",
        &nonce,
        "--max-age",
        "60",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for words in [
        "VALID attestation document",
        "host-fra-1",
        "PCR0",
        &pki.content.guest.to_hex(),
        "(guest)",
        "PCR2",
        "chain (leaf first)",
        "CN=Kastell document signer host-fra-1",
        "[trust anchor]",
        "checks passed",
        "document signature verifies",
        "nonce matches",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }

    let out = verify(&["doc", &doc, "--root", &root, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["document"]["guest"], guest.as_str());
    assert_eq!(json["document"]["module_id"], "host-fra-1");
    assert_eq!(json["pcrs"]["0"], pki.content.guest.to_hex());
    assert_eq!(json["chain"].as_array().unwrap().len(), 3);

    let other = Measurement::of(b"x").to_string();
    let out = verify(&["doc", &doc, "--root", &root, "--expect-guest", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "INVALID: guest hash mismatch: expected {other}, got {guest}"
    )));
    let out = verify(&[
        "doc",
        &doc,
        "--root",
        &root,
        "--expect-guest",
        &other,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["check"], "guest-hash");

    // The document's own root is no trust anchor: another root fails the chain.
    let other_key = SoftSigner::generate();
    let other_root = issue_root(&other_key, &owner("AT"), pki.now - YEAR / 2, YEAR).unwrap();
    let other_root = write_pem(dir.path(), "other.pem", &[&other_root]);
    let out = verify(&["doc", &doc, "--root", &other_root]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID: chain:"));

    let garbage = dir.path().join("garbage.cbor");
    std::fs::write(&garbage, "not a document").unwrap();
    for args in [
        vec!["doc", garbage.to_str().unwrap(), "--root", &root],
        vec!["doc", "/nonexistent/doc.cbor", "--root", &root],
        vec!["doc", &doc],
        vec!["doc", &doc, "--root", &root, "--nonce", "zz"],
    ] {
        let out = verify(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What a webpki-based Nitro verifier does with a document (for example the AWS Nitro
/// attestation libraries built on `webpki`): the payload's `certificate` is the end entity,
/// `cabundle[1..]` its intermediates, the configured root the only anchor, and the path is
/// validated for TLS server authentication (such libraries require `id-kp-serverAuth`);
/// then the COSE signature is checked with the end entity's key. Returns webpki's error.
fn webpki_nitro_verify(
    document: &[u8],
    root: &Certificate,
    now: OffsetDateTime,
) -> Result<(), webpki::Error> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let field = |name: &str| {
        payload_of(document)
            .into_iter()
            .find(|(k, _)| *k == Value::Text(name.into()))
            .map(|(_, v)| v)
            .unwrap()
    };
    let Value::Bytes(certificate) = field("certificate") else {
        panic!("certificate is not bytes")
    };
    let Value::Array(bundle) = field("cabundle") else {
        panic!("cabundle is not an array")
    };
    let intermediates: Vec<CertificateDer<'_>> = bundle
        .into_iter()
        .skip(1)
        .map(|v| match v {
            Value::Bytes(der) => CertificateDer::from(der),
            other => panic!("cabundle entry {other:?}"),
        })
        .collect();
    let root_der = CertificateDer::from(root.to_der().unwrap());
    let anchor = webpki::anchor_from_trusted_cert(&root_der).unwrap();
    let end_entity_der = CertificateDer::from(certificate.clone());
    let end_entity = webpki::EndEntityCert::try_from(&end_entity_der)?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap(),
    ));
    end_entity.verify_for_usage(
        &[webpki::aws_lc_rs::ECDSA_P384_SHA384],
        &[anchor],
        &intermediates,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )?;
    let [
        Value::Bytes(protected),
        _,
        Value::Bytes(payload),
        Value::Bytes(signature),
    ] = parts(document)
    else {
        panic!("not a COSE_Sign1")
    };
    let cert = <Certificate as der::Decode>::from_der(&certificate).unwrap();
    let key = p384::ecdsa::VerifyingKey::from(kastell_attest::verify::public_key(&cert).unwrap());
    let digest = Sha384::digest(sig_structure(&protected, &payload));
    let signature = p384::ecdsa::Signature::from_slice(&signature).unwrap();
    key.verify_prehash(&digest, &signature)
        .map_err(|_| webpki::Error::InvalidSignatureForPublicKey)
}

#[test]
fn a_webpki_based_nitro_verifier_accepts_documents_under_the_owners_root() {
    let ours = pki();
    webpki_nitro_verify(&ours.document(), &ours.root, ours.now)
        .expect("a webpki-based verifier with the owner's root configured");
    // Only under the root it was given: a document under another root with the same name
    // (another deployment of the same owner) fails the path's signature check.
    let other = pki();
    assert_eq!(
        webpki_nitro_verify(&other.document(), &ours.root, ours.now),
        Err(webpki::Error::InvalidSignatureForPublicKey)
    );
}

#[test]
fn a_tls_server_certificate_of_the_same_ca_is_not_a_document_signer() {
    // The document signer now carries serverAuth for interop; a certificate with only
    // serverAuth (the host's TLS certificate, same CA, same key here) must still be refused
    // by Kastell's own verifier as a document signer.
    let pki = pki();
    let server = kastell_attest::identity::issue_server(
        &pki.ca_key,
        &pki.ca,
        &pki.doc_key.public_key(),
        "kastell.example",
        &["kastell.example".to_owned()],
        pki.now - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
    .unwrap();
    assert!(!kastell_attest::document::is_document_signer(&server));
    let by_server = pki.issue_with(&server, &[&pki.root, &pki.ca], &pki.content);
    rejected(
        &by_server,
        &pki.trust(),
        &pki.expect(),
        Check::KeyUsage,
        "not a document-signing certificate",
    );
    // …although a webpki verifier, which knows nothing of Kastell's marker, takes it: the
    // relying party that wants the distinction uses `kastell-verify` or this library.
    webpki_nitro_verify(&by_server, &pki.root, pki.now).expect("webpki sees a server cert");
}
