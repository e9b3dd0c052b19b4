//! Taking a backup while the deployment serves: a snapshot of the store (one transaction's
//! view), then the soft token's keys (taken after the snapshot, so every token key the
//! snapshot names is there), the data directory's files; all of it sealed into one file
//! written beside its destination and renamed into place once complete and synced.

use std::io::{BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};

use p384::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256, Sha384};
use zeroize::Zeroizing;

use super::content::{self, Tag};
use super::format::{
    self, AuditHead, Counts, FORMAT_VERSION, HEADER_LEN, HPKE_INFO, Hashing, ID_LEN, Manifest,
    MasterKey, NONCE_PREFIX_LEN, SealedKey,
};
use super::stream::Sealing;
use super::{BACKUP_OPERATION, BackupError, io};
use crate::audit::Outcome;
use crate::crypto::{AwsLc, CryptoProvider as _};
use crate::deployment::STORE_FILE;
use crate::keys::KeyService;
use crate::secret::SecretBytes;
use crate::store::{SqliteStore, Store as _};
use crate::token::TokenError;

/// What a backup is taken of: an open deployment's key service (store, token, service
/// keys) and its data directory.
#[derive(Debug, Clone, Copy)]
pub struct BackupSource<'a> {
    /// The key service.
    pub service: &'a KeyService,
    /// The data directory.
    pub data_dir: &'a Path,
    /// Who asks, for the audit record.
    pub principal: &'a str,
}

/// Told how far a backup or a restore is (the command's progress bar).
pub trait Progress {
    /// The content is `bytes` long.
    fn start(&self, bytes: u64);
    /// `bytes` more were sealed or restored.
    fn advance(&self, bytes: u64);
}

impl Progress for () {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A recipient of the content key: an escrow holder's P-384 public key, or the
/// deployment's token backup key ([`super::TokenBackupKey::recipient`]).
#[derive(Debug, Clone)]
pub struct Recipient {
    sec1: Vec<u8>,
    name: String,
    on_token: bool,
}

impl Recipient {
    /// Reads a recipient's SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`, as `openssl
    /// ec -pubout` writes it); `name` names it in errors.
    ///
    /// # Errors
    /// [`BackupError::BadKey`] naming what is wrong.
    pub fn from_pem(pem: &str, name: &str) -> Result<Self, BackupError> {
        let key =
            p384::PublicKey::from_public_key_pem(pem.trim()).map_err(|e| BackupError::BadKey {
                what: name.to_owned(),
                reason: format!("not a P-384 public key in SPKI PEM ({e})"),
            })?;
        Self::from_sec1(key.to_sec1_bytes().as_ref(), name)
    }

    /// A recipient from its SEC1 uncompressed point.
    ///
    /// # Errors
    /// [`BackupError::BadKey`] naming what is wrong.
    pub fn from_sec1(sec1: &[u8], name: &str) -> Result<Self, BackupError> {
        kastell_attest::hpke::check_public_key(sec1).map_err(|e| BackupError::BadKey {
            what: name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            sec1: sec1.to_vec(),
            name: name.to_owned(),
            on_token: false,
        })
    }

    /// The token backup key of `token` (described so) as a recipient.
    pub(super) fn on_token(sec1: &[u8], token: &str) -> Result<Self, BackupError> {
        let mut recipient = Self::from_sec1(sec1, &format!("the backup key of {token}"))?;
        recipient.on_token = true;
        Ok(recipient)
    }

    /// Whether it is a token backup key.
    #[must_use]
    pub fn is_on_token(&self) -> bool {
        self.on_token
    }

