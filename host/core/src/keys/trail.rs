//! The audit trail seen from the service: signed, linked checkpoints of its head, the
//! anchor file that keeps the newest one outside the store, the continuity check the
//! server runs at start-up and before every signature, and verification of the whole
//! trail against the token's audit signing key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use p384::pkcs8::{EncodePublicKey as _, LineEnding};

use super::KeyError;
use super::service::{KeyService, now_ms};
use crate::audit::checkpoint::{
    self, Signatures, cut, parse_json_lines, require_kept, rewritten, to_json_line,
};
use crate::audit::{
    self, BreakKind, ChainBreak, Checkpoint, GENESIS, HASH_LEN, NO_CHECKPOINT, TrailReport,
};
use crate::store::Store;
use crate::token::TokenError;

/// Records read from the store per page while verifying.
const VERIFY_PAGE: u32 = 4096;

/// Checkpoints kept outside the store: the anchor file, or an auditor's export
/// (`kastell audit checkpoints`), named for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCheckpoints {
    /// Where they were kept (a path), for messages.
    pub source: String,
    /// The checkpoints, each of which must still be in the store's chain.
    pub checkpoints: Vec<Checkpoint>,
}

impl KeptCheckpoints {
    /// Reads checkpoints written as JSON lines (`kastell audit checkpoints`, the anchor
    /// file); `None` when the file does not exist.
    ///
    /// # Errors
    /// [`KeyError::TamperDetected`] for an unreadable file or a bad line, naming the file
    /// and the line.
    pub fn read(path: &Path) -> Result<Option<Self>, KeyError> {
        let source = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(KeyError::TamperDetected(format!(
                    "{source}: cannot read: {err}"
                )));
            }
        };
        let checkpoints = parse_json_lines(&text)
            .map_err(|why| KeyError::TamperDetected(format!("{source}: {why}")))?;
        Ok(Some(Self {
            source,
            checkpoints,
        }))
    }
}

/// What the continuity check found: the newest checkpoint (signature verified) and the
/// trail's head, every record after that checkpoint linked to it.
struct Continuity {
    newest: Option<Checkpoint>,
    head: Option<(u64, [u8; HASH_LEN])>,
}

/// The checkpoints of the chain the continuity check reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every checkpoint's link and the newest signature (start-up).
    Chain,
    /// The newest checkpoint's signature (before signing the next one).
    Newest,
}

impl KeyService {
    /// Signs the head of the audit trail with the token's audit signing key, linked to the
    /// newest checkpoint, unless that one already covers it. Returns the new checkpoint, if
    /// any (none either when another process signed one first). The new checkpoint is also
    /// written to the anchor file ([`KeyService::with_audit_anchor`]).
    ///
    /// Before signing, the trail must continue the newest checkpoint: its signature
    /// verifies, the anchor file's checkpoint is still in the store, the record it covers
    /// is unchanged and every record after it links to it. A tail rewritten (or cut, or
    /// rolled back with its checkpoints) is never signed.
    ///
    /// # Errors
    /// [`KeyError::TamperDetected`] naming what broke; the token's or the store's failure;
    /// the anchor file's, when it cannot be written (the checkpoint is stored).
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, KeyError> {
        let found = self.continuity(Scope::Newest)?.map_err(|broken| {
            KeyError::TamperDetected(format!(
                "refusing to sign an audit checkpoint: {}",
                describe(&broken)
            ))
        })?;
        let Some((seq, hash)) = found.head else {
            return Ok(None);
        };
        if found
            .newest
            .as_ref()
            .is_some_and(|newest| newest.seq >= seq)
        {
            return Ok(None);
        }
        let mut checkpoint = Checkpoint {
            seq,
            hash,
            time_ms: now_ms(),
            key_label: self.keys.audit_signing.clone(),
            prev: Some(
                found
                    .newest
                    .as_ref()
                    .map_or(NO_CHECKPOINT, Checkpoint::digest),
            ),
            signature: Vec::new(),
        };
        checkpoint.signature = self
            .token
            .sign_digest(&self.keys.audit_signing, &checkpoint.digest())?;
        self.start_anchor()?;
        if !self.store.add_checkpoint(&checkpoint)? {
            return Ok(None);
        }
        self.keep_anchor(&checkpoint)?;
        Ok(Some(checkpoint))
    }

    /// Signs a checkpoint when record `seq` completes an interval; a failure is logged, not
    /// returned: the record itself is durable, and the next checkpoint covers it.
    pub fn checkpoint_if_due(&self, seq: u64) {
        if self.checkpoint_due(seq)
            && let Err(err) = self.checkpoint()
        {
            tracing::error!(seq, error = %err, "cannot sign an audit checkpoint");
        }
    }

    /// Whether record `seq` completes a checkpoint interval.
    #[must_use]
    pub fn checkpoint_due(&self, seq: u64) -> bool {
        self.checkpoint_every > 0 && seq.is_multiple_of(self.checkpoint_every)
    }

