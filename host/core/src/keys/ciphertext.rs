//! The ciphertext format and the canonical encryption context.
//!
//! Ciphertext v1: `01` ‖ key id (16 bytes) ‖ key version (u32 BE) ‖ nonce (12) ‖
//! AES-256-GCM ciphertext ‖ tag (16). The GCM AAD is the header without the nonce (format,
//! key id, key version: 21 bytes) followed by the canonical encryption context, so neither
//! the header nor the context can be swapped; the nonce is authenticated by GCM itself, and
//! leaving it out of the AAD lets a token choose it.

use crate::crypto::{GCM_NONCE_LEN, GCM_TAG_LEN};
use crate::keys::KeyId;
use crate::sandbox::EncryptionContext;

/// Current ciphertext format version.
pub const FORMAT_V1: u8 = 1;
/// Length of the v1 header.
pub const HEADER_LEN: usize = 1 + 16 + 4 + GCM_NONCE_LEN;

/// A parsed ciphertext header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The key that encrypted it.
    pub key: KeyId,
    /// The key version that encrypted it.
    pub version: u32,
    /// The GCM nonce.
    pub nonce: [u8; GCM_NONCE_LEN],
}

/// Why bytes are not a Kastell ciphertext (kept for the audit; callers see only
/// "invalid ciphertext").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CiphertextError {
    /// Shorter than a header and a tag.
    #[error("ciphertext is {0} bytes, shorter than header and tag")]
    TooShort(usize),
    /// A format version this build does not read.
    #[error("unknown ciphertext format version {0}")]
    UnknownVersion(u8),
}

impl Header {
    /// The header's bytes (also the first part of the AAD).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1..17].copy_from_slice(self.key.as_bytes());
        out[17..21].copy_from_slice(&self.version.to_be_bytes());
        out[21..].copy_from_slice(&self.nonce);
        out
    }

    /// The whole ciphertext: this header followed by `sealed` (ciphertext ‖ tag).
    #[must_use]
    pub fn with_sealed(&self, sealed: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(sealed);
        out
    }

    /// Splits a ciphertext into its header and the sealed part (ciphertext ‖ tag).
    ///
    /// # Errors
    /// [`CiphertextError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), CiphertextError> {
        if bytes.len() < HEADER_LEN + GCM_TAG_LEN {
            return Err(CiphertextError::TooShort(bytes.len()));
        }
        let (head, sealed) = bytes.split_at(HEADER_LEN);
        if head[0] != FORMAT_V1 {
            return Err(CiphertextError::UnknownVersion(head[0]));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&head[1..17]);
        let mut version = [0u8; 4];
        version.copy_from_slice(&head[17..21]);
        let mut nonce = [0u8; GCM_NONCE_LEN];
        nonce.copy_from_slice(&head[21..]);
        Ok((
            Self {
                key: KeyId::from_bytes(id),
                version: u32::from_be_bytes(version),
                nonce,
            },
            sealed,
        ))
    }

    /// The AAD for this header and `context`.
    #[must_use]
    pub fn aad(&self, context: &EncryptionContext) -> Vec<u8> {
        aad(&self.key, self.version, context)
    }
}

/// The AAD for a ciphertext under `key` version `version` with `context`: format, key id,
/// version, canonical context.
#[must_use]
pub fn aad(key: &KeyId, version: u32, context: &EncryptionContext) -> Vec<u8> {
    let mut aad = vec![FORMAT_V1];
    aad.extend_from_slice(key.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(&canonical_context(context));
    aad
}

/// The canonical, unambiguous encoding of an encryption context: entry count, then each
/// entry in name order as length-prefixed name and value (lengths u32 BE). Used as AAD
/// and as the input of the audit trail's context HMAC.
#[must_use]
pub fn canonical_context(context: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(context.0.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in &context.0 {
        for part in [name, value] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn header_round_trips() {
        let header = Header {
            key: KeyId::random(),
            version: 7,
            nonce: [9; 12],
        };
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(&[0xee; 20]);
        let (parsed, sealed) = Header::parse(&bytes).expect("parses");
        assert_eq!(parsed, header);
        assert_eq!(sealed, &[0xee; 20]);
    }

    #[test]
    fn malformed_ciphertexts_are_named() {
        assert_eq!(Header::parse(&[1; 10]), Err(CiphertextError::TooShort(10)));
        let mut bytes = vec![1u8; HEADER_LEN + 16];
        bytes[0] = 9;
        assert_eq!(
            Header::parse(&bytes),
            Err(CiphertextError::UnknownVersion(9))
        );
    }

    #[test]
    fn canonical_context_is_order_independent_and_unambiguous() {
        let a = context(&[("tenant", "acme"), ("record", "7")]);
        let b = context(&[("record", "7"), ("tenant", "acme")]);
        assert_eq!(canonical_context(&a), canonical_context(&b));
        // "ab"+"c" must not collide with "a"+"bc".
        assert_ne!(
            canonical_context(&context(&[("ab", "c")])),
            canonical_context(&context(&[("a", "bc")]))
        );
        assert_eq!(
            canonical_context(&EncryptionContext::default()),
            vec![0, 0, 0, 0]
        );
    }
}
