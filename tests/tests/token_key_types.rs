//! Token residency of the key specs of issue 17 on SoftHSM2, through the real server
//! (`kastell serve` on a SoftHSM2 token of its own): RSA, ECDSA and ECDH on the NIST curves
//! and secp256k1, HMAC of each size made with `origin = token` are generated on the token
//! (sensitive, never extractable) and used there; their outputs are the wrapped keys'
//! (DER ECDSA, SPKI public keys, RSA-OAEP with an empty label, full-length MACs) as
//! `openssl` and `pkcs11-tool` check both ways; bad inputs are refused by the same names;
//! and a spec the token cannot hold (ML-DSA) is refused by name, through the API and the
//! command line.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use kastell::client::{Client, RemoteError};
use kastell_tests::server::{Setup, SoftHsm, TestServer, expect_api_error};
use serde_json::{Value, json};
use serial_test::serial;
use sha2::Digest as _;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().expect("a base64 string"))
        .expect("base64")
}

/// A server on a SoftHSM2 token of its own, with an officer, a crypto-user and an auditor.
struct Hsm {
    hsm: SoftHsm,
    server: TestServer,
    officer: Client,
    user: Client,
    auditor: Client,
    dir: tempfile::TempDir,
}

impl Hsm {
    fn start(label: &str) -> Self {
        let hsm = SoftHsm::create(label).expect("SoftHSM2 token (apt-get install softhsm2)");
        let server = TestServer::start(&Setup::softhsm(&hsm).expect("set-up")).expect("serve");
        let officer = server.client(&server.officer()).expect("officer");
        let user = server.new_client("svc", "crypto-user", None).expect("user");
        let auditor = server
            .new_client("audit", "auditor", None)
            .expect("auditor");
        Self {
            hsm,
            server,
            officer,
            user,
            auditor,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn create(&self, spec: &str, usage: &str) -> Result<Value, RemoteError> {
        self.officer.post(
            "/v1/keys",
            &json!({ "spec": spec, "usage": usage, "origin": "token" }),
        )
    }

    /// A token-resident key; its id.
    fn key(&self, spec: &str, usage: &str) -> String {
        let key = self
            .create(spec, usage)
            .unwrap_or_else(|e| panic!("{spec} {usage} on the token: {e}"));
        assert_eq!(key["origin"], "token", "{key}");
        assert_eq!(key["versions"][0]["material"], "token", "{key}");
        key["id"].as_str().unwrap().to_owned()
    }

    fn call(&self, key: &str, action: &str, body: &Value) -> Result<Value, RemoteError> {
        self.user.post(&format!("/v1/keys/{key}/{action}"), body)
    }

    fn rotate(&self, key: &str) {
        let rotated: Value = self
            .officer
            .post(&format!("/v1/keys/{key}/rotate"), &json!({}))
            .expect("rotate");
        assert_eq!(rotated["versions"][1]["material"], "token", "{rotated}");
    }

    fn public_key(&self, key: &str) -> Value {
        self.user
            .get(&format!("/v1/keys/{key}/public-key"))
            .expect("public key")
    }

    /// Writes the key's exported public key (PEM) to a file; its path.
    fn pem_file(&self, key: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{key}.pem"));
        std::fs::write(&path, self.public_key(key)["pem"].as_str().unwrap()).unwrap();
        path
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn sign(&self, key: &str, algorithm: &str, body: Value) -> Vec<u8> {
        let mut body = body;
        body["algorithm"] = json!(algorithm);
        let out = self
            .call(key, "sign", &body)
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        unb64(&out["signature"])
    }

    fn verify(&self, key: &str, algorithm: &str, message: &[u8], signature: &[u8]) -> bool {
        self.call(
            key,
            "verify",
            &json!({
                "message": b64(message),
                "signature": b64(signature),
                "algorithm": algorithm,
            }),
        )
        .expect("verify")["valid"]
            .as_bool()
            .unwrap()
    }

    /// Asserts the last record of `operation` on `key` is a refusal naming `words`.
    #[track_caller]
    fn assert_refusal_audited(&self, key: Option<&str>, operation: &str, words: &str) {
        let page: Value = self
            .auditor
            .get("/v1/audit?after=0&limit=1000")
            .expect("audit");
        let last = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|r| r["operation"] == operation && key.is_none_or(|key| r["key"] == key))
            .unwrap_or_else(|| panic!("no {operation} record"))
            .clone();
        assert_eq!(last["outcome"], "denied", "{last}");
        assert!(
            last["reason"].as_str().unwrap().contains(words),
            "{words}: {last}"
        );
    }

    /// `pkcs11-tool` on this token, logged in; its standard output.
    fn pkcs11_tool(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("pkcs11-tool")
            .args(["--module", &self.hsm.module.display().to_string()])
            .args([
                "--token-label",
                &self.hsm.label,
                "--login",
                "--pin",
                SoftHsm::PIN,
            ])
            .args(args)
            .env("SOFTHSM2_CONF", &self.hsm.conf)
            .output()
            .expect("pkcs11-tool runs (opensc: scripts/softhsm-env installs it)");
        assert!(
            out.status.success(),
            "pkcs11-tool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
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

/// The token label of version `n` of `key` (`docs/key-types.md`: derived from the key id).
fn label(key: &str, n: u32) -> String {
    format!("kastell-{key}-v{n}")
}

/// The block `pkcs11-tool --list-objects` prints for the `class` object labelled `label`.
fn object_listed(listing: &str, class: &str, label: &str) -> Option<String> {
    let mut blocks = vec![String::new()];
    for line in listing.lines() {
        if !line.starts_with(' ') {
            blocks.push(String::new());
        }
        let block = blocks.last_mut()?;
        block.push_str(line);
        block.push('\n');
    }
    blocks.into_iter().find(|block| {
        block.starts_with(class)
            && block
                .lines()
                .any(|line| line.trim_start().strip_prefix("label:").map(str::trim) == Some(label))
    })
}

/// The `CKA_ID` of that version's objects (the label's bytes), in hex: `pkcs11-tool`
/// selects the key to sign with by id.
fn id(key: &str, n: u32) -> String {
    hex::encode(label(key, n))
}

fn softhsm_missing() -> bool {
    if Path::new(SoftHsm::MODULE).is_file() {
        return false;
    }
    eprintln!(
        "SKIPPED: {} is missing; scripts/softhsm-env installs softhsm2",
        SoftHsm::MODULE
    );
    true
}

/// Signing keys of RSA (each size), the NIST curves and secp256k1 on the token: a
/// signature verifies through the API and with `openssl` and the exported public key, as
/// does a `DIGEST` signature; a tampered message does not; after a rotation (version 2 on
/// the token too) version 1's signature still verifies.
#[test]
#[serial(softhsm)]
fn token_signing_keys_sign_on_the_token_and_openssl_verifies_them() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-signing");
    let message = hsm.file("message", b"signed inside the token");
    for (spec, algorithm, dgst, options) in [
        (
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
        ),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "-sha512", &[][..]),
        (
            "RSA_3072",
            "RSASSA_PSS_SHA_384",
            "-sha384",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:48",
            ][..],
        ),
        ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_256", "-sha256", &[][..]),
        ("ECC_NIST_P256", "ECDSA_SHA_256", "-sha256", &[][..]),
        ("ECC_NIST_P521", "ECDSA_SHA_512", "-sha512", &[][..]),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256", "-sha256", &[][..]),
    ] {
        let key = hsm.key(spec, "SIGN_VERIFY");
        let public = hsm.public_key(&key);
        assert_eq!(public["spec"], spec);
        let signature = hsm.sign(
            &key,
            algorithm,
            json!({ "message": b64(b"signed inside the token") }),
        );
        let signature_file = hsm.file(&format!("{key}.sig"), &signature);
        let pem = hsm.pem_file(&key);
        let mut args = vec![
            "dgst",
            dgst,
            "-verify",
            pem.to_str().unwrap(),
            "-signature",
            signature_file.to_str().unwrap(),
        ];
        args.extend_from_slice(options);
        args.push(message.to_str().unwrap());
        assert!(
            String::from_utf8_lossy(&openssl(&args)).contains("Verified OK"),
            "{spec} {algorithm}"
        );
        assert!(hsm.verify(&key, algorithm, b"signed inside the token", &signature));
        assert!(!hsm.verify(&key, algorithm, b"signed inside the tokeN", &signature));
        let mut flipped = signature.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(!hsm.verify(&key, algorithm, b"signed inside the token", &flipped));

        // A DIGEST the caller made signs as the message does.
        let digest = match dgst {
            "-sha256" => sha2::Sha256::digest(b"signed inside the token").to_vec(),
            "-sha384" => sha2::Sha384::digest(b"signed inside the token").to_vec(),
            _ => sha2::Sha512::digest(b"signed inside the token").to_vec(),
        };
        let of_digest = hsm.sign(
            &key,
            algorithm,
            json!({ "message": b64(&digest), "message_type": "DIGEST" }),
        );
        assert!(
            hsm.verify(&key, algorithm, b"signed inside the token", &of_digest),
            "{spec} {algorithm} DIGEST"
        );

        hsm.rotate(&key);
        let second = hsm.sign(&key, algorithm, json!({ "message": b64(b"v2") }));
        assert!(hsm.verify(&key, algorithm, b"v2", &second), "{spec}");
        assert!(
            hsm.verify(&key, algorithm, b"signed inside the token", &signature),
            "{spec}: version 1's signature still verifies"
        );
        assert_ne!(hsm.public_key(&key)["spki"], public["spki"], "{spec}");
    }
}

/// An RSA encryption key on the token, where the token takes RSA-OAEP with both hashes
/// the spec allows: RSA-OAEP (SHA-256 and SHA-1) through the API both ways, `openssl`
/// encrypting to the exported key for the token to decrypt, a ciphertext of the old
/// version decrypting after a rotation, and a plaintext over the bound or a tampered
/// ciphertext refused by the same names as for wrapped keys. SoftHSM2 2.6 takes OAEP with
/// SHA-1 only: there the key is refused by name at creation (what the token lacks), and
/// the token's OAEP with SHA-1 is checked below the API
/// (`a_token_rsa_key_decrypts_oaep_sha1_from_openssl_on_the_token`).
#[test]
#[serial(softhsm)]
fn a_token_rsa_key_decrypts_what_openssl_encrypts_to_its_public_key() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-oaep");
    let key = match hsm.create("RSA_2048", "ENCRYPT_DECRYPT") {
        Ok(key) => key["id"].as_str().unwrap().to_owned(),
        Err(refused) => {
            let message = expect_api_error(Err::<(), _>(refused), 400, "UnsupportedSpec");
            let lacks = "cannot hold RSA_2048 keys for ENCRYPT_DECRYPT (its CKM_RSA_PKCS_OAEP \
                         does not take RSAES_OAEP_SHA_256";
            assert!(message.contains(lacks), "{message}");
            assert!(
                message.ends_with("create it wrapped (the default)"),
                "{message}"
            );
            hsm.assert_refusal_audited(None, "create-key", lacks);
            let out = Command::new("softhsm2-util")
                .arg("--version")
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout).starts_with("2.6"),
                "only SoftHSM2 2.6 is known to lack OAEP with SHA-256"
            );
            return;
        }
    };
    let exported = hsm.public_key(&key);
    assert_eq!(
        exported["encryption_algorithms"],
        json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
    );
    let pem = hsm.pem_file(&key);
    let plaintext = hsm.file("plaintext", b"decrypted inside the token");
    let decrypt = |ciphertext: &[u8], algorithm: &str| {
        hsm.user.post::<Value>(
            "/v1/decrypt",
            &json!({ "ciphertext": b64(ciphertext), "key": key, "algorithm": algorithm }),
        )
    };
    let mut old = Vec::new();
    for (algorithm, hash) in [
        ("RSAES_OAEP_SHA_256", "sha256"),
        ("RSAES_OAEP_SHA_1", "sha1"),
    ] {
        let ciphertext = openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            pem.to_str().unwrap(),
            "-in",
            plaintext.to_str().unwrap(),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{hash}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{hash}"),
        ]);
        let opened = decrypt(&ciphertext, algorithm).expect("the token decrypts");
        assert_eq!(unb64(&opened["plaintext"]), b"decrypted inside the token");

        let sealed = hsm
            .call(
                &key,
                "encrypt",
                &json!({ "plaintext": b64(b"through the API"), "algorithm": algorithm }),
            )
            .expect("encrypt");
        let ciphertext = unb64(&sealed["ciphertext"]);
        assert_eq!(ciphertext.len(), 256, "the raw OAEP output");
        let opened = decrypt(&ciphertext, algorithm).expect("decrypt");
        assert_eq!(unb64(&opened["plaintext"]), b"through the API");
        old.push((ciphertext, algorithm));
    }

    // The wrong OAEP hash, and a tampered ciphertext: one opaque answer.
    let (ciphertext, _) = &old[0];
    expect_api_error(
        decrypt(ciphertext, "RSAES_OAEP_SHA_1"),
        400,
        "InvalidCiphertext",
    );
    let mut tampered = ciphertext.clone();
    tampered[10] ^= 1;
    expect_api_error(
        decrypt(&tampered, "RSAES_OAEP_SHA_256"),
        400,
        "InvalidCiphertext",
    );
    expect_api_error(
        decrypt(&ciphertext[1..], "RSAES_OAEP_SHA_256"),
        400,
        "InvalidCiphertext",
    );

    // The plaintext bound of RSA_2048 with SHA-256 (190 bytes) and SHA-1 (214).
    for (algorithm, max) in [("RSAES_OAEP_SHA_256", 190), ("RSAES_OAEP_SHA_1", 214)] {
        let encrypt = |len: usize| {
            hsm.call(
                &key,
                "encrypt",
                &json!({ "plaintext": b64(&vec![7; len]), "algorithm": algorithm }),
            )
        };
        encrypt(max).expect("the longest plaintext fits");
        let message = expect_api_error(encrypt(max + 1), 400, "InvalidInput");
        let expected = format!(
            "{algorithm} under an RSA_2048 key encrypts at most {max} bytes of plaintext, not {}",
            max + 1
        );
        assert!(message.contains(&expected), "{message}");
        hsm.assert_refusal_audited(Some(&key), "encrypt", &expected);
    }

    hsm.rotate(&key);
    for (ciphertext, algorithm) in &old {
        let opened = decrypt(ciphertext, algorithm).expect("version 1 still decrypts");
        assert_eq!(unb64(&opened["plaintext"]), b"through the API");
    }
}

