//! The backup file's layout (all integers big-endian; `docs/backup-format.md`):
//!
//! ```text
//! header      "KSTLBKUP" ‖ format version (2) ‖ flags (2, zero) ‖ backup id (16)
//! recipients  count (2), then per recipient: fingerprint (32, SHA-256 of its SEC1 point)
//!             ‖ enc length (2) ‖ enc ‖ sealed length (2) ‖ sealed content key
//! stream      nonce prefix (7) ‖ chunk size (4), then chunks: length (4) ‖ ciphertext
//! manifest    JSON
//! signature   ECDSA P-384 r ‖ s by the audit-signing key
//! trailer     manifest length (4) ‖ signature length (2) ‖ "KSTLBEND"
//! ```
//!
//! The body (header, recipients, stream) is hashed into the manifest, which is signed: the
//! whole file verifies offline with the public key the manifest carries.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384};

use super::BackupError;

/// The first bytes of every backup file.
pub(super) const MAGIC: &[u8; 8] = b"KSTLBKUP";
/// The last bytes of every complete backup file.
pub(super) const END_MAGIC: &[u8; 8] = b"KSTLBEND";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the backup id.
pub(super) const ID_LEN: usize = 16;
/// Length of the header.
pub(super) const HEADER_LEN: usize = 8 + 2 + 2 + ID_LEN;
/// Length of the trailer.
pub(super) const TRAILER_LEN: usize = 4 + 2 + 8;
/// Plaintext bytes per chunk (the last one may be shorter).
pub(super) const CHUNK_SIZE: u32 = 64 * 1024;
/// STREAM's nonce prefix: 12 bytes of AES-GCM nonce less a 32-bit counter and a flag.
pub(super) const NONCE_PREFIX_LEN: usize = 7;
/// HPKE `info` of the sealed content key.
pub(super) const HPKE_INFO: &[u8] = b"kastell backup v1 content key";
/// Prefixed to the manifest before it is hashed for its signature.
const SIGNATURE_DOMAIN: &[u8] = b"kastell backup manifest v1\0";
/// Largest manifest read (it names counts and keys, nothing large).
const MAX_MANIFEST: u32 = 1 << 20;
/// Most recipients one file names.
pub(super) const MAX_RECIPIENTS: u16 = 64;

/// Where the master key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MasterKey {
    /// Inside the sealed content (the soft token's keys): the recipients can restore it
    /// anywhere.
    InBackup,
    /// On a token it cannot leave (PKCS#11): a restore needs the same token.
    OnToken,
}

/// The signed description of a backup: what it holds and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The file's format version (the header's).
    pub format: u16,
    /// The file's random id, hex (the header's).
    pub backup_id: String,
    /// When the snapshot was taken, Unix milliseconds.
    pub created_ms: i64,
    /// The deployment: fingerprint of its audit-signing public key (unchanged by a
    /// restore).
    pub deployment_id: String,
    /// The Kastell version that made it.
    pub kastell_version: String,
    /// The store it was taken from (`sqlite` or `postgres`); the content's store is a SQLite
    /// file either way.
    pub store: String,
    /// The store's schema version.
    pub schema_version: i64,
    /// What it holds.
    pub counts: Counts,
    /// The audit chain's head in the snapshot (none for an empty trail).
    pub audit_head: Option<AuditHead>,
    /// The audit-signing public key (SPKI PEM) that signed this manifest.
    pub audit_public_key: String,
    /// Fingerprints of the recipients the content key is sealed to.
    pub recipients: Vec<String>,
    /// The fingerprint of the one among them that is the deployment's token backup key
    /// (a key on the token, not an escrow holder's): the same token opens the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_recipient: Option<String>,
    /// Where the master key is.
    pub master_key: MasterKey,
    /// The token the deployment used, as it describes itself.
    pub token: String,
    /// SHA-384 of the body (header, recipients, stream), hex.
    pub body_sha384: String,
}

/// Counts of what a backup holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Keys (any state).
    pub keys: u64,
    /// Key versions.
    pub key_versions: u64,
    /// Aliases.
    pub aliases: u64,
    /// Stored policy components.
    pub policies: u64,
    /// Stored workload components.
    pub workloads: u64,
    /// Client certificates issued.
    pub clients: u64,
    /// Client certificates revoked.
    pub revoked_clients: u64,
    /// Access keys of the AWS endpoint.
    pub access_keys: u64,
    /// Audit records.
    pub audit_records: u64,
    /// Signed audit checkpoints.
    pub audit_checkpoints: u64,
    /// Keys on the soft token carried inside (0 with a PKCS#11 token).
    pub token_keys: u64,
}

/// The audit chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// The last record's sequence number.
    pub seq: u64,
    /// Its hash, hex.
    pub hash: String,
}

/// A public key's fingerprint: `sha256:` and the hex SHA-256 of its SEC1 point.
#[must_use]
pub fn fingerprint(sec1: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(sec1)))
}

/// The header of a new file with this id.
pub(super) fn header(id: &[u8; ID_LEN]) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    out[12..].copy_from_slice(id);
    out
}

