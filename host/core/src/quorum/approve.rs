//! Approving an operation, recording its execution, and expiring it.

use kastell_attest::identity::client_identity;
use kastell_attest::verify::public_key;
use kastell_attest::x509::{Certificate, decode_canonical};
use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};

use super::canonical::certificate_serial;
use super::{
    Approval, Approved, PendingOperation, Quorum, QuorumError, canonical_bytes, entry, is_officer,
};

use crate::audit::Outcome;
use crate::keys::{Caller, SYSTEM_PRINCIPAL};
use crate::store::{ApprovalAdded, ApprovalRow};
use kastell_proto::PendingState;

/// Times an approval is retried when concurrent approvals change the operation under it.
const ATTEMPTS: usize = 8;

/// Longest outcome text kept, in bytes.
const MAX_OUTCOME_LEN: usize = 1024;

/// The certificate role of an officer, as [`kastell_attest::identity`] writes it.
const OFFICER_ROLE: &str = kastell_proto::Role::CryptoOfficer.as_str();

/// An operation id fit for an audit record or an error: the id when it is a UUID.
fn shown(id: &str) -> String {
    match uuid::Uuid::try_parse(id) {
        Ok(uuid) => uuid.to_string(),
        Err(_) => "(malformed id)".into(),
    }
}

