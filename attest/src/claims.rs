//! The attestation claims: what a Kastell host asserts about an attested guest, carried
//! DER-encoded in a non-critical certificate extension.
//!
//! ```text
//! KastellAttestationClaims ::= SEQUENCE {
//!     version         INTEGER (1),
//!     guestSha384     OCTET STRING (SIZE (48)),
//!     policySha384    [0] IMPLICIT OCTET STRING (SIZE (48)) OPTIONAL,
//!     nonce           OCTET STRING (SIZE (0..512)),
//!     userData        OCTET STRING (SIZE (0..512)),
//!     hostId          UTF8String,
//!     runtimeVersion  UTF8String }
//! ```
//! Extension identifier: `2.25.183747563319873620657472426948155829651`, the X.667 form of
//! UUID `8a3c7e52-1f6b-4d0e-9c27-5b1e0f4a6d93`.

use der::asn1::OctetString;
use der::{Decode as _, Encode as _, Sequence};

use crate::Measurement;
use crate::x509::RawOid;

/// DER content octets of the claims extension's identifier (see the module docs).
pub const CLAIMS_OID_DER: [u8; 20] = [
    0x69, 0x82, 0x94, 0xbc, 0xbf, 0x94, 0xc3, 0xf6, 0xda, 0xb4, 0x9d, 0x9c, 0x93, 0xd6, 0xe3, 0xe0,
    0xfa, 0xa9, 0xdb, 0x13,
];

/// The claims extension's identifier in dotted form.
pub const CLAIMS_OID: &str = "2.25.183747563319873620657472426948155829651";

/// DER content octets of the extended key usage that marks a host's document-signing
/// certificate: `2.25.83051367918364118086386257344067153734` (UUID
/// `3e7b1c94-6a2f-4d58-8b31-c0d97e5a2f46`). A Nitro-format document is accepted only when
/// signed by a certificate carrying it, so no other key under a trusted root (a client's,
/// an attested guest's, a server's) can make documents.
pub const DOCUMENT_SIGNING_OID_DER: [u8; 19] = [
    0x69, 0xfc, 0xfb, 0x8e, 0xa5, 0x8d, 0xa2, 0xfa, 0xb5, 0xb1, 0x8b, 0x98, 0xf0, 0x9b, 0x97, 0xf2,
    0xe8, 0xde, 0x46,
];

/// The document-signing extended key usage in dotted form.
pub const DOCUMENT_SIGNING_OID: &str = "2.25.83051367918364118086386257344067153734";

/// The document-signing extended key usage identifier.
#[must_use]
pub fn document_signing_oid() -> RawOid {
    RawOid(DOCUMENT_SIGNING_OID_DER.to_vec())
}

/// The claims format this version writes and reads.
pub const CLAIMS_VERSION: u8 = 1;

/// Longest nonce and user data, as in the Nitro attestation document.
pub const MAX_NONCE: usize = 512;
/// Longest user data.
pub const MAX_USER_DATA: usize = 512;

/// The claims extension identifier.
#[must_use]
pub fn claims_oid() -> RawOid {
    RawOid(CLAIMS_OID_DER.to_vec())
}

/// What the host asserts about the attested guest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Claims {
    /// SHA-384 of the guest component's exact bytes.
    pub guest: Measurement,
    /// SHA-384 of the policy the guest runs under, if any.
    pub policy: Option<Measurement>,
    /// The relying party's nonce (≤ 512 bytes).
    #[serde(serialize_with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// Data the guest binds (≤ 512 bytes).
    #[serde(serialize_with = "hex_bytes")]
    pub user_data: Vec<u8>,
    /// The issuing host's identifier.
    pub host_id: String,
    /// The Kastell runtime version that ran the guest.
    pub runtime_version: String,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

#[derive(Sequence)]
struct ClaimsDer {
    version: u8,
    guest: OctetString,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    policy: Option<OctetString>,
    nonce: OctetString,
    user_data: OctetString,
    host_id: String,
    runtime_version: String,
}

