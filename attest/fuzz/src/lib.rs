//! What the fuzz targets share: one fixed PKI (root, host CA, a CRL) built from fixed keys at a
//! fixed time, so that a run's verdicts depend on its input alone, and the seed corpus
//! (`examples/seed-corpus.rs`), issued by the same keys, verifies all the way through.
//!
//! The keys are public test values: nothing here is secret.

use std::sync::OnceLock;
use std::time::Duration;

use kastell_attest::ca::{Owner, Revoked, issue_crl, issue_host_ca, issue_root};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::Trust;
use kastell_attest::x509::Certificate;
use time::OffsetDateTime;

/// The root key's scalar.
pub const ROOT_SCALAR: [u8; 48] = [0x52; 48];
/// The host CA key's scalar.
pub const HOST_CA_SCALAR: [u8; 48] = [0x43; 48];
/// The document-signing key's scalar (the seed documents' signer).
pub const DOCUMENT_SIGNER_SCALAR: [u8; 48] = [0x44; 48];
/// The scalar of the guest keys the seed certificates certify (any key would do).
pub const GUEST_SCALAR: [u8; 48] = [0x47; 48];

/// 2026-01-01T00:00:00Z: the root and host CA are valid from here.
pub const PKI_FROM: i64 = 1_767_225_600;
/// 2026-06-01T00:00:00Z: the time every verification is judged at.
pub const VERIFY_AT: i64 = 1_780_272_000;

const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// The fixed PKI: keys and the certificates and CRL they issued.
pub struct Pki {
    /// Signs the root and the host CA.
    pub root_key: SoftSigner,
    /// The self-signed root, C=DE.
    pub root: Certificate,
    /// Signs attestation certificates and the CRL.
    pub host_ca_key: SoftSigner,
    /// The host attestation CA (path length 0).
    pub host_ca: Certificate,
    /// The host CA's CRL (DER), revoking one serial that no seed certificate has.
    pub crl: Vec<u8>,
}

/// `unix` seconds as a time (the constants above are in range).
#[must_use]
pub fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A key from one of the fixed scalars.
///
/// # Panics
/// Never for the scalars above (non-zero, below the group order).
#[must_use]
pub fn key(scalar: &[u8; 48]) -> SoftSigner {
    SoftSigner::from_bytes(scalar).expect("a fixed scalar is a valid P-384 key")
}

/// The fixed PKI, built once per process (serial numbers are random, names, keys and times
/// are not: a certificate issued by [`Pki::host_ca_key`] in another process still chains).
///
/// # Panics
/// If `kastell_attest::ca` cannot issue with valid inputs: a bug there, not a fuzz finding.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let root_key = key(&ROOT_SCALAR);
        let owner = Owner {
            common_name: "Kastell Fuzz Root".into(),
            organization: "Kastell Fuzz".into(),
            country: "DE".into(),
        };
        let root = issue_root(&root_key, &owner, at(PKI_FROM), 20 * YEAR).expect("root");
        let host_ca_key = key(&HOST_CA_SCALAR);
        let host_ca = issue_host_ca(
            &root_key,
            &root,
            &host_ca_key.public_key(),
            "Kastell host CA fuzz-1",
            at(PKI_FROM),
            10 * YEAR,
        )
        .expect("host CA");
        let crl = issue_crl(
            &host_ca_key,
            &host_ca,
            1,
            &[Revoked {
                serial: vec![0x7e, 0x57],
                at: at(PKI_FROM),
            }],
            at(PKI_FROM),
            at(PKI_FROM) + 10 * YEAR,
        )
        .expect("CRL");
        Pki {
            root_key,
            root,
            host_ca_key,
            host_ca,
            crl,
        }
    })
}

/// The relying party's trust: the fixed root as the only anchor, the host CA and `extra`
/// (the other certificates of the input) as intermediates, the host CA's CRL, at
/// [`VERIFY_AT`].
#[must_use]
pub fn trust(extra: &[Certificate]) -> Trust {
    let pki = pki();
    let mut intermediates = vec![pki.host_ca.clone()];
    intermediates.extend_from_slice(extra);
    Trust {
        anchors: vec![pki.root.clone()],
        intermediates,
        crls: vec![pki.crl.clone()],
        at: at(VERIFY_AT),
    }
}