    /// Its fingerprint ([`super::fingerprint`]).
    #[must_use]
    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.sec1)
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, BackupError> {
    let mut out = Zeroizing::new([0u8; N]);
    AwsLc
        .fill_random(out.as_mut_slice())
        .map_err(|e| BackupError::Token(TokenError::Crypto(e)))?;
    Ok(out)
}

/// Takes a backup of `source` into the new file `out`, its content key sealed to each of
/// `recipients`, and records it in the audit trail (`backup`, allowed; a failure is
/// recorded denied).
///
/// # Errors
/// [`BackupError::NoRecipient`], [`BackupError::OutputExists`], [`BackupError::BadKey`];
/// the store's, the token's or the file system's failure.
pub fn create(
    source: &BackupSource<'_>,
    out: &Path,
    recipients: &[Recipient],
    progress: &dyn Progress,
) -> Result<Manifest, BackupError> {
    let made = write_backup(source, out, recipients, progress);
    let (outcome, reason) = match &made {
        Ok(manifest) => (
            Outcome::Allowed,
            format!(
                "backup {} to {} (audit head #{}, master key {:?}, {} recipient(s))",
                manifest.backup_id,
                out.display(),
                manifest.audit_head.as_ref().map_or(0, |h| h.seq),
                manifest.master_key,
                manifest.recipients.len()
            ),
        ),
        Err(err) => (
            Outcome::Denied,
            format!("backup to {}: {err}", out.display()),
        ),
    };
    source
        .service
        .record_event(source.principal, BACKUP_OPERATION, None, outcome, reason)
        .map_err(|e| BackupError::Deployment(e.to_string()))?;
    made
}

fn write_backup(
    source: &BackupSource<'_>,
    out: &Path,
    recipients: &[Recipient],
    progress: &dyn Progress,
) -> Result<Manifest, BackupError> {
    if recipients.is_empty() {
        return Err(BackupError::NoRecipient);
    }
    if out.exists() {
        return Err(BackupError::OutputExists(out.to_path_buf()));
    }
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".kastell-backup-")
        .tempdir_in(&dir)
        .map_err(io(&dir))?;
    #[cfg(unix)]
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(io(work.path()))?;
    let snapshot = work.path().join(STORE_FILE);
    source.service.store().snapshot_to(&snapshot)?;
    let (mut counts, schema_version, audit_head) = describe_snapshot(&snapshot)?;
    // After the snapshot: a token key created meanwhile is carried too, never one missing.
    let table = source.service.token().export_for_backup()?;
    let files = content::data_files(source.data_dir)?;
    count_components(&files, &mut counts);

    let id = random::<ID_LEN>()?;
    let key = SecretBytes::from_slice(random::<32>()?.as_slice());
    let prefix = random::<NONCE_PREFIX_LEN>()?;
    let header = format::header(&id);
    let sealed = seal_key(&key, &header, recipients)?;

    let file = tempfile::Builder::new()
        .prefix(".kastell-backup-")
        .tempfile_in(&dir)
        .map_err(io(&dir))?;
    let mut body = Hashing {
        inner: BufWriter::new(file.as_file().try_clone().map_err(io(out))?),
        hasher: Sha384::new(),
    };
    let written: std::io::Result<()> = (|| {
        body.write_all(&header)?;
        body.write_all(&format::encode_recipients(&sealed).map_err(std::io::Error::other)?)?;
        let mut sealing = Sealing::start(&mut body, &key, &prefix, &header)?;
        write_content(&mut sealing, &snapshot, &files, table.as_ref(), progress)?;
        sealing.finish()?;
        Ok(())
    })();
    written.map_err(|e| super::stream::unwrap_error(e, out))?;
    let Hashing { mut inner, hasher } = body;

    let audit_public = source
        .service
        .audit_public_key()
        .map_err(|e| BackupError::Deployment(e.to_string()))?;
    let manifest = Manifest {
        format: FORMAT_VERSION,
        backup_id: hex::encode(id.as_slice()),
        created_ms: crate::clock::unix_now_ms(),
        deployment_id: super::fingerprint(&audit_public),
        kastell_version: env!("CARGO_PKG_VERSION").to_owned(),
        store: source.service.store().backend().into(),
        schema_version,
        counts,
        audit_head,
        audit_public_key: public_pem(&audit_public)?,
        recipients: recipients.iter().map(Recipient::fingerprint).collect(),
        token_recipient: recipients
            .iter()
            .find(|r| r.on_token)
            .map(Recipient::fingerprint),
        master_key: if table.is_some() {
            MasterKey::InBackup
        } else {
            MasterKey::OnToken
        },
        token: source.service.token().description(),
        body_sha384: hex::encode(hasher.finalize()),
    };
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| BackupError::Malformed(format!("manifest: {e}")))?;
    let signature = source.service.token().sign_digest(
        &source.service.service_keys().audit_signing,
        &format::signed_digest(&manifest_bytes),
    )?;
    let trailer = format::trailer(manifest_bytes.len(), signature.len())?;
    let finished: std::io::Result<()> = (|| {
        inner.write_all(&manifest_bytes)?;
        inner.write_all(&signature)?;
        inner.write_all(&trailer)?;
        inner.flush()?;
        drop(inner);
        file.as_file().sync_all()
    })();
    finished.map_err(io(out))?;
    file.persist_noclobber(out).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::OutputExists(out.to_path_buf())
        } else {
            io(out)(e.error)
        }
    })?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))?;
    Ok(manifest)
}

