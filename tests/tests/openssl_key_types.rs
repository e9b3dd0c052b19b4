//! Cross-checks of the key kinds of `docs/key-types.md` with an independent
//! implementation, the `openssl` command (OpenSSL 3): it verifies Kastell's RSA-PSS,
//! RSA PKCS#1 v1.5 and ECDSA signatures with the public key Kastell exports (SPKI, written
//! as PEM), Kastell verifies OpenSSL's; OpenSSL encrypts with RSA-OAEP to Kastell's public
//! key and Kastell decrypts, and the other way round with Kastell's PKCS#8 material; the
//! ECDH secret Kastell derives equals `openssl pkeyutl -derive`'s.
//!
//! ML-DSA is not cross-checked here when the installed OpenSSL predates 3.5 (the first
//! with ML-DSA): the test says so on its output and checks the rest.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use kastell_core::crypto::{AwsLc, CryptoProvider as _, KeyKind, PreparedKey};
use kastell_core::secret::SecretBytes;
use kastell_proto::algorithm::{EncryptionAlgorithm, MessageType, SigningAlgorithm};

/// Runs `openssl`; panics with its output when it fails.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether `openssl` accepts these arguments (a verification that fails is `false`).
fn openssl_succeeds(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command")
        .status
        .success()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// A SubjectPublicKeyInfo as a PEM `PUBLIC KEY`.
fn pem(spki: &[u8]) -> Vec<u8> {
    let base64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let mut text = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in base64.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push('\n');
    }
    text.push_str("-----END PUBLIC KEY-----\n");
    text.into_bytes()
}

fn prepared(kind: KeyKind) -> Box<dyn PreparedKey> {
    AwsLc
        .prepare(kind, AwsLc.generate(kind).expect("generate"))
        .expect("prepare")
}

