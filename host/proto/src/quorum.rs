//! Quorum: the classes of administrative operations and the typed actions officers approve.
//!
//! An action is what officers sign (as canonical JSON, `kastell_core::quorum`) and what the
//! server executes once approved: every member is required, so nothing is decided by a
//! default at decoding time, and the key is named by its id (never an alias that could be
//! re-pointed while the operation waits). Before submission, the same action names the key
//! as the caller did (`QuorumAction<String>`): the direct path runs that, the approved path
//! runs the resolved one, through one executor.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::names::vocabulary;
use crate::{KeyId, Measurement, Role};

vocabulary! {
    /// A class of administrative operations with its own approval requirement.
    pub enum OperationClass as "operation class" {
        /// Scheduling a key's deletion.
        DeleteKey = "delete-key",
        /// Binding, replacing or unbinding a key's policy.
        BindPolicy = "bind-policy",
        /// Changing quorum settings.
        Quorum = "quorum",
        /// Issuing a crypto-officer client certificate (and revoking one): the class no
        /// other class may need more approvals than.
        IssueOfficer = "issue-officer",
        /// Issuing a crypto-user or auditor client certificate (and revoking one): no
        /// class but `issue-officer` may need more approvals than it.
        IssueClient = "issue-client",
        /// Taking a sealed backup through the server (`POST /v1/backups`), and creating
        /// the token backup key backups can be sealed to (`POST /v1/backup-key`).
        ExportBackup = "export-backup",
    }
}

vocabulary! {
    /// Where a pending operation stands.
    pub enum PendingState as "state" {
        /// Awaiting approvals (or, with all of them, its execution).
        Pending = "pending",
        /// Executed.
        Executed = "executed",
        /// Not approved in time.
        Expired = "expired",
        /// Its execution failed.
        Failed = "failed",
    }
}

/// A client certificate to issue for a key the client generated (`POST /v1/clients`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientRequest {
    /// The principal (certificate CN).
    pub principal: String,
    /// `crypto-officer`, `crypto-user` or `auditor`.
    pub role: String,
    /// The tenant, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tenant: Option<String>,
    /// The client's P-384 public key, SPKI PEM.
    pub public_key: String,
    /// Validity in days (1–825, default 365).
    #[cfg_attr(feature = "serde", serde(default))]
    pub days: Option<u32>,
}

/// An access key to issue for the AWS endpoint (`POST /v1/access-keys`): its secret comes
/// back sealed to `public_key` (see [`crate::api::SealedSecret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessKeyRequest {
    /// The principal its requests act as.
    pub principal: String,
    /// `crypto-officer`, `crypto-user` or `auditor`; both of the first two only where
    /// `[aws] separation_of_duties = false`.
    pub roles: Vec<String>,
    /// The tenant, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tenant: Option<String>,
    /// The P-384 public key (SPKI PEM) to seal the secret to: the requester's.
    pub public_key: String,
}

impl AccessKeyRequest {
    /// Whether it asks for a crypto-officer's key (of class `issue-officer`).
    #[must_use]
    pub fn is_officer(&self) -> bool {
        self.roles.iter().any(|r| r == Role::CryptoOfficer.as_str())
    }
}

/// A backup to take through the server (`POST /v1/backups`), of class `export-backup`:
/// the officers approve the recipients it is sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupRequest {
    /// The escrow holders' P-384 public keys (SPKI PEM) the content key is sealed to.
    #[cfg_attr(feature = "serde", serde(default))]
    pub recipients: Vec<String>,
    /// Seal it to the deployment's token backup key too (`POST /v1/backup-key` makes it).
    /// Absent is `false`: fewer recipients, never more; `false` is not written, so an
    /// escrow-only request keeps the canonical JSON it had before this member existed.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "core::ops::Not::not")
    )]
    pub token_recipient: bool,
}

