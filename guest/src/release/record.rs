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

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use kastell_proto::EncryptionContext;
use kastell_proto::ciphertext::{self, CiphertextError, Header};
use zeroize::Zeroizing;

use super::{ReleaseError, SecretBytes};

/// The record format this module reads (the first byte of a record).
pub const RECORD_FORMAT_V1: u8 = ciphertext::FORMAT_V1;
/// Length of an AES-256 key, the material a key release of an `aes-256` key carries.
pub const KEY_LEN: usize = 32;
/// Length of a v1 record header: format, key id, key version, nonce (33 bytes).
pub const RECORD_HEADER_LEN: usize = ciphertext::HEADER_LEN;

/// The header of a record: which key, and which of its versions, encrypted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The key's id (its UUID's 16 bytes).
    pub key_id: [u8; 16],
    /// The key version that encrypted the record.
    pub key_version: u32,
    header: Header,
}

impl RecordHeader {
    /// Reads the header of `record`, checking that it is long enough to hold a header and
    /// a tag and that its format is v1 ([`kastell_proto::ciphertext::Header::parse`]).
    /// Nothing is authenticated yet.
    ///
    /// # Errors
    /// [`ReleaseError::RecordTooShort`] under 49 bytes ([`RECORD_HEADER_LEN`] + 16);
    /// [`ReleaseError::UnknownRecordFormat`] unless the first byte is
    /// [`RECORD_FORMAT_V1`].
    pub fn parse(record: &[u8]) -> Result<Self, ReleaseError> {
        match Header::parse(record) {
            Ok((header, _)) => Ok(Self {
                key_id: *header.key.as_bytes(),
                key_version: header.version,
                header,
            }),
            Err(CiphertextError::UnknownVersion(format)) => {
                Err(ReleaseError::UnknownRecordFormat { format })
            }
            Err(_) => Err(ReleaseError::RecordTooShort { len: record.len() }),
        }
    }
}

/// A decrypted record: the key version its header named, and its plaintext (`Debug` shows
/// only the version).
pub struct Record {
    /// The key version that encrypted the record.
    pub key_version: u32,
    /// The plaintext, zeroized when dropped.
    pub plaintext: SecretBytes,
}

impl core::fmt::Debug for Record {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Record")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// The canonical encoding of an encryption context, as the key service computes it
/// ([`kastell_proto::EncryptionContext::canonical`]): the entry count (u32 big-endian),
/// then each entry in name order (byte-wise) as name length (u32 BE) ‖ name ‖ value length
/// (u32 BE) ‖ value. The order of `context` does not matter.
///
/// # Errors
/// [`ReleaseError::DuplicateContextName`] if a name occurs twice: the key service's
/// context is a map, so such a context cannot have been used to encrypt.
pub fn canonical_context(context: &[(String, String)]) -> Result<Vec<u8>, ReleaseError> {
    context_of(context).map(|context| context.canonical())
}

/// The context of these pairs; a name given twice is refused.
fn context_of(pairs: &[(String, String)]) -> Result<EncryptionContext, ReleaseError> {
    EncryptionContext::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|duplicate| ReleaseError::DuplicateContextName { name: duplicate.0 })
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
    let aad = header.header.aad(&context_of(context)?);

    let mut plaintext = Zeroizing::new(record[RECORD_HEADER_LEN..].to_vec());
    cipher
        .decrypt_in_place(
            Nonce::from_slice(&header.header.nonce),
            &aad,
            &mut *plaintext,
        )
        .map_err(|_| ReleaseError::DecryptionFailed)?;
    Ok(Record {
        key_version: header.key_version,
        plaintext: SecretBytes::new(core::mem::take(&mut *plaintext)),
    })
}
