//! Fixtures shared by the certificate and document tests: the owner, re-signing as a forger
//! would, and the forged chains the rejection tests need.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    dead_code,
    reason = "test fixtures: a failure is a failed test; not every test file uses each"
)]

use std::path::Path;
use std::time::Duration;

use der::Encode as _;
use der::asn1::{BitString, OctetString};
use kastell_attest::ca::{Owner, sign_der};
use kastell_attest::signer::SoftSigner;
use kastell_attest::x509::{Certificate, RawExtension, RawOid};

pub const YEAR: Duration = Duration::from_secs(365 * 86_400);

pub fn owner(country: &str) -> Owner {
    Owner {
        common_name: "Example GmbH Kastell Root".into(),
        organization: "Example GmbH".into(),
        country: country.into(),
    }
}

/// Re-signs `cert` after `edit`, as a forger holding `signer` would.
pub fn resign(
    cert: &Certificate,
    signer: &SoftSigner,
    edit: impl FnOnce(&mut Certificate),
) -> Certificate {
    let mut cert = cert.clone();
    edit(&mut cert);
    let tbs = cert.tbs_certificate.to_der().unwrap();
    cert.signature = BitString::from_bytes(&sign_der(signer, &tbs).unwrap()).unwrap();
    cert
}

/// `ca` with basic constraints `cA = false`, re-signed by the real root.
pub fn without_ca_flag(ca: &Certificate, root_key: &SoftSigner) -> Certificate {
    resign(ca, root_key, |c| {
        let ext = c
            .tbs_certificate
            .extensions
            .as_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e.extn_id.dotted() == "2.5.29.19")
            .unwrap();
        ext.extn_value = OctetString::new(vec![0x30, 0x00]).unwrap();
    })
}

/// The root renamed to country `US` and the CA re-issued under it, both signed with the
/// real root's key: what a verifier must refuse for its country alone.
pub fn non_eu_root(
    root: &Certificate,
    ca: &Certificate,
    root_key: &SoftSigner,
) -> (Certificate, Certificate) {
    let mut name = root.tbs_certificate.subject.clone();
    let us =
        der::asn1::Any::encode_from(&der::asn1::PrintableStringRef::new("US").unwrap()).unwrap();
    for rdn in &mut name.0 {
        let mut atvs = rdn.0.clone().into_vec();
        for atv in &mut atvs {
            if atv.oid.to_string() == "2.5.4.6" {
                atv.value = us.clone();
            }
        }
        rdn.0 = der::asn1::SetOfVec::try_from(atvs).unwrap();
    }
    let us_root = resign(root, root_key, |c| {
        c.tbs_certificate.subject = name.clone();
        c.tbs_certificate.issuer = name.clone();
    });
    let us_ca = resign(ca, root_key, |c| c.tbs_certificate.issuer = name.clone());
    (us_root, us_ca)
}

/// `cert` with an extra critical extension no verifier knows (1.3.6.1.4.1.311.99).
pub fn with_unknown_critical_extension(cert: &Certificate, signer: &SoftSigner) -> Certificate {
    resign(cert, signer, |c| {
        c.tbs_certificate
            .extensions
            .as_mut()
            .unwrap()
            .push(RawExtension {
                extn_id: RawOid(vec![0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x63]),
                critical: true,
                extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
            });
    })
}

pub fn write_pem(dir: &Path, name: &str, certs: &[&Certificate]) -> String {
    let path = dir.join(name);
    let pem: String = certs.iter().map(|c| c.to_pem().unwrap()).collect();
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}
