//! The audit trail seen from the service: signed checkpoints of its head, and verification
//! of the whole trail against the token's audit signing key.

use p384::pkcs8::{EncodePublicKey as _, LineEnding};

use super::KeyError;
use super::service::{KeyService, now_ms};
use crate::audit::{self, ChainBreak, Checkpoint, TrailReport};
use crate::token::TokenError;

/// Records read from the store per page while verifying.
const VERIFY_PAGE: u32 = 4096;

impl KeyService {
    /// Signs the head of the audit trail with the token's audit signing key, unless the
    /// last checkpoint already covers it. Returns the new checkpoint, if any.
    ///
    /// # Errors
    /// The token's or the store's failure.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, KeyError> {
        let Some((seq, hash)) = self.store.audit_head()? else {
            return Ok(None);
        };
        if self
            .store
            .last_checkpoint()?
            .is_some_and(|last| last.seq >= seq)
        {
            return Ok(None);
        }
        let time_ms = now_ms();
        let digest = audit::checkpoint_digest(seq, &hash, time_ms);
        let signature = self.token.sign_digest(&self.keys.audit_signing, &digest)?;
        let checkpoint = Checkpoint {
            seq,
            hash,
            time_ms,
            key_label: self.keys.audit_signing.clone(),
            signature,
        };
        Ok(self
            .store
            .add_checkpoint(&checkpoint)?
            .then_some(checkpoint))
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

    /// Verifies the whole trail and its checkpoints with the token's audit signing key.
    ///
    /// # Errors
    /// Outer: the trail could not be read. Inner: the first break.
    pub fn verify_audit(&self) -> Result<Result<TrailReport, ChainBreak>, KeyError> {
        let public = self.audit_public_key()?;
        verify_trail(&*self.store, &*self.crypto, &public)
    }
}

/// Verifies the trail in `store` and its checkpoints against `public_sec1`, reading the
/// records in pages.
///
/// # Errors
/// Outer: the trail could not be read. Inner: the first break.
pub fn verify_trail(
    store: &dyn crate::store::Store,
    crypto: &dyn crate::crypto::CryptoProvider,
    public_sec1: &[u8],
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