fn truncated(text: &str) -> String {
    let mut end = text.len().min(MAX_OUTCOME_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// An officer's approval of an operation: `key`'s DER ECDSA P-384/SHA-384 signature over
/// the operation's [`canonical_bytes`], which [`Quorum::approve`] checks.
#[must_use]
pub fn sign_approval(key: &crate::clients::ClientKey, canonical: &[u8]) -> Vec<u8> {
    key.sign(canonical)
}

/// Checks that `certificate_der` is `officer`'s crypto-officer certificate and that
/// `signature_der` is its key's signature over `canonical`; why not, otherwise (never the
/// bytes themselves).
fn verify_approval(
    officer: &Caller,
    certificate_der: &[u8],
    canonical: &[u8],
    signature_der: &[u8],
) -> Result<(), String> {
    let certificate: Certificate = decode_canonical(certificate_der)
        .map_err(|e| format!("the officer certificate does not decode: {e}"))?;
    let identity = client_identity(&certificate)
        .map_err(|e| format!("the officer certificate names no identity: {e}"))?;
    if identity.principal != officer.id {
        return Err(format!(
            "the certificate is {}'s, not the caller's",
            identity.principal
        ));
    }
    if identity.role != OFFICER_ROLE {
        return Err(format!(
            "the certificate carries role {}, not {OFFICER_ROLE}",
            identity.role
        ));
    }
    let key = public_key(&certificate).map_err(|e| e.to_string())?;
    let signature = Signature::from_der(signature_der)
        .map_err(|_| "the signature is not a DER ECDSA P-384 signature".to_owned())?;
    VerifyingKey::from(&key)
        .verify(canonical, &signature)
        .map_err(|_| {
            "the signature does not verify over the operation's canonical bytes with the \
             officer certificate's key"
                .to_owned()
        })
}

impl Quorum {
    /// Records `officer`'s approval of operation `op_id`: `signature_der` is a DER ECDSA
    /// P-384/SHA-384 signature over its [`canonical_bytes`] by the key of
    /// `officer_certificate_der` (the officer's client certificate, whose chain the TLS
    /// layer verified). `now_ms` decides expiry.
    ///
    /// # Errors
    /// [`QuorumError::NotOfficer`], [`QuorumError::NotFound`], [`QuorumError::NotPending`],
    /// [`QuorumError::Expired`] (the operation is marked expired),
    /// [`QuorumError::BadSignature`], [`QuorumError::AwaitingExecution`] (each audited as
    /// denied), [`QuorumError::Contended`], [`QuorumError::Store`].
    pub fn approve(
        &self,
        officer: &Caller,
        officer_certificate_der: &[u8],
        op_id: &str,
        signature_der: &[u8],
        now_ms: i64,
    ) -> Result<Approved, QuorumError> {
        const OPERATION: &str = "approve";
        let who = officer.id.as_str();
        if !is_officer(officer) {
            let why = format!("op {}: caller lacks the crypto-officer role", shown(op_id));
            return self.refuse(who, OPERATION, None, why, QuorumError::NotOfficer);
        }
        for _ in 0..ATTEMPTS {
            let Some(mut op) = self.operation(op_id)? else {
                let id = shown(op_id);
                let why = format!("no operation {id}");
                return self.refuse(who, OPERATION, None, why, QuorumError::NotFound(id));
            };
            let (id, class, key) = (op.id.clone(), op.class, op.action.key().copied());
            if op.state != PendingState::Pending {
                let why = format!("op {id} class {class} is {}", op.state);
                let error = QuorumError::NotPending {
                    id,
                    state: op.state,
                };
                return self.refuse(who, OPERATION, key, why, error);
            }
            if now_ms >= op.expires_ms {
                self.expire(&op)?;
                let why = format!("op {id} class {class} expired at {}", op.expires_ms);
                return self.refuse(who, OPERATION, key, why, QuorumError::Expired(id));
            }
            let canonical = canonical_bytes(&op);
            if let Err(why) =
                verify_approval(officer, officer_certificate_der, &canonical, signature_der)
            {
                let reason = format!("op {id} class {class}: {why}");
                return self.refuse(who, OPERATION, key, reason, QuorumError::BadSignature(why));
            }
            let need = self.required(class)?;
            // Approvals by an officer whose certificate was revoked since no longer count.
            let revoked: std::collections::HashSet<String> =
                self.store.revoked_clients()?.into_iter().collect();
            let stored = u32::try_from(op.approvals.len()).unwrap_or(u32::MAX);
            let have = u32::try_from(
                op.approvals
                    .iter()
                    .filter(|a| !revoked.contains(&a.serial))
                    .count(),
            )
            .unwrap_or(u32::MAX);
            let serial = certificate_serial(officer_certificate_der).unwrap_or_default();
            if op.approvals.iter().any(|a| a.officer == officer.id) {
                let why = format!(
                    "op {id} class {class} {have}/{need} approvals: approved by this officer \
                     already, counted once"
                );
                self.audit(entry(who, OPERATION, key, Outcome::Allowed, why))?;
                return Ok(Approved {
                    operation: op,
                    have,
                    need,
                    duplicate: true,
                    ready: false,
                });
            }
            if have >= need {
                let why = format!(
                    "op {id} class {class} {have}/{need} approvals: complete, awaiting execution"
                );
                let error = QuorumError::AwaitingExecution(id);
                return self.refuse(who, OPERATION, key, why, error);
            }
            let approval = ApprovalRow {
                officer: officer.id.clone(),
                certificate: officer_certificate_der.to_vec(),
                signature: signature_der.to_vec(),
                at_ms: now_ms,
            };
            let why = format!("op {id} class {class} {}/{need} approvals", have + 1);
            let audit = entry(who, OPERATION, key, Outcome::Allowed, why);
            match self.store.add_approval(&id, &approval, stored, audit)? {
                ApprovalAdded::Added(record) => {
                    self.observe(&record);
                    op.approvals.push(Approval {
                        officer: officer.id.clone(),
                        at_ms: now_ms,
                        serial,
                    });
                    return Ok(Approved {
                        operation: op,
                        have: have + 1,
                        need,
                        duplicate: false,
                        ready: have + 1 >= need,
                    });
                }
                // The operation changed since it was read: read it again, which sorts out
                // duplicates, finished operations and new counts.
                ApprovalAdded::Duplicate
                | ApprovalAdded::NotFound
                | ApprovalAdded::NotPending(_)
                | ApprovalAdded::Changed { .. } => {}
            }
        }
        Err(QuorumError::Contended(shown(op_id)))
    }

    /// Records that the ready operation `id` was executed, with what it gave (`outcome`, at
    /// most 1 KiB kept). It can never be executed again.
    ///
    /// # Errors
    /// [`QuorumError::NotFound`], [`QuorumError::NotPending`] (both audited as denied),
    /// [`QuorumError::Store`].
    pub fn mark_executed(&self, id: &str, outcome: &str) -> Result<PendingOperation, QuorumError> {
        self.finish(id, PendingState::Executed, outcome)
    }

    /// Records that executing the ready operation `id` failed, and why (at most 1 KiB kept).
    /// It can never be executed again.
    ///
    /// # Errors
    /// As [`Quorum::mark_executed`].
    pub fn mark_failed(&self, id: &str, reason: &str) -> Result<PendingOperation, QuorumError> {
        self.finish(id, PendingState::Failed, reason)
    }

    /// Marks every pending operation that expired at or before `now_ms` as expired (audited
    /// `approval-expire`); their ids.
    ///
    /// # Errors
    /// [`QuorumError::Store`].
    pub fn expire_due(&self, now_ms: i64) -> Result<Vec<String>, QuorumError> {
        const PAGE: u32 = 256;
        let mut expired = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list(Some(PendingState::Pending), after.as_deref(), PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for op in &page {
                if now_ms >= op.expires_ms && self.expire(op)? {
                    expired.push(op.id.clone());
                }
            }
        }
        Ok(expired)
    }

    /// Marks `op` expired; whether this call did (not someone else first).
    fn expire(&self, op: &PendingOperation) -> Result<bool, QuorumError> {
        let reason = format!(
            "op {} class {} expired at {} with {} approvals",
            op.id,
            op.class,
            op.expires_ms,
            op.approvals.len()
        );
        let key = op.action.key().copied();
        let audit = entry(
            SYSTEM_PRINCIPAL,
            "approval-expire",
            key,
            Outcome::Allowed,
            reason.clone(),
        );
        let finished = self
            .store
            .finish_pending(&op.id, PendingState::Expired, &reason, audit)?;
        if let Some(record) = &finished {
            self.observe(record);
        }
        Ok(finished.is_some())
    }

    /// Moves `id` from pending to `state` (executed or failed) with `outcome`.
    fn finish(
        &self,
        id: &str,
        state: PendingState,
        outcome: &str,
    ) -> Result<PendingOperation, QuorumError> {
        const OPERATION: &str = "approval-execute";
        let Some(mut op) = self.operation(id)? else {
            let id = shown(id);
            let why = format!("no operation {id}");
            return self.refuse(
                SYSTEM_PRINCIPAL,
                OPERATION,
                None,
                why,
                QuorumError::NotFound(id),
            );
        };
        let key = op.action.key().copied();
        let officers: Vec<&str> = op.approvals.iter().map(|a| a.officer.as_str()).collect();
        let outcome = truncated(outcome);
        let (verb, result) = match state {
            PendingState::Failed => ("failed", Outcome::Denied),
            _ => ("executed", Outcome::Allowed),
        };
        let reason = format!(
            "op {} class {} {verb} with {} approvals ({}): {outcome}",
            op.id,
            op.class,
            officers.len(),
            officers.join(", ")
        );
        let audit = entry(&op.requester, OPERATION, key, result, reason);
        if op.state == PendingState::Pending
            && let Some(record) = self.store.finish_pending(&op.id, state, &outcome, audit)?
        {
            self.observe(&record);
            op.state = state;
            op.outcome = outcome;
            return Ok(op);
        }
        // Finished already (perhaps by a concurrent call): read what it became.
        let now = self.operation(&op.id)?.map_or(op.state, |o| o.state);
        let why = format!(
            "op {} class {} is {now}, cannot be {verb} again",
            op.id, op.class
        );
        let error = QuorumError::NotPending {
            id: op.id.clone(),
            state: now,
        };
        self.refuse(&op.requester, OPERATION, key, why, error)
    }
}