/// The `openssl dgst` options of a signing algorithm: the digest, and the PSS padding
/// (salt = the hash's length, MGF1 with the same hash, as AWS KMS signs).
fn dgst_options(algorithm: SigningAlgorithm) -> Vec<&'static str> {
    let digest = match algorithm.digest_len() {
        Some(32) => "-sha256",
        Some(48) => "-sha384",
        Some(64) => "-sha512",
        _ => panic!("{algorithm} has no SHA-2 digest"),
    };
    let mut options = vec![digest];
    if algorithm.as_str().starts_with("RSASSA_PSS") {
        // MGF1 takes the signing digest by default.
        options.extend([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    options
}

/// Signs with `key` (RAW and DIGEST) and has openssl verify both signatures with the
/// exported public key; a signature over another message fails openssl's check.
fn openssl_verifies_ours(dir: &Path, key: &dyn PreparedKey, algorithm: SigningAlgorithm) {
    let message = format!("a message signed with {algorithm} by a {} key", key.kind());
    let msg = write(dir, "msg", message.as_bytes());
    let other = write(dir, "other", b"another message");
    let public = write(
        dir,
        "public.pem",
        &pem(key.public_key_spki().expect("spki")),
    );
    let hash = algorithm.hash().expect("a hash");
    let digest = aws_lc_rs::digest::digest(
        match hash.output_len() {
            32 => &aws_lc_rs::digest::SHA256,
            48 => &aws_lc_rs::digest::SHA384,
            _ => &aws_lc_rs::digest::SHA512,
        },
        message.as_bytes(),
    );
    for (message_type, input) in [
        (MessageType::Raw, message.as_bytes()),
        (MessageType::Digest, digest.as_ref()),
    ] {
        let signature = key.sign(algorithm, message_type, input).expect("sign");
        let sig = write(dir, "sig", &signature);
        let mut args = vec!["dgst"];
        args.extend(dgst_options(algorithm));
        args.extend(["-verify", public.as_str(), "-signature", sig.as_str()]);
        assert!(
            openssl_succeeds(&[args.as_slice(), &[msg.as_str()][..]].concat()),
            "openssl refused Kastell's {algorithm} {message_type} signature ({})",
            key.kind()
        );
        assert!(
            !openssl_succeeds(&[args.as_slice(), &[other.as_str()][..]].concat()),
            "openssl accepted Kastell's {algorithm} signature over another message"
        );
    }
}

/// Has openssl sign with a new key of its own and checks Kastell verifies the signature
/// with the public key openssl exported (DER SPKI), and not over another message.
fn we_verify_openssls(dir: &Path, kind: KeyKind, genpkey: &[&str], algorithm: SigningAlgorithm) {
    let private = dir.join("openssl-key.pem").display().to_string();
    openssl(&[&["genpkey"][..], genpkey, &["-out", private.as_str()][..]].concat());
    let spki = openssl(&["pkey", "-in", &private, "-pubout", "-outform", "DER"]);
    let message = format!("a message signed with {algorithm} by openssl");
    let msg = write(dir, "msg", message.as_bytes());
    let mut args = vec!["dgst"];
    args.extend(dgst_options(algorithm));
    args.extend(["-sign", private.as_str(), msg.as_str()]);
    let signature = openssl(&args);
    let verify = |input: &[u8]| {
        AwsLc.verify_with_public_key(kind, &spki, algorithm, MessageType::Raw, input, &signature)
    };
    assert_eq!(verify(message.as_bytes()), Ok(true), "{kind} {algorithm}");
    assert_eq!(verify(b"another message"), Ok(false), "{kind} {algorithm}");
}

#[test]
fn openssl_and_kastell_verify_each_others_rsa_signatures_with_every_rsa_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, bits) in [
        (KeyKind::Rsa2048, "2048"),
        (KeyKind::Rsa3072, "3072"),
        (KeyKind::Rsa4096, "4096"),
    ] {
        let key = prepared(kind);
        let keygen = format!("rsa_keygen_bits:{bits}");
        for &algorithm in kind.signing_algorithms() {
            openssl_verifies_ours(dir.path(), key.as_ref(), algorithm);
        }
        // One openssl key per size, every algorithm.
        for &algorithm in kind.signing_algorithms() {
            we_verify_openssls(
                dir.path(),
                kind,
                &["-algorithm", "RSA", "-pkeyopt", &keygen],
                algorithm,
            );
        }
    }
}

#[test]
fn openssl_and_kastell_verify_each_others_ecdsa_signatures_on_every_curve() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, curve) in [
        (KeyKind::EccNistP256, "P-256"),
        (KeyKind::P384, "P-384"),
        (KeyKind::EccNistP521, "P-521"),
        (KeyKind::EccSecgP256k1, "secp256k1"),
    ] {
        let key = prepared(kind);
        let paramgen = format!("ec_paramgen_curve:{curve}");
        for &algorithm in kind.signing_algorithms() {
            openssl_verifies_ours(dir.path(), key.as_ref(), algorithm);
            we_verify_openssls(
                dir.path(),
                kind,
                &["-algorithm", "EC", "-pkeyopt", &paramgen],
                algorithm,
            );
        }
    }
}