/// Below the API, on the shared SoftHSM2 token: a token-resident RSA encryption key made
/// directly (SoftHSM2 2.6 takes OAEP with SHA-1 only, so the key service refuses the
/// spec there) decrypts what `openssl` encrypts with OAEP SHA-1 to the public key the
/// token exports, encrypts for itself, answers a tampered ciphertext with the one opaque
/// failure, refuses a plaintext over the bound by name, and has no material.
#[test]
#[serial(softhsm)]
fn a_token_rsa_key_decrypts_oaep_sha1_from_openssl_on_the_token() {
    use kastell_core::crypto::{CryptoError, KeyKind};
    use kastell_core::token::{Pkcs11Token, Token as _};
    use kastell_proto::KeyUsage;
    use kastell_proto::algorithm::EncryptionAlgorithm;

    let token = Pkcs11Token::open(&kastell_tests::softhsm_config()).expect("SoftHSM2");
    let label = kastell_tests::unique_label("oaep");
    token
        .generate_resident(&label, KeyKind::Rsa2048, KeyUsage::EncryptDecrypt)
        .expect("generate");
    let key = token.resident(&label, KeyKind::Rsa2048).expect("resident");
    assert!(matches!(key.material(), Err(CryptoError::InvalidKey(_))));
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("public.der");
    std::fs::write(&der, key.public_key_spki().expect("public key")).unwrap();
    let plaintext = dir.path().join("plaintext");
    std::fs::write(&plaintext, b"decrypted inside the token").unwrap();
    let ciphertext = openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        der.to_str().unwrap(),
        "-in",
        plaintext.to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha1",
        "-pkeyopt",
        "rsa_mgf1_md:sha1",
    ]);
    let sha1 = EncryptionAlgorithm::RsaesOaepSha1;
    assert_eq!(
        key.decrypt(sha1, &ciphertext).expect("decrypt").expose(),
        b"decrypted inside the token"
    );
    let ours = key.encrypt(sha1, b"for the token").expect("encrypt");
    assert_eq!(ours.len(), 256);
    assert_eq!(key.decrypt(sha1, &ours).unwrap().expose(), b"for the token");
    let mut tampered = ciphertext.clone();
    tampered[100] ^= 1;
    assert_eq!(
        key.decrypt(sha1, &tampered).map(|_| ()),
        Err(CryptoError::Authentication)
    );
    assert_eq!(
        key.decrypt(sha1, &ciphertext[1..]).map(|_| ()),
        Err(CryptoError::Authentication)
    );
    let err = key.encrypt(sha1, &[1; 215]).expect_err("over the bound");
    assert_eq!(
        err.to_string(),
        "RSAES_OAEP_SHA_1 under an RSA_2048 key encrypts at most 214 bytes of plaintext, not 215"
    );
    token.destroy(&label).expect("destroy");
    assert!(!token.contains(&label).expect("contains"));
}

