//! AWS KMS key policies on keys: the document validated as AWS validates it when it is
//! stored (`PutKeyPolicy`, `CreateKey`'s `Policy`), sealed with the key record, changed
//! only by officers (under the `bind-policy` quorum class, with the document's SHA-384 in
//! the audit record), and enforced on every operation on the key — the AWS API's and the
//! native API's — by the bundled evaluator in the sandbox, after the key's wasm policy:
//! both must allow. A key without a document has AWS's default key policy (every
//! principal of the account may do anything), which adds nothing to the wasm policy.

use kastell_proto::aws::policy::{KeyPolicy, default_policy};
use kastell_proto::{KeyId, Operation, Role};
use sha2::{Digest as _, Sha384};

use super::algorithms::Algorithm;
use super::audited::Record;
use super::destruction::SYSTEM_PRINCIPAL;
use super::error::KeyError;
use super::service::{Caller, KeyService, NewKey};
use super::{KeyRecord, KeyState};
use crate::audit::Outcome;
use crate::sandbox::{AwsAllowed, AwsPolicyRequest, Verdict, bundled_measurement};

/// The message AWS answers a policy that would lock its setter out with.
pub const LOCKOUT: &str =
    "The new key policy will not allow you to update the key policy in the future.";

/// The AWS names of a deployment's keys and principals (`[aws] region` and `account_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    /// The region key ARNs name.
    pub region: String,
    /// The account (12 digits) key and principal ARNs name.
    pub account: String,
}

impl AwsNames {
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    #[must_use]
    pub fn key_arn(&self, id: &KeyId) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// `arn:aws:iam::<account>:user/<principal>`, the ARN an access key of `principal`
    /// carries (and the one a certificate holder of that name has in key policies).
    #[must_use]
    pub fn principal_arn(&self, principal: &str) -> String {
        kastell_proto::aws::user_arn(&self.account, principal)
    }
}

/// The AWS action of a Kastell operation. Operations AWS KMS does not have are named
/// `kastell:<Operation>` (a policy must allow them by name, `kastell:*` or `*`).
#[must_use]
pub fn action_of(operation: Operation) -> &'static str {
    match operation {
        Operation::Encrypt => "kms:Encrypt",
        Operation::Decrypt => "kms:Decrypt",
        Operation::GenerateDataKey => "kms:GenerateDataKey",
        Operation::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
        Operation::ReEncryptFrom => "kms:ReEncryptFrom",
        Operation::ReEncryptTo => "kms:ReEncryptTo",
        Operation::Sign => "kms:Sign",
        Operation::Verify => "kms:Verify",
        Operation::GenerateMac => "kms:GenerateMac",
        Operation::VerifyMac => "kms:VerifyMac",
        Operation::GenerateRandom => "kms:GenerateRandom",
        Operation::GetPublicKey => "kms:GetPublicKey",
        Operation::CreateKey => "kms:CreateKey",
        Operation::DescribeKey => "kms:DescribeKey",
        Operation::RotateKey => "kms:RotateKeyOnDemand",
        Operation::EnableKey => "kms:EnableKey",
        Operation::DisableKey => "kms:DisableKey",
        Operation::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
        Operation::CancelKeyDeletion => "kms:CancelKeyDeletion",
        Operation::BindPolicy => "kms:PutKeyPolicy",
        Operation::UpdateTags => "kms:TagResource",
        Operation::UpdateAlias => "kms:UpdateAlias",
        Operation::DeriveSharedSecret => "kms:DeriveSharedSecret",
        Operation::GenerateDataKeyPair => "kms:GenerateDataKeyPair",
        Operation::GenerateDataKeyPairWithoutPlaintext => "kms:GenerateDataKeyPairWithoutPlaintext",
        Operation::Release => "kastell:Release",
        Operation::SetMinDecryptionVersion => "kastell:SetMinDecryptionVersion",
        Operation::DestroyKey => "kastell:DestroyKey",
    }
}

/// `sha384:<hex>` of a document.
pub(super) fn digest(document: &str) -> String {
    format!(
        "sha384:{}",
        hex::encode(Sha384::digest(document.as_bytes()))
    )
}

impl KeyService {
    /// Names keys and principals for AWS key policies with `names` (`[aws]`); without it,
    /// a key with a key policy is refused (fail closed) and none can be set.
    #[must_use]
    pub fn with_aws_names(mut self, names: AwsNames) -> Self {
        self.aws = Some(names);
        self
    }