    /// The start-up check (`kastell serve` refuses to start on a break): the checkpoint
    /// chain links from its legacy start to its newest checkpoint, whose signature
    /// verifies (and, through the links, vouches for all before it); the anchor file's
    /// checkpoint is in it; the trail still holds the newest checkpoint's record unchanged
    /// and every record after it links to it. It reads every checkpoint but only the
    /// records since the newest one: a cut, a rollback, a rewritten and re-hashed tail and
    /// a removed checkpoint are caught; an edit inside the signed trail is left to `kastell
    /// audit verify`, which reads every record.
    ///
    /// # Errors
    /// Outer: the trail, the token or the anchor file could not be read. Inner: the break.
    pub fn check_audit(&self) -> Result<Result<(), ChainBreak>, KeyError> {
        Ok(self.continuity(Scope::Chain)?.map(|_| ()))
    }

    /// The audit signing key's public key (uncompressed SEC1).
    ///
    /// # Errors
    /// The token's failure.
    pub fn audit_public_key(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.token.public_key(&self.keys.audit_signing)?)
    }

    /// The audit signing key's public key as SPKI PEM, for auditors who verify without
    /// the token (`kastell audit verify --public-key`).
    ///
    /// # Errors
    /// The token's failure.
    pub fn audit_public_key_pem(&self) -> Result<String, KeyError> {
        let sec1 = self.audit_public_key()?;
        let key = p384::PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| TokenError::Malformed("EC point"))?;
        Ok(key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| TokenError::Malformed("EC point"))?)
    }

    /// Verifies the whole trail and its checkpoint chain with the token's audit signing
    /// key, and that the anchor file's checkpoint and every one of `kept` are still in it.
    ///
    /// # Errors
    /// Outer: the trail or the anchor file could not be read. Inner: the first break.
    pub fn verify_audit(
        &self,
        kept: &[KeptCheckpoints],
    ) -> Result<Result<TrailReport, ChainBreak>, KeyError> {
        let public = self.audit_public_key()?;
        let mut kept = kept.to_vec();
        match self.anchor()? {
            Ok(Some(anchor)) => kept.push(anchor),
            Ok(None) => {}
            Err(broken) => return Ok(Err(broken)),
        }
        verify_trail(&*self.store, &*self.crypto, &public, &kept)
    }

    /// The anchor file's checkpoints; `None` without an anchor file, or when it does not
    /// exist yet and the store holds no linked checkpoint (a deployment upgraded from
    /// unlinked checkpoints, or one that has not signed any). A missing file while the
    /// store holds linked checkpoints is a break: it is created (empty) before the first
    /// linked checkpoint is stored, so it was deleted since.
    fn anchor(&self) -> Result<Result<Option<KeptCheckpoints>, ChainBreak>, KeyError> {
        let Some(path) = &self.audit_anchor else {
            return Ok(Ok(None));
        };
        if let Some(anchor) = KeptCheckpoints::read(path)? {
            return Ok(Ok(Some(anchor)));
        }
        Ok(match self.store.last_checkpoint()? {
            Some(newest) if newest.prev.is_some() => Err(ChainBreak {
                seq: newest.seq,
                kind: BreakKind::RolledBack,
                problem: format!(
                    "the anchor file {} is missing but the store holds linked checkpoints: it \
                     was deleted (or the store comes from another deployment). After verifying \
                     the trail against checkpoints you kept (`kastell audit verify \
                     --checkpoints`), restore it with `kastell audit checkpoints --newest --out \
                     {}`",
                    path.display(),
                    path.display()
                ),
            }),
            _ => Ok(None),
        })
    }

    /// Creates the anchor file empty when it does not exist (`kastell init`). A deployment
    /// then holds one from its start, and so does every copy of its data directory: a host
    /// added to a PostgreSQL deployment by copying one keeps its own anchor from there on,
    /// instead of finding none while the store holds checkpoints other hosts signed (which
    /// reads as a deleted anchor, and would keep it from ever signing or starting again).
    ///
    /// # Errors
    /// The file's, when it cannot be written.
    pub fn start_audit_anchor(&self) -> Result<(), KeyError> {
        self.start_anchor()
    }

    /// Creates the anchor file empty when it does not exist, before the first linked
    /// checkpoint is stored: a crash between storing it and writing the anchor then leaves
    /// an empty anchor (accepted), while an anchor file deleted later is refused
    /// ([`KeyService::anchor`]).
    fn start_anchor(&self) -> Result<(), KeyError> {
        match &self.audit_anchor {
            Some(path) if !path.exists() => {
                crate::files::write_atomic(path, b"").map_err(|source| anchor_error(path, source))
            }
            _ => Ok(()),
        }
    }

    /// Writes `checkpoint` to the anchor file, unless the file already names a later one
    /// (another process signed after it).
    fn keep_anchor(&self, checkpoint: &Checkpoint) -> Result<(), KeyError> {
        let Some(path) = &self.audit_anchor else {
            return Ok(());
        };
        let newer_kept = KeptCheckpoints::read(path)
            .ok()
            .flatten()
            .is_some_and(|kept| kept.checkpoints.iter().any(|c| c.seq > checkpoint.seq));
        if newer_kept {
            return Ok(());
        }
        write_anchor(path, checkpoint)
    }

    /// The continuity check of [`KeyService::check_audit`] and [`KeyService::checkpoint`].
    fn continuity(&self, scope: Scope) -> Result<Result<Continuity, ChainBreak>, KeyError> {
        let public = self.audit_public_key()?;
        let verify = |digest: &[u8; 48], signature: &[u8]| {
            self.crypto
                .p384_verify_digest(&public, digest, signature)
                .unwrap_or(false)
        };
        let newest = match scope {
            Scope::Chain => {
                let chain = self.store.checkpoints()?;
                if let Err(broken) =
                    checkpoint::verify_checkpoints(&chain, verify, Signatures::Newest)
                {
                    return Ok(Err(broken));
                }
                chain.into_iter().next_back()
            }
            Scope::Newest => {
                let newest = self.store.last_checkpoint()?;
                if let Some(newest) = &newest
                    && !verify(&newest.digest(), &newest.signature)
                {
                    return Ok(Err(checkpoint::forged(newest)));
                }
                newest
            }
        };
        match self.anchor()? {
            Ok(Some(anchor)) => {
                let mut held = BTreeMap::new();
                for kept in &anchor.checkpoints {
                    if let Some(stored) = self.store.checkpoint_at(kept.seq)? {
                        held.insert(kept.seq, stored.digest());
                    }
                }
                let found = |seq| held.get(&seq).copied();
                if let Err(broken) =
                    require_kept(&anchor.checkpoints, &anchor.source, found, verify)
                {
                    return Ok(Err(broken));
                }
            }
            Ok(None) => {}
            Err(broken) => return Ok(Err(broken)),
        }
        let (mut seq, mut hash) = (0, GENESIS);
        if let Some(newest) = &newest {
            let at = self.store.audit_range(newest.seq.saturating_sub(1), 1)?;
            match at.first() {
                Some(record) if record.seq == newest.seq && record.hash == newest.hash => {}
                Some(record) if record.seq == newest.seq => return Ok(Err(rewritten(newest.seq))),
                Some(_) => {
                    return Ok(Err(ChainBreak {
                        seq: newest.seq,
                        kind: BreakKind::RecordSequence,
                        problem: "missing: the newest signed checkpoint covers this record, \
                                  which was deleted"
                            .into(),
                    }));
                }
                None => {
                    let last = self.store.audit_head()?.map_or(0, |(last, _)| last);
                    return Ok(Err(cut(last, newest.seq)));
                }
            }
            (seq, hash) = (newest.seq, newest.hash);
        }
        loop {
            let page = self.store.audit_range(seq, VERIFY_PAGE)?;
            if page.is_empty() {
                break;
            }
            match audit::verify_chain(&page, seq, hash) {
                Ok(verified) => (seq, hash) = verified,
                Err(broken) => return Ok(Err(broken)),
            }
        }
        Ok(Ok(Continuity {
            newest,
            head: (seq > 0).then_some((seq, hash)),
        }))
    }
}

