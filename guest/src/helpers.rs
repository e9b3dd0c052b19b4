//! Helpers on the request, so that a policy reads like its rule.

use alloc::string::String;

use crate::{Decision, Evidence, KeyInfo, Principal, Request, Role};

/// The decision that permits the operation.
#[must_use]
pub fn allow() -> Decision {
    Decision::Allow
}

/// The decision that refuses the operation, with a reason kept in the audit trail.
#[must_use]
pub fn deny(reason: impl Into<String>) -> Decision {
    Decision::Deny(reason.into())
}

/// Formats a SHA-384 digest as `sha384:<96 lower-case hex digits>`.
#[must_use]
pub fn hex_sha384(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha384:");
    for byte in digest {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

impl Request {
    /// The value of encryption-context entry `name`, if present.
    #[must_use]
    pub fn context_value(&self, name: &str) -> Option<&str> {
        lookup(&self.context, name)
    }

    /// The value of the key's tag `name`, if the request has a key and the key the tag.
    #[must_use]
    pub fn key_tag(&self, name: &str) -> Option<&str> {
        self.key.as_ref().and_then(|key| key.tag(name))
    }

    /// Whether verified attestation evidence is present and still valid at request time.
    #[must_use]
    pub fn valid_evidence(&self) -> Option<&Evidence> {
        self.evidence
            .as_ref()
            .filter(|evidence| evidence.not_after >= self.time)
    }
}

impl KeyInfo {
    /// The value of tag `name`, if present.
    #[must_use]
    pub fn tag(&self, name: &str) -> Option<&str> {
        lookup(&self.tags, name)
    }

    /// The items of a comma- or whitespace-separated list held in tag `name`.
    pub fn tag_list<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.tag(name)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
    }
}

impl Principal {
    /// Whether the principal holds `role`.
    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

impl Evidence {
    /// The attested guest's measurement as `sha384:<hex>`.
    #[must_use]
    pub fn guest_measurement(&self) -> String {
        hex_sha384(&self.guest_sha384)
    }

    /// Whether the attested guest's measurement is one of `allowed` (`sha384:<hex>`
    /// strings, compared case-insensitively).
    pub fn guest_in<'a>(&self, allowed: impl IntoIterator<Item = &'a str>) -> bool {
        let own = self.guest_measurement();
        allowed
            .into_iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(&own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeySpec, Operation};

    fn request() -> Request {
        Request {
            operation: Operation::Decrypt,
            key: Some(KeyInfo {
                id: "k".into(),
                spec: KeySpec::Aes256,
                tags: vec![("allowed".into(), "sha384:AA, sha384:bb".into())],
            }),
            other_key: None,
            algorithm: None,
            message_type: None,
            principal: Principal {
                id: "svc".into(),
                roles: vec![Role::CryptoUser],
                tenant: Some("acme".into()),
            },
            context: vec![("tenant".into(), "acme".into())],
            evidence: Some(Evidence {
                guest_sha384: vec![0xaa],
                policy_sha384: None,
                issuer: "host".into(),
                not_after: 100,
            }),
            time: 50,
        }
    }

    #[test]
    fn lookups_find_context_tags_and_roles() {
        let req = request();
        assert_eq!(req.context_value("tenant"), Some("acme"));
        assert_eq!(req.context_value("other"), None);
        assert_eq!(req.key_tag("allowed"), Some("sha384:AA, sha384:bb"));
        assert!(req.principal.has_role(Role::CryptoUser));
        assert!(!req.principal.has_role(Role::CryptoOfficer));
    }

    #[test]
    fn evidence_matches_allow_list_case_insensitively_and_expires() {
        let mut req = request();
        let key = req.key.clone().expect("key");
        let evidence = req.valid_evidence().expect("valid at t=50");
        assert!(evidence.guest_in(key.tag_list("allowed")));
        req.time = 101;
        assert!(req.valid_evidence().is_none());
    }

    #[test]
    fn hex_formats_full_digest() {
        assert_eq!(hex_sha384(&[0x00, 0x0f, 0xf0]), "sha384:000ff0");
    }
}