/// An administrative action under quorum. `K` names the key: [`KeyId`] in what officers
/// sign, the caller's id or alias (`String`) on the direct path.
///
/// In JSON (what officers sign): `{"schedule-deletion": {"key": "<id>", "days": 30}}`,
/// `{"bind-policy": {"key": "<id>", "policy": "sha384:…" | null}}`,
/// `{"put-key-policy": {"key": "<id>", "document": "{…}", "bypass-lockout": false}}`,
/// `{"issue-client": {…}}`, `{"revoke-officer": {"serial": "<hex>", "reason": "…"}}`,
/// `{"issue-access-key": {…}}`, `{"revoke-access-key": {"id": "KSTL…", "reason": "…"}}`,
/// `{"set-quorum": {"class": "<class>", "required": 2}}`,
/// `{"export-backup": {"recipients": ["-----BEGIN PUBLIC KEY-----…"], "token_recipient":
/// true}}` (`token_recipient` absent when false), `{"create-backup-key": {}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "kebab-case", deny_unknown_fields)
)]
pub enum QuorumAction<K = KeyId> {
    /// Schedule the key's destruction after `days` (7–30).
    ScheduleDeletion {
        /// The key.
        key: K,
        /// Days before destruction.
        days: u32,
    },
    /// Bind the key to the stored policy `policy`, or unbind it (`null`).
    BindPolicy {
        /// The key.
        key: K,
        /// The policy's measurement, or none to unbind.
        policy: Option<Measurement>,
    },
    /// Replace the key's tags (and description): of class `bind-policy`, because policies
    /// decide on tags (`allow-measured` reads `allowed-guests`).
    UpdateTags {
        /// The key.
        key: K,
        /// The new tags, replacing all.
        tags: BTreeMap<String, String>,
        /// A new description, if any.
        description: Option<String>,
    },
    /// Set the key's AWS KMS key policy (`PutKeyPolicy`; class `bind-policy`: like a wasm
    /// policy binding, it decides who may use the key). Officers sign the document itself.
    PutKeyPolicy {
        /// The key.
        key: K,
        /// The key policy document (JSON text), as it will be stored.
        document: String,
        /// `BypassPolicyLockoutSafetyCheck`: store it even if it would not let the
        /// requester change it again.
        #[cfg_attr(feature = "serde", serde(rename = "bypass-lockout"))]
        bypass_lockout: bool,
    },
    /// Point `alias/<name>` at the key (class `bind-policy`: an alias decides which key,
    /// and so which policy, a caller reaches).
    SetAlias {
        /// The alias, `alias/<name>`.
        alias: String,
        /// The key.
        key: K,
    },
    /// Issue a client certificate.
    IssueClient(ClientRequest),
    /// Revoke a crypto-officer's client certificate (of class `issue-officer`: one officer
    /// must not lock the others out).
    RevokeOfficer {
        /// The certificate's serial, lowercase hex.
        serial: String,
        /// Why (kept in the audit trail).
        reason: String,
    },
    /// Issue an access key for the AWS endpoint (of class `issue-officer` when it carries
    /// the crypto-officer role, `issue-client` otherwise).
    IssueAccessKey(AccessKeyRequest),
    /// Revoke a crypto-officer's access key (of class `issue-officer`, as for certificates).
    RevokeAccessKey {
        /// The access key id.
        id: String,
        /// Why (kept in the audit trail).
        reason: String,
    },
    /// Take a sealed backup to these recipients (class `export-backup`).
    ExportBackup(BackupRequest),
    /// Create the token backup key on the deployment's token (class `export-backup`:
    /// whoever holds the token can then open the backups sealed to it).
    CreateBackupKey {},
    /// Require `required` approvals for `class`.
    SetQuorum {
        /// The class.
        class: OperationClass,
        /// Approvals it needs from now on (1–16).
        required: u32,
    },
}

impl<K> QuorumAction<K> {
    /// The class whose approvals this action needs.
    #[must_use]
    pub fn class(&self) -> OperationClass {
        match self {
            Self::ScheduleDeletion { .. } => OperationClass::DeleteKey,
            Self::BindPolicy { .. }
            | Self::PutKeyPolicy { .. }
            | Self::UpdateTags { .. }
            | Self::SetAlias { .. } => OperationClass::BindPolicy,
            Self::IssueClient(request) if request.role == Role::CryptoOfficer.as_str() => {
                OperationClass::IssueOfficer
            }
            Self::IssueClient(_) => OperationClass::IssueClient,
            Self::IssueAccessKey(request) if request.is_officer() => OperationClass::IssueOfficer,
            Self::IssueAccessKey(_) => OperationClass::IssueClient,
            Self::RevokeOfficer { .. } | Self::RevokeAccessKey { .. } => {
                OperationClass::IssueOfficer
            }
            Self::SetQuorum { .. } => OperationClass::Quorum,
            Self::ExportBackup(_) | Self::CreateBackupKey {} => OperationClass::ExportBackup,
        }
    }

    /// The key the action names, if any.
    #[must_use]
    pub fn key(&self) -> Option<&K> {
        match self {
            Self::ScheduleDeletion { key, .. }
            | Self::BindPolicy { key, .. }
            | Self::PutKeyPolicy { key, .. }
            | Self::UpdateTags { key, .. }
            | Self::SetAlias { key, .. } => Some(key),
            Self::IssueClient(_)
            | Self::RevokeOfficer { .. }
            | Self::IssueAccessKey(_)
            | Self::RevokeAccessKey { .. }
            | Self::ExportBackup(_)
            | Self::CreateBackupKey {}
            | Self::SetQuorum { .. } => None,
        }
    }