/// HMAC keys of each new size on the token: full-length tags equal to what `pkcs11-tool`
/// computes with the same token object, verified in constant time (a truncated or altered
/// tag is not valid), across a rotation.
#[test]
#[serial(softhsm)]
fn token_hmac_keys_mac_on_the_token_as_pkcs11_tool_does() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-hmac");
    let message = hsm.file("message", b"authenticated inside the token");
    for (spec, algorithm, mechanism, len) in [
        ("HMAC_224", "HMAC_SHA_224", "SHA224-HMAC", 28),
        ("HMAC_256", "HMAC_SHA_256", "SHA256-HMAC", 32),
        ("HMAC_512", "HMAC_SHA_512", "SHA512-HMAC", 64),
    ] {
        let key = hsm.key(spec, "GENERATE_VERIFY_MAC");
        let mac = |message: &[u8]| -> Vec<u8> {
            let out = hsm
                .call(
                    &key,
                    "mac",
                    &json!({ "message": b64(message), "algorithm": algorithm }),
                )
                .expect("mac");
            unb64(&out["mac"])
        };
        let verify = |tag: &[u8]| -> bool {
            hsm.call(
                &key,
                "verify-mac",
                &json!({ "message": b64(b"authenticated inside the token"), "mac": b64(tag) }),
            )
            .expect("verify-mac")["valid"]
                .as_bool()
                .unwrap()
        };
        let tag = mac(b"authenticated inside the token");
        assert_eq!(tag.len(), len, "{spec}");
        let by_tool = hsm.pkcs11_tool(&[
            "--sign",
            "--mechanism",
            mechanism,
            "--id",
            &id(&key, 1),
            "--input-file",
            message.to_str().unwrap(),
        ]);
        assert_eq!(
            by_tool, tag,
            "{spec}: pkcs11-tool's MAC with the same object"
        );
        assert!(verify(&tag), "{spec}");
        assert!(!verify(&tag[..len - 1]), "{spec}: a truncated tag");
        let mut altered = tag.clone();
        altered[0] ^= 0x80;
        assert!(!verify(&altered), "{spec}");

        hsm.rotate(&key);
        let second = mac(b"authenticated inside the token");
        assert_ne!(second, tag, "{spec}: version 2 is another secret");
        assert!(verify(&tag) && verify(&second), "{spec}");
    }
}