/// Why claims do not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attestation claims: {0}")]
pub struct ClaimsError(pub String);

fn measurement(bytes: &OctetString, what: &str) -> Result<Measurement, ClaimsError> {
    <[u8; 48]>::try_from(bytes.as_bytes())
        .map(Measurement::from_bytes)
        .map_err(|_| {
            ClaimsError(format!(
                "{what} has {} bytes, not 48",
                bytes.as_bytes().len()
            ))
        })
}

impl Claims {
    /// The DER encoding.
    ///
    /// # Errors
    /// A nonce or user data over 512 bytes.
    pub fn to_der(&self) -> Result<Vec<u8>, ClaimsError> {
        if self.nonce.len() > MAX_NONCE || self.user_data.len() > MAX_USER_DATA {
            return Err(ClaimsError(
                "nonce and user data are limited to 512 bytes each".into(),
            ));
        }
        let octets = |b: &[u8]| OctetString::new(b).map_err(|e| ClaimsError(e.to_string()));
        ClaimsDer {
            version: CLAIMS_VERSION,
            guest: octets(self.guest.as_bytes())?,
            policy: self.policy.map(|p| octets(p.as_bytes())).transpose()?,
            nonce: octets(&self.nonce)?,
            user_data: octets(&self.user_data)?,
            host_id: self.host_id.clone(),
            runtime_version: self.runtime_version.clone(),
        }
        .to_der()
        .map_err(|e| ClaimsError(e.to_string()))
    }

    /// Decodes and checks claims.
    ///
    /// # Errors
    /// Malformed DER, an unknown version, wrong hash lengths, oversized nonce or user data.
    pub fn from_der(bytes: &[u8]) -> Result<Self, ClaimsError> {
        let raw = ClaimsDer::from_der(bytes).map_err(|e| ClaimsError(format!("malformed: {e}")))?;
        if raw.version != CLAIMS_VERSION {
            return Err(ClaimsError(format!(
                "version {} is not supported (this verifier reads {CLAIMS_VERSION})",
                raw.version
            )));
        }
        if raw.nonce.as_bytes().len() > MAX_NONCE || raw.user_data.as_bytes().len() > MAX_USER_DATA
        {
            return Err(ClaimsError("nonce or user data over 512 bytes".into()));
        }
        Ok(Self {
            guest: measurement(&raw.guest, "guest hash")?,
            policy: raw
                .policy
                .as_ref()
                .map(|p| measurement(p, "policy hash"))
                .transpose()?,
            nonce: raw.nonce.as_bytes().to_vec(),
            user_data: raw.user_data.as_bytes().to_vec(),
            host_id: raw.host_id,
            runtime_version: raw.runtime_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_identifier_is_the_uuid_under_2_25() {
        assert_eq!(claims_oid().dotted(), CLAIMS_OID);
        let uuid = u128::from_str_radix("8a3c7e521f6b4d0e9c275b1e0f4a6d93", 16).unwrap_or(0);
        assert_eq!(CLAIMS_OID, format!("2.25.{uuid}"));
    }

    #[test]
    fn claims_round_trip_and_bad_claims_are_named() {
        let claims = Claims {
            guest: Measurement::of(b"guest"),
            policy: Some(Measurement::of(b"policy")),
            nonce: vec![1, 2, 3],
            user_data: b"hello".to_vec(),
            host_id: "host-1".into(),
            runtime_version: "kastell 0.1.0".into(),
        };
        let der = claims.to_der().unwrap_or_default();
        assert_eq!(Claims::from_der(&der), Ok(claims.clone()));
        let without = Claims {
            policy: None,
            ..claims.clone()
        };
        assert_eq!(
            Claims::from_der(&without.to_der().unwrap_or_default()),
            Ok(without)
        );
        let big = Claims {
            nonce: vec![0; 513],
            ..claims
        };
        assert!(big.to_der().is_err());
        assert!(Claims::from_der(&der[..der.len() - 1]).is_err());
        assert!(Claims::from_der(b"").is_err());
    }
}
