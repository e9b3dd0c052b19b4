//! The built-in soft token: keys in one file sealed under a passphrase with Argon2id and
//! AES-256-GCM. For development and the embedded default; a PKCS#11 token is the choice
//! when keys must live in hardware. Its operations run on aws-lc-rs; the file is sealed
//! with RustCrypto (either reads what the other wrote).
//!
//! File layout (all integers little-endian):
//! `KSTLSOFT` ‖ version (1) ‖ Argon2id m KiB (4) ‖ t (4) ‖ p (4) ‖ salt (16) ‖ nonce (12) ‖
//! AES-256-GCM(key = Argon2id(passphrase, salt), AAD = everything before, entries).
//! Entries: kind (1) ‖ label length (2) ‖ label ‖ secret length (2) ‖ secret, repeated.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::{GcmSealed, Token, TokenError, TokenKeyKind};
use crate::crypto::{AwsLc, CryptoProvider, GCM_NONCE_LEN, RustCrypto};
use crate::secret::SecretBytes;

const MAGIC: &[u8; 8] = b"KSTLSOFT";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = 8 + 1 + 12 + SALT_LEN + GCM_NONCE_LEN;

/// Argon2id cost of deriving the file key from the passphrase; stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfCost {
    /// 64 MiB, 3 passes: the default for deployments.
    Strong,
    /// 19 MiB, 2 passes: OWASP's minimum; for tests and throw-away demo tokens.
    Interactive,
}

impl KdfCost {
    fn params(self) -> (u32, u32, u32) {
        match self {
            Self::Strong => (64 * 1024, 3, 1),
            Self::Interactive => (19 * 1024, 2, 1),
        }
    }
}

fn kind_byte(kind: TokenKeyKind) -> u8 {
    match kind {
        TokenKeyKind::Aes256 => 1,
        TokenKeyKind::EcP384 => 2,
        TokenKeyKind::HmacSha384 => 3,
    }
}

fn byte_kind(byte: u8) -> Option<TokenKeyKind> {
    match byte {
        1 => Some(TokenKeyKind::Aes256),
        2 => Some(TokenKeyKind::EcP384),
        3 => Some(TokenKeyKind::HmacSha384),
        _ => None,
    }
}

#[derive(Clone)]
struct Entry {
    kind: TokenKeyKind,
    secret: SecretBytes,
}

/// The passphrase-sealed soft token.
pub struct SoftToken {
    path: PathBuf,
    /// Header up to and including the salt (the nonce is fresh on every write).
    params: Vec<u8>,
    file_key: SecretBytes,
    keys: RwLock<BTreeMap<String, Entry>>,
    /// Held by generation and destruction while they write the file: one change at a
    /// time, and the key map's write lock only for the swap once the file is durable.
    changes: Mutex<()>,
}

