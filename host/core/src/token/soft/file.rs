//! The soft token's file: its format (header, sealed key table) and the lock a change holds
//! across processes.
//!
//! Layout (all integers little-endian):
//! `KSTLSOFT` ‖ version (1) ‖ Argon2id m KiB (4) ‖ t (4) ‖ p (4) ‖ salt (16) ‖ nonce (12) ‖
//! AES-256-GCM(key = Argon2id(passphrase, salt), AAD = everything before, entries).
//! Entries: kind (1: AES-256, 2: ECDSA P-384, 3: HMAC-SHA-384, 4: ECDH P-384) ‖ label length (2) ‖ label ‖ secret length (2) ‖ secret, repeated.
//!
//! The header is read before the passphrase is checked, so nothing in it is trusted: only
//! the Argon2id parameters a [`KdfCost`] gives are accepted, before any key is derived.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_lc_rs::hmac;

use zeroize::Zeroizing;

use super::KdfCost;
use crate::crypto::{CryptoProvider as _, GCM_NONCE_LEN, RustCrypto};
use crate::secret::SecretBytes;
use crate::token::{TokenError, TokenKeyKind};

const MAGIC: &[u8; 8] = b"KSTLSOFT";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
/// Magic, version, Argon2id parameters and salt: the same in every version of one file.
pub(super) const PARAMS_LEN: usize = 8 + 1 + 12 + SALT_LEN;
const HEADER_LEN: usize = PARAMS_LEN + GCM_NONCE_LEN;
/// Appended to the token file's name to name its lock file.
const LOCK_SUFFIX: &str = ".lock";

/// One key in the table.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) kind: TokenKeyKind,
    pub(super) secret: SecretBytes,
    /// An HMAC key's keyed state (the inner and outer pads hashed), built on its first use
    /// and kept with the entry, so that a MAC hashes only the message. AWS-LC cleanses the
    /// HMAC context when it drops, with the entry.
    pub(super) mac: OnceLock<hmac::Key>,
}

impl Entry {
    /// The key `secret` of `kind`.
    pub(super) fn new(kind: TokenKeyKind, secret: SecretBytes) -> Self {
        Self {
            kind,
            secret,
            mac: OnceLock::new(),
        }
    }

    /// The keyed HMAC-SHA-384 state of this (HMAC) key.
    pub(super) fn mac_key(&self) -> &hmac::Key {
        self.mac
            .get_or_init(|| hmac::Key::new(hmac::HMAC_SHA384, self.secret.expose()))
    }
}

/// The key table, by label.
pub(super) type Keys = BTreeMap<String, Entry>;

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn format_error(path: &Path, reason: String) -> TokenError {
    TokenError::Format {
        path: path.display().to_string(),
        reason,
    }
}

/// The header of a new file, up to and including the salt: magic, version, `cost`'s
/// parameters and a fresh salt.
pub(super) fn new_params(cost: KdfCost) -> Result<Vec<u8>, TokenError> {
    let mut salt = [0u8; SALT_LEN];
    RustCrypto.fill_random(&mut salt)?;
    let mut params = MAGIC.to_vec();
    params.push(VERSION);
    let (m, t, p) = cost.params();
    for n in [m, t, p] {
        params.extend_from_slice(&n.to_le_bytes());
    }
    params.extend_from_slice(&salt);
    Ok(params)
}

/// The salt of a header made by [`new_params`] or checked by [`parse_header`].
pub(super) fn salt(params: &[u8]) -> &[u8] {
    params
        .get(PARAMS_LEN - SALT_LEN..PARAMS_LEN)
        .unwrap_or_default()
}

/// The file's Argon2id cost, once its magic, version and parameters are known good:
/// nothing here is authenticated yet, so nothing outside the known sets is used.
pub(super) fn parse_header(path: &Path, file: &[u8]) -> Result<KdfCost, TokenError> {
    if file.len() < HEADER_LEN || !file.starts_with(MAGIC) {
        return Err(format_error(path, "not a Kastell soft token file".into()));
    }
    if file[8] != VERSION {
        return Err(format_error(
            path,
            format!("unsupported version {}", file[8]),
        ));
    }
    let number =
        |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    let (m, t, p) = (number(9), number(13), number(17));
    KdfCost::from_params((m, t, p)).ok_or_else(|| {
        let known: Vec<String> = KdfCost::ALL
            .iter()
            .map(|cost| {
                let (m, t, p) = cost.params();
                format!("m = {m} KiB, t = {t}, p = {p}")
            })
            .collect();
        format_error(
            path,
            format!(
                "Argon2id parameters m = {m} KiB, t = {t}, p = {p} in the header are not a set \
                 Kastell writes ({}); refused before deriving a key with them",
                known.join(" or ")
            ),
        )
    })
}

