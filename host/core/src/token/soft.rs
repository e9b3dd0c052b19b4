//! The built-in soft token: keys in one file sealed under a passphrase with Argon2id and
//! AES-256-GCM (the format in `soft/file.rs`). For development and the embedded default; a
//! PKCS#11 token is the choice when keys must live in hardware. Its operations run on
//! aws-lc-rs; the file is sealed with RustCrypto (either reads what the other wrote).
//!
//! Several processes may hold the same file open (the `kastell` command beside a running
//! server). A change (generation, destruction) is made under an exclusive advisory lock on
//! `<file>.lock`: the file is read again, the one change applied to what it holds now, and
//! the result replaces it atomically ([`crate::files::write_atomic`]), so no process
//! erases a key another one added. A key missing from memory is looked for in the file once
//! more before it is reported missing.

mod file;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::{GcmSealed, Token, TokenError, TokenKeyKind};
use crate::crypto::{AwsLc, CryptoError, CryptoProvider, GCM_NONCE_LEN, RustCrypto};
use crate::secret::SecretBytes;
use file::{Entry, FileLock, Keys, io};

/// Argon2id cost of deriving the file key from the passphrase; stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfCost {
    /// 64 MiB, 3 passes: the default for deployments.
    Strong,
    /// 19 MiB, 2 passes: OWASP's minimum; for tests and throw-away demo tokens.
    Interactive,
}

impl KdfCost {
    /// Every cost: the only parameter sets a file is opened with.
    const ALL: [Self; 2] = [Self::Strong, Self::Interactive];

    /// Memory in KiB, passes, lanes.
    fn params(self) -> (u32, u32, u32) {
        match self {
            Self::Strong => (64 * 1024, 3, 1),
            Self::Interactive => (19 * 1024, 2, 1),
        }
    }

    /// The cost whose parameters these are; `None` for any set Kastell does not write.
    fn from_params(params: (u32, u32, u32)) -> Option<Self> {
        Self::ALL.into_iter().find(|cost| cost.params() == params)
    }
}

/// The passphrase-sealed soft token.
pub struct SoftToken {
    path: PathBuf,
    /// `<path>.lock`, locked by a change across processes.
    lock_path: PathBuf,
    /// Header up to and including the salt (the nonce is fresh on every write).
    params: Vec<u8>,
    file_key: SecretBytes,
    keys: RwLock<Keys>,
    /// Held by generation, destruction and a reload while they read or write the file:
    /// one at a time in this process, and the key map's write lock only for the swap once
    /// the file is durable.
    changes: Mutex<()>,
}

impl std::fmt::Debug for SoftToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
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

fn already_exists(path: &Path) -> TokenError {
    io(path)(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "a soft token file already exists here",
    ))
}

