//! Checking a backup offline, without any secret: [`verify`] (format, end marker, the
//! manifest's signature under the audit key it names, that key's fingerprint, the body's
//! hash). A restore checks the same way before it decrypts anything.

use std::fs::File;
use std::io::{BufReader, Read, Seek as _, SeekFrom};
use std::path::Path;

use p384::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha384};

use super::format::{self, HEADER_LEN, Manifest, TRAILER_LEN, read_exact};
use super::{BackupError, io};
use crate::crypto::{AwsLc, CryptoProvider as _};

/// A file whose format, end marker, signature and body hash were checked.
pub(super) struct Checked {
    pub(super) manifest: Manifest,
    pub(super) header: [u8; HEADER_LEN],
    pub(super) body_len: u64,
}

/// Checks `path` offline: the format version (a newer one refused by name), the end
/// marker (a truncated file refused by name), the manifest's signature under the audit
/// key it names and, when `expected` is given, that this key has that fingerprint (the
/// deployment's id), and the body's SHA-384 against the signed manifest. No secret is
/// needed; the content stays sealed.
///
/// # Errors
/// [`BackupError::NotABackup`], [`BackupError::NewerFormat`], [`BackupError::Truncated`],
/// [`BackupError::Malformed`], [`BackupError::Tampered`], [`BackupError::OtherDeployment`],
/// [`BackupError::Io`].
pub fn verify(path: &Path, expected: Option<&str>) -> Result<Manifest, BackupError> {
    check(path, expected).map(|checked| checked.manifest)
}

pub(super) fn check(path: &Path, expected: Option<&str>) -> Result<Checked, BackupError> {
    let mut file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut first = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut first)
        .map_err(io(path))?;
    let header = format::check_header(&path.display().to_string(), &first)?;
    if len < (HEADER_LEN + TRAILER_LEN) as u64 {
        return Err(BackupError::Truncated(
            "no end marker: the file was cut short or never finished".into(),
        ));
    }
    file.seek(SeekFrom::End(-(TRAILER_LEN as i64)))
        .map_err(io(path))?;
    let trailer: [u8; TRAILER_LEN] = read_exact(&mut file, TRAILER_LEN, "the trailer")?
        .try_into()
        .map_err(|_| BackupError::Malformed("trailer".into()))?;
    let (manifest_len, signature_len) = format::parse_trailer(&trailer)?;
    let tail = u64::from(manifest_len) + u64::from(signature_len) + TRAILER_LEN as u64;
    let body_len = len
        .checked_sub(tail)
        .filter(|body| *body >= HEADER_LEN as u64)
        .ok_or_else(|| BackupError::Malformed("the trailer's lengths exceed the file".into()))?;
    file.seek(SeekFrom::Start(body_len)).map_err(io(path))?;
    let manifest_bytes = read_exact(&mut file, manifest_len as usize, "the manifest")?;
    let signature = read_exact(&mut file, usize::from(signature_len), "the signature")?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| BackupError::Tampered(format!("the manifest does not parse ({e})")))?;

    let public = p384::PublicKey::from_public_key_pem(&manifest.audit_public_key)
        .map_err(|_| BackupError::Malformed("the manifest's audit key is not P-384 PEM".into()))?;
    let public = public.to_sec1_bytes();
    let signed = AwsLc
        .p384_verify_digest(&public, &format::signed_digest(&manifest_bytes), &signature)
        .unwrap_or(false);
    if !signed {
        return Err(BackupError::Tampered(
            "the manifest's signature does not verify under the audit key it names".into(),
        ));
    }
    let found = super::fingerprint(&public);
    if found != manifest.deployment_id {
        return Err(BackupError::Tampered(
            "the manifest's deployment id is not its audit key's fingerprint".into(),
        ));
    }
    if let Some(expected) = expected
        && expected != found
    {
        return Err(BackupError::OtherDeployment {
            found,
            expected: expected.to_owned(),
        });
    }
    if manifest.format != u16::from_be_bytes([header[8], header[9]])
        || manifest.backup_id != hex::encode(&header[12..])
    {
        return Err(BackupError::Tampered(
            "the header's version or backup id differs from the signed manifest's".into(),
        ));
    }
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    let mut hasher = Sha384::new();
    let hashed = std::io::copy(&mut BufReader::new((&mut file).take(body_len)), &mut hasher)
        .map_err(io(path))?;
    if hashed != body_len || hex::encode(hasher.finalize()) != manifest.body_sha384 {
        return Err(BackupError::Tampered(
            "the body does not match the SHA-384 in the signed manifest".into(),
        ));
    }
    Ok(Checked {
        manifest,
        header,
        body_len,
    })
}
