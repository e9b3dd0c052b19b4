//! Opening a backup: [`restore`] (checked as [`super::verify`] does, the content key
//! opened with a recipient's private key, the content written into a new data directory
//! built beside it and renamed into place whole), [`record_restore`] (the restored trail's
//! first new record).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use kastell_attest::hpke::{RecipientKey, Sealed, open_with_info};
use p384::pkcs8::DecodePrivateKey as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::content::{self, Tag};
use super::format::{self, HEADER_LEN, HPKE_INFO, Manifest, MasterKey, SealedKey, read_exact};
use super::stream::{Opening, unwrap_error};
use super::verify::{Checked, check};
use super::{BackupError, Progress, RESTORE_OPERATION, io};
use crate::audit::{AuditRecord, Outcome};
use crate::deployment::{AUDIT_ANCHOR_FILE, SOFT_TOKEN_FILE, TokenChoice};
use crate::keys::{KeyService, ServiceKeys};
use crate::secret::SecretBytes;
use crate::store::{SqliteStore, Store as _};
use crate::token::{Pkcs11Token, SoftToken, Token};

/// A recipient's P-384 private key, to open a backup with.
pub struct Identity {
    key: RecipientKey,
    sec1: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Reads a P-384 private key in PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`);
    /// `name` names it in errors.
    ///
    /// # Errors
    /// [`BackupError::BadKey`] naming what is wrong.
    pub fn from_pem(pem: &SecretString, name: &str) -> Result<Self, BackupError> {
        use secrecy::ExposeSecret as _;
        let text = pem.expose_secret().trim();
        let secret = p384::SecretKey::from_pkcs8_pem(text)
            .or_else(|_| p384::SecretKey::from_sec1_pem(text))
            .map_err(|_| BackupError::BadKey {
                what: name.to_owned(),
                reason: "not a P-384 private key in PEM (PKCS#8 or SEC1)".into(),
            })?;
        let mut scalar = Zeroizing::new([0u8; 48]);
        scalar.copy_from_slice(&secret.to_bytes());
        let key = RecipientKey::from_bytes(&scalar).map_err(|e| BackupError::BadKey {
            what: name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            sec1: key.public_key_sec1().to_vec(),
            key,
        })
    }

    /// Its public key's fingerprint ([`super::fingerprint`]).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.sec1)
    }
}

/// What opens a backup's content key.
#[derive(Debug, Clone, Copy)]
pub enum Opener<'a> {
    /// A recipient's private key.
    Identity(&'a Identity),
    /// A token holding the backup key the backup is sealed to: the deployment's own
    /// PKCS#11 token, or its soft token file (opened with its passphrase).
    Token(&'a dyn Token),
}

/// What a restore made.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The new data directory.
    pub data_dir: PathBuf,
    /// Files written besides the store and the token.
    pub files: u64,
}

/// Restores the backup at `path` into the new data directory `target` (missing or
/// empty), opening its content key with `opener` (a recipient's private key, or the
/// token holding the backup key it is sealed to). The token: with a backup that carries
/// the soft token's keys, a new soft token file sealed under the passphrase given; with a
/// master key that stays on a PKCS#11 token, that same token (its audit key must be the
/// one that signed the backup). The configuration file comes back with `data_dir` set to
/// `target`, `[token] secret_file` set to `secret_file` (removed when `None`) and without
/// `[store]`: the store comes back as the SQLite file in `target` whichever store the
/// backup was taken from (copy it to PostgreSQL with [`crate::store::copy::copy`]).
///
/// Nothing is left at `target` unless every step succeeds. Open the deployment and call
/// [`record_restore`] next.
///
/// # Errors
/// As [`super::verify`]; [`BackupError::WrongRecipient`], [`BackupError::NoRecipientKey`],
/// [`BackupError::TargetNotEmpty`],
/// [`BackupError::TokenMismatch`]; the token's or the file system's failure.
pub fn restore(
    path: &Path,
    opener: &Opener<'_>,
    target: &Path,
    token: &TokenChoice,
    secret_file: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Restored, BackupError> {
    let Checked {
        manifest,
        header,
        body_len,
    } = check(path, None)?;
    match (manifest.master_key, token) {
        (MasterKey::InBackup, TokenChoice::Pkcs11(_)) => {
            return Err(BackupError::TokenMismatch(
                "this backup carries a soft token's keys: restore it onto a soft token (no \
                 --pkcs11-module)"
                    .into(),
            ));
        }
        (MasterKey::OnToken, TokenChoice::Soft { .. }) => {
            return Err(BackupError::TokenMismatch(format!(
                "this backup's master key stays on its PKCS#11 token ({}): restore it with \
                 the same token (--pkcs11-module, --token-label)",
                manifest.token
            )));
        }
        _ => {}
    }
    if target.exists()
        && std::fs::read_dir(target)
            .map_err(io(target))?
            .next()
            .is_some()
    {
        return Err(BackupError::TargetNotEmpty(target.to_path_buf()));
    }
    let mut reader = BufReader::new(File::open(path).map_err(io(path))?.take(body_len));
    read_exact(&mut reader, HEADER_LEN, "the header")?;
    let sealed = format::decode_recipients(&mut reader)?;
    let key = match opener {
        Opener::Identity(identity) => open_key(&sealed, identity, &header, &manifest)?,
        Opener::Token(token) => super::token_key::open_key(*token, &sealed, &header, &manifest)?,
    };
    let recipients_len: u64 = 2 + sealed
        .iter()
        .map(|s| 36 + s.enc.len() as u64 + s.sealed.len() as u64)
        .sum::<u64>();
    let stream_len = body_len - HEADER_LEN as u64 - recipients_len;

    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".kastell-restore-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let root = staging.path();
    #[cfg(unix)]
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io(root))?;
    progress.start(stream_len);
    let mut opening = Opening::start(reader, stream_len, &key, &header)?;
    let unpacked = unpack(&mut opening, root, progress).map_err(|e| match e {
        Unpack::Backup(e) => e,
        Unpack::Io(e) => unwrap_error(e, root),
    })?;

    let labels = ServiceKeys::default();
    let restored_token: Box<dyn Token> = match (token, unpacked.token_keys) {
        (TokenChoice::Soft { passphrase, cost }, Some(table)) => Box::new(
            SoftToken::create_from_backup(&root.join(SOFT_TOKEN_FILE), passphrase, *cost, &table)?,
        ),
        (TokenChoice::Pkcs11(config), None) => Box::new(Pkcs11Token::open(config)?),
        _ => {
            return Err(BackupError::Tampered(
                "the content's token keys do not match the manifest's master key".into(),
            ));
        }
    };
    for label in [&labels.master, &labels.audit_signing] {
        if !restored_token.contains(label)? {
            return Err(BackupError::TokenMismatch(format!(
                "{} holds no `{label}`: this backup needs the token it was taken on ({})",
                restored_token.description(),
                manifest.token
            )));
        }
    }
    if super::fingerprint(&restored_token.public_key(&labels.audit_signing)?)
        != manifest.deployment_id
    {
        return Err(BackupError::TokenMismatch(format!(
            "{} holds another deployment's audit key: this backup needs the token it was \
             taken on ({})",
            restored_token.description(),
            manifest.token
        )));
    }
    drop(restored_token);
    if let Some(config) = unpacked.config {
        write_config(root, &config, target, secret_file)?;
    }
    let store = SqliteStore::open(&content::store_path(root))?;
    if let Some(checkpoint) = store.last_checkpoint()? {
        crate::keys::write_anchor(&root.join(AUDIT_ANCHOR_FILE), &checkpoint)
            .map_err(|e| BackupError::Deployment(e.to_string()))?;
    }
    drop(store);

    if target.exists() {
        std::fs::remove_dir(target).map_err(io(target))?;
    }
    let built = staging.keep();
    std::fs::rename(&built, target).map_err(io(target))?;
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io(&parent))?;
    Ok(Restored {
        manifest,
        data_dir: target.to_path_buf(),
        files: unpacked.files,
    })
}

/// The content key sealed to `identity`.
fn open_key(
    sealed: &[SealedKey],
    identity: &Identity,
    header: &[u8; HEADER_LEN],
    manifest: &Manifest,
) -> Result<SecretBytes, BackupError> {
    let mine: [u8; 32] = Sha256::digest(&identity.sec1).into();
    let wrong = || BackupError::WrongRecipient {
        fingerprint: identity.fingerprint(),
        sealed_to: manifest.recipients.join(", "),
    };
    let entry = sealed
        .iter()
        .find(|s| s.fingerprint == mine)
        .ok_or_else(wrong)?;
    let message = Sealed {
        encapsulated_key: entry.enc.clone(),
        ciphertext: entry.sealed.clone(),
    };
    open_with_info(&identity.key, HPKE_INFO, header, &message).map_err(|_| wrong())
}

enum Unpack {
    Backup(BackupError),
    Io(std::io::Error),
}

impl From<BackupError> for Unpack {
    fn from(e: BackupError) -> Self {
        Self::Backup(e)
    }
}

impl From<std::io::Error> for Unpack {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

struct Unpacked {
    token_keys: Option<SecretBytes>,
    config: Option<Vec<u8>>,
    files: u64,
}

/// Largest data directory file restored (components, certificates, configuration).
const MAX_FILE: u64 = 256 << 20;

fn unpack(input: &mut impl Read, root: &Path, progress: &dyn Progress) -> Result<Unpacked, Unpack> {
    let mut out = Unpacked {
        token_keys: None,
        config: None,
        files: 0,
    };
    let mut store = false;
    loop {
        let head = content::next(input)?;
        match head.tag {
            Tag::End => break,
            Tag::Store if !store => {
                store = true;
                let path = content::store_path(root);
                crate::files::create_private_file(&path)?;
                let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
                copy_exact(input, head.len, &mut file, progress)?;
                file.sync_all()?;
            }
            Tag::TokenKeys if out.token_keys.is_none() && head.len <= content::MAX_TOKEN_KEYS => {
                let mut table = Zeroizing::new(Vec::new());
                copy_exact(input, head.len, &mut *table, progress)?;
                out.token_keys = Some(SecretBytes::from_slice(&table));
            }
            Tag::File if head.len <= MAX_FILE => {
                let path = content::restored_path(root, &head.name)?;
                let mut bytes = Vec::new();
                copy_exact(input, head.len, &mut bytes, progress)?;
                if head.name == content::CONFIG_FILE {
                    out.config = Some(bytes);
                    continue;
                }
                if let Some(dir) = path.parent() {
                    crate::files::create_private_dir(dir)?;
                }
                crate::files::write_atomic(&path, &bytes)?;
                out.files += 1;
            }
            tag => {
                return Err(BackupError::Malformed(format!(
                    "unexpected {tag:?} entry `{}` of {} bytes",
                    head.name, head.len
                ))
                .into());
            }
        }
    }
    if input.read(&mut [0u8; 1])? != 0 {
        return Err(BackupError::Malformed("data after the end entry".into()).into());
    }
    if !store {
        return Err(BackupError::Malformed("the content holds no store".into()).into());
    }
    Ok(out)
}

fn copy_exact(
    input: &mut impl Read,
    len: u64,
    out: &mut impl std::io::Write,
    progress: &dyn Progress,
) -> Result<(), Unpack> {
    let mut left = len;
    let mut buffer = Zeroizing::new(vec![0u8; 64 * 1024]);
    while left > 0 {
        let want = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
        let n = input.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(BackupError::Malformed("the content ends inside an entry".into()).into());
        }
        out.write_all(&buffer[..n])?;
        left -= n as u64;
        progress.advance(n as u64);
    }
    Ok(())
}

/// The restored configuration: `data_dir` the new one, the secret file the one given.
fn write_config(
    root: &Path,
    text: &[u8],
    target: &Path,
    secret_file: Option<&Path>,
) -> Result<(), BackupError> {
    let malformed = |e: String| BackupError::Malformed(format!("{}: {e}", content::CONFIG_FILE));
    let text = std::str::from_utf8(text).map_err(|e| malformed(e.to_string()))?;
    let mut config: toml::Table = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
    // The store comes back as the SQLite file in the new data directory, whatever store
    // the backup was taken from: a restored host must never write into the original's
    // PostgreSQL database. `kastell store copy` moves it to PostgreSQL afterwards.
    config.remove("store");
    let absolute = std::path::absolute(target).map_err(io(target))?;
    config.insert(
        "data_dir".into(),
        toml::Value::String(absolute.display().to_string()),
    );
    if let Some(toml::Value::Table(token)) = config.get_mut("token") {
        match secret_file {
            Some(file) => {
                token.insert(
                    "secret_file".into(),
                    toml::Value::String(file.display().to_string()),
                );
            }
            None => {
                token.remove("secret_file");
            }
        }
    }
    let body = toml::to_string(&config).map_err(|e| malformed(e.to_string()))?;
    let path = root.join(content::CONFIG_FILE);
    crate::files::write_atomic(&path, body.as_bytes()).map_err(io(&path))
}

/// Records the restore as the restored trail's next record (it links to the backup's
/// audit head) and signs a checkpoint over it.
///
/// # Errors
/// [`BackupError::Deployment`] when the record or the checkpoint cannot be made.
pub fn record_restore(
    service: &KeyService,
    manifest: &Manifest,
    principal: &str,
    from: &Path,
) -> Result<AuditRecord, BackupError> {
    let head = manifest
        .audit_head
        .as_ref()
        .map_or_else(|| "empty".to_owned(), |h| format!("#{} {}", h.seq, h.hash));
    let record = service
        .record_event(
            principal,
            RESTORE_OPERATION,
            None,
            Outcome::Allowed,
            format!(
                "restored from backup {} ({}) of deployment {}, taken at {} ms, audit head {head}",
                manifest.backup_id,
                from.display(),
                manifest.deployment_id,
                manifest.created_ms
            ),
        )
        .map_err(|e| BackupError::Deployment(e.to_string()))?;
    service
        .checkpoint()
        .map_err(|e| BackupError::Deployment(e.to_string()))?;
    Ok(record)
}
