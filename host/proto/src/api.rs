//! The HTTP API's request and response types, shared by the server, the CLI's client and
//! the tests: one file per resource, with the JSON field names, defaults and
//! `deny_unknown_fields` the API has always had (feature `serde`), and the OpenAPI schemas
//! the server publishes (feature `openapi`).
//!
//! Binary fields are standard base64 text. A field that carries secret bytes (a plaintext,
//! a data key, a workload's input or output) is a [`SecretBase64`], so every type here can
//! derive `Debug` without printing one.

use alloc::string::String;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

mod access_keys;
mod approvals;
mod audit;
mod backups;
mod components;
mod crypto;
mod grants;
mod keys;
mod release;

pub use crate::quorum::{AccessKeyRequest, BackupRequest, ClientRequest};
pub use access_keys::{
    ACCESS_KEY_PREFIX, AccessKeyCreated, AccessKeyInfo, AccessKeyIssued, AccessKeyList,
    AccessKeyQuery, AccessKeyRevoked, DELIVERY_TAG, SealedSecret, delivery_aad, delivery_info,
    is_access_key_id,
};
pub use approvals::{
    ActionResult, Approval, ApprovalDetail, ApprovalList, ApprovalQuery, ApproveRequest,
    ApproveResponse, ClientDetail, ClientInfo, ClientList, ClientQuery, ClientResponse, Gated,
    PendingOperation, PendingResponse, QuorumSetting, QuorumSettings, RevokeRequest,
    RevokeResponse, SetQuorumRequest,
};
pub use audit::{
    AuditKeyResponse, AuditPage, CheckpointJson, RangeQuery, RecordJson, VerifyReport,
};
pub use backups::{BackupCreated, BackupKey};
pub use components::{
    InvokeRequest, InvokeResponse, PolicyList, PolicyResponse, WorkloadList, WorkloadResponse,
};
pub use crypto::{
    CiphertextResponse, DataKeyPairRequest, DataKeyPairResponse, DataKeyRequest, DataKeyResponse,
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, MacRequest, MacResponse,
    PlaintextResponse, PublicKeyResponse, RandomRequest, RandomResponse, ReEncryptRequest,
    SharedSecretResponse, SignRequest, SignResponse, ValidResponse, VerifyMacRequest,
    VerifyRequest,
};
pub use grants::{CreateGrantBody, GrantDescription, GrantList, GrantRemoved};
pub use keys::{
    AliasRequest, AliasResponse, BindPolicyRequest, CreateKeyRequest, KeyDescription, KeyPage,
    ListQuery, MaterialDescription, MinVersionRequest, RotationDescription,
    ScheduleDeletionRequest, TagsRequest, VersionDescription,
};
pub use release::{ChallengeResponse, ReleaseBody, ReleaseResponse};

/// Base64 text that carries secret bytes: serialized as the plain string, shown by `Debug`
/// only as `SecretBase64 { .. }`, zeroized when dropped. [`expose`](Self::expose) reads it
/// where it is encoded or decoded.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretBase64(String);

impl SecretBase64 {
    /// Wraps base64 text (taking it: no copy is left behind).
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The base64 text, to decode it or to encode it in a request.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretBase64 {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Debug for SecretBase64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBase64").finish_non_exhaustive()
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable name (`NotFound`, `AccessDenied`, `MalformedJson`, …).
    pub error: String,
    /// What was wrong, for a person.
    pub message: String,
}

/// Liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `kastell <version>`.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    #[test]
    fn debug_of_secret_base64_shows_only_its_name() {
        let secret = SecretBase64::new("c2VjcmV0".into());
        assert_eq!(format!("{secret:?}"), "SecretBase64 { .. }");
        assert_eq!(secret.expose(), "c2VjcmV0");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn secret_base64_is_the_plain_string_on_the_wire() {
        let secret: SecretBase64 = serde_json::from_str("\"c2VjcmV0\"").expect("string");
        assert_eq!(secret.expose(), "c2VjcmV0");
        assert_eq!(
            serde_json::to_string(&secret).expect("json"),
            "\"c2VjcmV0\""
        );
        assert!(serde_json::from_str::<SecretBase64>("{}").is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn error_bodies_have_their_two_members() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"NotFound","message":"no key"}"#).expect("body");
        assert_eq!(body.error, "NotFound");
        assert_eq!(
            serde_json::to_value(&body).expect("json"),
            serde_json::json!({"error": "NotFound", "message": "no key"})
        );
    }
}
