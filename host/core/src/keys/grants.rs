//! AWS KMS grants on keys (`CreateGrant`, `ListGrants`, `ListRetirableGrants`,
//! `RetireGrant`, `RevokeGrant`), for the AWS endpoint, the native API and the CLI alike.
//!
//! A grant is stored with its key and sealed with the key record (see `seal.rs`): a grant
//! edited, added or put back in the store makes the record fail its seal check, so it
//! never allows anything. Grants matter only on a key with an AWS key policy (AWS's
//! default policy already lets every principal of the account do anything, within the
//! key's wasm policy); there the bundled evaluator decides in the sandbox, after the wasm
//! policy: explicit Deny of the key policy, else its Allow, else a matching grant. A grant
//! can thus never widen what the wasm policy allows.
//!
//! Who may create a grant is decided by the key policy (`kms:CreateGrant`, with the
//! condition keys `kms:GrantOperations`, `kms:GranteePrincipal`,
//! `kms:RetiringPrincipal`, `kms:GrantConstraintType` and `kms:GrantIsForAWSResource`),
//! itself changed only under the `bind-policy` quorum class; or by a grant with
//! `CreateGrant`, and then only for a grant within it. Revoking needs `kms:RevokeGrant`
//! of the key policy; retiring is for the grant's retiring principal, or its grantee when
//! it has `RetireGrant`. Each change is one audited commit.

use kastell_proto::aws::grant::{Grant, GrantConstraints, InvalidGrant, NewGrant, grantee_matches};
use kastell_proto::{KeyId, Operation, Role};

use super::audited::Record;
use super::error::KeyError;
use super::service::{Caller, KeyService, now_ms};
use super::{KeyRecord, KeyState};

/// Most grants one key holds (they are sealed with its record, so each change rewrites
/// them all): past it, `CreateGrant` is refused with `LimitExceededException`.
pub const MAX_GRANTS: usize = 1000;

/// Which grant `RetireGrant` retires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRef {
    /// The key, by id or ARN-derived id.
    pub key: String,
    /// The grant's id.
    pub grant_id: String,
}

/// A grant and the key it is on (`ListRetirableGrants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key.
    pub key: KeyId,
    /// The grant.
    pub grant: Grant,
}

fn invalid(err: InvalidGrant) -> KeyError {
    KeyError::InvalidInput(err.to_string())
}