impl std::fmt::Debug for SoftToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn derive(
    passphrase: &SecretString,
    salt: &[u8],
    (m, t, p): (u32, u32, u32),
) -> Result<SecretBytes, TokenError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| TokenError::Config(format!("Argon2id parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, key.as_mut())
        .map_err(|e| TokenError::Config(format!("Argon2id: {e}")))?;
    Ok(SecretBytes::from_slice(key.as_ref()))
}

impl SoftToken {
    /// Creates a new, empty soft token file at `path` (refuses to overwrite one).
    ///
    /// # Errors
    /// [`TokenError::Io`] (including when the file exists), [`TokenError::Config`].
    pub fn create(
        path: &Path,
        passphrase: &SecretString,
        cost: KdfCost,
    ) -> Result<Self, TokenError> {
        if passphrase.expose_secret().len() < 8 {
            return Err(TokenError::Config(
                "the soft token passphrase needs at least 8 characters".into(),
            ));
        }
        if path.exists() {
            return Err(io(path)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a soft token file already exists here",
            )));
        }
        let (m, t, p) = cost.params();
        let mut salt = [0u8; SALT_LEN];
        RustCrypto.fill_random(&mut salt)?;
        let mut params = MAGIC.to_vec();
        params.push(VERSION);
        for n in [m, t, p] {
            params.extend_from_slice(&n.to_le_bytes());
        }
        params.extend_from_slice(&salt);
        let token = Self {
            path: path.to_path_buf(),
            file_key: derive(passphrase, &salt, (m, t, p))?,
            params,
            keys: RwLock::new(BTreeMap::new()),
            changes: Mutex::new(()),
        };
        token.persist(&token.read())?;
        Ok(token)
    }

    /// Opens and unlocks an existing soft token file.
    ///
    /// # Errors
    /// [`TokenError::Locked`] for a wrong passphrase or damaged file,
    /// [`TokenError::Format`] for a file this version does not read, [`TokenError::Io`].
    pub fn open(path: &Path, passphrase: &SecretString) -> Result<Self, TokenError> {
        let file = fs::read(path).map_err(io(path))?;
        let format = |reason: &str| TokenError::Format {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        if file.len() < HEADER_LEN || !file.starts_with(MAGIC) {
            return Err(format("not a Kastell soft token file"));
        }
        if file[8] != VERSION {
            return Err(format(&std::format!("unsupported version {}", file[8])));
        }
        let number =
            |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
        let (m, t, p) = (number(9), number(13), number(17));
        let salt = &file[21..21 + SALT_LEN];
        let nonce: [u8; GCM_NONCE_LEN] = file[21 + SALT_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| format("truncated header"))?;
        let file_key = derive(passphrase, salt, (m, t, p))?;
        let plaintext = RustCrypto
            .aes256_gcm_open(&file_key, &nonce, &file[..HEADER_LEN], &file[HEADER_LEN..])
            .map_err(|_| TokenError::Locked(path.display().to_string()))?;
        let keys =
            parse_entries(plaintext.expose()).ok_or_else(|| format("malformed key table"))?;
        Ok(Self {
            path: path.to_path_buf(),
            params: file[..21 + SALT_LEN].to_vec(),
            file_key,
            keys: RwLock::new(keys),
            changes: Mutex::new(()),
        })
    }

    /// Opens the file at `path`, creating it (with `cost`) when absent.
    ///
    /// # Errors
    /// As [`SoftToken::open`] and [`SoftToken::create`].
    pub fn open_or_create(
        path: &Path,
        passphrase: &SecretString,
        cost: KdfCost,
    ) -> Result<Self, TokenError> {
        if path.exists() {
            Self::open(path, passphrase)
        } else {
            Self::create(path, passphrase, cost)
        }
    }

    // Every change is persisted before it is kept in memory; a panic leaves the map as it
    // was on disk. Operations share the read lock. Generation and destruction, one at a
    // time (`changes`), write the file from a copy of the map and then swap the copy in:
    // the write lock is never held across the file's fsyncs, so operations running on the
    // server's async workers do not wait for the disk.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Persists the map `change` makes of a copy of the current one, then keeps it.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Entry>) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let _one_at_a_time = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.read().clone();
        let out = change(&mut next)?;
        self.persist(&next)?;
        // The replaced map's secrets are zeroized as it drops.
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(out)
    }

    /// Fresh material for a key of `kind`.
    fn new_secret(kind: TokenKeyKind) -> Result<SecretBytes, TokenError> {
        Ok(match kind {
            TokenKeyKind::EcP384 => RustCrypto.p384_generate()?,
            TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => {
                let len = if kind == TokenKeyKind::Aes256 { 32 } else { 48 };
                let mut bytes = Zeroizing::new(vec![0u8; len]);
                RustCrypto.fill_random(&mut bytes)?;
                SecretBytes::from_slice(&bytes)
            }
        })
    }

    /// Seals `keys` and replaces the file atomically.
    fn persist(&self, keys: &BTreeMap<String, Entry>) -> Result<(), TokenError> {
        let mut plaintext = Zeroizing::new(Vec::new());
        for (label, entry) in keys {
            let label_len = u16::try_from(label.len())
                .map_err(|_| TokenError::Config("label too long".into()))?;
            let secret_len =
                u16::try_from(entry.secret.len()).map_err(|_| TokenError::Malformed("secret"))?;
            plaintext.push(kind_byte(entry.kind));
            plaintext.extend_from_slice(&label_len.to_le_bytes());
            plaintext.extend_from_slice(label.as_bytes());
            plaintext.extend_from_slice(&secret_len.to_le_bytes());
            plaintext.extend_from_slice(entry.secret.expose());
        }
        let mut nonce = [0u8; GCM_NONCE_LEN];
        RustCrypto.fill_random(&mut nonce)?;
        let mut file = self.params.clone();
        file.extend_from_slice(&nonce);
        let sealed = RustCrypto.aes256_gcm_seal(&self.file_key, &nonce, &file, &plaintext)?;
        file.extend_from_slice(&sealed);

        crate::files::write_atomic(&self.path, &file).map_err(io(&self.path))?;
        Ok(())
    }

    fn with_key<R>(
        &self,
        label: &str,
        kind: TokenKeyKind,
        f: impl FnOnce(&SecretBytes) -> Result<R, TokenError>,
    ) -> Result<R, TokenError> {
        let keys = self.read();
        let entry = keys
            .get(label)
            .ok_or_else(|| TokenError::KeyNotFound(label.to_owned()))?;
        if entry.kind != kind {
            return Err(TokenError::WrongKind {
                label: label.to_owned(),
                expected: kind,
            });
        }
        f(&entry.secret)
    }
}

