//! The attested-release flow of `examples/record-vault`, driven over the API as a relying
//! service would: set up the policy, workload and keys, ask for a challenge, let the
//! workload attest, ask for the release, let the workload decrypt.

use base64::Engine as _;
use kastell::client::{Client, RemoteError, segment};
use serde_json::{Value, json};

use crate::server::{Result, fail};

/// Standard base64.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 string field.
///
/// # Errors
/// When `value` is not a base64 string.
pub fn unb64(value: &Value) -> Result<Vec<u8>> {
    let text = value
        .as_str()
        .ok_or_else(|| fail(format!("expected a base64 string, found {value}")))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| fail(format!("not base64: {e}")))
}

fn remote(context: &str) -> impl FnOnce(RemoteError) -> crate::server::FixtureError + '_ {
    move |e| fail(format!("{context}: {e}"))
}

/// Uploads a component to `path` (`/v1/policies` or `/v1/workloads`); its measurement.
///
/// # Errors
/// When the server refuses it.
pub fn push(officer: &Client, path: &str, wasm: Vec<u8>) -> Result<String> {
    let answer: Value = officer
        .post_bytes(path, "application/wasm", wasm)
        .map_err(remote(path))?;
    answer["measurement"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("no measurement in {answer}")))
}

/// Creates a key with `body` (the API's create request); its id.
///
/// # Errors
/// When the server refuses it.
pub fn create_key(officer: &Client, body: &Value) -> Result<String> {
    let answer: Value = officer
        .post("/v1/keys", body)
        .map_err(remote("create key"))?;
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("no id in {answer}")))
}

/// The parts of a record-vault deployment.
#[derive(Debug, Clone)]
pub struct Vault {
    /// The allow-measured policy.
    pub policy: String,
    /// The record-vault workload's measurement.
    pub workload: String,
    /// The key the workload seals its ephemeral private key with (allow-measured).
    pub state_key: String,
    /// The releasable key records are encrypted under (allow-measured).
    pub records_key: String,
}

impl Vault {
    /// Pushes allow-measured and `workload` (bytes), creates the state key and a
    /// releasable records key, both allowing only the workload's measurement.
    ///
    /// # Errors
    /// The first refusal.
    pub fn set_up(officer: &Client, workload: Vec<u8>) -> Result<Self> {
        let policy = push(officer, "/v1/policies", crate::guest("allow-measured"))?;
        let workload = push(officer, "/v1/workloads", workload)?;
        let key = |releasable: bool, description: &str| {
            create_key(
                officer,
                &json!({
                    "spec": "AES_256",
                    "description": description,
                    "policy": policy,
                    "tags": {"allowed-guests": workload},
                    "releasable": releasable,
                }),
            )
        };
        Ok(Self {
            state_key: key(false, "record-vault state sealing")?,
            records_key: key(true, "records, released to record-vault")?,
            workload: workload.clone(),
            policy: policy.clone(),
        })
    }
}

/// Encrypts `plaintext` under `key` with `context` through the API; the ciphertext.
///
/// # Errors
/// When the server refuses.
pub fn encrypt(user: &Client, key: &str, plaintext: &[u8], context: &Value) -> Result<Vec<u8>> {
    let answer: Value = user
        .post(
            &format!("/v1/keys/{}/encrypt", segment(key)),
            &json!({"plaintext": b64(plaintext), "context": context}),
        )
        .map_err(remote("encrypt"))?;
    unb64(&answer["ciphertext"])
}

/// Runs `workload` on the JSON `input`; its JSON output.
///
/// # Errors
/// The API error (WorkloadError, WorkloadFault, …).
pub fn invoke(
    user: &Client,
    workload: &str,
    input: &Value,
) -> std::result::Result<Value, RemoteError> {
    let answer: Value = user.post(
        &format!("/v1/workloads/{}/invoke", segment(workload)),
        &json!({"input": b64(input.to_string().as_bytes())}),
    )?;
    let output = answer["output"]
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .unwrap_or_default();
    Ok(serde_json::from_slice(&output).unwrap_or(Value::Null))
}

/// A fresh release challenge for `key`: the nonce, base64.
///
/// # Errors
/// When the server refuses.
pub fn challenge(user: &Client, key: &str) -> Result<String> {
    let answer: Value = user
        .post(
            &format!("/v1/keys/{}/release/challenge", segment(key)),
            &json!({}),
        )
        .map_err(remote("challenge"))?;
    answer["nonce"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("no nonce in {answer}")))
}

/// The workload's `attest` step: its evidence and sealed state.
///
/// # Errors
/// When the workload fails.
pub fn attest(user: &Client, vault: &Vault, workload: &str, nonce: &str) -> Result<Value> {
    invoke(
        user,
        workload,
        &json!({"step": "attest", "nonce": nonce, "state_key": vault.state_key}),
    )
    .map_err(remote("attest step"))
}

/// Asks for the release of `key` with the attestation certificate (and chain) of
/// `evidence`, the workload's `attest` output.
///
/// # Errors
/// The API error.
pub fn release_by_certificate(
    user: &Client,
    key: &str,
    nonce: &str,
    evidence: &Value,
) -> std::result::Result<Value, RemoteError> {
    user.post(
        &format!("/v1/keys/{}/release", segment(key)),
        &json!({"nonce": nonce, "certificate": evidence["certificate"], "chain": evidence["chain"]}),
    )
}

/// Asks for the release of `key` with the Nitro-format document of `evidence`.
///
/// # Errors
/// The API error.
pub fn release_by_document(
    user: &Client,
    key: &str,
    nonce: &str,
    document: &str,
) -> std::result::Result<Value, RemoteError> {
    user.post(
        &format!("/v1/keys/{}/release", segment(key)),
        &json!({"nonce": nonce, "document": document}),
    )
}

/// The workload's `decrypt` step: opens `release` with its sealed state and decrypts
/// `records` (`[{"ciphertext", "context"}]`); the plaintexts (or per-record errors).
///
/// # Errors
/// When the workload fails as a whole.
pub fn decrypt_records(
    user: &Client,
    vault: &Vault,
    evidence: &Value,
    nonce: &str,
    release: &Value,
    records: &Value,
) -> std::result::Result<Value, RemoteError> {
    invoke(
        user,
        &vault.workload,
        &json!({
            "step": "decrypt",
            "state_key": vault.state_key,
            "sealed_state": evidence["sealed_state"],
            "nonce": nonce,
            "release": release,
            "records": records,
        }),
    )
}
