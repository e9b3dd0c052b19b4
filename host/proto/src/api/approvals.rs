//! Officers' business (`/v1/approvals`, `/v1/quorum`, `/v1/clients`): pending operations
//! and their approvals, quorum settings, and the client certificates the server issues.
//! A request of a class that needs approvals answers 202 with a [`PendingResponse`]
//! instead of its result: [`Gated`] reads either.

use alloc::string::String;
use alloc::vec::Vec;

use super::KeyDescription;
use crate::{OperationClass, PendingState, QuorumAction};

/// One officer's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Approval {
    /// The officer.
    pub officer: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The serial of the officer certificate that signed it (lowercase hex): once that
    /// certificate is revoked, the approval no longer counts.
    #[cfg_attr(feature = "serde", serde(default))]
    pub serial: String,
}

/// An administrative operation awaiting approvals, or finished.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PendingOperation {
    /// Its id, a UUID v4.
    pub id: String,
    /// Its class.
    pub class: OperationClass,
    /// What to execute once approved.
    pub action: QuorumAction,
    /// Who asked.
    pub requester: String,
    /// When, Unix milliseconds.
    pub created_ms: i64,
    /// When it expires, Unix milliseconds: from then on it cannot be approved.
    pub expires_ms: i64,
    /// Where it stands.
    pub state: PendingState,
    /// What its execution gave, or why it failed or expired; empty while pending.
    pub outcome: String,
    /// SHA-384 of its canonical bytes, lowercase hex: what officers check before signing.
    pub digest: String,
    /// Approvals so far, oldest first.
    pub approvals: Vec<Approval>,
}

/// A class and the approvals it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QuorumSetting {
    /// The class.
    pub class: OperationClass,
    /// Approvals from distinct crypto-officers it needs.
    pub required: u32,
}

/// A request that now waits for officers' approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingResponse {
    /// `pending`.
    pub status: String,
    /// Approvals it needs.
    pub required: u32,
    /// The operation: id, class, action, requester, times, digest, approvals.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub operation: PendingOperation,
}

/// The answer of a request under quorum: its result `T` (200), or the pending operation
/// it became (202). In JSON either is the object as it is; a pending one is read first
/// (it alone has `status`, `required` and `operation`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
#[expect(
    clippy::large_enum_variant,
    reason = "an answer, read once and matched at once"
)]
pub enum Gated<T> {
    /// Stored; it awaits approvals.
    Pending(PendingResponse),
    /// Executed at once.
    Done(T),
}

/// What an executed administrative action gave: the key it changed, the client
/// certificate it issued, or the quorum setting it applied. In JSON, that value as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum ActionResult {
    /// A deletion scheduled or a policy bound: the key as it is now.
    Key(KeyDescription),
    /// A client certificate issued.
    Client(ClientResponse),
    /// A quorum setting applied.
    Quorum(QuorumSetting),
    /// A client certificate revoked.
    Revoked(RevokeResponse),
    /// An alias pointed at a key.
    Alias(super::AliasResponse),
    /// An access key issued, its secret sealed to the request's public key.
    AccessKey(super::AccessKeyIssued),
    /// An access key revoked.
    AccessKeyRevoked(super::AccessKeyRevoked),
    /// A backup taken.
    Backup(super::BackupCreated),
    /// The token backup key created.
    BackupKey(super::BackupKey),
}

/// Which operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ApprovalQuery {
    /// `pending` (default), `executed`, `expired`, `failed` or `all`.
    pub state: Option<String>,
    /// The previous page's last id.
    pub after: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// Operations, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalList {
    /// The operations.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub operations: Vec<PendingOperation>,
}

/// An operation and exactly what an approval signs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalDetail {
    /// The operation.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub operation: PendingOperation,
    /// Approvals its class needs now.
    pub required: u32,
    /// Its canonical bytes, base64: sign these (ECDSA P-384, SHA-384, DER) to approve.
    pub canonical: String,
}

/// An approval.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApproveRequest {
    /// DER ECDSA P-384/SHA-384 signature over the operation's canonical bytes by the key of
    /// the caller's client certificate, base64.
    pub signature: String,
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApproveResponse {
    /// The operation after this approval (and its execution, if it ran).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub operation: PendingOperation,
    /// Distinct officers who approved.
    pub have: u32,
    /// Approvals needed.
    pub need: u32,
    /// This officer had approved already (counted once).
    pub duplicate: bool,
    /// The action's result when this approval completed the quorum and it ran.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<ActionResult>,
}

/// Approvals every class needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuorumSettings {
    /// Per class.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub settings: Vec<QuorumSetting>,
}

/// A class's new requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetQuorumRequest {
    /// Approvals from distinct officers, 1–16.
    pub required: u32,
}

/// An issued client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientResponse {
    /// Its serial number, lowercase hex (what `revoke` takes).
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The root that issued it (and certifies the server), PEM.
    pub root: String,
}