/// ECDH keys on each NIST curve on the token: the shared secret the API derives with a
/// peer's key equals the one `openssl` derives with the exported public key; a peer key
/// on another curve is refused by name and audited.
#[test]
#[serial(softhsm)]
fn token_ecdh_keys_derive_what_openssl_derives() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-ecdh");
    let peer = |curve: &str| -> (PathBuf, Vec<u8>) {
        let path = hsm.dir.path().join(format!("peer-{curve}.pem"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            path.to_str().unwrap(),
        ]);
        let spki = openssl(&[
            "pkey",
            "-in",
            path.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ]);
        (path, spki)
    };
    for (spec, curve, len) in [
        ("ECC_NIST_P256", "prime256v1", 32),
        ("ECC_NIST_P384", "secp384r1", 48),
        ("ECC_NIST_P521", "secp521r1", 66),
    ] {
        let key = hsm.key(spec, "KEY_AGREEMENT");
        let (peer_key, peer_public) = peer(curve);
        let derived = hsm
            .call(
                &key,
                "derive-shared-secret",
                &json!({ "peer_public_key": b64(&peer_public) }),
            )
            .expect("derive");
        let secret = unb64(&derived["shared_secret"]);
        assert_eq!(secret.len(), len, "{spec}");
        let ours = hsm.pem_file(&key);
        let expected = openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            peer_key.to_str().unwrap(),
            "-peerkey",
            ours.to_str().unwrap(),
        ]);
        assert_eq!(secret, expected, "{spec}: openssl derives the same secret");
    }
    let key = hsm.key("ECC_NIST_P256", "KEY_AGREEMENT");
    let (_, p384_peer) = peer("secp384r1");
    let message = expect_api_error(
        hsm.call(
            &key,
            "derive-shared-secret",
            &json!({ "peer_public_key": b64(&p384_peer) }),
        ),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("the peer public key is on P-384, not P-256"),
        "{message}"
    );
    hsm.assert_refusal_audited(Some(&key), "derive-shared-secret", "is on P-384, not P-256");
}

