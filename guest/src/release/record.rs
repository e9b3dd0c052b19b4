//! Decrypting Kastell ciphertexts ("records") with a released AES-256 key.
//!
//! A record is what the key service's `encrypt` returns (format v1):
//!
//! ```text
//! 0x01                       format               1 byte
//! key id                     the key's UUID      16 bytes
//! key version                u32 big-endian       4 bytes
//! nonce                      AES-GCM nonce       12 bytes
//! ciphertext ‖ tag           AES-256-GCM          n + 16 bytes
//! ```
//!
//! The GCM AAD is the header without the nonce (`0x01 ‖ key id ‖ key version`, 21 bytes)
//! followed by the canonical encryption context ([`canonical_context`]), so a record
//! decrypts only under the key version and context it was encrypted with.

use core::fmt;

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::{ReleaseError, TAG_LEN};

/// The record format this module reads (the first byte of a record).
pub const RECORD_FORMAT_V1: u8 = 0x01;
/// Length of an AES-256 key, the material a key release of an `aes-256` key carries.
pub const KEY_LEN: usize = 32;
/// Length of the AES-GCM nonce in a record header.
const NONCE_LEN: usize = 12;
/// Length of the authenticated part of the header: format, key id, key version.
const AAD_HEADER_LEN: usize = 1 + 16 + 4;
/// Length of a v1 record header: format, key id, key version, nonce (33 bytes).
pub const RECORD_HEADER_LEN: usize = AAD_HEADER_LEN + NONCE_LEN;

/// The header of a record: which key, and which of its versions, encrypted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The key's id (its UUID's 16 bytes).
    pub key_id: [u8; 16],
    /// The key version that encrypted the record.
    pub key_version: u32,
    nonce: [u8; NONCE_LEN],
}

impl RecordHeader {
    /// Reads the header of `record`, checking that it is long enough to hold a header and
    /// a tag and that its format is v1. Nothing is authenticated yet.
    ///
    /// # Errors
    /// [`ReleaseError::RecordTooShort`] under 49 bytes ([`RECORD_HEADER_LEN`] + 16);
    /// [`ReleaseError::UnknownRecordFormat`] unless the first byte is
    /// [`RECORD_FORMAT_V1`].
    pub fn parse(record: &[u8]) -> Result<Self, ReleaseError> {
        if record.len() < RECORD_HEADER_LEN + TAG_LEN {
            return Err(ReleaseError::RecordTooShort { len: record.len() });
        }
        if record[0] != RECORD_FORMAT_V1 {
            return Err(ReleaseError::UnknownRecordFormat { format: record[0] });
        }
        // In bounds: the record is at least RECORD_HEADER_LEN + TAG_LEN bytes long.
        let mut header = Self {
            key_id: [0; 16],
            key_version: 0,
            nonce: [0; NONCE_LEN],
        };
        header.key_id.copy_from_slice(&record[1..17]);
        let mut version = [0; 4];
        version.copy_from_slice(&record[17..AAD_HEADER_LEN]);
        header.key_version = u32::from_be_bytes(version);
        header
            .nonce
            .copy_from_slice(&record[AAD_HEADER_LEN..RECORD_HEADER_LEN]);
        Ok(header)
    }

    /// The header's authenticated bytes: format, key id, key version (21 bytes).
    fn aad_prefix(&self) -> [u8; AAD_HEADER_LEN] {
        let mut out = [0; AAD_HEADER_LEN];
        out[0] = RECORD_FORMAT_V1;
        out[1..17].copy_from_slice(&self.key_id);
        out[17..].copy_from_slice(&self.key_version.to_be_bytes());
        out
    }
}

/// A decrypted record: the key version its header named, and its plaintext.
pub struct Record {
    /// The key version that encrypted the record.
    pub key_version: u32,
    /// The plaintext, zeroized when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// The canonical encoding of an encryption context, as the key service computes it: the
/// entry count (u32 big-endian), then each entry in name order (byte-wise, as a
/// `BTreeMap<String, String>` iterates) as name length (u32 BE) ‖ name ‖ value length
/// (u32 BE) ‖ value. The order of `context` does not matter.
///
/// # Errors
/// [`ReleaseError::DuplicateContextName`] if a name occurs twice: the key service's
/// context is a map, so such a context cannot have been used to encrypt.
pub fn canonical_context(context: &[(String, String)]) -> Result<Vec<u8>, ReleaseError> {
    let mut entries: Vec<&(String, String)> = context.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(ReleaseError::DuplicateContextName {
            name: pair[0].0.clone(),
        });
    }
    let mut out = Vec::with_capacity(
        4 + entries
            .iter()
            .map(|(name, value)| 8 + name.len() + value.len())
            .sum::<usize>(),
    );
    push_len(&mut out, entries.len());
    for (name, value) in entries {
        for part in [name, value] {
            push_len(&mut out, part.len());
            out.extend_from_slice(part.as_bytes());
        }
    }
    Ok(out)
}

/// Appends `len` as u32 big-endian (saturating, as the key service does).
fn push_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

/// Decrypts `record`, a Kastell ciphertext of the key `key_id`, with `key`, that key's
/// released AES-256 material, under the encryption `context` it was encrypted with (in any
/// order).
///
/// The caller should check [`RecordHeader::parse`]'s `key_version` against the version
/// the release carried first: a record of another version fails here only as
/// [`ReleaseError::DecryptionFailed`].
///
/// # Errors
/// [`ReleaseError::KeyLength`] unless `key` is 32 bytes; [`ReleaseError::RecordTooShort`]
/// and [`ReleaseError::UnknownRecordFormat`] as [`RecordHeader::parse`];
/// [`ReleaseError::RecordKeyMismatch`] if the header names another key;
/// [`ReleaseError::DuplicateContextName`] as [`canonical_context`]; and
/// [`ReleaseError::DecryptionFailed`], without saying why, for another key version, another
/// context, another key's material or an altered record.
pub fn decrypt_record(
    key: &[u8],
    key_id: &[u8; 16],
    record: &[u8],
    context: &[(String, String)],
) -> Result<Record, ReleaseError> {
    let cipher =
        Aes256Gcm::new_from_slice(key).map_err(|_| ReleaseError::KeyLength { found: key.len() })?;
    let header = RecordHeader::parse(record)?;
    if header.key_id != *key_id {
        return Err(ReleaseError::RecordKeyMismatch {
            found: header.key_id,
        });
    }
    let mut aad = header.aad_prefix().to_vec();
    aad.extend_from_slice(&canonical_context(context)?);

    let mut plaintext = Zeroizing::new(record[RECORD_HEADER_LEN..].to_vec());
    cipher
        .decrypt_in_place(Nonce::from_slice(&header.nonce), &aad, &mut *plaintext)
        .map_err(|_| ReleaseError::DecryptionFailed)?;
    Ok(Record {
        key_version: header.key_version,
        plaintext,
    })
}