/// Which clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ClientQuery {
    /// After this serial (the previous page's last).
    pub after: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// A client certificate issued here (and, when revoked, when).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClientInfo {
    /// The certificate's serial number, lowercase hex.
    pub serial: String,
    /// Its principal (CN).
    pub principal: String,
    /// Its role.
    pub role: String,
    /// Its tenant.
    pub tenant: Option<String>,
    /// End of validity, Unix milliseconds.
    pub not_after_ms: i64,
    /// When it was issued, Unix milliseconds.
    pub issued_ms: i64,
    /// Who issued it.
    pub issued_by: String,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// Client certificates issued here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientList {
    /// Ordered by serial.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub clients: Vec<ClientInfo>,
}

/// One client certificate issued here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientDetail {
    /// Registry entry (serial, principal, role, tenant, validity, issuer, revocation).
    #[cfg_attr(feature = "serde", serde(flatten))]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub client: ClientInfo,
    /// The certificate, PEM (absent for certificates registered before it was kept).
    pub certificate: Option<String>,
}

/// Why a certificate is revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeRequest {
    /// Free text, kept in the audit trail.
    #[cfg_attr(feature = "serde", serde(default))]
    pub reason: String,
}

/// A revocation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeResponse {
    /// The serial, lowercase hex.
    pub serial: String,
    /// `false` when it was revoked already.
    pub revoked_now: bool,
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use alloc::vec;

    use serde_json::json;

    use super::*;

    const KEY: &str = "0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c";

    fn operation(key: crate::KeyId) -> PendingOperation {
        PendingOperation {
            id: "op-1".into(),
            class: OperationClass::DeleteKey,
            action: QuorumAction::ScheduleDeletion { key, days: 7 },
            requester: "alice".into(),
            created_ms: 1,
            expires_ms: 2,
            state: PendingState::Pending,
            outcome: String::new(),
            digest: "00".into(),
            approvals: vec![Approval {
                officer: "alice".into(),
                at_ms: 1,
                serial: "0a1b".into(),
            }],
        }
    }

    #[test]
    fn a_gated_answer_is_read_as_pending_or_as_its_result() {
        let pending = Gated::<QuorumSetting>::Pending(PendingResponse {
            status: "pending".into(),
            required: 2,
            operation: operation(KEY.parse().expect("key id")),
        });
        let json = serde_json::to_value(&pending).expect("json");
        assert_eq!(json["status"], "pending");
        assert_eq!(json["operation"]["action"]["schedule-deletion"]["key"], KEY);
        assert_eq!(
            serde_json::from_value::<Gated<QuorumSetting>>(json).ok(),
            Some(pending)
        );
        let done: Gated<QuorumSetting> =
            serde_json::from_value(json!({"class": "quorum", "required": 2})).expect("done");
        assert_eq!(
            done,
            Gated::Done(QuorumSetting {
                class: OperationClass::Quorum,
                required: 2
            })
        );
    }

    #[test]
    fn an_action_result_is_its_value_as_it_is() {
        let client = ActionResult::Client(ClientResponse {
            serial: "0a".into(),
            certificate: "C".into(),
            root: "R".into(),
        });
        let json = serde_json::to_value(&client).expect("json");
        assert_eq!(
            json,
            json!({"serial": "0a", "certificate": "C", "root": "R"})
        );
        assert_eq!(
            serde_json::from_value::<ActionResult>(json).ok(),
            Some(client)
        );
        let setting = json!({"class": "delete-key", "required": 3});
        assert!(matches!(
            serde_json::from_value::<ActionResult>(setting),
            Ok(ActionResult::Quorum(QuorumSetting { required: 3, .. }))
        ));
    }

    #[test]
    fn a_client_detail_is_the_registry_entry_with_its_certificate() {
        let detail = ClientDetail {
            client: ClientInfo {
                serial: "0a".into(),
                principal: "app".into(),
                role: "crypto-user".into(),
                tenant: None,
                not_after_ms: 2,
                issued_ms: 1,
                issued_by: "officer".into(),
                revoked_ms: None,
            },
            certificate: Some("PEM".into()),
        };
        let json = serde_json::to_value(&detail).expect("json");
        assert_eq!(json["serial"], "0a");
        assert_eq!(json["tenant"], serde_json::Value::Null);
        assert_eq!(json["certificate"], "PEM");
        assert!(json.get("client").is_none(), "{json}");
        assert_eq!(
            serde_json::from_value::<ClientDetail>(json).ok(),
            Some(detail)
        );
    }

    #[test]
    fn a_revocation_needs_no_reason() {
        let request: RevokeRequest = serde_json::from_value(json!({})).expect("empty");
        assert_eq!(request, RevokeRequest::default());
        assert!(serde_json::from_value::<RevokeRequest>(json!({"why": "x"})).is_err());
    }
}