    /// The evidence of `record`'s request on `key` for the key policy, asked as `action`.
    pub(super) fn aws_request(
        names: &AwsNames,
        record: &Record<'_>,
        key: &KeyRecord,
        action: &str,
    ) -> AwsPolicyRequest {
        let mut keys: Vec<(String, Vec<String>)> = vec![
            ("kms:calleraccount".into(), vec![names.account.clone()]),
            (
                "aws:principalarn".into(),
                vec![names.principal_arn(&record.caller.id)],
            ),
            ("aws:principalaccount".into(), vec![names.account.clone()]),
            ("kms:keyspec".into(), vec![key.spec.as_str().to_owned()]),
            ("kms:keyusage".into(), vec![key.usage.as_str().to_owned()]),
            (
                "kms:keyorigin".into(),
                vec![
                    if key.origin == kastell_proto::Origin::External {
                        "EXTERNAL"
                    } else {
                        "AWS_KMS"
                    }
                    .to_owned(),
                ],
            ),
        ];
        if let Some(context) = record.context.filter(|c| !c.0.is_empty()) {
            let mut by_key: std::collections::BTreeMap<String, Vec<String>> =
                std::collections::BTreeMap::new();
            for (name, value) in &context.0 {
                by_key
                    .entry(format!("kms:encryptioncontext:{}", name.to_lowercase()))
                    .or_default()
                    .push(value.clone());
            }
            keys.extend(by_key);
            keys.push((
                "kms:encryptioncontextkeys".into(),
                context.0.keys().cloned().collect(),
            ));
        }
        if let Some(evidence) = &record.caller.evidence {
            // AWS's Nitro condition keys: present only in requests with a verified
            // attestation document (`Recipient`).
            if let Some(image) = evidence.pcrs.get(&0) {
                keys.push((
                    "kms:recipientattestation:imagesha384".into(),
                    vec![image.clone()],
                ));
            }
            for (index, value) in &evidence.pcrs {
                keys.push((
                    format!("kms:recipientattestation:pcr{index}"),
                    vec![value.clone()],
                ));
            }
        }
        let data_key = matches!(
            record.operation,
            Operation::GenerateDataKey
                | Operation::GenerateDataKeyWithoutPlaintext
                | Operation::GenerateDataKeyPair
                | Operation::GenerateDataKeyPairWithoutPlaintext
        );
        let name = record.algorithm.map(|a| vec![a.as_str().to_owned()]);
        match (record.algorithm, name) {
            (Some(Algorithm::Encryption(_)), Some(name)) => {
                keys.push(("kms:encryptionalgorithm".into(), name));
            }
            (Some(Algorithm::Signing(_, message_type)), Some(name)) => {
                keys.push(("kms:signingalgorithm".into(), name));
                let message_type = match message_type {
                    kastell_proto::MessageType::Raw => "RAW",
                    kastell_proto::MessageType::Digest => "DIGEST",
                };
                keys.push(("kms:messagetype".into(), vec![message_type.to_owned()]));
            }
            (Some(Algorithm::Mac(_)), Some(name)) => {
                keys.push(("kms:macalgorithm".into(), name));
            }
            (Some(Algorithm::KeyAgreement(_)), Some(name)) => {
                keys.push(("kms:keyagreementalgorithm".into(), name));
            }
            (None, _) if data_key => keys.push((
                "kms:encryptionalgorithm".into(),
                vec!["SYMMETRIC_DEFAULT".into()],
            )),
            _ => {}
        }
        AwsPolicyRequest {
            action: action.to_owned(),
            principal_arn: names.principal_arn(&record.caller.id),
            principal_account: names.account.clone(),
            resource_arn: names.key_arn(&key.id),
            condition_keys: keys,
        }
    }

    /// The key policy's decision on `record`'s operation on `key` (the operation's action):
    /// nothing to decide for a key with the default policy; otherwise the bundled
    /// evaluator decides in the sandbox, and a denial is audited and refused.
    pub(super) fn check_key_policy(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
    ) -> Result<(), KeyError> {
        self.check_key_policy_for(record, key, action_of(record.operation))
    }

    /// [`KeyService::check_key_policy`] for `action`.
    pub(super) fn check_key_policy_for(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        action: &str,
    ) -> Result<(), KeyError> {
        self.check_key_policy_with(record, key, action, Vec::new())
            .map(drop)
    }