/// What `pkcs11-tool` sees of token-resident keys: private keys sensitive and never
/// extractable; the public key it reads is the SPKI the API exports; signatures it makes
/// with the token's key (RSA-PSS, ECDSA) verify through the API.
#[test]
#[serial(softhsm)]
fn pkcs11_tool_sees_non_extractable_keys_whose_signatures_the_api_verifies() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-tool");
    let rsa = hsm.key("RSA_2048", "SIGN_VERIFY");
    let ec = hsm.key("ECC_NIST_P256", "SIGN_VERIFY");
    let hmac = hsm.key("HMAC_256", "GENERATE_VERIFY_MAC");
    let listing = String::from_utf8(hsm.pkcs11_tool(&["--list-objects"])).unwrap();
    for (key, class) in [
        (&rsa, "Private Key Object"),
        (&ec, "Private Key Object"),
        (&hmac, "Secret Key Object"),
    ] {
        let block = object_listed(&listing, class, &label(key, 1))
            .unwrap_or_else(|| panic!("{class} of {key} not listed:\n{listing}"));
        assert!(block.contains("never extractable"), "{block}");
        assert!(block.contains("sensitive"), "{block}");
    }

    let message = hsm.file("message", b"signed by pkcs11-tool");
    for (key, mechanism, algorithm) in [
        (&rsa, "SHA256-RSA-PKCS-PSS", "RSASSA_PSS_SHA_256"),
        (&ec, "ECDSA", "ECDSA_SHA_256"),
    ] {
        let read = hsm.pkcs11_tool(&["--read-object", "--type", "pubkey", "--id", &id(key, 1)]);
        assert_eq!(
            read,
            unb64(&hsm.public_key(key)["spki"]),
            "{algorithm}: pkcs11-tool reads the public key the API exports"
        );
        let input = if mechanism == "ECDSA" {
            // SoftHSM2 has no CKM_ECDSA_SHA256: the digest is signed, as Kastell does.
            hsm.file("digest", &sha2::Sha256::digest(b"signed by pkcs11-tool"))
        } else {
            message.clone()
        };
        let object = id(key, 1);
        let mut args = vec![
            "--sign",
            "--mechanism",
            mechanism,
            "--id",
            &object,
            "--input-file",
            input.to_str().unwrap(),
        ];
        if mechanism == "ECDSA" {
            args.extend(["--signature-format", "openssl"]);
        } else {
            args.extend(["--mgf", "MGF1-SHA256", "--salt-len", "32"]);
        }
        let signature = hsm.pkcs11_tool(&args);
        assert!(
            hsm.verify(key, algorithm, b"signed by pkcs11-tool", &signature),
            "{algorithm}: the API verifies pkcs11-tool's signature"
        );
    }
}

