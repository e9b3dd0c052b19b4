//! The request a policy evaluates, as the host builds it and as JSON (`policy eval`).

use std::collections::BTreeMap;

use kastell_attest::Measurement;
use kastell_proto::algorithm::MessageType;
use kastell_proto::{EncryptionContext, KeySpec, Operation, Role};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::generated::policy::kastell::runtime::types as wit;

/// The key an operation targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInfo {
    /// Key id.
    pub id: String,
    /// Key spec.
    pub spec: KeySpec,
    /// Tags by name.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Stable identifier.
    pub id: String,
    /// Roles held.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Tenant, when the principal belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Attestation evidence the host has already verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Measurement of the attested guest.
    pub guest_sha384: Measurement,
    /// Measurement of the policy the guest was bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha384: Option<Measurement>,
    /// Subject of the issuing certificate.
    pub issuer: String,
    /// End of validity, Unix seconds (RFC 3339 accepted in JSON).
    #[serde(deserialize_with = "unix_seconds")]
    pub not_after: u64,
    /// Every PCR of a verified Nitro-format document (AWS's `Recipient`, a release by
    /// document), lowercase hex by index: what AWS key policies'
    /// `kms:RecipientAttestation:ImageSha384` (PCR0) and `:PCR<n>` read. Empty for other
    /// evidence. A wasm policy sees PCR0 and PCR2 as `guest_sha384` and `policy_sha384`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pcrs: BTreeMap<u8, String>,
}

/// Everything a policy may base its decision on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// The operation asked for.
    pub operation: Operation,
    /// The key, absent for operations without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyInfo>,
    /// The other key of a re-encrypt: the destination for `re-encrypt-from`, the source for
    /// `re-encrypt-to`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_key: Option<KeyInfo>,
    /// The algorithm asked for, by its AWS name (`RSASSA_PSS_SHA_256`,
    /// `SYMMETRIC_DEFAULT`, `HMAC_SHA_384`, `ECDH`); absent for operations without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// `RAW` or `DIGEST`, for sign and verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<MessageType>,
    /// Who asks.
    pub principal: Principal,
    /// Encryption context.
    #[serde(default)]
    pub context: EncryptionContext,
    /// Verified attestation evidence, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// Request time, Unix seconds (RFC 3339 accepted in JSON; now when omitted).
    #[serde(default = "now", deserialize_with = "unix_seconds")]
    pub time: u64,
}

/// The current time in Unix seconds (0 if the clock is before 1970).
#[must_use]
pub fn now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// Accepts Unix seconds or an RFC 3339 date-time.
fn unix_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Seconds(u64),
        Text(String),
    }
    match Time::deserialize(deserializer)? {
        Time::Seconds(seconds) => Ok(seconds),
        Time::Text(text) => {
            let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|err| {
                serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {err}"))
            })?;
            u64::try_from(at.unix_timestamp())
                .map_err(|_| serde::de::Error::custom(format!("`{text}` is before 1970")))
        }
    }
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl PolicyRequest {
    /// The request as the generated WIT type handed to the guest.
    pub(crate) fn to_wit(&self) -> wit::Request {
        let key_info = |key: &KeyInfo| wit::KeyInfo {
            id: key.id.clone(),
            spec: key.spec.into(),
            tags: pairs(&key.tags),
        };
        wit::Request {
            operation: self.operation.into(),
            key: self.key.as_ref().map(key_info),
            other_key: self.other_key.as_ref().map(key_info),
            algorithm: self.algorithm.clone(),
            message_type: self.message_type.map(|m| match m {
                MessageType::Raw => wit::MessageType::Raw,
                MessageType::Digest => wit::MessageType::Digest,
            }),
            principal: wit::Principal {
                id: self.principal.id.clone(),
                roles: self.principal.roles.iter().map(|&r| r.into()).collect(),
                tenant: self.principal.tenant.clone(),
            },
            context: pairs(&self.context.0),
            evidence: self.evidence.as_ref().map(|e| wit::Evidence {
                guest_sha384: e.guest_sha384.as_bytes().to_vec(),
                policy_sha384: e.policy_sha384.map(|m| m.as_bytes().to_vec()),
                issuer: e.issuer.clone(),
                not_after: e.not_after,
            }),
            time: self.time,
        }
    }
}