/// Writes `checkpoint` as the anchor file at `path` (one JSON line, owner-only, atomic).
///
/// # Errors
/// [`KeyError::Store`] naming the file when it cannot be written.
pub fn write_anchor(path: &Path, checkpoint: &Checkpoint) -> Result<(), KeyError> {
    crate::files::write_atomic(path, (to_json_line(checkpoint) + "\n").as_bytes())
        .map_err(|source| anchor_error(path, source))
}

fn anchor_error(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Store(crate::store::StoreError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// A break as one line: where, its name, what.
#[must_use]
pub fn describe(broken: &ChainBreak) -> String {
    format!(
        "audit trail broken at record #{} ({}): {}",
        broken.seq, broken.kind, broken.problem
    )
}

/// The anchor file of a deployment whose data directory is `data_dir`.
#[must_use]
pub fn anchor_path(data_dir: &Path) -> PathBuf {
    data_dir.join(crate::deployment::AUDIT_ANCHOR_FILE)
}

/// Verifies the trail in `store` and its checkpoint chain against `public_sec1`, reading
/// the records in pages, and that every checkpoint of `kept` is still in the chain.
///
/// # Errors
/// Outer: the trail could not be read. Inner: the first break.
pub fn verify_trail(
    store: &dyn Store,
    crypto: &dyn crate::crypto::CryptoProvider,
    public_sec1: &[u8],
    kept: &[KeptCheckpoints],
) -> Result<Result<TrailReport, ChainBreak>, KeyError> {
    let verify = |digest: &[u8; 48], signature: &[u8]| {
        crypto
            .p384_verify_digest(public_sec1, digest, signature)
            .unwrap_or(false)
    };
    let mut verifier = match audit::TrailVerifier::new(store.checkpoints()?, verify) {
        Ok(verifier) => verifier,
        Err(broken) => return Ok(Err(broken)),
    };
    for kept in kept {
        if let Err(broken) = verifier.require_kept(&kept.checkpoints, &kept.source, verify) {
            return Ok(Err(broken));
        }
    }
    let mut after = 0;
    loop {
        let page = store.audit_range(after, VERIFY_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        if let Err(broken) = verifier.feed(&page) {
            return Ok(Err(broken));
        }
    }
    Ok(verifier.finish())
}
