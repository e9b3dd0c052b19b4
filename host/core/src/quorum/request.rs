//! Asking for an operation, and the one operation the quorum executes itself: changing a
//! quorum setting.

use std::time::Duration;

use kastell_proto::{OperationClass, PendingState, QuorumAction};

use super::{
    MAX_CANONICAL_LEN, MAX_REQUIRED, PendingOperation, Quorum, QuorumError, QuorumSetting,
    Submitted, canonical_bytes, digest, entry, is_officer,
};
use crate::audit::Outcome;
use crate::keys::Caller;
use crate::store::PendingRow;

impl Quorum {
    /// Asks for `action`, of the class [`QuorumAction::class`] names: [`Submitted::Execute`]
    /// when the class needs no approvals, otherwise a stored, audited operation that
    /// expires after `ttl`. A `set-quorum` action's requirement is checked first.
    ///
    /// # Errors
    /// [`QuorumError::NotOfficer`], [`QuorumError::InvalidSetting`],
    /// [`QuorumError::InvalidAction`] (each audited as denied), [`QuorumError::Store`].
    pub fn submit(
        &self,
        requester: &Caller,
        action: QuorumAction,
        ttl: Duration,
    ) -> Result<Submitted, QuorumError> {
        const OPERATION: &str = "approval-request";
        let class = action.class();
        let key = action.key().copied();
        if let QuorumAction::SetQuorum { class, required } = action
            && let Err(why) = check_required(u64::from(required))
                .and_then(|required| self.check_order(class, required))
        {
            let reason = format!("class quorum: {why}");
            return self.refuse(
                &requester.id,
                OPERATION,
                None,
                reason,
                QuorumError::InvalidSetting(why),
            );
        }
        if !is_officer(requester) {
            let why = format!("class {class}: caller lacks the crypto-officer role");
            return self.refuse(&requester.id, OPERATION, key, why, QuorumError::NotOfficer);
        }
        let need = self.required(class)?;
        if need <= 1 {
            return Ok(Submitted::Execute);
        }
        let created_ms = crate::keys::unix_now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut op = PendingOperation {
            id: uuid::Uuid::new_v4().to_string(),
            class,
            action,
            requester: requester.id.clone(),
            created_ms,
            expires_ms: created_ms.saturating_add(ttl_ms),
            state: PendingState::Pending,
            outcome: String::new(),
            digest: String::new(),
            approvals: Vec::new(),
        };
        let canonical = canonical_bytes(&op);
        if canonical.len() > MAX_CANONICAL_LEN {
            let why = format!(
                "{} bytes canonically, more than {MAX_CANONICAL_LEN}",
                canonical.len()
            );
            let reason = format!("class {class}: {why}");
            return self.refuse(
                &requester.id,
                OPERATION,
                key,
                reason,
                QuorumError::InvalidAction(why),
            );
        }
        let digest = digest(&op);
        op.digest = hex::encode(digest);
        let row = PendingRow {
            id: op.id.clone(),
            class,
            canonical,
            digest,
            requester: op.requester.clone(),
            created_ms,
            expires_ms: op.expires_ms,
            state: PendingState::Pending,
            outcome: String::new(),
        };
        let reason = format!(
            "op {} class {class} 0/{need} approvals, expires {}, digest {}",
            op.id, op.expires_ms, op.digest
        );
        let entry = entry(&requester.id, OPERATION, key, Outcome::Allowed, reason);
        let record = self.store.add_pending(&row, entry)?;
        self.observe(&record);
        Ok(Submitted::Pending(op))
    }

    /// Applies a `set-quorum` action (audited `set-quorum`). Call it only with the action
    /// of an operation that is ready, or that [`Quorum::submit`] said to execute: this
    /// function does not look for approvals.
    ///
    /// # Errors
    /// [`QuorumError::NotOfficer`], [`QuorumError::InvalidSetting`] (both audited as
    /// denied), [`QuorumError::Store`].
    pub fn apply_setting(
        &self,
        class: OperationClass,
        required: u32,
        executor: &Caller,
    ) -> Result<QuorumSetting, QuorumError> {
        const OPERATION: &str = "set-quorum";
        if !is_officer(executor) {
            let why = "caller lacks the crypto-officer role".to_owned();
            return self.refuse(&executor.id, OPERATION, None, why, QuorumError::NotOfficer);
        }
        let checked = check_required(u64::from(required))
            .and_then(|required| self.check_order(class, required).map(|()| required));
        let setting = match checked {
            Ok(required) => QuorumSetting { class, required },
            Err(why) => {
                return self.refuse(
                    &executor.id,
                    OPERATION,
                    None,
                    why.clone(),
                    QuorumError::InvalidSetting(why),
                );
            }
        };
        let previous = self.required(setting.class)?;
        let reason = format!(
            "class {} requires {} approvals (was {previous})",
            setting.class, setting.required
        );
        let entry = entry(&executor.id, OPERATION, None, Outcome::Allowed, reason);
        let record = self
            .store
            .set_quorum_required(setting.class, setting.required, entry)?;
        self.observe(&record);
        Ok(setting)
    }
}

impl Quorum {
    /// Whether setting `class` to `required` keeps the classes in order (see
    /// [`check_order`]), against the settings stored now.
    fn check_order(&self, class: OperationClass, required: u32) -> Result<(), String> {
        let current = self.settings().map_err(|e| e.to_string())?;
        check_order(&current, class, required)
    }
}

/// No class may need more approvals than `issue-officer`, and none but `issue-officer`
/// more than `issue-client`: otherwise one officer could mint himself a second officer
/// (or user) certificate under the lower class and approve, or act, alone. `current`
/// holds every class's setting; the result is that of setting `class` to `required`.
///
/// # Errors
/// Which class would then need more approvals than which, and what to raise first.
pub(super) fn check_order(
    current: &[QuorumSetting],
    class: OperationClass,
    required: u32,
) -> Result<(), String> {
    let after = |c: OperationClass| {
        if c == class {
            required
        } else {
            current
                .iter()
                .find(|s| s.class == c)
                .map_or(1, |s| s.required)
        }
    };
    let ceilings = [OperationClass::IssueOfficer, OperationClass::IssueClient];
    for ceiling in ceilings {
        for &other in OperationClass::ALL {
            let above = other != ceiling
                && !(ceiling == OperationClass::IssueClient
                    && other == OperationClass::IssueOfficer);
            if above && after(other) > after(ceiling) {
                let fix = if class == ceiling {
                    format!("lower {other} first")
                } else {
                    format!("raise {ceiling} first")
                };
                return Err(format!(
                    "class {other} would need {} approvals, more than {ceiling} ({}): one \
                     officer could issue himself another certificate under {ceiling} and \
                     approve alone; {fix}",
                    after(other),
                    after(ceiling)
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn check_required(required: u64) -> Result<u32, String> {
    u32::try_from(required)
        .ok()
        .filter(|m| (1..=MAX_REQUIRED).contains(m))
        .ok_or_else(|| format!("required approvals must be 1 to {MAX_REQUIRED}, not {required}"))
}
