//! Access keys for the AWS KMS-compatible endpoint (issue 18): an id and a secret that an
//! AWS client signs its requests with (SigV4), issued by an officer to a principal with
//! one role (two, crypto-officer and crypto-user, where `[aws] separation_of_duties =
//! false`), under the same quorum as client certificates.
//!
//! Through the server the secret never travels in the clear: the request names a P-384
//! public key ([`crate::quorum::AccessKeyRequest`]), and the answer carries the secret
//! sealed to it with HPKE ([`SealedSecret`]: RFC 9180 base mode, DHKEM(P-384,
//! HKDF-SHA384), HKDF-SHA384, AES-256-GCM, as key releases), bound by [`delivery_info`]
//! to the access key's id and by [`delivery_aad`] to its principal, roles and tenant.

use alloc::string::String;
use alloc::vec::Vec;

use super::SecretBase64;

/// An access key issued here (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKeyInfo {
    /// The access key id: `KSTL` followed by 16 of A–Z 2–7 (see [`ACCESS_KEY_PREFIX`]).
    pub access_key_id: String,
    /// The principal its requests act as.
    pub principal: String,
    /// The principal's roles: one, or crypto-officer and crypto-user where separation of
    /// duties is off.
    pub roles: Vec<String>,
    /// The principal's tenant, if any.
    pub tenant: Option<String>,
    /// When it was issued, Unix milliseconds.
    pub created_ms: i64,
    /// Who issued it.
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// What `kastell access-key create` prints: the id, the secret (shown this once) and the
/// principal's ARN.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AccessKeyCreated {
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// The secret (`AWS_SECRET_ACCESS_KEY`): 40 characters of base64.
    pub secret_access_key: SecretBase64,
    /// `arn:aws:iam::<account>:user/<principal>`.
    pub arn: String,
}

/// Access keys issued here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKeyList {
    /// Ordered by id.
    pub access_keys: Vec<AccessKeyInfo>,
}

/// The secret of an access key sealed to the requester's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SealedSecret {
    /// HPKE's encapsulated key (a 97-byte uncompressed P-384 point), base64.
    pub encapsulated_key: String,
    /// The secret access key sealed with AES-256-GCM, tag included, base64.
    pub ciphertext: String,
}

/// An access key issued through the server (`POST /v1/access-keys`, or collected after
/// approvals): who it acts as and its secret, sealed to the request's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKeyIssued {
    /// The access key id.
    pub access_key_id: String,
    /// `arn:aws:iam::<account>:user/<principal>`.
    pub arn: String,
    /// The principal.
    pub principal: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its tenant, if any.
    pub tenant: Option<String>,
    /// The secret, for the request's public key only.
    pub sealed_secret: SealedSecret,
}

/// An access key revoked (`POST /v1/access-keys/{id}/revoke`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKeyRevoked {
    /// The access key id.
    pub access_key_id: String,
    /// False when it was revoked already.
    pub revoked_now: bool,
}

/// Which access keys (`GET /v1/access-keys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct AccessKeyQuery {
    /// The previous page's last id.
    pub after: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// The domain tag that starts the HPKE `info` of a sealed access-key secret.
pub const DELIVERY_TAG: &[u8] = b"kastell-access-key-delivery-v1";

fn length_prefixed(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The HPKE `info` of access key `id`'s sealed secret: [`DELIVERY_TAG`], then the id, each
/// prefixed by its length (u32, big-endian).
#[must_use]
pub fn delivery_info(access_key_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    length_prefixed(&mut out, DELIVERY_TAG);
    length_prefixed(&mut out, access_key_id.as_bytes());
    out
}

/// The HPKE AAD of a sealed secret: the principal, the roles joined with `,` and the
/// tenant (empty for none), each prefixed by its length (u32, big-endian). A secret opened
/// with it is the one issued to that identity.
#[must_use]
pub fn delivery_aad(principal: &str, roles: &[String], tenant: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    length_prefixed(&mut out, principal.as_bytes());
    length_prefixed(&mut out, roles.join(",").as_bytes());
    length_prefixed(&mut out, tenant.unwrap_or_default().as_bytes());
    out
}

/// The first four characters of every access key id Kastell issues. Distinct from AWS's
/// `AKIA`/`ASIA`, so that a leaked Kastell key is never mistaken for an AWS one (by people
/// or by secret scanners), with the same length and alphabet as AWS's ids.
pub const ACCESS_KEY_PREFIX: &str = "KSTL";

/// Whether `id` has the shape of an access key id Kastell issues: [`ACCESS_KEY_PREFIX`]
/// followed by 16 of A–Z and 2–7 (RFC 4648 base32).
#[must_use]
pub fn is_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with(ACCESS_KEY_PREFIX)
        && id
            .bytes()
            .skip(ACCESS_KEY_PREFIX.len())
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_info_and_aad_are_length_prefixed() {
        let info = delivery_info("KSTLABCDEFGHIJ234567");
        assert_eq!(&info[..4], &[0, 0, 0, 30]);
        assert_eq!(&info[34..38], &[0, 0, 0, 20]);
        let aad = delivery_aad("a", &["crypto-officer".into(), "crypto-user".into()], None);
        assert_eq!(&aad[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(&aad[5..9], &[0, 0, 0, 26]);
        assert_eq!(&aad[aad.len() - 4..], &[0, 0, 0, 0]);
        assert_ne!(aad, delivery_aad("a", &["crypto-officer".into()], None));
    }

    #[test]
    fn access_key_ids_have_the_kastell_prefix_and_base32_body() {
        assert!(is_access_key_id("KSTLABCDEFGHIJ234567"));
        assert!(!is_access_key_id("AKIAABCDEFGHIJ234567"), "AWS's prefix");
        assert!(!is_access_key_id("KSTLABCDEFGHIJ23456"), "too short");
        assert!(!is_access_key_id("KSTLabcdefghij234567"), "lowercase");
        assert!(!is_access_key_id("KSTLABCDEFGHIJ234568"), "8 is not base32");
    }
}