impl From<Operation> for wit::Operation {
    fn from(op: Operation) -> Self {
        use Operation as O;
        match op {
            O::Encrypt => Self::Encrypt,
            O::Decrypt => Self::Decrypt,
            O::GenerateDataKey => Self::GenerateDataKey,
            O::GenerateDataKeyWithoutPlaintext => Self::GenerateDataKeyWithoutPlaintext,
            O::ReEncryptFrom => Self::ReEncryptFrom,
            O::ReEncryptTo => Self::ReEncryptTo,
            O::Sign => Self::Sign,
            O::Verify => Self::Verify,
            O::GenerateMac => Self::GenerateMac,
            O::VerifyMac => Self::VerifyMac,
            O::GenerateRandom => Self::GenerateRandom,
            O::GetPublicKey => Self::GetPublicKey,
            O::Release => Self::Release,
            O::CreateKey => Self::CreateKey,
            O::DescribeKey => Self::DescribeKey,
            O::RotateKey => Self::RotateKey,
            O::EnableKey => Self::EnableKey,
            O::DisableKey => Self::DisableKey,
            O::ScheduleKeyDeletion => Self::ScheduleKeyDeletion,
            O::CancelKeyDeletion => Self::CancelKeyDeletion,
            O::BindPolicy => Self::BindPolicy,
            O::UpdateTags => Self::UpdateTags,
            O::UpdateAlias => Self::UpdateAlias,
            O::SetMinDecryptionVersion => Self::SetMinDecryptionVersion,
            O::DestroyKey => Self::DestroyKey,
            O::DeriveSharedSecret => Self::DeriveSharedSecret,
            O::GenerateDataKeyPair => Self::GenerateDataKeyPair,
            O::GenerateDataKeyPairWithoutPlaintext => Self::GenerateDataKeyPairWithoutPlaintext,
        }
    }
}

impl From<KeySpec> for wit::KeySpec {
    fn from(spec: KeySpec) -> Self {
        match spec {
            KeySpec::Aes256 => Self::Aes256,
            KeySpec::Rsa2048 => Self::Rsa2048,
            KeySpec::Rsa3072 => Self::Rsa3072,
            KeySpec::Rsa4096 => Self::Rsa4096,
            KeySpec::EccNistP256 => Self::EccNistP256,
            KeySpec::EccNistP384 => Self::EccNistP384,
            KeySpec::EccNistP521 => Self::EccNistP521,
            KeySpec::EccSecgP256k1 => Self::EccSecgP256k1,
            KeySpec::Hmac224 => Self::Hmac224,
            KeySpec::Hmac256 => Self::Hmac256,
            KeySpec::HmacSha384 => Self::Hmac384,
            KeySpec::Hmac512 => Self::Hmac512,
            KeySpec::MlDsa44 => Self::MlDsa44,
            KeySpec::MlDsa65 => Self::MlDsa65,
            KeySpec::MlDsa87 => Self::MlDsa87,
        }
    }
}

impl From<Role> for wit::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::CryptoOfficer => Self::CryptoOfficer,
            Role::CryptoUser => Self::CryptoUser,
            Role::Auditor => Self::Auditor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_json_with_rfc3339_and_unix_times() {
        let json = r#"{
            "operation": "decrypt",
            "key": {"id": "k1", "spec": "AES_256", "tags": {"team": "pay"}},
            "principal": {"id": "svc", "roles": ["crypto-user"], "tenant": "acme"},
            "context": {"tenant": "acme"},
            "evidence": {"guest_sha384": "sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
                         "issuer": "CN=host", "not_after": "2025-11-25T10:00:00Z"},
            "time": 1764064800
        }"#;
        let req: PolicyRequest = serde_json::from_str(json).expect("valid request");
        assert_eq!(req.time, 1_764_064_800);
        assert_eq!(
            req.evidence.as_ref().map(|e| e.not_after),
            Some(1_764_064_800)
        );
        let wit = req.to_wit();
        assert_eq!(wit.context, vec![("tenant".to_owned(), "acme".to_owned())]);
        assert_eq!(wit.principal.roles, vec![wit::Role::CryptoUser]);
    }

    #[test]
    fn rejects_unknown_fields_operations_and_bad_times_by_name() {
        let unknown = r#"{"operation":"decrypt","principal":{"id":"a"},"extra":1}"#;
        let err = serde_json::from_str::<PolicyRequest>(unknown).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");

        let op = r#"{"operation":"re-encrypt","principal":{"id":"a"}}"#;
        let err = serde_json::from_str::<PolicyRequest>(op).expect_err("undirected");
        assert!(
            err.to_string().contains("unknown variant `re-encrypt`"),
            "{err}"
        );

        let op = r#"{"operation":"steal","principal":{"id":"a"}}"#;
        let err = serde_json::from_str::<PolicyRequest>(op).expect_err("bad op");
        assert!(err.to_string().contains("unknown variant `steal`"), "{err}");

        let time = r#"{"operation":"sign","principal":{"id":"a"},"time":"yesterday"}"#;
        let err = serde_json::from_str::<PolicyRequest>(time).expect_err("bad time");
        assert!(err.to_string().contains("not an RFC 3339 time"), "{err}");
    }
}
