//! Uploaded components (`/v1/policies`, `/v1/workloads`): what an upload or a listing
//! answers, and a workload invocation's input and output ([`SecretBase64`]: a workload
//! may be handed or return what it decrypted).

use alloc::string::String;
use alloc::vec::Vec;

use super::SecretBase64;

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyResponse {
    /// Its measurement, `sha384:<hex>`: what keys are bound to.
    pub measurement: String,
}

/// Stored policies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyList {
    /// Measurements, sorted.
    pub policies: Vec<String>,
}

/// A stored workload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadResponse {
    /// Its measurement, `sha384:<hex>`: the guest hash its attestations carry.
    pub measurement: String,
}

/// Stored workloads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadList {
    /// Measurements, sorted.
    pub workloads: Vec<String>,
}

/// The input of one invocation.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvokeRequest {
    /// What `run` receives, base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub input: SecretBase64,
}

/// What `run` returned.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvokeResponse {
    /// The workload's output, base64.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub output: SecretBase64,
    /// Fuel the workload burned (its key calls' policy evaluations not included).
    pub fuel_consumed: u64,
    /// Wall-clock time of the invocation, microseconds.
    pub elapsed_us: u64,
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    #[test]
    fn debug_of_an_invocation_shows_neither_input_nor_output() {
        let request = InvokeRequest {
            input: SecretBase64::new("c2VjcmV0".into()),
        };
        let response = InvokeResponse {
            output: SecretBase64::new("c2VjcmV0".into()),
            fuel_consumed: 7,
            elapsed_us: 9,
        };
        for shown in [format!("{request:?}"), format!("{response:?}")] {
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            assert!(shown.contains("SecretBase64 { .. }"), "{shown}");
        }
        assert!(format!("{response:?}").contains("fuel_consumed: 7"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn an_invocation_has_its_wire_names() {
        use alloc::string::ToString as _;
        use serde_json::json;

        let request: InvokeRequest =
            serde_json::from_value(json!({"input": "aGk="})).expect("input");
        assert_eq!(request.input.expose(), "aGk=");
        let err = serde_json::from_value::<InvokeRequest>(json!({"input": "", "args": []}))
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `args`"), "{err}");
        let response = InvokeResponse {
            output: SecretBase64::new("b2s=".into()),
            fuel_consumed: 7,
            elapsed_us: 9,
        };
        assert_eq!(
            serde_json::to_value(&response).expect("json"),
            json!({"output": "b2s=", "fuel_consumed": 7, "elapsed_us": 9})
        );
        let list: WorkloadList =
            serde_json::from_value(json!({"workloads": ["sha384:00"]})).expect("list");
        assert_eq!(list.workloads, ["sha384:00"]);
    }
}