#[test]
fn rsa_oaep_ciphertexts_decrypt_across_openssl_and_kastell_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::Rsa4096] {
        let material = AwsLc.generate(kind).expect("generate");
        // Kastell's material is PKCS#8 DER: openssl reads it as it is.
        let private = write(dir.path(), "private.der", material.expose());
        let key = AwsLc.prepare(kind, material).expect("prepare");
        let public = write(
            dir.path(),
            "public.pem",
            &pem(key.public_key_spki().unwrap()),
        );
        for (algorithm, md) in [
            (EncryptionAlgorithm::RsaesOaepSha256, "sha256"),
            (EncryptionAlgorithm::RsaesOaepSha1, "sha1"),
        ] {
            let oaep_md = format!("rsa_oaep_md:{md}");
            let mgf1_md = format!("rsa_mgf1_md:{md}");
            let options = [
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                oaep_md.as_str(),
                "-pkeyopt",
                mgf1_md.as_str(),
            ];
            // openssl encrypts to Kastell's public key; Kastell decrypts.
            let plaintext = format!("a {kind} secret under {algorithm}");
            let pt = write(dir.path(), "pt", plaintext.as_bytes());
            let mut args = vec![
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-inkey",
                public.as_str(),
                "-in",
                pt.as_str(),
            ];
            args.extend(options);
            let ciphertext = openssl(&args);
            assert_eq!(
                key.decrypt(algorithm, &ciphertext)
                    .expect("decrypt openssl's")
                    .expose(),
                plaintext.as_bytes(),
                "{kind} {algorithm}"
            );
            // Kastell encrypts; openssl decrypts with Kastell's PKCS#8 material.
            let ours = key.encrypt(algorithm, b"from Kastell").expect("encrypt");
            let ct = write(dir.path(), "ct", &ours);
            let mut args = vec![
                "pkeyutl",
                "-decrypt",
                "-keyform",
                "DER",
                "-inkey",
                private.as_str(),
                "-in",
                ct.as_str(),
            ];
            args.extend(options);
            assert_eq!(openssl(&args), b"from Kastell", "{kind} {algorithm}");
        }
    }
}

#[test]
fn ecdh_secrets_equal_openssls_on_every_nist_curve() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, curve) in [
        (KeyKind::EccNistP256, "P-256"),
        (KeyKind::P384, "P-384"),
        (KeyKind::EccNistP521, "P-521"),
    ] {
        let key = prepared(kind);
        let ours = write(dir.path(), "ours.pem", &pem(key.public_key_spki().unwrap()));
        let peer: PathBuf = dir.path().join("peer.pem");
        let peer = peer.display().to_string();
        let paramgen = format!("ec_paramgen_curve:{curve}");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &paramgen,
            "-out",
            &peer,
        ]);
        let peer_spki = openssl(&["pkey", "-in", &peer, "-pubout", "-outform", "DER"]);
        let theirs = openssl(&["pkeyutl", "-derive", "-inkey", &peer, "-peerkey", &ours]);
        let secret = key.derive_shared_secret(&peer_spki).expect("derive");
        assert_eq!(secret.expose(), theirs.as_slice(), "{kind}");
        assert_eq!(secret, SecretBytes::from_slice(&theirs));
    }
}

#[test]
fn ml_dsa_cross_check_with_openssl_runs_where_openssl_has_ml_dsa() {
    let has_ml_dsa = openssl_succeeds(&["list", "-signature-algorithms"])
        && String::from_utf8_lossy(&openssl(&["list", "-signature-algorithms"])).contains("ML-DSA");
    if !has_ml_dsa {
        let version = String::from_utf8_lossy(&openssl(&["version"])).into_owned();
        println!(
            "ML-DSA cross-check skipped: {} has no ML-DSA (OpenSSL 3.5 and later do); \
             the Wycheproof ML-DSA vectors in known_answers_key_types.rs still run",
            version.trim()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for kind in [KeyKind::MlDsa44, KeyKind::MlDsa65, KeyKind::MlDsa87] {
        let key = prepared(kind);
        let msg = write(dir.path(), "msg", b"a message for ML-DSA");
        let public = write(
            dir.path(),
            "public.pem",
            &pem(key.public_key_spki().unwrap()),
        );
        let signature = key
            .sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::Raw,
                b"a message for ML-DSA",
            )
            .expect("sign");
        let sig = write(dir.path(), "sig", &signature);
        assert!(
            openssl_succeeds(&[
                "pkeyutl", "-verify", "-pubin", "-inkey", &public, "-in", &msg, "-sigfile", &sig,
            ]),
            "openssl refused Kastell's {kind} signature"
        );
    }
}
