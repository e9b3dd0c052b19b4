//! The attestation verifier's signature checks on aws-lc-rs, remembering those that passed:
//! every attested release presents the same host CA certificate and root, so their
//! signatures are checked once, not on every release.

use std::collections::HashSet;
use std::sync::Mutex;

use aws_lc_rs::digest::{Context, SHA384};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, UnparsedPublicKey};
use kastell_attest::verify::SignatureChecker;

/// Signatures remembered before the memory is cleared and refilled.
const REMEMBERED: usize = 4096;

/// ECDSA P-384 / SHA-384 verification by AWS-LC, with a bounded memory of the checks that
/// passed, keyed by SHA-384 over the public key, the message and the signature (so a
/// remembered answer is only ever reused for exactly the same inputs).
#[derive(Debug, Default)]
pub struct AwsLcChecker {
    passed: Mutex<HashSet<[u8; 48]>>,
}

impl AwsLcChecker {
    fn fingerprint(public_key: &[u8], message: &[u8], signature: &[u8; 96]) -> [u8; 48] {
        let mut context = Context::new(&SHA384);
        for part in [public_key, message] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        context.update(signature);
        let mut out = [0u8; 48];
        out.copy_from_slice(context.finish().as_ref());
        out
    }

    fn passed(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 48]>> {
        // A set of fingerprints stays consistent whatever panicked.
        self.passed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signatures remembered now.
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.passed().len()
    }
}

impl SignatureChecker for AwsLcChecker {
    fn p384_sha384(&self, public_key: &[u8], message: &[u8], signature: &[u8; 96]) -> bool {
        let fingerprint = Self::fingerprint(public_key, message, signature);
        if self.passed().contains(&fingerprint) {
            return true;
        }
        let valid = UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
            .verify(message, signature)
            .is_ok();
        if valid {
            let mut passed = self.passed();
            if passed.len() >= REMEMBERED {
                passed.clear();
            }
            passed.insert(fingerprint);
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use kastell_attest::verify::RustCryptoChecker;

    use super::*;
    use crate::crypto::{AwsLc, CryptoProvider as _};
    use crate::secret::SecretBytes;

    fn signed(message: &[u8]) -> (Vec<u8>, [u8; 96]) {
        let private = AwsLc.p384_generate().expect("key");
        let public = AwsLc.p384_public_key(&private).expect("public");
        let digest: [u8; 48] = aws_lc_rs::digest::digest(&SHA384, message)
            .as_ref()
            .try_into()
            .expect("48 bytes");
        let signature = AwsLc
            .p384_sign_digest(&SecretBytes::from_slice(private.expose()), &digest)
            .expect("sign");
        (public, signature.try_into().expect("96 bytes"))
    }

    #[test]
    fn it_agrees_with_rustcrypto_and_remembers_only_what_passed() {
        let checker = AwsLcChecker::default();
        let (public, signature) = signed(b"tbs certificate");
        for _ in 0..3 {
            assert!(checker.p384_sha384(&public, b"tbs certificate", &signature));
        }
        assert!(RustCryptoChecker.p384_sha384(&public, b"tbs certificate", &signature));
        assert_eq!(checker.remembered(), 1);
        // Another message, a flipped signature bit, another key: refused, not remembered.
        assert!(!checker.p384_sha384(&public, b"tbs certificatE", &signature));
        let mut flipped = signature;
        flipped[10] ^= 1;
        assert!(!checker.p384_sha384(&public, b"tbs certificate", &flipped));
        let (other, _) = signed(b"x");
        assert!(!checker.p384_sha384(&other, b"tbs certificate", &signature));
        assert!(!checker.p384_sha384(b"not a point", b"tbs certificate", &signature));
        assert_eq!(checker.remembered(), 1);
    }
}
