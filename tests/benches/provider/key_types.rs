//! Issue 17, point 8: every operation of the new key types, Kastell's prepared key against
//! bare aws-lc-rs doing the same operation, side by side in the same run.
//!
//! - **Kastell**: the key the key cache holds (`AwsLc::prepare`, one `PreparedKey` per
//!   family in `host/core/src/crypto/awslc/`), called through the trait object as the key
//!   service calls it: the algorithm and message checks, the output in a fresh `Vec` (or a
//!   `SecretBytes`, zeroized on drop, for what is secret).
//! - **bare aws-lc-rs**: the same material loaded once into aws-lc-rs's own types
//!   (`RsaKeyPair`, `EcdsaKeyPair`, `agreement::PrivateKey`, `hmac::Key`, `PqdsaKeyPair`;
//!   public keys as `ParsedPublicKey`, OAEP keys made once), each call writing its output
//!   into a fresh buffer.
//!
//! Messages are 64 bytes (`RAW`: both paths hash them); OAEP plaintexts 32 bytes; the ECDH
//! peer key is a SubjectPublicKeyInfo, as the API takes it. Target: Kastell ≥ 0.9× bare.

use std::hint::black_box;

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, ParsedPublicKey, PqdsaKeyPair, RsaKeyPair};
use kastell_core::crypto::{AwsLc, CryptoProvider as _, KeyKind, PreparedKey};
use kastell_core::secret::SecretBytes;
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm};

use crate::measure::{Plan, Row, compare};

const MESSAGE: [u8; 64] = [0xa5; 64];
const OAEP_PLAINTEXT: [u8; 32] = [0x3c; 32];

/// The rows measured so far, for the summary.
struct Table<'a> {
    plan: &'a Plan,
    rows: Vec<(String, Row)>,
}

impl Table<'_> {
    /// Measures and prints one row, if the plan wants it.
    fn row(&mut self, name: &str, bare: impl FnMut(), ours: impl FnMut()) {
        if !self.plan.wants(name) {
            return;
        }
        let row = compare(self.plan, bare, ours);
        println!(
            "| {name} | {:.2} | {:.2} | {:.3} ({:.2}–{:.2}) |",
            1e6 / row.bare,
            1e6 / row.ours,
            row.ratio,
            row.low,
            row.high
        );
        self.rows.push((name.to_owned(), row));
    }
}

/// A new key of `kind`: its material and Kastell's prepared key made of it.
fn key(kind: KeyKind) -> (SecretBytes, Box<dyn PreparedKey>) {
    let material = AwsLc.generate(kind).expect("generate");
    let prepared = AwsLc
        .prepare(kind, SecretBytes::from_slice(material.expose()))
        .expect("prepare");
    (material, prepared)
}

/// Measures every row; prints the table and the rows below the target.
pub fn run(plan: &Plan) {
    println!();
    println!("Issue 17: every key type, Kastell's prepared key against bare aws-lc-rs.");
    println!();
    println!(
        "| operation | bare aws-lc-rs µs/op | Kastell µs/op | Kastell / bare, median of rounds (range) |"
    );
    println!("|---|---|---|---|");
    let mut table = Table {
        plan,
        rows: Vec::new(),
    };
    rsa(&mut table);
    ecdsa(&mut table);
    ecdh(&mut table);
    mac(&mut table);
    ml_dsa(&mut table);
    let below: Vec<String> = table
        .rows
        .iter()
        .filter(|(_, row)| !row.met())
        .map(|(name, row)| format!("{name} {:.3}", row.ratio))
        .collect();
    println!();
    println!(
        "Target Kastell / bare ≥ 0.9: {} of {} rows met{}",
        table.rows.len() - below.len(),
        table.rows.len(),
        if below.is_empty() {
            ".".to_owned()
        } else {
            format!("; NOT met: {}.", below.join(", "))
        }
    );
}