/// A spec the token cannot hold is refused by name before anything is made, through the
/// API (audited) and `kastell key create`; so is a token-resident key made releasable.
/// Bad inputs to token-resident keys are refused by the names wrapped keys get.
#[test]
#[serial(softhsm)]
fn specs_the_token_cannot_hold_and_bad_inputs_are_refused_by_name() {
    if softhsm_missing() {
        return;
    }
    let hsm = Hsm::start("kastell-refusals");
    for spec in ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"] {
        let message = expect_api_error(hsm.create(spec, "SIGN_VERIFY"), 400, "UnsupportedSpec");
        assert!(
            message.starts_with("token PKCS#11 token `kastell-refusals`"),
            "{message}"
        );
        assert!(
            message.contains(&format!("cannot hold {spec} keys for SIGN_VERIFY")),
            "{message}"
        );
        assert!(
            message.contains("it has no CKM_ML_DSA_KEY_PAIR_GEN"),
            "{message}"
        );
        assert!(
            message.ends_with("create it wrapped (the default)"),
            "{message}"
        );
        hsm.assert_refusal_audited(None, "create-key", &format!("cannot hold {spec}"));
    }
    let out = hsm
        .server
        .kastell(&[
            "key",
            "create",
            "--spec",
            "ML_DSA_65",
            "--origin",
            "token",
            "--config",
            &hsm.server.deployment().config().display().to_string(),
        ])
        .expect("kastell runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("UnsupportedSpec: token PKCS#11 token `kastell-refusals`"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot hold ML_DSA_65"), "{stderr}");
    let created = hsm
        .officer
        .post::<Value>("/v1/keys", &json!({ "spec": "ML_DSA_65" }))
        .expect("wrapped, the default, holds every spec");
    assert_eq!(created["origin"], "wrapped");
    expect_api_error(
        hsm.officer.post::<Value>(
            "/v1/keys",
            &json!({ "spec": "RSA_2048", "usage": "SIGN_VERIFY", "origin": "token", "releasable": true }),
        ),
        400,
        "InvalidInput",
    );

    let ec = hsm.key("ECC_NIST_P256", "SIGN_VERIFY");
    let message = expect_api_error(
        hsm.call(
            &ec,
            "sign",
            &json!({ "message": b64(&[7; 31]), "message_type": "DIGEST" }),
        ),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("a DIGEST for ECDSA_SHA_256 is 32 bytes, not 31"),
        "{message}"
    );
    hsm.assert_refusal_audited(Some(&ec), "sign", "is 32 bytes, not 31");
    let rsa = hsm.key("RSA_2048", "SIGN_VERIFY");
    let message = expect_api_error(
        hsm.call(
            &rsa,
            "sign",
            &json!({ "message": b64(b"m"), "algorithm": "ECDSA_SHA_256" }),
        ),
        400,
        "UnsupportedAlgorithm",
    );
    assert_eq!(message, "RSA_2048 does not allow ECDSA_SHA_256");
    hsm.assert_refusal_audited(Some(&rsa), "sign", "RSA_2048 does not allow ECDSA_SHA_256");
    let message = expect_api_error(
        hsm.call(
            &rsa,
            "verify",
            &json!({
                "message": b64(&[1; 20]),
                "message_type": "DIGEST",
                "signature": b64(&[0; 256]),
                "algorithm": "RSASSA_PSS_SHA_256",
            }),
        ),
        400,
        "InvalidInput",
    );
    assert!(
        message.contains("a DIGEST for RSASSA_PSS_SHA_256 is 32 bytes, not 20"),
        "{message}"
    );
}

