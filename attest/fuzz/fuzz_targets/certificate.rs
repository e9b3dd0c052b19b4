//! Certificates and claims, as a relying party reads them: any bytes go to
//! `parse_certificates` (PEM or DER); every certificate it returns has its claims extension
//! decoded and is verified against the fixed PKI (`kastell_attest_fuzz::pki`), with the
//! input's other certificates offered as intermediates. Nothing may panic, and what parses
//! must encode and parse back to the same value.

#![no_main]

use kastell_attest::claims::{Claims, claims_oid};
use kastell_attest::verify::{Expectations, verify_attestation};
use kastell_attest::x509::{Certificate, parse_certificates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(certificates) = parse_certificates(input) else {
        return;
    };
    for (index, certificate) in certificates.iter().enumerate() {
        round_trip(certificate);
        claims(certificate);
        let others: Vec<Certificate> = certificates
            .iter()
            .enumerate()
            .filter(|&(other, _)| other != index)
            .map(|(_, c)| c.clone())
            .collect();
        verify(certificate, &others);
    }
});

/// A parsed certificate encodes, and its encoding parses back to it.
fn round_trip(certificate: &Certificate) {
    let der = certificate
        .to_der_bytes()
        .expect("a parsed certificate encodes");
    let again = parse_certificates(&der).expect("an encoded certificate parses");
    assert_eq!(again.as_slice(), std::slice::from_ref(certificate));
    for extension in certificate.tbs_certificate.extensions.iter().flatten() {
        let _ = extension.extn_id.dotted();
    }
}

/// Claims that decode encode to claims that decode to the same.
fn claims(certificate: &Certificate) {
    let Some(extension) = certificate.extension(&claims_oid()) else {
        return;
    };
    let Ok(claims) = Claims::from_der(extension.extn_value.as_bytes()) else {
        return;
    };
    let der = claims.to_der().expect("decoded claims encode");
    assert_eq!(Claims::from_der(&der), Ok(claims));
}

/// Verification with default expectations; evidence that passes is verified once more with
/// every expectation set to what it claims (so the claim checks run too).
fn verify(certificate: &Certificate, others: &[Certificate]) {
    let trust = kastell_attest_fuzz::trust(others);
    let Ok(verified) = verify_attestation(certificate, &trust, &Expectations::default()) else {
        return;
    };
    let strict = Expectations {
        guests: vec![verified.claims.guest],
        policy: verified.claims.policy,
        nonce: Some(verified.claims.nonce.clone()),
        max_age: Some(std::time::Duration::from_secs(3600)),
    };
    let _ = verify_attestation(certificate, &trust, &strict);
}