    /// The same action with its key named by `name(key)`.
    ///
    /// # Errors
    /// `name`'s.
    pub fn try_map_key<L, E>(
        self,
        name: impl FnOnce(K) -> Result<L, E>,
    ) -> Result<QuorumAction<L>, E> {
        Ok(match self {
            Self::ScheduleDeletion { key, days } => QuorumAction::ScheduleDeletion {
                key: name(key)?,
                days,
            },
            Self::BindPolicy { key, policy } => QuorumAction::BindPolicy {
                key: name(key)?,
                policy,
            },
            Self::PutKeyPolicy {
                key,
                document,
                bypass_lockout,
            } => QuorumAction::PutKeyPolicy {
                key: name(key)?,
                document,
                bypass_lockout,
            },
            Self::UpdateTags {
                key,
                tags,
                description,
            } => QuorumAction::UpdateTags {
                key: name(key)?,
                tags,
                description,
            },
            Self::SetAlias { alias, key } => QuorumAction::SetAlias {
                alias,
                key: name(key)?,
            },
            Self::IssueClient(request) => QuorumAction::IssueClient(request),
            Self::RevokeOfficer { serial, reason } => {
                QuorumAction::RevokeOfficer { serial, reason }
            }
            Self::IssueAccessKey(request) => QuorumAction::IssueAccessKey(request),
            Self::RevokeAccessKey { id, reason } => QuorumAction::RevokeAccessKey { id, reason },
            Self::SetQuorum { class, required } => QuorumAction::SetQuorum { class, required },
            Self::ExportBackup(request) => QuorumAction::ExportBackup(request),
            Self::CreateBackupKey {} => QuorumAction::CreateBackupKey {},
        })
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use alloc::string::ToString as _;

    use super::*;

    const KEY: &str = "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c";

    #[test]
    fn actions_have_the_documented_json_both_ways() {
        let key: KeyId = KEY.parse().expect("key id");
        let cases = [
            (
                QuorumAction::ScheduleDeletion { key, days: 7 },
                serde_json::json!({"schedule-deletion": {"key": KEY, "days": 7}}),
            ),
            (
                QuorumAction::BindPolicy { key, policy: None },
                serde_json::json!({"bind-policy": {"key": KEY, "policy": null}}),
            ),
            (
                QuorumAction::CreateBackupKey {},
                serde_json::json!({"create-backup-key": {}}),
            ),
            (
                QuorumAction::ExportBackup(BackupRequest {
                    recipients: Vec::new(),
                    token_recipient: true,
                }),
                serde_json::json!({"export-backup": {"recipients": [], "token_recipient": true}}),
            ),
            (
                QuorumAction::ExportBackup(BackupRequest {
                    recipients: alloc::vec!["PEM".into()],
                    token_recipient: false,
                }),
                serde_json::json!({"export-backup": {"recipients": ["PEM"]}}),
            ),
            (
                QuorumAction::SetQuorum {
                    class: OperationClass::DeleteKey,
                    required: 2,
                },
                serde_json::json!({"set-quorum": {"class": "delete-key", "required": 2}}),
            ),
        ];
        for (action, json) in cases {
            assert_eq!(serde_json::to_value(&action).expect("to json"), json);
            assert_eq!(
                serde_json::from_value::<QuorumAction>(json).expect("from json"),
                action
            );
        }
    }

    #[test]
    fn nothing_is_defaulted_and_nothing_unknown_is_accepted() {
        let missing_days = serde_json::json!({"schedule-deletion": {"key": KEY}});
        let err = serde_json::from_value::<QuorumAction>(missing_days).expect_err("no days");
        assert!(err.to_string().contains("missing field `days`"), "{err}");
        let extra = serde_json::json!({"schedule-deletion": {"key": KEY, "days": 7, "x": 1}});
        let err = serde_json::from_value::<QuorumAction>(extra).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
        let alias = serde_json::json!({"bind-policy": {"key": "alias/x", "policy": null}});
        let err = serde_json::from_value::<QuorumAction>(alias).expect_err("an alias");
        assert!(err.to_string().contains("is not a key id"), "{err}");
        let unknown = serde_json::json!({"delete-everything": {}});
        assert!(serde_json::from_value::<QuorumAction>(unknown).is_err());
    }

    #[test]
    fn each_action_names_its_class_and_key() {
        let key: KeyId = KEY.parse().expect("key id");
        let action = QuorumAction::ScheduleDeletion { key, days: 30 };
        assert_eq!(action.class(), OperationClass::DeleteKey);
        assert_eq!(action.key(), Some(&key));
        let named = QuorumAction::<alloc::string::String>::BindPolicy {
            key: "alias/x".into(),
            policy: None,
        };
        let resolved = named
            .try_map_key(|name| if name == "alias/x" { Ok(key) } else { Err(()) })
            .expect("resolved");
        assert_eq!(resolved.key(), Some(&key));
        assert_eq!(resolved.class(), OperationClass::BindPolicy);
    }
}
