//! Access keys for the AWS KMS-compatible endpoint (issue 18): an id and a secret that an
//! AWS client signs its requests with (SigV4), issued by an officer to a principal with
//! one role, like a client certificate.

use alloc::string::String;
use alloc::vec::Vec;

use super::SecretBase64;

/// An access key issued here (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AccessKeyInfo {
    /// The access key id: `KSTL` followed by 16 of A–Z 2–7 (see [`ACCESS_KEY_PREFIX`]).
    pub access_key_id: String,
    /// The principal its requests act as.
    pub principal: String,
    /// The principal's one role.
    pub role: String,
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
pub struct AccessKeyList {
    /// Ordered by id.
    pub access_keys: Vec<AccessKeyInfo>,
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
    fn access_key_ids_have_the_kastell_prefix_and_base32_body() {
        assert!(is_access_key_id("KSTLABCDEFGHIJ234567"));
        assert!(!is_access_key_id("AKIAABCDEFGHIJ234567"), "AWS's prefix");
        assert!(!is_access_key_id("KSTLABCDEFGHIJ23456"), "too short");
        assert!(!is_access_key_id("KSTLabcdefghij234567"), "lowercase");
        assert!(!is_access_key_id("KSTLABCDEFGHIJ234568"), "8 is not base32");
    }
}