    /// [`KeyService::check_key_policy_for`] with `extra` condition keys (`CreateGrant`'s
    /// `kms:GrantOperations`, …): the key policy, then the key's grants, decide in the
    /// sandbox; the grant that allowed, if one did, is returned and named in the
    /// operation's audit record.
    pub(super) fn check_key_policy_with(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        action: &str,
        extra: Vec<(String, Vec<String>)>,
    ) -> Result<Option<String>, KeyError> {
        super::audited::note_grant(None);
        let Some(document) = &key.key_policy else {
            return Ok(None);
        };
        // The host's own sweeps (destruction, automatic rotation) are not requests.
        if record.caller.id == SYSTEM_PRINCIPAL {
            return Ok(None);
        }
        let Some(names) = &self.aws else {
            return self.refuse(
                record,
                KeyError::AccessDenied,
                "the key has an AWS key policy and this deployment has no [aws] account to \
                 evaluate it for"
                    .into(),
            );
        };
        let mut request = Self::aws_request(names, record, key, action);
        request.condition_keys.extend(extra);
        let started = std::time::Instant::now();
        let (verdict, allowed) = if key.grants.is_empty() {
            let verdict = self.sandbox.evaluate_aws_policy(document, &request).verdict;
            (verdict, None)
        } else {
            let context = record.context.map(|c| c.0.clone()).unwrap_or_default();
            let (evaluation, allowed) =
                self.sandbox
                    .evaluate_aws_grants(document, &key.grants, &request, &context);
            (evaluation.verdict, allowed)
        };
        if let Some(metrics) = &self.metrics {
            metrics.policy_evaluated(started.elapsed());
        }
        match verdict {
            Verdict::Allow => match allowed {
                Some(AwsAllowed::Grant(grant)) => {
                    super::audited::note_grant(Some((key.id, grant.clone())));
                    Ok(Some(grant))
                }
                _ => Ok(None),
            },
            Verdict::Deny(cause) => self.refuse(
                record,
                KeyError::AccessDenied,
                format!("AWS key policy: {cause}"),
            ),
        }
    }

    /// The key policy `document` parsed, or AWS's refusal (audited).
    fn validated(&self, record: &Record<'_>, document: &str) -> Result<KeyPolicy, KeyError> {
        if let Err(why) = self.sandbox.aws_policy_available() {
            let why = format!("this host cannot enforce AWS key policies: {why}");
            return self.refuse(record, KeyError::InvalidState(why.clone()), why);
        }
        if self.aws.is_none() {
            let why = "AWS key policies need the deployment's [aws] account".to_owned();
            return self.refuse(record, KeyError::InvalidState(why.clone()), why);
        }
        KeyPolicy::parse(document).or_else(|err| {
            let why = err.0;
            self.refuse(
                record,
                KeyError::MalformedPolicyDocument(why.clone()),
                format!("malformed key policy {}: {why}", digest(document)),
            )
        })
    }

    /// AWS's lockout safety check: unless `bypass`, refuse a document under which the
    /// caller could not change the key policy again (asked of the evaluator, in the
    /// sandbox).
    fn lockout_check(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
        document: &str,
        bypass: bool,
    ) -> Result<(), KeyError> {
        let Some(names) = &self.aws else {
            return Ok(());
        };
        if bypass {
            return Ok(());
        }
        let request = Self::aws_request(names, record, key, "kms:PutKeyPolicy");
        match self.sandbox.evaluate_aws_policy(document, &request).verdict {
            Verdict::Allow => Ok(()),
            Verdict::Deny(cause) => self.refuse(
                record,
                KeyError::MalformedPolicyDocument(LOCKOUT.into()),
                format!("{LOCKOUT} ({cause}; BypassPolicyLockoutSafetyCheck not set)"),
            ),
        }
    }

