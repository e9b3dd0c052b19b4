//! Attested release of every key spec (issue 17, point 6), through the real server over
//! TLS on loopback: a key of each spec, releasable and bound to the `allow-measured`
//! policy, is released to a relying party's attested key, opened as a receiver opens it
//! (`kastell_attest::hpke`), and the material is shown to be the key: what the released
//! key signs, MACs, decrypts or agrees is what the server's own operation verifies or
//! produces, and `openssl` reads the RSA and EC PKCS#8. Where material must never leave
//! (not releasable, token-resident, no policy, another guest) the release is refused by
//! name and audited.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Command;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::PrivateDecryptingKey;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, PqdsaKeyPair, RsaKeyPair};
use kastell::client::Client;
use kastell_attest::Measurement;
use kastell_attest::hpke::MaterialKind;
use kastell_proto::secret::SecretBytes;
use kastell_tests::guest;
use kastell_tests::relying::{attested_key, open_release};
use kastell_tests::server::{TestServer, expect_api_error};
use kastell_tests::vault::{self, b64, challenge, create_key, unb64};
use serde_json::{Value, json};

/// A server, its officer and a crypto-user, the `allow-measured` policy and the measured
/// guest the keys are released to.
struct Fixture {
    server: TestServer,
    officer: Client,
    user: Client,
    auditor: Client,
    policy: String,
    guest: Measurement,
}

impl Fixture {
    fn start() -> Self {
        let server = TestServer::start_soft().expect("server");
        let officer = server.client(&server.officer()).expect("officer");
        let user = server
            .new_client("svc", "crypto-user", None)
            .expect("user client");
        let auditor = server
            .new_client("audit", "auditor", None)
            .expect("auditor client");
        let policy =
            vault::push(&officer, "/v1/policies", guest("allow-measured")).expect("policy");
        Self {
            server,
            officer,
            user,
            auditor,
            policy,
            guest: Measurement::of(b"a relying party's enclave build"),
        }
    }

    /// A releasable key of `spec` with `usage`, released only to the fixture's guest.
    fn releasable(&self, spec: &str, usage: &str) -> String {
        create_key(
            &self.officer,
            &json!({"spec": spec, "usage": usage, "policy": self.policy, "releasable": true,
                    "tags": {"allowed-guests": self.guest.to_string()}}),
        )
        .unwrap_or_else(|e| panic!("{spec} {usage}: {e}"))
    }

    /// The release answer for `key` (a fresh challenge, an attestation of the guest's own
    /// key) and the material it seals, opened as the receiver opens it. `allow-measured`
    /// allows release (and encrypt) but no verify, MAC or derivation by a crypto-user, so
    /// the officer then unbinds the key's policy: the proofs that follow use the server's
    /// own operations on the key.
    fn release(&self, key: &str) -> (Value, SecretBytes) {
        let nonce_b64 = challenge(&self.user, key).expect("challenge");
        let nonce = unb64(&Value::String(nonce_b64.clone())).unwrap();
        let (recipient, attestation) =
            attested_key(&self.server, &self.guest.to_string(), &nonce, 300).expect("attested");
        let answer: Value = self
            .user
            .post(
                &format!("/v1/keys/{key}/release"),
                &json!({"nonce": nonce_b64, "certificate": attestation["certificate"],
                        "chain": attestation["chain"]}),
            )
            .unwrap_or_else(|e| panic!("release of {key}: {e}"));
        let material = open_release(&recipient, &answer, &self.guest, &nonce, MaterialKind::Key)
            .expect("the release opens for its recipient");
        self.officer
            .put::<Value>(&format!("/v1/keys/{key}/policy"), &json!({"policy": null}))
            .expect("unbind");
        (answer, material)
    }

