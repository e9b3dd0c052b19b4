//! The trust a release's chain is verified against, built once per set of intermediates:
//! every attestation from one host carries the same host CA certificate (and so the same
//! DER), so its decoding, its canonical-form check and the copy of the anchors are done the
//! first time those exact bytes arrive, not on every release. Nothing of the verification
//! itself is remembered here: every release still verifies the whole path (each link's
//! signature, validity at its own time, constraints, the EU/EEA root), the leaf from its
//! own bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kastell_attest::verify::Trust;
use kastell_attest::x509::Certificate;
use time::OffsetDateTime;

/// Sets of intermediates remembered before the memory is cleared and refilled.
const REMEMBERED: usize = 64;

/// Largest set of intermediates remembered, in DER bytes: a host CA certificate is about
/// 600 bytes; a larger set (which any client could send, up to the body limit) is decoded
/// for its release and not kept, so the memory stays within 64 × 16 KiB of DER.
const REMEMBERED_BYTES: usize = 16 * 1024;

/// Each set of intermediates' DER, as sent, with the trust decoded from it.
type Known = HashMap<Vec<Vec<u8>>, Arc<Trust>>;

/// Decoded intermediates with the anchors, by the exact DER of the intermediates sent.
#[derive(Debug, Default, Clone)]
pub struct Issuers {
    known: Arc<Mutex<Known>>,
}