/// Through the key service on the shared SoftHSM2 token: token-resident keys of the new
/// specs rotate (each version its own token object), are never put in the key cache,
/// keep their sealed records readable, are refused as releasable, and when their deletion
/// window ends the sweep destroys every version's token objects.
#[test]
#[serial(softhsm)]
fn token_resident_keys_rotate_skip_the_cache_and_their_objects_are_destroyed() {
    use std::sync::Arc;

    use kastell_core::keys::{
        Caller, KeyError, KeyState, NewKey, ServiceKeys, SignInput, token_label,
    };
    use kastell_core::store::Store as _;
    use kastell_core::token::{Pkcs11Token, Token};
    use kastell_proto::algorithm::SigningAlgorithm;
    use kastell_proto::{KeySpec, KeyUsage, Origin, Role};

    let token: Arc<dyn Token> =
        Arc::new(Pkcs11Token::open(&kastell_tests::softhsm_config()).expect("SoftHSM2"));
    let dir = tempfile::tempdir().unwrap();
    let (service, store, _) = kastell_tests::key_service(
        dir.path(),
        Arc::clone(&token),
        ServiceKeys::with_prefix(&kastell_tests::unique_label("service")),
        &[],
    );
    let caller = |role| Caller {
        id: "someone".into(),
        roles: vec![role],
        tenant: None,
        evidence: None,
    };
    let (officer, user) = (caller(Role::CryptoOfficer), caller(Role::CryptoUser));
    let new = |spec, usage, releasable| NewKey {
        spec,
        usage: Some(usage),
        origin: Origin::Token,
        description: String::new(),
        tags: Default::default(),
        policy: None,
        releasable,
    };
    assert!(matches!(
        service.create_key(
            &officer,
            new(KeySpec::Rsa2048, KeyUsage::SignVerify, true),
            None
        ),
        Err(KeyError::InvalidInput(_))
    ));

    let rsa = service
        .create_key(
            &officer,
            new(KeySpec::Rsa3072, KeyUsage::SignVerify, false),
            None,
        )
        .expect("RSA_3072 on the token");
    let ecdh = service
        .create_key(
            &officer,
            new(KeySpec::EccNistP384, KeyUsage::KeyAgreement, false),
            None,
        )
        .expect("P-384 key agreement on the token");
    let mac = service
        .create_key(
            &officer,
            new(KeySpec::Hmac512, KeyUsage::GenerateVerifyMac, false),
            None,
        )
        .expect("HMAC_512 on the token");
    let peer = kastell_core::crypto::AwsLc;
    let peer_spki = {
        use kastell_core::crypto::{CryptoProvider as _, KeyKind};
        let material = peer.generate(KeyKind::P384).unwrap();
        peer.prepare(KeyKind::P384, material)
            .unwrap()
            .public_key_spki()
            .unwrap()
            .to_vec()
    };
    for key in [&rsa, &ecdh, &mac] {
        let id = key.id.to_string();
        service.rotate(&officer, &id).expect("rotate");
        match key.spec {
            KeySpec::Rsa3072 => {
                let signed = service
                    .sign_with(
                        &user,
                        &id,
                        SignInput::Message(b"m"),
                        Some(SigningAlgorithm::RsassaPssSha512),
                    )
                    .expect("sign");
                assert_eq!((signed.version, signed.der.len()), (2, 384));
            }
            KeySpec::EccNistP384 => {
                let (_, secret) = service
                    .derive_shared_secret(&user, &id, None, &peer_spki)
                    .expect("derive");
                assert_eq!(secret.len(), 48);
                assert!(service.public_key(&user, &id).is_ok());
            }
            _ => {
                let tag = service.generate_mac(&user, &id, b"m").expect("mac");
                assert_eq!(tag.len(), 64);
                assert!(service.verify_mac(&user, &id, b"m", &tag).expect("verify"));
            }
        }
        for version in [1, 2] {
            assert!(token.contains(&token_label(&key.id, version)).unwrap());
        }
    }
    assert!(
        service.key_cache().is_empty(),
        "token-resident keys are never cached: nothing of theirs is on the host"
    );

    // The record is sealed by the token's record key like any other: an edited spec is
    // refused as tampering before the token is asked for anything.
    let edit_spec = |spec: &str| {
        let conn = rusqlite::Connection::open(dir.path().join("kastell.db")).unwrap();
        let changed = conn
            .execute(
                "UPDATE keys SET spec = ?1 WHERE id = ?2",
                rusqlite::params![spec, rsa.id.to_string()],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    edit_spec("RSA_2048");
    let refused = service.sign_with(
        &user,
        &rsa.id.to_string(),
        SignInput::Message(b"m"),
        Some(SigningAlgorithm::RsassaPssSha256),
    );
    assert!(
        matches!(refused, Err(KeyError::TamperDetected(_))),
        "{refused:?}"
    );
    edit_spec("RSA_3072");

    let mut delete_at = 0;
    for key in [&rsa, &ecdh, &mac] {
        let scheduled = service
            .schedule_deletion(&officer, &key.id.to_string(), 7)
            .expect("schedule");
        let KeyState::PendingDeletion { delete_at: at } = scheduled.state else {
            panic!("{:?}", scheduled.state)
        };
        delete_at = delete_at.max(at);
    }
    let destroyed = service.destroy_due(delete_at + 1).expect("sweep");
    for key in [&rsa, &ecdh, &mac] {
        assert!(destroyed.contains(&key.id));
        assert_eq!(
            store.key(&key.id).unwrap().unwrap().state,
            KeyState::Destroyed
        );
        for version in [1, 2] {
            let label = token_label(&key.id, version);
            assert!(!token.contains(&label).unwrap(), "{label} destroyed");
        }
    }
}