    fn call(&self, key: &str, action: &str, body: &Value) -> Value {
        self.user
            .post(&format!("/v1/keys/{key}/{action}"), body)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    /// Whether the server's verify accepts `signature` over `message` with `algorithm`.
    fn verifies(&self, key: &str, algorithm: &str, message: &[u8], signature: &[u8]) -> bool {
        self.call(
            key,
            "verify",
            &json!({"message": b64(message), "signature": b64(signature), "algorithm": algorithm}),
        )["valid"]
            .as_bool()
            .unwrap()
    }

    fn spki(&self, key: &str) -> Vec<u8> {
        let public: Value = self
            .user
            .get(&format!("/v1/keys/{key}/public-key"))
            .expect("public key");
        unb64(&public["spki"]).unwrap()
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether the installed OpenSSL knows ML-DSA (3.5 and later); the build machine's 3.0
/// does not, and the ML-DSA PKCS#8 is then read by aws-lc-rs only.
fn openssl_has_ml_dsa() -> bool {
    let has = Command::new("openssl")
        .args(["list", "-signature-algorithms"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("ML-DSA"));
    if !has {
        println!("openssl has no ML-DSA: the ML-DSA PKCS#8 is read by aws-lc-rs only");
    }
    has
}

/// `openssl pkey -inform DER` reads the PKCS#8 and derives from it the public key the
/// server exports for the key.
fn assert_openssl_reads(pkcs8: &SecretBytes, spki: &[u8], spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("released.der");
    std::fs::write(&path, pkcs8.expose()).unwrap();
    let public = openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    assert_eq!(public, spki, "{spec}: openssl reads the released PKCS#8");
}

/// Every spec that is wrapped (host-held) material is released in its documented format,
/// and the opened material is the key: AES decrypts the server's ciphertext, HMAC keys
/// MAC what the server verifies, RSA, EC and ML-DSA private keys (PKCS#8) sign what the
/// server verifies, RSA-OAEP decrypts what the server encrypted, ECDH agrees with the
/// server's derivation; openssl reads the RSA and EC PKCS#8 (EC with its public key).
#[test]
fn every_wrapped_spec_is_released_in_its_format_and_the_material_is_the_key() {
    let f = Fixture::start();
    let rng = SystemRandom::new();
    let message = b"signed outside Kastell with released material";

    // AES_256: the raw 32 bytes, which decrypt a ciphertext made through the API.
    let aes = f.releasable("AES_256", "ENCRYPT_DECRYPT");
    let context = json!({"file": "7"});
    let sealed = vault::encrypt(&f.user, &aes, b"a record", &context).expect("encrypt");
    let (answer, key) = f.release(&aes);
    assert_eq!(
        (&answer["spec"], &answer["kind"], &answer["format"]),
        (&json!("AES_256"), &json!("key"), &json!("raw"))
    );
    assert_eq!(key.len(), 32);
    let mut context_map = kastell_proto::EncryptionContext::default();
    context_map.0.insert("file".into(), "7".into());
    let (header, body) = kastell_proto::ciphertext::Header::parse(&sealed).expect("header");
    let aes_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose()).unwrap());
    let mut in_out = body.to_vec();
    let opened = aes_key
        .open_in_place(
            Nonce::assume_unique_for_key(header.nonce),
            Aad::from(header.aad(&context_map)),
            &mut in_out,
        )
        .expect("the released AES key decrypts the API's ciphertext");
    assert_eq!(opened, b"a record");

    // HMAC: the raw key of the spec's length; its MAC verifies through the API.
    for (spec, algorithm, hmac, len) in [
        ("HMAC_224", "HMAC_SHA_224", aws_lc_rs::hmac::HMAC_SHA224, 28),
        ("HMAC_256", "HMAC_SHA_256", aws_lc_rs::hmac::HMAC_SHA256, 32),
        ("HMAC_384", "HMAC_SHA_384", aws_lc_rs::hmac::HMAC_SHA384, 48),
        ("HMAC_512", "HMAC_SHA_512", aws_lc_rs::hmac::HMAC_SHA512, 64),
    ] {
        let key = f.releasable(spec, "GENERATE_VERIFY_MAC");
        let (answer, material) = f.release(&key);
        assert_eq!(
            (&answer["spec"], &answer["format"]),
            (&json!(spec), &json!("raw"))
        );
        assert_eq!(material.len(), len, "{spec}");
        let tag =
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(hmac, material.expose()), message);
        let valid = f.call(
            &key,
            "verify-mac",
            &json!({"message": b64(message), "mac": b64(tag.as_ref()), "algorithm": algorithm}),
        );
        assert_eq!(
            valid["valid"], true,
            "{spec}: the released key's MAC verifies"
        );
    }

    // RSA signing keys: PKCS#8; PSS and PKCS#1 v1.5 signatures made with it verify.
    for spec in ["RSA_2048", "RSA_3072", "RSA_4096"] {
        let key = f.releasable(spec, "SIGN_VERIFY");
        let (answer, pkcs8) = f.release(&key);
        assert_eq!(
            (&answer["spec"], &answer["format"]),
            (&json!(spec), &json!("pkcs8-der"))
        );
        let spki = f.spki(&key);
        assert_openssl_reads(&pkcs8, &spki, spec);
        let pair = RsaKeyPair::from_pkcs8(pkcs8.expose()).expect("RSA PKCS#8");
        for (algorithm, encoding) in [
            ("RSASSA_PSS_SHA_256", &signature::RSA_PSS_SHA256),
            ("RSASSA_PKCS1_V1_5_SHA_512", &signature::RSA_PKCS1_SHA512),
        ] {
            let mut signed = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, message, &mut signed).unwrap();
            assert!(
                f.verifies(&key, algorithm, message, &signed),
                "{spec} {algorithm}: a signature by the released key verifies"
            );
        }
    }