/// The keys `file` holds, opened with `file_key` (the header is the AAD). The file must
/// carry the header `params` (the one its key was derived for).
pub(super) fn unseal(
    path: &Path,
    params: &[u8],
    file_key: &SecretBytes,
    file: &[u8],
) -> Result<Keys, TokenError> {
    let (header, sealed) = file
        .split_at_checked(HEADER_LEN)
        .ok_or_else(|| format_error(path, "not a Kastell soft token file".into()))?;
    let (found, nonce) = header.split_at(PARAMS_LEN);
    if found != params {
        return Err(format_error(
            path,
            "the file was replaced by another token since it was opened (its header changed)"
                .into(),
        ));
    }
    let nonce: [u8; GCM_NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| format_error(path, "truncated header".into()))?;
    let plaintext = RustCrypto
        .aes256_gcm_open(file_key, &nonce, header, sealed)
        .map_err(|_| TokenError::Locked(path.display().to_string()))?;
    parse_entries(plaintext.expose())
        .ok_or_else(|| format_error(path, "malformed key table".into()))
}

/// The whole file for `keys`: `params`, a fresh nonce, the table sealed under `file_key`.
pub(super) fn seal(
    params: &[u8],
    file_key: &SecretBytes,
    keys: &Keys,
) -> Result<Vec<u8>, TokenError> {
    let plaintext = encode_entries(keys)?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    RustCrypto.fill_random(&mut nonce)?;
    let mut file = params.to_vec();
    file.extend_from_slice(&nonce);
    let sealed = RustCrypto.aes256_gcm_seal(file_key, &nonce, &file, plaintext.expose())?;
    file.extend_from_slice(&sealed);
    Ok(file)
}

/// The key table in the file's entry format (what [`parse_entries`] reads).
pub(super) fn encode_entries(keys: &Keys) -> Result<SecretBytes, TokenError> {
    let mut plaintext = Zeroizing::new(Vec::new());
    for (label, entry) in keys {
        let label_len =
            u16::try_from(label.len()).map_err(|_| TokenError::Config("label too long".into()))?;
        let secret_len =
            u16::try_from(entry.secret.len()).map_err(|_| TokenError::Malformed("secret"))?;
        plaintext.push(kind_byte(entry.kind));
        plaintext.extend_from_slice(&label_len.to_le_bytes());
        plaintext.extend_from_slice(label.as_bytes());
        plaintext.extend_from_slice(&secret_len.to_le_bytes());
        plaintext.extend_from_slice(entry.secret.expose());
    }
    Ok(SecretBytes::from_slice(&plaintext))
}

fn kind_byte(kind: TokenKeyKind) -> u8 {
    match kind {
        TokenKeyKind::Aes256 => 1,
        TokenKeyKind::EcP384 => 2,
        TokenKeyKind::HmacSha384 => 3,
        TokenKeyKind::EcdhP384 => 4,
    }
}

fn byte_kind(byte: u8) -> Option<TokenKeyKind> {
    match byte {
        1 => Some(TokenKeyKind::Aes256),
        2 => Some(TokenKeyKind::EcP384),
        3 => Some(TokenKeyKind::HmacSha384),
        4 => Some(TokenKeyKind::EcdhP384),
        _ => None,
    }
}

pub(super) fn parse_entries(mut bytes: &[u8]) -> Option<Keys> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        *bytes = tail;
        Some(head)
    }
    let mut keys = BTreeMap::new();
    while !bytes.is_empty() {
        let kind = byte_kind(*take(&mut bytes, 1)?.first()?)?;
        let label_len = u16::from_le_bytes(take(&mut bytes, 2)?.try_into().ok()?);
        let label = std::str::from_utf8(take(&mut bytes, usize::from(label_len))?).ok()?;
        let secret_len = u16::from_le_bytes(take(&mut bytes, 2)?.try_into().ok()?);
        let secret = SecretBytes::from_slice(take(&mut bytes, usize::from(secret_len))?);
        keys.insert(label.to_owned(), Entry::new(kind, secret));
    }
    Some(keys)
}

/// The lock file of the token file at `path`: `<path>.lock`.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(LOCK_SUFFIX);
    path.with_file_name(name)
}

/// An exclusive advisory lock (`flock`) on a token's lock file, held by one change across
/// processes while it reads the file again, changes and replaces it; released when dropped
/// (or when its process dies). The lock file is created with mode 0600 and never removed:
/// removing it would let two processes lock two different files of the same name.
pub(super) struct FileLock {
    _file: fs::File,
}

impl FileLock {
    /// Waits for the lock on `path`.
    pub(super) fn acquire(path: &Path) -> Result<Self, TokenError> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(io(path))?;
        file.lock().map_err(io(path))?;
        Ok(Self { _file: file })
    }
}