/// Checks a file's first [`HEADER_LEN`] bytes: magic, then the version (newer ones are
/// refused by name before anything else is read).
pub(super) fn check_header(name: &str, bytes: &[u8]) -> Result<[u8; HEADER_LEN], BackupError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup(name.to_owned()));
    }
    let header: [u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| BackupError::Truncated("the file ends inside its header".into()))?;
    let version = u16::from_be_bytes([header[8], header[9]]);
    if version > FORMAT_VERSION {
        return Err(BackupError::NewerFormat {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 || header[10..12] != [0, 0] {
        return Err(BackupError::Malformed(format!(
            "format version {version} with flags {:02x}{:02x} is not one Kastell writes",
            header[10], header[11]
        )));
    }
    Ok(header)
}

/// The trailer's manifest and signature lengths, once its end marker is found.
pub(super) fn parse_trailer(trailer: &[u8; TRAILER_LEN]) -> Result<(u32, u16), BackupError> {
    if &trailer[6..] != END_MAGIC {
        return Err(BackupError::Truncated(
            "no end marker: the file was cut short or never finished".into(),
        ));
    }
    let manifest_len = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let signature_len = u16::from_be_bytes([trailer[4], trailer[5]]);
    if manifest_len == 0 || manifest_len > MAX_MANIFEST {
        return Err(BackupError::Malformed(format!(
            "manifest length {manifest_len} (at most {MAX_MANIFEST})"
        )));
    }
    Ok((manifest_len, signature_len))
}

/// The trailer for a manifest and signature of these lengths.
pub(super) fn trailer(manifest_len: usize, signature_len: usize) -> Result<Vec<u8>, BackupError> {
    let manifest_len = u32::try_from(manifest_len)
        .ok()
        .filter(|n| *n <= MAX_MANIFEST)
        .ok_or_else(|| BackupError::Malformed("manifest too large".into()))?;
    let signature_len = u16::try_from(signature_len)
        .map_err(|_| BackupError::Malformed("signature too large".into()))?;
    let mut out = manifest_len.to_be_bytes().to_vec();
    out.extend_from_slice(&signature_len.to_be_bytes());
    out.extend_from_slice(END_MAGIC);
    Ok(out)
}

/// The digest the audit-signing key signs: SHA-384 of the domain and the manifest bytes.
pub(super) fn signed_digest(manifest: &[u8]) -> [u8; 48] {
    let mut hasher = Sha384::new();
    hasher.update(SIGNATURE_DOMAIN);
    hasher.update(manifest);
    hasher.finalize().into()
}

/// The content key sealed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SealedKey {
    /// SHA-256 of the recipient's SEC1 point.
    pub(super) fingerprint: [u8; 32],
    /// HPKE `enc`.
    pub(super) enc: Vec<u8>,
    /// HPKE ciphertext of the content key.
    pub(super) sealed: Vec<u8>,
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), BackupError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| BackupError::Malformed("sealed key too long".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The recipients section.
pub(super) fn encode_recipients(keys: &[SealedKey]) -> Result<Vec<u8>, BackupError> {
    let count = u16::try_from(keys.len())
        .ok()
        .filter(|n| *n <= MAX_RECIPIENTS)
        .ok_or_else(|| BackupError::Malformed(format!("at most {MAX_RECIPIENTS} recipients")))?;
    let mut out = count.to_be_bytes().to_vec();
    for key in keys {
        out.extend_from_slice(&key.fingerprint);
        put_short(&mut out, &key.enc)?;
        put_short(&mut out, &key.sealed)?;
    }
    Ok(out)
}

/// Reads exactly `n` bytes, a short read being a truncation of `what`.
pub(super) fn read_exact(
    reader: &mut impl Read,
    n: usize,
    what: &str,
) -> Result<Vec<u8>, BackupError> {
    let mut out = vec![0u8; n];
    reader.read_exact(&mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return BackupError::Truncated(format!("the file ends inside {what}"));
        }
        carried(e).unwrap_or_else(|e| BackupError::Malformed(format!("{what}: {e}")))
    })?;
    Ok(out)
}

/// The [`BackupError`] an I/O error carries (the content reader's), or the error back.
pub(super) fn carried(err: std::io::Error) -> Result<BackupError, std::io::Error> {
    if !err.get_ref().is_some_and(|inner| inner.is::<BackupError>()) {
        return Err(err);
    }
    match err
        .into_inner()
        .map(|inner| inner.downcast::<BackupError>())
    {
        Some(Ok(backup)) => Ok(*backup),
        _ => Ok(BackupError::Malformed("unreadable content".into())),
    }
}

fn read_u16(reader: &mut impl Read, what: &str) -> Result<u16, BackupError> {
    let bytes = read_exact(reader, 2, what)?;
    Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Reads the recipients section.
pub(super) fn decode_recipients(reader: &mut impl Read) -> Result<Vec<SealedKey>, BackupError> {
    let count = read_u16(reader, "the recipients")?;
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(BackupError::Malformed(format!(
            "{count} recipients (1 to {MAX_RECIPIENTS})"
        )));
    }
    (0..count)
        .map(|_| {
            let fingerprint = read_exact(reader, 32, "a recipient")?;
            let len = read_u16(reader, "a recipient")?;
            let enc = read_exact(reader, usize::from(len), "a recipient")?;
            let len = read_u16(reader, "a recipient")?;
            let sealed = read_exact(reader, usize::from(len), "a recipient")?;
            Ok(SealedKey {
                fingerprint: fingerprint
                    .try_into()
                    .map_err(|_| BackupError::Malformed("recipient fingerprint".into()))?,
                enc,
                sealed,
            })
        })
        .collect()
}

/// A writer that hashes what passes through it (the body).
pub(super) struct Hashing<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha384,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