    // An RSA encryption key: what the server encrypts, the released key decrypts.
    let rsa = f.releasable("RSA_3072", "ENCRYPT_DECRYPT");
    let (answer, pkcs8) = f.release(&rsa);
    assert_eq!(answer["format"], "pkcs8-der");
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8.expose()).expect("RSA PKCS#8");
    let decrypter = OaepPrivateDecryptingKey::new(private).unwrap();
    for (algorithm, oaep) in [
        ("RSAES_OAEP_SHA_256", &OAEP_SHA256_MGF1SHA256),
        ("RSAES_OAEP_SHA_1", &OAEP_SHA1_MGF1SHA1),
    ] {
        let sealed = f.call(
            &rsa,
            "encrypt",
            &json!({"plaintext": b64(b"for the enclave"), "algorithm": algorithm}),
        );
        let mut out = vec![0; decrypter.min_output_size()];
        let plaintext = decrypter
            .decrypt(oaep, &unb64(&sealed["ciphertext"]).unwrap(), &mut out, None)
            .expect("the released key decrypts");
        assert_eq!(plaintext, b"for the enclave", "{algorithm}");
    }

    // EC signing keys: PKCS#8 naming the curve, with the public key; ECDSA verifies.
    for (spec, algorithm, signing) in [
        (
            "ECC_NIST_P256",
            "ECDSA_SHA_256",
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        (
            "ECC_NIST_P384",
            "ECDSA_SHA_384",
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
        (
            "ECC_NIST_P521",
            "ECDSA_SHA_512",
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        ),
        (
            "ECC_SECG_P256K1",
            "ECDSA_SHA_256",
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        ),
    ] {
        let key = f.releasable(spec, "SIGN_VERIFY");
        let (answer, pkcs8) = f.release(&key);
        assert_eq!(
            (&answer["spec"], &answer["format"]),
            (&json!(spec), &json!("pkcs8-der"))
        );
        let spki = f.spki(&key);
        assert_openssl_reads(&pkcs8, &spki, spec);
        // ECPrivateKey's last field is [1] { BIT STRING 0x00 ‖ the uncompressed point },
        // the same point the SubjectPublicKeyInfo ends with.
        let point_len = match spec {
            "ECC_NIST_P384" => 97,
            "ECC_NIST_P521" => 133,
            _ => 65,
        };
        assert!(
            pkcs8.expose().ends_with(&spki[spki.len() - point_len..]),
            "{spec}: the public key is in the PKCS#8"
        );
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.expose()).expect("EC PKCS#8");
        assert_eq!(
            pair.public_key().as_der().unwrap().as_ref(),
            spki.as_slice()
        );
        let signed = pair.sign(&rng, message).unwrap();
        assert!(
            f.verifies(&key, algorithm, message, signed.as_ref()),
            "{spec}: a signature by the released key verifies"
        );
    }

    // An ECDH key: the released key agrees with a peer on what the server derives.
    let ecdh = f.releasable("ECC_NIST_P256", "KEY_AGREEMENT");
    let (_, pkcs8) = f.release(&ecdh);
    let private =
        agreement::PrivateKey::from_private_key_der(&agreement::ECDH_P256, pkcs8.expose())
            .expect("EC PKCS#8 for ECDH");
    let peer = agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap();
    let peer_spki = peer.compute_public_key().unwrap().as_der().unwrap();
    let server_secret = f.call(
        &ecdh,
        "derive-shared-secret",
        &json!({"peer_public_key": b64(peer_spki.as_ref())}),
    );
    let ours = agreement::agree(
        &private,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, peer_spki.as_ref()),
        aws_lc_rs::error::Unspecified,
        |secret| Ok(secret.to_vec()),
    )
    .unwrap();
    assert_eq!(unb64(&server_secret["shared_secret"]).unwrap(), ours);

    // ML-DSA: PKCS#8 holding the 32-byte seed (RFC 9881's seed form); signatures verify.
    for (spec, signing) in [
        ("ML_DSA_44", &signature::ML_DSA_44_SIGNING),
        ("ML_DSA_65", &signature::ML_DSA_65_SIGNING),
        ("ML_DSA_87", &signature::ML_DSA_87_SIGNING),
    ] {
        let key = f.releasable(spec, "SIGN_VERIFY");
        let (answer, pkcs8) = f.release(&key);
        assert_eq!(
            (&answer["spec"], &answer["format"]),
            (&json!(spec), &json!("pkcs8-der"))
        );
        let der = pkcs8.expose();
        assert_eq!(der.len(), 54, "{spec}: the seed-only form");
        assert_eq!(
            &der[20..22],
            &[0x80, 0x20],
            "{spec}: [0] IMPLICIT, 32 bytes"
        );
        let pair = PqdsaKeyPair::from_pkcs8(signing, der).expect("ML-DSA PKCS#8");
        let seeded = PqdsaKeyPair::from_seed(signing, &der[22..]).expect("the seed");
        assert_eq!(
            pair.public_key().as_der().unwrap().as_ref(),
            seeded.public_key().as_der().unwrap().as_ref()
        );
        let spki = f.spki(&key);
        assert_eq!(
            pair.public_key().as_der().unwrap().as_ref(),
            spki.as_slice()
        );
        if openssl_has_ml_dsa() {
            assert_openssl_reads(&pkcs8, &spki, spec);
        }
        let mut signed = vec![0; signing.signature_len()];
        let len = pair.sign(message, &mut signed).unwrap();
        assert!(
            f.verifies(&key, "ML_DSA_SHAKE_256", message, &signed[..len]),
            "{spec}: a signature by the released key verifies"
        );
    }

    // Every release is audited as allowed, with the guest.
    let page: Value = f.auditor.get("/v1/audit?limit=1000").expect("audit");
    let allowed = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["operation"] == "release"
                && r["outcome"] == "allowed"
                && r["guest"] == f.guest.to_string().as_str()
        })
        .count();
    assert_eq!(allowed, 1 + 4 + 3 + 1 + 4 + 1 + 3);
}