impl Issuers {
    /// The trust made of `anchors` and the intermediates `chain` (DER, as sent), decoding
    /// each intermediate (in canonical DER only) unless these exact bytes were decoded
    /// before. Its `at` is meaningless: the caller verifies at its own time.
    ///
    /// # Errors
    /// The intermediate that is not a canonical X.509 certificate, named by its position.
    pub fn trust(&self, anchors: &[Certificate], chain: &[Vec<u8>]) -> Result<Arc<Trust>, String> {
        if let Some(trust) = self.known().get(chain) {
            return Ok(Arc::clone(trust));
        }
        let intermediates = chain
            .iter()
            .enumerate()
            .map(|(i, der)| decode(der, &format!("chain[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let trust = Arc::new(Trust {
            anchors: anchors.to_vec(),
            intermediates,
            crls: Vec::new(),
            at: OffsetDateTime::UNIX_EPOCH,
        });
        if chain.iter().map(Vec::len).sum::<usize>() > REMEMBERED_BYTES {
            return Ok(trust);
        }
        let mut known = self.known();
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(chain.to_vec(), Arc::clone(&trust));
        Ok(trust)
    }

    /// Sets of intermediates remembered now.
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.known().len()
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // A map of decoded certificates stays consistent whatever panicked.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A certificate from its DER, in canonical form only (signatures are checked over the
/// re-encoded value).
pub(super) fn decode(der: &[u8], what: &str) -> Result<Certificate, String> {
    kastell_attest::x509::decode_canonical::<Certificate>(der)
        .map_err(|e| format!("{what} is not an X.509 certificate: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use std::time::Duration;

    use kastell_attest::Measurement;
    use kastell_attest::ca::{Owner, issue_attestation, issue_host_ca, issue_root};
    use kastell_attest::claims::Claims;
    use kastell_attest::signer::{Signer as _, SoftSigner};
    use kastell_attest::verify::{
        Check, Expectations, verify_attestation_at, verify_attestation_with,
    };
    use kastell_core::crypto::AwsLcChecker;

    use super::*;

    struct Chain {
        root: Certificate,
        host_ca: Vec<u8>,
        leaf: Certificate,
        start: OffsetDateTime,
    }

    /// A root, a host CA valid for an hour and a leaf valid for a day under it.
    fn issued() -> Chain {
        let start = OffsetDateTime::now_utc() - Duration::from_secs(60);
        let root_key = SoftSigner::generate();
        let owner = Owner {
            common_name: "Test Root".into(),
            organization: "Test GmbH".into(),
            country: "DE".into(),
        };
        let root =
            issue_root(&root_key, &owner, start, Duration::from_secs(86_400 * 30)).expect("root");
        let host_key = SoftSigner::generate();
        let host_ca = issue_host_ca(
            &root_key,
            &root,
            &host_key.public_key(),
            "Test host CA",
            start,
            Duration::from_secs(3600),
        )
        .expect("host CA");
        let claims = Claims {
            guest: Measurement::of(b"guest"),
            policy: None,
            nonce: vec![7; 32],
            user_data: Vec::new(),
            host_id: "host".into(),
            runtime_version: "0".into(),
        };
        let leaf = issue_attestation(
            &host_key,
            &host_ca,
            &SoftSigner::generate().public_key(),
            &claims,
            start,
            Duration::from_secs(86_400),
        )
        .expect("leaf");
        Chain {
            root,
            host_ca: host_ca.to_der_bytes().expect("DER"),
            leaf,
            start,
        }
    }

    #[test]
    fn a_remembered_intermediate_is_still_judged_at_each_verification_time() {
        let chain = issued();
        let issuers = Issuers::default();
        let checker = AwsLcChecker::default();
        let expect = Expectations::default();
        let sent = vec![chain.host_ca.clone()];
        let now = chain.start + Duration::from_secs(120);
        for _ in 0..2 {
            let trust = issuers
                .trust(std::slice::from_ref(&chain.root), &sent)
                .expect("trust");
            verify_attestation_at(&chain.leaf, &trust, now, &expect, &checker).expect("valid");
        }
        assert_eq!(issuers.remembered(), 1, "decoded once");
        // Past the host CA's hour (the leaf itself still valid): refused by name, though
        // the host CA is remembered and its signature was checked before.
        let later = chain.start + Duration::from_secs(7200);
        let trust = issuers
            .trust(std::slice::from_ref(&chain.root), &sent)
            .expect("trust");
        let err = verify_attestation_at(&chain.leaf, &trust, later, &expect, &checker)
            .expect_err("expired host CA");
        assert_eq!(err.check, Check::Validity, "{err}");
        assert!(err.detail.contains("Test host CA"), "{err}");
        // The same as a verifier that remembers nothing judges.
        let fresh = Trust {
            at: later,
            ..(*trust).clone()
        };
        let plain = verify_attestation_with(&chain.leaf, &fresh, &expect, &checker)
            .expect_err("expired host CA");
        assert_eq!(plain, err);
    }

    #[test]
    fn intermediates_are_remembered_by_their_exact_bytes_and_bad_ones_never() {
        let chain = issued();
        let issuers = Issuers::default();
        let anchors = [chain.root.clone()];
        // Not a certificate, then not in canonical DER (a trailing byte): refused by
        // position, nothing remembered.
        let err = issuers
            .trust(&anchors, &[chain.host_ca.clone(), b"junk".to_vec()])
            .expect_err("junk");
        assert!(
            err.starts_with("chain[1] is not an X.509 certificate"),
            "{err}"
        );
        let mut trailing = chain.host_ca.clone();
        trailing.push(0);
        assert!(issuers.trust(&anchors, &[trailing]).is_err());
        assert_eq!(issuers.remembered(), 0);
        // Another set of intermediates is another entry; the bound holds.
        issuers
            .trust(&anchors, std::slice::from_ref(&chain.host_ca))
            .expect("trust");
        issuers.trust(&anchors, &[]).expect("no intermediates");
        assert_eq!(issuers.remembered(), 2);
        // A set past REMEMBERED_BYTES is decoded for its release but not kept.
        let large = vec![chain.host_ca.clone(); REMEMBERED_BYTES / chain.host_ca.len() + 1];
        let trust = issuers.trust(&anchors, &large).expect("large set");
        assert_eq!(trust.intermediates.len(), large.len());
        assert_eq!(issuers.remembered(), 2);
        for _ in 0..(REMEMBERED + 3) {
            let other = issued();
            issuers
                .trust(&anchors, &[other.host_ca])
                .expect("another host CA");
        }
        assert!(issuers.remembered() <= REMEMBERED);
    }
}