fn rsa(table: &mut Table<'_>) {
    let rng = SystemRandom::new();
    for (kind, size) in [
        (KeyKind::Rsa2048, "RSA-2048"),
        (KeyKind::Rsa3072, "RSA-3072"),
        (KeyKind::Rsa4096, "RSA-4096"),
    ] {
        let (material, ours) = key(kind);
        let bare = RsaKeyPair::from_pkcs8(material.expose()).expect("RSA key");
        let spki = ours.public_key_spki().expect("spki").to_vec();
        for (algorithm, encoding, parameters, scheme) in [
            (
                SigningAlgorithm::RsassaPssSha256,
                &signature::RSA_PSS_SHA256,
                &signature::RSA_PSS_2048_8192_SHA256,
                "PSS SHA-256",
            ),
            (
                SigningAlgorithm::RsassaPkcs1V15Sha256,
                &signature::RSA_PKCS1_SHA256,
                &signature::RSA_PKCS1_2048_8192_SHA256,
                "PKCS#1 v1.5 SHA-256",
            ),
        ] {
            table.row(
                &format!("{size} {scheme} sign"),
                || {
                    let mut out = vec![0; bare.public_modulus_len()];
                    bare.sign(encoding, &rng, &MESSAGE, &mut out).expect("sign");
                    black_box(out);
                },
                || {
                    black_box(
                        ours.sign(algorithm, MessageType::Raw, &MESSAGE)
                            .expect("sign"),
                    );
                },
            );
            let signed = ours
                .sign(algorithm, MessageType::Raw, &MESSAGE)
                .expect("sign");
            let public = ParsedPublicKey::new(parameters, &spki).expect("public key");
            table.row(
                &format!("{size} {scheme} verify"),
                || assert!(public.verify_sig(&MESSAGE, &signed).is_ok()),
                || {
                    assert_eq!(
                        ours.verify(algorithm, MessageType::Raw, &MESSAGE, &signed),
                        Ok(true)
                    );
                },
            );
        }
        let private = PrivateDecryptingKey::from_pkcs8(material.expose()).expect("RSA key");
        let encrypter = OaepPublicEncryptingKey::new(private.public_key()).expect("public");
        let decrypter = OaepPrivateDecryptingKey::new(private).expect("private");
        let oaep = EncryptionAlgorithm::RsaesOaepSha256;
        table.row(
            &format!("{size} OAEP SHA-256 encrypt"),
            || {
                let mut out = vec![0; encrypter.ciphertext_size()];
                let len = encrypter
                    .encrypt(&OAEP_SHA256_MGF1SHA256, &OAEP_PLAINTEXT, &mut out, None)
                    .expect("encrypt")
                    .len();
                out.truncate(len);
                black_box(out);
            },
            || {
                black_box(ours.encrypt(oaep, &OAEP_PLAINTEXT).expect("encrypt"));
            },
        );
        let sealed = ours.encrypt(oaep, &OAEP_PLAINTEXT).expect("encrypt");
        table.row(
            &format!("{size} OAEP SHA-256 decrypt"),
            || {
                let mut out = vec![0; decrypter.min_output_size()];
                let plaintext = decrypter
                    .decrypt(&OAEP_SHA256_MGF1SHA256, &sealed, &mut out, None)
                    .expect("decrypt");
                assert_eq!(plaintext.len(), OAEP_PLAINTEXT.len());
            },
            || {
                let plaintext = ours.decrypt(oaep, &sealed).expect("decrypt");
                assert_eq!(plaintext.len(), OAEP_PLAINTEXT.len());
            },
        );
    }
}

fn ecdsa(table: &mut Table<'_>) {
    let rng = SystemRandom::new();
    for (kind, algorithm, signing, verification, curve) in [
        (
            KeyKind::EccNistP256,
            SigningAlgorithm::EcdsaSha256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            "P-256",
        ),
        (
            KeyKind::EccNistP521,
            SigningAlgorithm::EcdsaSha512,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1,
            "P-521",
        ),
        (
            KeyKind::EccSecgP256k1,
            SigningAlgorithm::EcdsaSha256,
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256K1_SHA256_ASN1,
            "secp256k1",
        ),
    ] {
        let (_, ours) = key(kind);
        let pkcs8 = ours.private_key_pkcs8().expect("pkcs8");
        let bare = EcdsaKeyPair::from_pkcs8(signing, pkcs8.expose()).expect("EC key");
        table.row(
            &format!("ECDSA {curve} sign (DER)"),
            || {
                black_box(bare.sign(&rng, &MESSAGE).expect("sign"));
            },
            || {
                black_box(
                    ours.sign(algorithm, MessageType::Raw, &MESSAGE)
                        .expect("sign"),
                );
            },
        );
        let signed = ours
            .sign(algorithm, MessageType::Raw, &MESSAGE)
            .expect("sign");
        let public =
            ParsedPublicKey::new(verification, ours.public_key_spki().expect("spki")).expect("key");
        table.row(
            &format!("ECDSA {curve} verify"),
            || assert!(public.verify_sig(&MESSAGE, &signed).is_ok()),
            || {
                assert_eq!(
                    ours.verify(algorithm, MessageType::Raw, &MESSAGE, &signed),
                    Ok(true)
                );
            },
        );
    }
}