impl SoftToken {
    /// Creates a new, empty soft token file at `path` (refuses to overwrite one, also one
    /// another process creates meanwhile).
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
            return Err(already_exists(path));
        }
        let params = file::new_params(cost)?;
        let token = Self {
            path: path.to_path_buf(),
            lock_path: file::lock_path(path),
            file_key: derive(passphrase, file::salt(&params), cost.params())?,
            params,
            keys: RwLock::new(Keys::new()),
            changes: Mutex::new(()),
        };
        // Checked again under the lock: of two processes creating the file at once, the
        // second finds the first one's file rather than replacing it.
        let _other_processes = FileLock::acquire(&token.lock_path)?;
        if path.exists() {
            return Err(already_exists(path));
        }
        token.persist(&Keys::new())?;
        Ok(token)
    }

    /// Opens and unlocks an existing soft token file. The header's Argon2id parameters
    /// must be one of the sets a [`KdfCost`] gives: they are checked before any key is
    /// derived, since a changed header is only detected once the passphrase is applied.
    ///
    /// # Errors
    /// [`TokenError::Locked`] for a wrong passphrase or damaged file,
    /// [`TokenError::Format`] for a file this version does not read (unknown version or
    /// Argon2id parameters), [`TokenError::Io`].
    pub fn open(path: &Path, passphrase: &SecretString) -> Result<Self, TokenError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let cost = file::parse_header(path, &bytes)?;
        let params = bytes[..file::PARAMS_LEN].to_vec();
        let file_key = derive(passphrase, file::salt(&params), cost.params())?;
        let keys = file::unseal(path, &params, &file_key, &bytes)?;
        Ok(Self {
            path: path.to_path_buf(),
            lock_path: file::lock_path(path),
            params,
            file_key,
            keys: RwLock::new(keys),
            changes: Mutex::new(()),
        })
    }

    /// Creates a new soft token file at `path` holding the key table of a backup
    /// (what [`Token::export_for_backup`] gave), sealed under `passphrase`.
    ///
    /// # Errors
    /// As [`SoftToken::create`]; [`TokenError::Format`] for a malformed table.
    pub fn create_from_backup(
        path: &Path,
        passphrase: &SecretString,
        cost: KdfCost,
        table: &SecretBytes,
    ) -> Result<Self, TokenError> {
        let keys = file::parse_entries(table.expose()).ok_or_else(|| TokenError::Format {
            path: path.display().to_string(),
            reason: "the backup's key table is malformed".into(),
        })?;
        let token = Self::create(path, passphrase, cost)?;
        token.change(|current| {
            *current = keys;
            Ok(())
        })?;
        Ok(token)
    }

    /// The lock file a change of the token file at `path` holds across processes:
    /// `<path>.lock`, beside it.
    #[must_use]
    pub fn lock_file(path: &Path) -> PathBuf {
        file::lock_path(path)
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
            return Self::open(path, passphrase);
        }
        match Self::create(path, passphrase, cost) {
            // Another process created it meanwhile.
            Err(TokenError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Self::open(path, passphrase)
            }
            created => created,
        }
    }

    // Every change is persisted before it is kept in memory; a panic leaves the map as it
    // was on disk. Operations share the read lock. Generation and destruction, one at a
    // time (`changes` in this process, the lock file across processes), read the file
    // again, write it changed and then swap what they wrote in: the write lock is never
    // held across the file's fsyncs, so operations running on the server's async workers
    // do not wait for the disk.
    fn read(&self) -> RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Under the lock file, applies `change` to what the file holds now (another process
    /// may have changed it since this one read it), persists the result and keeps it.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Keys) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let _one_at_a_time = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let _other_processes = FileLock::acquire(&self.lock_path)?;
        let mut next = self.read_file()?;
        let out = change(&mut next)?;
        self.persist(&next)?;
        // The replaced map's secrets are zeroized as it drops.
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(out)
    }

    /// The keys the file holds now (it must still be the file this token opened).
    fn read_file(&self) -> Result<Keys, TokenError> {
        let bytes = std::fs::read(&self.path).map_err(io(&self.path))?;
        file::unseal(&self.path, &self.params, &self.file_key, &bytes)
    }

    /// Reads the file again and keeps what it holds: keys another process added since.
    fn reload(&self) -> Result<(), TokenError> {
        let _one_at_a_time = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = self.read_file()?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Fresh material for a key of `kind`.
    fn new_secret(kind: TokenKeyKind) -> Result<SecretBytes, TokenError> {
        Ok(match kind {
            TokenKeyKind::EcP384 | TokenKeyKind::EcdhP384 => RustCrypto.p384_generate()?,
            TokenKeyKind::Aes256 | TokenKeyKind::HmacSha384 => {
                let len = if kind == TokenKeyKind::Aes256 { 32 } else { 48 };
                let mut bytes = Zeroizing::new(vec![0u8; len]);
                RustCrypto.fill_random(&mut bytes)?;
                SecretBytes::from_slice(&bytes)
            }
        })
    }

    /// Seals `keys` and replaces the file atomically (mode 0600).
    fn persist(&self, keys: &Keys) -> Result<(), TokenError> {
        let sealed = file::seal(&self.params, &self.file_key, keys)?;
        crate::files::write_atomic(&self.path, &sealed).map_err(io(&self.path))
    }

    /// Runs `f` with the key `label` of `kind`. A label missing from memory is looked for
    /// in the file once more: another process (the `kastell` command beside a running
    /// server) may have added it.
    fn with_key<R>(
        &self,
        label: &str,
        kind: TokenKeyKind,
        f: impl FnOnce(&SecretBytes) -> Result<R, TokenError>,
    ) -> Result<R, TokenError> {
        self.with_entry(label, kind, |entry| f(&entry.secret))
    }

    /// [`SoftToken::with_key`] with the whole entry (its kept keyed state too).
    fn with_entry<R>(
        &self,
        label: &str,
        kind: TokenKeyKind,
        f: impl FnOnce(&Entry) -> Result<R, TokenError>,
    ) -> Result<R, TokenError> {
        {
            let keys = self.read();
            if let Some(entry) = keys.get(label) {
                return use_entry(label, kind, entry, f);
            }
        }
        self.reload()?;
        let keys = self.read();
        let entry = keys
            .get(label)
            .ok_or_else(|| TokenError::KeyNotFound(label.to_owned()))?;
        use_entry(label, kind, entry, f)
    }
}