    /// The key's AWS key policy (`GetKeyPolicy`): its document, or AWS's default policy
    /// for the deployment's account (any role; audited; the key policy must allow
    /// `kms:GetKeyPolicy`).
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::AccessDenied`], [`KeyError::InvalidState`]
    /// without an `[aws]` account, or an internal failure.
    pub fn get_key_policy(&self, caller: &Caller, key: &str) -> Result<String, KeyError> {
        let key = self.resolve_for(caller, Operation::DescribeKey, key)?;
        let record = Record::on(caller, Operation::DescribeKey, Some(&key));
        self.may_describe(&record)?;
        self.check_key_policy_for(&record, &key, "kms:GetKeyPolicy")?;
        let document = match (&key.key_policy, &self.aws) {
            (Some(document), _) => document.clone(),
            (None, Some(names)) => default_policy(&names.account),
            (None, None) => {
                let why = "AWS key policies need the deployment's [aws] account".to_owned();
                return self.refuse(&record, KeyError::InvalidState(why.clone()), why);
            }
        };
        self.audit(
            &record,
            Outcome::Allowed,
            format!("get key policy {}", digest(&document)),
        )?;
        Ok(document)
    }

    /// Sets the key's AWS key policy (`PutKeyPolicy`; crypto-officer only, under the
    /// `bind-policy` quorum class at the API): the document validated as AWS does, the
    /// current key policy asked for `kms:PutKeyPolicy`, the new one checked against
    /// lockout unless `bypass_lockout`, then stored sealed with the key, audited with its
    /// SHA-384 and the evaluator's measurement.
    ///
    /// # Errors
    /// [`KeyError::MalformedPolicyDocument`] (malformed, too large, unknown condition
    /// operator, lockout), [`KeyError::NotFound`], [`KeyError::AccessDenied`],
    /// [`KeyError::InvalidState`] (destroyed key, no evaluator or `[aws]` account),
    /// [`KeyError::Conflict`], or an internal failure.
    pub fn put_key_policy(
        &self,
        caller: &Caller,
        key: &str,
        document: &str,
        bypass_lockout: bool,
    ) -> Result<KeyRecord, KeyError> {
        let evaluator = bundled_measurement().map_or_else(|| "none".to_owned(), |m| m.to_string());
        self.modify(caller, key, Operation::BindPolicy, None, |key| {
            let record = Record::on(caller, Operation::BindPolicy, Some(key));
            if key.state == KeyState::Destroyed {
                let why = "cannot change the key policy of a destroyed key".to_owned();
                return self.refuse_state(&record, why);
            }
            // (The current key policy allowed kms:PutKeyPolicy when the key was read.)
            self.validated(&record, document)?;
            self.lockout_check(&record, key, document, bypass_lockout)?;
            key.key_policy = Some(document.to_owned());
            Ok(format!(
                "aws key policy {} ({} bytes{}), evaluator {evaluator}",
                digest(document),
                document.len(),
                if bypass_lockout {
                    ", lockout check bypassed"
                } else {
                    ""
                }
            ))
        })
    }

    /// Checks what [`KeyService::put_key_policy`] would check, changing nothing: before a
    /// `PutKeyPolicy` is submitted for officers' approvals, so that a document that could
    /// never be applied is refused at once (audited).
    ///
    /// # Errors
    /// As [`KeyService::put_key_policy`].
    pub fn vet_key_policy(
        &self,
        caller: &Caller,
        key: &str,
        document: &str,
        bypass_lockout: bool,
    ) -> Result<(), KeyError> {
        let key = self.administer(caller, key, Operation::BindPolicy)?;
        let record = Record::on(caller, Operation::BindPolicy, Some(&key));
        self.validated(&record, document)?;
        self.lockout_check(&record, &key, document, bypass_lockout)
    }

    /// Creates a key with an AWS key policy (`CreateKey` with `Policy`): the document is
    /// validated and checked against lockout (unless `bypass_lockout`) before the key is
    /// made, and stored with it in the same change.
    ///
    /// # Errors
    /// As [`KeyService::create_key`] and [`KeyService::put_key_policy`].
    pub fn create_key_with_policy(
        &self,
        caller: &Caller,
        new: NewKey,
        alias: Option<&str>,
        document: &str,
        bypass_lockout: bool,
    ) -> Result<KeyRecord, KeyError> {
        let record = Record::on(caller, Operation::CreateKey, None);
        if !caller.roles.contains(&Role::CryptoOfficer) {
            return self.refuse_role(&record, Role::CryptoOfficer);
        }
        self.validated(&record, document)?;
        // The lockout check names the key about to be made, as it will be.
        let id = KeyId::random();
        let probe = KeyRecord {
            id,
            spec: new.spec,
            usage: new
                .usage
                .unwrap_or_else(|| kastell_proto::KeyUsage::of(new.spec)),
            origin: new.origin,
            state: KeyState::Enabled,
            description: String::new(),
            tags: new.tags.clone(),
            policy: new.policy,
            created: 0,
            min_decrypt_version: 1,
            versions: Vec::new(),
            releasable: new.releasable,
            revision: 0,
            seal: None,
            rotation: None,
            key_policy: None,
            grants: Vec::new(),
            imported: None,
            materials: Vec::new(),
        };
        self.lockout_check(&record, &probe, document, bypass_lockout)?;
        self.create_key_as(caller, id, new, alias, Some(document.to_owned()))
    }
}