fn ecdh(table: &mut Table<'_>) {
    for (kind, algorithm, curve) in [
        (KeyKind::EccNistP256, &agreement::ECDH_P256, "P-256"),
        (KeyKind::P384, &agreement::ECDH_P384, "P-384"),
        (KeyKind::EccNistP521, &agreement::ECDH_P521, "P-521"),
    ] {
        let (material, ours) = key(kind);
        let bare =
            agreement::PrivateKey::from_private_key(algorithm, material.expose()).expect("key");
        let peer = agreement::PrivateKey::generate(algorithm).expect("peer");
        let peer_spki = peer
            .compute_public_key()
            .expect("peer public key")
            .as_der()
            .expect("spki")
            .as_ref()
            .to_vec();
        table.row(
            &format!("ECDH {curve} (peer SPKI)"),
            || {
                let secret = agreement::agree(
                    &bare,
                    agreement::UnparsedPublicKey::new(algorithm, &peer_spki),
                    aws_lc_rs::error::Unspecified,
                    |secret| Ok(SecretBytes::from_slice(secret)),
                )
                .expect("agree");
                black_box(secret);
            },
            || {
                black_box(ours.derive_shared_secret(&peer_spki).expect("derive"));
            },
        );
    }
}

fn mac(table: &mut Table<'_>) {
    for (kind, algorithm, bare_algorithm, name) in [
        (
            KeyKind::Hmac224,
            MacAlgorithm::HmacSha224,
            hmac::HMAC_SHA224,
            "HMAC-SHA-224",
        ),
        (
            KeyKind::Hmac256,
            MacAlgorithm::HmacSha256,
            hmac::HMAC_SHA256,
            "HMAC-SHA-256",
        ),
        (
            KeyKind::Hmac512,
            MacAlgorithm::HmacSha512,
            hmac::HMAC_SHA512,
            "HMAC-SHA-512",
        ),
    ] {
        let (material, ours) = key(kind);
        let bare = hmac::Key::new(bare_algorithm, material.expose());
        table.row(
            &format!("{name} mac 64 B"),
            || {
                black_box(hmac::sign(&bare, &MESSAGE));
            },
            || {
                black_box(ours.mac(algorithm, &MESSAGE).expect("mac"));
            },
        );
        let tag = ours.mac(algorithm, &MESSAGE).expect("mac");
        table.row(
            &format!("{name} verify 64 B"),
            || assert!(hmac::verify(&bare, &MESSAGE, &tag).is_ok()),
            || assert_eq!(ours.verify_mac(algorithm, &MESSAGE, &tag), Ok(true)),
        );
    }
}

fn ml_dsa(table: &mut Table<'_>) {
    for (kind, signing, verification, name) in [
        (
            KeyKind::MlDsa44,
            &signature::ML_DSA_44_SIGNING,
            &signature::ML_DSA_44,
            "ML-DSA-44",
        ),
        (
            KeyKind::MlDsa65,
            &signature::ML_DSA_65_SIGNING,
            &signature::ML_DSA_65,
            "ML-DSA-65",
        ),
        (
            KeyKind::MlDsa87,
            &signature::ML_DSA_87_SIGNING,
            &signature::ML_DSA_87,
            "ML-DSA-87",
        ),
    ] {
        let (material, ours) = key(kind);
        let bare = PqdsaKeyPair::from_seed(signing, material.expose()).expect("seed");
        let algorithm = SigningAlgorithm::MlDsaShake256;
        table.row(
            &format!("{name} sign"),
            || {
                let mut out = vec![0; signing.signature_len()];
                let len = bare.sign(&MESSAGE, &mut out).expect("sign");
                out.truncate(len);
                black_box(out);
            },
            || {
                black_box(
                    ours.sign(algorithm, MessageType::Raw, &MESSAGE)
                        .expect("sign"),
                );
            },
        );
        let signed = ours
            .sign(algorithm, MessageType::Raw, &MESSAGE)
            .expect("sign");
        let public =
            ParsedPublicKey::new(verification, ours.public_key_spki().expect("spki")).expect("key");
        table.row(
            &format!("{name} verify"),
            || assert!(public.verify_sig(&MESSAGE, &signed).is_ok()),
            || {
                assert_eq!(
                    ours.verify(algorithm, MessageType::Raw, &MESSAGE, &signed),
                    Ok(true)
                );
            },
        );
    }
}