/// Runs `f` with `entry` when it is of `kind`.
fn use_entry<R>(
    label: &str,
    kind: TokenKeyKind,
    entry: &Entry,
    f: impl FnOnce(&Entry) -> Result<R, TokenError>,
) -> Result<R, TokenError> {
    if entry.kind != kind {
        return Err(TokenError::WrongKind {
            label: label.to_owned(),
            expected: kind,
        });
    }
    f(entry)
}

impl Token for SoftToken {
    fn description(&self) -> String {
        format!("soft token {}", self.path.display())
    }

    fn operates_in_memory(&self) -> bool {
        // Keys live in memory once the file is opened; only generate and destroy write it
        // (and a label missing from memory reads it once more).
        true
    }

    fn generate(&self, label: &str, kind: TokenKeyKind) -> Result<(), TokenError> {
        self.change(|keys| {
            if keys.contains_key(label) {
                return Err(TokenError::KeyExists(label.to_owned()));
            }
            let secret = Self::new_secret(kind)?;
            keys.insert(label.to_owned(), Entry::new(kind, secret));
            Ok(())
        })
    }

    fn contains(&self, label: &str) -> Result<bool, TokenError> {
        if self.read().contains_key(label) {
            return Ok(true);
        }
        // Another process may have added it.
        self.reload()?;
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
        let public = |key: &SecretBytes| Ok(AwsLc.p384_public_key(key)?);
        match self.with_key(label, TokenKeyKind::EcP384, public) {
            Err(TokenError::WrongKind { .. }) => {
                self.with_key(label, TokenKeyKind::EcdhP384, public)
            }
            answer => answer,
        }
    }

    fn ecdh_p384(&self, label: &str, peer_sec1: &[u8]) -> Result<SecretBytes, TokenError> {
        self.with_key(label, TokenKeyKind::EcdhP384, |key| {
            Ok(AwsLc::p384_ecdh(key, peer_sec1)?)
        })
    }

    fn mac(&self, label: &str, message: &[u8]) -> Result<[u8; 48], TokenError> {
        self.with_entry(label, TokenKeyKind::HmacSha384, |entry| {
            if entry.secret.is_empty() {
                return Err(CryptoError::InvalidKey("empty HMAC key").into());
            }
            // The keyed state is built once per key; each MAC hashes only the message.
            aws_lc_rs::hmac::sign(entry.mac_key(), message)
                .as_ref()
                .try_into()
                .map_err(|_| CryptoError::InvalidKey("HMAC key").into())
        })
    }

    fn random(&self, out: &mut [u8]) -> Result<(), TokenError> {
        Ok(AwsLc.fill_random(out)?)
    }

    fn export_for_backup(&self) -> Result<Option<SecretBytes>, TokenError> {
        // Keys another process (the command beside the server) added since this one read.
        self.reload()?;
        Ok(Some(file::encode_entries(&self.read())?))
    }
}

#[cfg(test)]
mod tests;