/// The content key sealed to each recipient, bound to the header.
fn seal_key(
    key: &SecretBytes,
    header: &[u8; HEADER_LEN],
    recipients: &[Recipient],
) -> Result<Vec<SealedKey>, BackupError> {
    recipients
        .iter()
        .map(|recipient| {
            let sealed = crate::crypto::hpke::seal_with_info(
                &recipient.sec1,
                HPKE_INFO,
                header,
                key.expose(),
            )
            .map_err(|e| BackupError::BadKey {
                what: recipient.name.clone(),
                reason: e.to_string(),
            })?;
            Ok(SealedKey {
                fingerprint: Sha256::digest(&recipient.sec1).into(),
                enc: sealed.encapsulated_key,
                sealed: sealed.ciphertext,
            })
        })
        .collect()
}

/// The entries: the store, the files, the token's keys, the end.
fn write_content(
    out: &mut impl std::io::Write,
    snapshot: &Path,
    files: &[(String, PathBuf)],
    table: Option<&SecretBytes>,
    progress: &dyn Progress,
) -> std::io::Result<()> {
    let store_len = std::fs::metadata(snapshot)?.len();
    let mut contents = Vec::new();
    for (name, path) in files {
        contents.push((name, std::fs::read(path)?));
    }
    let files_len: u64 = contents.iter().map(|(_, c)| c.len() as u64).sum();
    progress.start(store_len + files_len + table.map_or(0, |t| t.len() as u64));

    content::put(out, Tag::Store, STORE_FILE, store_len)?;
    let mut store = std::fs::File::open(snapshot)?.take(store_len);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = store.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])?;
        copied += n as u64;
        progress.advance(n as u64);
    }
    if copied != store_len {
        return Err(std::io::Error::other(
            "the store snapshot changed while sealed",
        ));
    }
    for (name, bytes) in &contents {
        content::put(out, Tag::File, name, bytes.len() as u64)?;
        out.write_all(bytes)?;
        progress.advance(bytes.len() as u64);
    }
    if let Some(table) = table {
        content::put(out, Tag::TokenKeys, content::TOKEN_KEYS, table.len() as u64)?;
        out.write_all(table.expose())?;
        progress.advance(table.len() as u64);
    }
    content::put(out, Tag::End, "", 0)
}

fn count_components(files: &[(String, PathBuf)], counts: &mut Counts) {
    let count = |folder: &str| {
        files
            .iter()
            .filter(|(name, _)| name.starts_with(folder) && name.ends_with(".wasm"))
            .count() as u64
    };
    counts.policies = count("policies/");
    counts.workloads = count("workloads/");
}

/// Counts, schema version and audit head of the snapshot.
fn describe_snapshot(path: &Path) -> Result<(Counts, i64, Option<AuditHead>), BackupError> {
    let head = SqliteStore::open(path)?.audit_head()?;
    let conn = rusqlite::Connection::open(path).map_err(|e| snapshot_error(path, &e))?;
    let count = |table: &str| -> Result<u64, BackupError> {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .map_err(|e| snapshot_error(path, &e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let counts = Counts {
        keys: count("keys")?,
        key_versions: count("key_versions")?,
        aliases: count("aliases")?,
        clients: count("clients")?,
        revoked_clients: count("revoked_clients")?,
        access_keys: count("access_keys")?,
        audit_records: count("audit")?,
        audit_checkpoints: count("audit_checkpoints")?,
        ..Counts::default()
    };
    let schema: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| snapshot_error(path, &e))?;
    Ok((
        counts,
        schema,
        head.map(|(seq, hash)| AuditHead {
            seq,
            hash: hex::encode(hash),
        }),
    ))
}

fn snapshot_error(path: &Path, err: &rusqlite::Error) -> BackupError {
    io(path)(std::io::Error::other(format!(
        "reading the snapshot: {err}"
    )))
}

/// An uncompressed SEC1 P-384 point as SPKI PEM.
pub(super) fn public_pem(sec1: &[u8]) -> Result<String, BackupError> {
    p384::PublicKey::from_sec1_bytes(sec1)
        .ok()
        .and_then(|key| key.to_public_key_pem(LineEnding::LF).ok())
        .ok_or_else(|| BackupError::Token(TokenError::Malformed("EC point")))
}
