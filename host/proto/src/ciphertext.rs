//! The ciphertext format, v1, as the key service writes it and workloads read it:
//!
//! ```text
//! 0x01                       format               1 byte
//! key id                     the key's UUID      16 bytes
//! key version                u32 big-endian       4 bytes
//! nonce                      AES-GCM nonce       12 bytes
//! ciphertext ‖ tag           AES-256-GCM          n + 16 bytes
//! ```
//!
//! The GCM AAD is the header without the nonce (format, key id, key version: 21 bytes)
//! followed by the canonical encryption context ([`EncryptionContext::canonical`]), so
//! neither the header nor the context can be swapped; the nonce is authenticated by GCM
//! itself, and leaving it out of the AAD lets a token choose it.

use alloc::vec::Vec;
use core::fmt;

use crate::{EncryptionContext, KeyId};

/// Current ciphertext format version (the first byte).
pub const FORMAT_V1: u8 = 1;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of the authenticated part of the header: format, key id, key version.
pub const AAD_HEADER_LEN: usize = 1 + 16 + 4;
/// Length of the v1 header: format, key id, key version, nonce (33 bytes).
pub const HEADER_LEN: usize = AAD_HEADER_LEN + NONCE_LEN;

/// A parsed ciphertext header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The key that encrypted it.
    pub key: KeyId,
    /// The key version that encrypted it.
    pub version: u32,
    /// The GCM nonce.
    pub nonce: [u8; NONCE_LEN],
}

/// Why bytes are not a Kastell ciphertext (kept for the audit; callers see only
/// "invalid ciphertext").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CiphertextError {
    /// Shorter than a header and a tag.
    TooShort(usize),
    /// A format version this build does not read.
    UnknownVersion(u8),
}

impl fmt::Display for CiphertextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort(len) => {
                write!(f, "ciphertext is {len} bytes, shorter than header and tag")
            }
            Self::UnknownVersion(version) => {
                write!(f, "unknown ciphertext format version {version}")
            }
        }
    }
}

impl core::error::Error for CiphertextError {}

impl Header {
    /// The header's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..AAD_HEADER_LEN].copy_from_slice(&aad_prefix(&self.key, self.version));
        out[AAD_HEADER_LEN..].copy_from_slice(&self.nonce);
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

    /// Splits a ciphertext into its header and the sealed part (ciphertext ‖ tag),
    /// checking its length and format; nothing is authenticated yet.
    ///
    /// # Errors
    /// [`CiphertextError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), CiphertextError> {
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(CiphertextError::TooShort(bytes.len()));
        }
        let (head, sealed) = bytes.split_at(HEADER_LEN);
        if head[0] != FORMAT_V1 {
            return Err(CiphertextError::UnknownVersion(head[0]));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&head[1..17]);
        let mut version = [0u8; 4];
        version.copy_from_slice(&head[17..AAD_HEADER_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&head[AAD_HEADER_LEN..]);
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

/// Format, key id and version: the header's authenticated bytes.
fn aad_prefix(key: &KeyId, version: u32) -> [u8; AAD_HEADER_LEN] {
    let mut out = [0u8; AAD_HEADER_LEN];
    out[0] = FORMAT_V1;
    out[1..17].copy_from_slice(key.as_bytes());
    out[17..].copy_from_slice(&version.to_be_bytes());
    out
}

/// The AAD for a ciphertext under `key` version `version` with `context`: format, key id,
/// version, canonical context.
#[must_use]
pub fn aad(key: &KeyId, version: u32, context: &EncryptionContext) -> Vec<u8> {
    let canonical = context.canonical();
    let mut aad = Vec::with_capacity(AAD_HEADER_LEN + canonical.len());
    aad.extend_from_slice(&aad_prefix(key, version));
    aad.extend_from_slice(&canonical);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let header = Header {
            key: KeyId::from_bytes([7; 16]),
            version: 7,
            nonce: [9; 12],
        };
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(&[0xee; 20]);
        let (parsed, sealed) = Header::parse(&bytes).expect("parses");
        assert_eq!(parsed, header);
        assert_eq!(sealed, &[0xee; 20]);
        assert_eq!(
            &header.aad(&EncryptionContext::default())[..AAD_HEADER_LEN],
            &bytes[..21]
        );
    }

    #[test]
    fn malformed_ciphertexts_are_named() {
        assert_eq!(Header::parse(&[1; 10]), Err(CiphertextError::TooShort(10)));
        let mut bytes = alloc::vec![1u8; HEADER_LEN + 16];
        bytes[0] = 9;
        assert_eq!(
            Header::parse(&bytes),
            Err(CiphertextError::UnknownVersion(9))
        );
    }
}