impl KeyService {
    /// The audit record of grant operation `label` on `key`.
    fn grant_record<'a>(
        caller: &'a Caller,
        key: Option<&'a KeyRecord>,
        label: &'static str,
    ) -> Record<'a> {
        Record {
            label: Some(label),
            ..Record::on(caller, Operation::DescribeKey, key)
        }
    }

    /// The key `key` names, for grant operation `label`, refusing (audited) a caller
    /// without one of `roles`, a key pending deletion or destroyed, and a deployment
    /// without AWS names.
    fn grant_key(
        &self,
        caller: &Caller,
        key: &str,
        label: &'static str,
        roles: &[Role],
    ) -> Result<KeyRecord, KeyError> {
        let id = match self.resolve_id(key) {
            Ok(id) => id,
            Err(err @ (KeyError::NotFound(_) | KeyError::InvalidInput(_))) => {
                let reason = err.to_string();
                return self.refuse(&Self::grant_record(caller, None, label), err, reason);
            }
            Err(other) => return Err(other),
        };
        let Some(found) = self.stored_key(&id)? else {
            let err = KeyError::NotFound(key.to_owned());
            let reason = err.to_string();
            return self.refuse(&Self::grant_record(caller, None, label), err, reason);
        };
        let record = Self::grant_record(caller, Some(&found), label);
        if !caller.roles.iter().any(|r| roles.contains(r)) {
            let why = format!("{label} needs one of the roles {roles:?}");
            return self.refuse(&record, KeyError::AccessDenied, why);
        }
        if matches!(
            found.state,
            KeyState::PendingDeletion { .. } | KeyState::Destroyed
        ) {
            return self.refuse_state(&record, format!("key is {:?}", found.state));
        }
        if self.aws.is_none() {
            let why = "grants need the deployment's [aws] account".to_owned();
            return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
        }
        Ok(found)
    }

    /// The caller's ARN.
    fn caller_arn(&self, caller: &Caller) -> String {
        self.aws
            .as_ref()
            .map(|names| names.principal_arn(&caller.id))
            .unwrap_or_default()
    }

    /// Creates a grant on `key` (`CreateGrant`): validated as AWS does, allowed by the key
    /// policy (or by a grant with `CreateGrant`, within it), stored sealed with the key,
    /// audited. A named grant with the same name and parameters as an existing one is
    /// that grant.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] (a malformed grant), [`KeyError::NotFound`],
    /// [`KeyError::AccessDenied`], [`KeyError::Disabled`], [`KeyError::InvalidState`],
    /// [`KeyError::LimitExceeded`], [`KeyError::Conflict`], or an internal failure.
    pub fn create_grant(
        &self,
        caller: &Caller,
        key: &str,
        new: NewGrant,
    ) -> Result<(KeyId, Grant), KeyError> {
        self.with_attempts(caller, "create-grant", || {
            self.create_grant_once(caller, key, new.clone())
        })
    }

    /// One attempt of [`Self::create_grant`] on the key as read now: `Err(key)` when a
    /// concurrent change to it won (nothing written).
    fn create_grant_once(
        &self,
        caller: &Caller,
        key: &str,
        new: NewGrant,
    ) -> Result<Result<(KeyId, Grant), KeyRecord>, KeyError> {
        let label = "create-grant";
        let roles = [Role::CryptoOfficer, Role::CryptoUser];
        let mut found = self.grant_key(caller, key, label, &roles)?;
        let record = Self::grant_record(caller, Some(&found), label);
        let new = match new.validate() {
            Ok(new) => new,
            Err(err) => {
                let err = invalid(err);
                let why = err.to_string();
                return self.refuse(&record, err, why);
            }
        };
        if found.state == KeyState::Disabled {
            return self.refuse(&record, KeyError::Disabled(found.id), "key disabled".into());
        }
        let mut extra = vec![
            ("kms:grantoperations".to_owned(), new.operations.clone()),
            (
                "kms:granteeprincipal".to_owned(),
                vec![new.grantee_principal.clone()],
            ),
            ("kms:grantisforawsresource".to_owned(), vec!["false".into()]),
        ];
        if let Some(retiring) = &new.retiring_principal {
            extra.push(("kms:retiringprincipal".to_owned(), vec![retiring.clone()]));
        }
        if let Some(constraints) = &new.constraints {
            let kind = if constraints.encryption_context_equals.is_some() {
                "EncryptionContextEquals"
            } else {
                "EncryptionContextSubset"
            };
            extra.push(("kms:grantconstrainttype".to_owned(), vec![kind.to_owned()]));
        }
        let parent = self.check_key_policy_with(&record, &found, "kms:CreateGrant", extra)?;
        if let Some(parent) = parent.and_then(|id| found.grants.iter().find(|g| g.grant_id == id)) {
            let wider = new
                .operations
                .iter()
                .find(|op| !parent.operations.contains(op));
            let looser =
                !GrantConstraints::within(new.constraints.as_ref(), parent.constraints.as_ref());
            if wider.is_some() || looser {
                let why = format!(
                    "grant {} allows CreateGrant only for grants within it: {}",
                    parent.grant_id,
                    wider.map_or_else(
                        || "the constraint is looser than its own".to_owned(),
                        |op| format!("it does not allow {op}"),
                    )
                );
                return self.refuse(&record, KeyError::AccessDenied, why);
            }
        }
        let issuing = self.caller_arn(caller);
        let same = |g: &Grant| {
            new.name.is_some()
                && g.name == new.name
                && g.grantee_principal == new.grantee_principal
                && g.retiring_principal == new.retiring_principal
                && g.operations == new.operations
                && g.constraints == new.constraints
        };
        if let Some(existing) = found.grants.iter().find(|g| same(g)).cloned() {
            let why = format!(
                "grant {} exists with this name and these parameters",
                existing.grant_id
            );
            self.audit(&record, crate::audit::Outcome::Allowed, why)?;
            return Ok(Ok((found.id, existing)));
        }
        if found.grants.len() >= MAX_GRANTS {
            let why = format!(
                "key {} holds {MAX_GRANTS} grants, the most one key holds",
                found.id
            );
            return self.refuse(&record, KeyError::LimitExceeded(why.clone()), why);
        }
        let mut id = [0u8; 32];
        self.token.random(&mut id)?;
        let grant = Grant {
            grant_id: hex::encode(id),
            name: new.name,
            grantee_principal: new.grantee_principal,
            retiring_principal: new.retiring_principal,
            issuing_principal: issuing,
            operations: new.operations,
            constraints: new.constraints,
            created: now_ms() / 1000,
        };
        let reason = format!(
            "grant {} to {} of {}{}{}",
            grant.grant_id,
            grant.grantee_principal,
            grant.operations.join(","),
            grant
                .retiring_principal
                .as_ref()
                .map_or_else(String::new, |r| format!(", retiring principal {r}")),
            match &grant.constraints {
                Some(c) if c.encryption_context_equals.is_some() => {
                    ", encryption context equals a given context"
                }
                Some(_) => ", encryption context includes a given context",
                None => "",
            }
        );
        found.grants.push(grant.clone());
        Ok(self
            .commit_grants(caller, &mut found, label, reason)?
            .then_some((found.id, grant))
            .ok_or(found))
    }

    /// Commits `key`'s grants (already edited) with the audit record `reason`: `false`
    /// when a concurrent change to the key won (nothing written).
    fn commit_grants(
        &self,
        caller: &Caller,
        key: &mut KeyRecord,
        label: &'static str,
        reason: String,
    ) -> Result<bool, KeyError> {
        self.seal_next(key)?;
        let record = Self::grant_record(caller, Some(key), label);
        match self.commit(crate::store::Change::UpdateKey(key), &record, reason) {
            Ok(()) => {
                key.revision += 1;
                Ok(true)
            }
            Err(KeyError::Store(crate::store::StoreError::KeyChanged(_))) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Runs `once` (read the key, authorise, edit, commit) until it commits, up to
    /// [`super::admin::ATTEMPTS`] times, then [`KeyError::Conflict`] (audited). Each attempt
    /// reads the key anew and decides again — the authorisation included: when a
    /// concurrent change won, the record that allowed the change was stale (its key policy
    /// or grants may be what changed), so a retry never commits on an old decision.
    fn with_attempts<T>(
        &self,
        caller: &Caller,
        label: &'static str,
        mut once: impl FnMut() -> Result<Result<T, KeyRecord>, KeyError>,
    ) -> Result<T, KeyError> {
        let mut last = None;
        for _ in 0..super::admin::ATTEMPTS {
            match once()? {
                Ok(done) => return Ok(done),
                Err(key) => last = Some(key),
            }
        }
        let record = Self::grant_record(caller, last.as_ref(), label);
        self.refuse_contended(&record)
    }

    /// The grants on `key` (`ListGrants`), optionally only `grant_id`'s or those of
    /// `grantee`: any role, the key policy must allow `kms:ListGrants`; audited.
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::AccessDenied`], [`KeyError::InvalidState`], or
    /// an internal failure.
    pub fn list_grants(
        &self,
        caller: &Caller,
        key: &str,
        grant_id: Option<&str>,
        grantee: Option<&str>,
    ) -> Result<(KeyId, Vec<Grant>), KeyError> {
        let label = "list-grants";
        let roles = [Role::CryptoOfficer, Role::CryptoUser, Role::Auditor];
        let found = self.grant_key(caller, key, label, &roles)?;
        let record = Self::grant_record(caller, Some(&found), label);
        let mut extra = Vec::new();
        if let Some(grantee) = grantee {
            extra.push(("kms:granteeprincipal".to_owned(), vec![grantee.to_owned()]));
        }
        self.check_key_policy_with(&record, &found, "kms:ListGrants", extra)?;
        let grants: Vec<Grant> = found
            .grants
            .iter()
            .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
            .filter(|g| grantee.is_none_or(|p| g.grantee_principal == p))
            .cloned()
            .collect();
        self.audit(
            &record,
            crate::audit::Outcome::Allowed,
            format!("{} of {} grants", grants.len(), found.grants.len()),
        )?;
        Ok((found.id, grants))
    }

    /// The grants whose retiring principal is `retiring` on every key
    /// (`ListRetirableGrants`), in key order: the caller's own, or anyone's for an
    /// officer or auditor; audited.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`], [`KeyError::InvalidState`] without AWS names, or an
    /// internal failure (a key record that fails its seal check among them).
    pub fn list_retirable_grants(
        &self,
        caller: &Caller,
        retiring: &str,
    ) -> Result<Vec<KeyGrant>, KeyError> {
        let record = Self::grant_record(caller, None, "list-retirable-grants");
        if self.aws.is_none() {
            let why = "grants need the deployment's [aws] account".to_owned();
            return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
        }
        let overseer = caller
            .roles
            .iter()
            .any(|r| matches!(r, Role::CryptoOfficer | Role::Auditor));
        if retiring != self.caller_arn(caller) && !overseer {
            let why = format!("only officers and auditors list the grants {retiring} may retire");
            return self.refuse(&record, KeyError::AccessDenied, why);
        }
        let mut out = Vec::new();
        let mut after: Option<KeyId> = None;
        loop {
            let page = self.store.list_keys(after.as_ref(), 1000)?;
            let Some(last) = page.last().map(|k| k.id) else {
                break;
            };
            for key in page {
                if key.grants.is_empty() {
                    continue;
                }
                let key = self.checked_key(key)?;
                out.extend(
                    key.grants
                        .iter()
                        .filter(|g| g.retiring_principal.as_deref() == Some(retiring))
                        .map(|g| KeyGrant {
                            key: key.id,
                            grant: g.clone(),
                        }),
                );
            }
            after = Some(last);
        }
        self.audit(
            &record,
            crate::audit::Outcome::Allowed,
            format!("{} grants {retiring} may retire", out.len()),
        )?;
        Ok(out)
    }

    /// Retires a grant (`RetireGrant`): by its retiring principal, or by its grantee when
    /// it allows `RetireGrant`; audited.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] (key or grant), [`KeyError::AccessDenied`],
    /// [`KeyError::InvalidState`], [`KeyError::Conflict`], or an internal failure.
    pub fn retire_grant(&self, caller: &Caller, grant: &GrantRef) -> Result<KeyId, KeyError> {
        self.with_attempts(caller, "retire-grant", || {
            self.retire_grant_once(caller, grant)
        })
    }

    /// One attempt of [`Self::retire_grant`]: `Err(key)` when a concurrent change won.
    fn retire_grant_once(
        &self,
        caller: &Caller,
        grant: &GrantRef,
    ) -> Result<Result<KeyId, KeyRecord>, KeyError> {
        let label = "retire-grant";
        let roles = [Role::CryptoOfficer, Role::CryptoUser];
        let mut found = self.grant_key(caller, &grant.key, label, &roles)?;
        let record = Self::grant_record(caller, Some(&found), label);
        let Some(existing) = found
            .grants
            .iter()
            .find(|g| g.grant_id == grant.grant_id)
            .cloned()
        else {
            let why = format!("grant {} is not on key {}", grant.grant_id, found.id);
            return self.refuse(&record, KeyError::NotFound(why.clone()), why);
        };
        let me = self.caller_arn(caller);
        let account = self.aws.as_ref().map(|n| n.account.as_str()).unwrap_or("");
        let retiring = existing
            .retiring_principal
            .as_deref()
            .is_some_and(|r| grantee_matches(r, &me, account));
        let grantee = existing.operations.iter().any(|op| op == "RetireGrant")
            && grantee_matches(&existing.grantee_principal, &me, account);
        if !retiring && !grantee {
            let why = format!(
                "{me} is neither the retiring principal of grant {} nor its grantee with \
                 RetireGrant",
                existing.grant_id
            );
            return self.refuse(&record, KeyError::AccessDenied, why);
        }
        let id = existing.grant_id.clone();
        found.grants.retain(|g| g.grant_id != id);
        let reason = format!("grant {id} retired");
        Ok(self
            .commit_grants(caller, &mut found, label, reason)?
            .then_some(found.id)
            .ok_or(found))
    }

    /// Revokes a grant (`RevokeGrant`): the key policy must allow `kms:RevokeGrant`;
    /// audited.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] (key or grant), [`KeyError::AccessDenied`],
    /// [`KeyError::InvalidState`], [`KeyError::Conflict`], or an internal failure.
    pub fn revoke_grant(
        &self,
        caller: &Caller,
        key: &str,
        grant_id: &str,
    ) -> Result<KeyId, KeyError> {
        self.with_attempts(caller, "revoke-grant", || {
            self.revoke_grant_once(caller, key, grant_id)
        })
    }

    /// One attempt of [`Self::revoke_grant`]: `Err(key)` when a concurrent change won.
    fn revoke_grant_once(
        &self,
        caller: &Caller,
        key: &str,
        grant_id: &str,
    ) -> Result<Result<KeyId, KeyRecord>, KeyError> {
        let label = "revoke-grant";
        let roles = [Role::CryptoOfficer, Role::CryptoUser];
        let mut found = self.grant_key(caller, key, label, &roles)?;
        let record = Self::grant_record(caller, Some(&found), label);
        self.check_key_policy_with(&record, &found, "kms:RevokeGrant", Vec::new())?;
        if !found.grants.iter().any(|g| g.grant_id == grant_id) {
            let why = format!("grant {grant_id} is not on key {}", found.id);
            return self.refuse(&record, KeyError::NotFound(why.clone()), why);
        }
        found.grants.retain(|g| g.grant_id != grant_id);
        let reason = format!("grant {grant_id} revoked");
        Ok(self
            .commit_grants(caller, &mut found, label, reason)?
            .then_some(found.id)
            .ok_or(found))
    }
}