/// Where material must not leave, the release of a new spec is refused by name and
/// audited: a key not created releasable, a token-resident key, a releasable key bound to
/// no policy, another guest than the allowed one, and a data key asked of a non-AES key.
#[test]
fn new_specs_are_refused_where_their_material_must_not_leave() {
    let f = Fixture::start();
    let attempt = |key: &str, guest: &Measurement, body: Value| {
        let nonce_b64 = challenge(&f.user, key).expect("challenge");
        let nonce = unb64(&Value::String(nonce_b64.clone())).unwrap();
        let (_, attestation) =
            attested_key(&f.server, &guest.to_string(), &nonce, 300).expect("attested");
        let mut request = json!({"nonce": nonce_b64, "certificate": attestation["certificate"],
                                 "chain": attestation["chain"]});
        if let (Some(request), Some(extra)) = (request.as_object_mut(), body.as_object()) {
            request.extend(extra.clone());
        }
        f.user
            .post::<Value>(&format!("/v1/keys/{key}/release"), &request)
    };
    let allowed = json!({"allowed-guests": f.guest.to_string()});

    let kept = create_key(
        &f.officer,
        &json!({"spec": "RSA_2048", "usage": "SIGN_VERIFY", "policy": f.policy,
                "tags": allowed}),
    )
    .expect("not releasable");
    let message = expect_api_error(attempt(&kept, &f.guest, json!({})), 409, "InvalidState");
    assert!(message.contains("not created releasable"), "{message}");

    // Token-resident keys are never releasable, and one that is not is refused as above.
    let refused = f.officer.post::<Value>(
        "/v1/keys",
        &json!({"spec": "HMAC_384", "origin": "token", "releasable": true}),
    );
    let message = expect_api_error(refused, 400, "InvalidInput");
    assert!(message.contains("releasable"), "{message}");
    let token = create_key(
        &f.officer,
        &json!({"spec": "HMAC_384", "origin": "token", "policy": f.policy, "tags": allowed}),
    )
    .expect("token-resident key");
    let message = expect_api_error(attempt(&token, &f.guest, json!({})), 409, "InvalidState");
    assert!(message.contains("not created releasable"), "{message}");

    let unbound = create_key(
        &f.officer,
        &json!({"spec": "ML_DSA_65", "releasable": true, "tags": allowed}),
    )
    .expect("no policy");
    expect_api_error(attempt(&unbound, &f.guest, json!({})), 403, "AccessDenied");

    let p521 = f.releasable("ECC_NIST_P521", "SIGN_VERIFY");
    let stranger = Measurement::of(b"another build");
    expect_api_error(attempt(&p521, &stranger, json!({})), 403, "AccessDenied");
    let message = expect_api_error(
        attempt(&p521, &f.guest, json!({"kind": "data-key"})),
        400,
        "InvalidKeyUsage",
    );
    assert!(!message.is_empty());

    let page: Value = f.auditor.get("/v1/audit?limit=1000").expect("audit");
    let denied: Vec<(String, String)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "release" && r["outcome"] == "denied")
        .map(|r| {
            (
                r["key"].as_str().unwrap_or("").to_owned(),
                r["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let reason_of = |key: &str| {
        denied
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, why)| why.as_str())
            .collect::<Vec<_>>()
    };
    assert!(
        reason_of(&kept)[0].contains("not created releasable"),
        "{denied:?}"
    );
    assert!(
        reason_of(&token)[0].contains("not created releasable"),
        "{denied:?}"
    );
    assert!(
        reason_of(&unbound)[0].contains("without a bound policy"),
        "{denied:?}"
    );
    let p521_reasons = reason_of(&p521);
    assert!(
        p521_reasons
            .iter()
            .any(|why| why.contains("allowed-guests")),
        "{denied:?}"
    );
    assert!(
        p521_reasons
            .iter()
            .any(|why| why.contains("data keys come from AES_256 keys")),
        "{denied:?}"
    );
}