fn parse_entries(mut bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
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
        keys.insert(label.to_owned(), Entry { kind, secret });
    }
    Some(keys)
}

impl Token for SoftToken {
    fn description(&self) -> String {
        format!("soft token {}", self.path.display())
    }

    fn operates_in_memory(&self) -> bool {
        // Keys live in memory once the file is opened; only generate and destroy write it.
        true
    }

    fn generate(&self, label: &str, kind: TokenKeyKind) -> Result<(), TokenError> {
        self.change(|keys| {
            if keys.contains_key(label) {
                return Err(TokenError::KeyExists(label.to_owned()));
            }
            let secret = Self::new_secret(kind)?;
            keys.insert(label.to_owned(), Entry { kind, secret });
            Ok(())
        })
    }

    fn contains(&self, label: &str) -> Result<bool, TokenError> {
        Ok(self.read().contains_key(label))
    }

    fn destroy(&self, label: &str) -> Result<(), TokenError> {
        self.change(|keys| {
            keys.remove(label)
                .map(drop)
                .ok_or_else(|| TokenError::KeyNotFound(label.to_owned()))
        })
    }

    fn wrap(&self, master: &str, key: &SecretBytes) -> Result<Vec<u8>, TokenError> {
        self.with_key(master, TokenKeyKind::Aes256, |kek| {
            Ok(AwsLc.aes256_kwp_wrap(kek, key)?)
        })
    }

    fn unwrap(&self, master: &str, wrapped: &[u8]) -> Result<SecretBytes, TokenError> {
        self.with_key(master, TokenKeyKind::Aes256, |kek| {
            Ok(AwsLc.aes256_kwp_unwrap(kek, wrapped)?)
        })
    }

    fn encrypt(&self, label: &str, aad: &[u8], plaintext: &[u8]) -> Result<GcmSealed, TokenError> {
        self.with_key(label, TokenKeyKind::Aes256, |key| {
            let mut nonce = [0u8; GCM_NONCE_LEN];
            AwsLc.fill_random(&mut nonce)?;
            let ciphertext = AwsLc.aes256_gcm_seal(key, &nonce, aad, plaintext)?;
            Ok(GcmSealed { nonce, ciphertext })
        })
    }

    fn decrypt(
        &self,
        label: &str,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, TokenError> {
        self.with_key(label, TokenKeyKind::Aes256, |key| {
            Ok(AwsLc.aes256_gcm_open(key, nonce, aad, ciphertext)?)
        })
    }

    fn sign_digest(&self, label: &str, digest: &[u8; 48]) -> Result<Vec<u8>, TokenError> {
        self.with_key(label, TokenKeyKind::EcP384, |key| {
            Ok(AwsLc.p384_sign_digest(key, digest)?)
        })
    }

    fn public_key(&self, label: &str) -> Result<Vec<u8>, TokenError> {
        self.with_key(label, TokenKeyKind::EcP384, |key| {
            Ok(AwsLc.p384_public_key(key)?)
        })
    }

    fn mac(&self, label: &str, message: &[u8]) -> Result<[u8; 48], TokenError> {
        self.with_key(label, TokenKeyKind::HmacSha384, |key| {
            Ok(AwsLc.hmac_sha384(key, message)?)
        })
    }

    fn random(&self, out: &mut [u8]) -> Result<(), TokenError> {
        Ok(AwsLc.fill_random(out)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

    use super::*;
    use crate::token::KdfCost;

    #[test]
    fn operations_do_not_wait_for_a_change_writing_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = SoftToken::create(
            &dir.path().join("soft.token"),
            &SecretString::from("correct horse"),
            KdfCost::Interactive,
        )
        .expect("create");
        token
            .generate("mac", TokenKeyKind::HmacSha384)
            .expect("generate");
        // A generation or destruction holds `changes` while it seals and fsyncs the file
        // (a slow disk: as long as it likes). Operations must go on meanwhile.
        let writing = token.changes.lock().expect("changes");
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let tag = token.mac("mac", b"message").expect("mac");
                done.send(tag.len()).expect("send");
            });
            let tag_len = finished
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a MAC while the file is being written");
            assert_eq!(tag_len, 48);
            drop(writing);
        });
        // And the change that was waiting its turn works afterwards.
        token
            .generate("aes", TokenKeyKind::Aes256)
            .expect("generate after");
        assert!(token.contains("aes").expect("contains"));
    }
}
