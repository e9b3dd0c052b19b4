//! The audit trail for auditors (`/v1/audit`): pages of records as JSON (also the format
//! of `kastell audit export`), the verification report, the checkpoint signing key.

use alloc::string::String;
use alloc::vec::Vec;

/// Which records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct RangeQuery {
    /// Records after this sequence number (default 0: from the first).
    pub after: Option<u64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// A record as JSON (exports, the API): every field, in chain order, hashes and HMAC in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RecordJson {
    /// Sequence number.
    pub seq: u64,
    /// RFC 3339 time.
    pub time: Option<String>,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Who asked.
    pub principal: String,
    /// The operation.
    pub operation: String,
    /// The key id.
    pub key: Option<String>,
    /// The key version.
    pub key_version: Option<u32>,
    /// The policy measurement.
    pub policy: Option<String>,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Why.
    pub reason: String,
    /// HMAC-SHA-384 of the encryption context, hex.
    pub context_hmac: Option<String>,
    /// The attested guest's SHA-384 (`sha384:<hex>`), when the operation was for one.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub guest: Option<String>,
    /// Previous record's hash, hex.
    pub prev_hash: String,
    /// This record's hash, hex.
    pub hash: String,
}

/// A page of records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// Records in chain order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub records: Vec<RecordJson>,
    /// Pass as `after` for the next page; absent when this page is the end.
    pub next: Option<u64>,
}

/// The result of verifying the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    /// `true` when every link and checkpoint holds.
    pub intact: bool,
    /// Records verified.
    pub records: u64,
    /// The last record's sequence number.
    pub last_seq: u64,
    /// Signed checkpoints verified.
    pub checkpoints: usize,
    /// The last record a signed checkpoint covers.
    pub signed_through: u64,
    /// The first bad record, when not intact.
    pub broken_at: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
    /// The name of what broke (`trail-cut`, `rolled-back`, `checkpoint-chain-broken`, …),
    /// when not intact.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub kind: Option<String>,
}

/// A signed checkpoint as JSON: one line of `kastell audit checkpoints` (the copy an
/// auditor keeps elsewhere and passes back to `kastell audit verify --checkpoints`) and of
/// the server's anchor file. Hashes, digests and the signature are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointJson {
    /// Sequence number of the last record covered.
    pub seq: u64,
    /// That record's hash (SHA-384).
    pub hash: String,
    /// When it was signed, Unix milliseconds.
    pub time_ms: i64,
    /// Label of the signing key on the token.
    pub key_label: String,
    /// Digest of the checkpoint before it (all zeros for the first); absent for a legacy
    /// checkpoint signed before checkpoints were linked.
    pub prev: Option<String>,
    /// The SHA-384 digest the signature covers (seq, hash, time and `prev`).
    pub digest: String,
    /// ECDSA P-384 signature (r ‖ s) over `digest`.
    pub signature: String,
}

/// The checkpoint signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKeyResponse {
    /// SPKI PEM of the P-384 key that signs checkpoints.
    pub pem: String,
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use alloc::string::ToString as _;
    use alloc::vec;

    use serde_json::json;

    use super::*;

    fn record(guest: Option<&str>) -> RecordJson {
        RecordJson {
            seq: 1,
            time: Some("2026-01-01T00:00:00Z".into()),
            time_ms: 1_767_225_600_000,
            principal: "app".into(),
            operation: "encrypt".into(),
            key: None,
            key_version: None,
            policy: None,
            outcome: "allowed".into(),
            reason: String::new(),
            context_hmac: None,
            guest: guest.map(Into::into),
            prev_hash: "00".into(),
            hash: "11".into(),
        }
    }

    #[test]
    fn a_record_omits_only_an_absent_guest() {
        let json = serde_json::to_value(record(None)).expect("json");
        assert!(json.get("guest").is_none(), "{json}");
        assert_eq!(json["key"], serde_json::Value::Null);
        let json = serde_json::to_value(record(Some("sha384:00"))).expect("json");
        assert_eq!(json["guest"], "sha384:00");
        assert_eq!(
            serde_json::from_value::<RecordJson>(json).ok(),
            Some(record(Some("sha384:00")))
        );
    }

    #[test]
    fn a_record_with_an_unknown_field_is_refused() {
        let mut json = serde_json::to_value(record(None)).expect("json");
        json["extra"] = json!(1);
        let err = serde_json::from_value::<RecordJson>(json).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }

    #[test]
    fn a_page_names_the_next_one() {
        let page = AuditPage {
            records: vec![record(None)],
            next: Some(1),
        };
        let json = serde_json::to_value(&page).expect("json");
        assert_eq!(json["next"], 1);
        assert_eq!(serde_json::from_value::<AuditPage>(json).ok(), Some(page));
        let last: AuditPage =
            serde_json::from_value(json!({"records": [], "next": null})).expect("last");
        assert!(last.next.is_none());
    }
}
