//! The `record-vault` workload's requests and answers as the demo writes and reads them
//! (the workload's side is `examples/record-vault/src/protocol.rs`), and the CLI output the
//! demo reads back, as the API's types.

use std::collections::BTreeMap;

use kastell_proto::api::ReleaseResponse;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::super::CliError;
use super::runner::stopped;

/// A request to the workload, tagged with its `step`.
#[derive(Debug, Serialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub(super) enum Step<'a> {
    /// Attest a fresh key pair bound to `nonce`; seal its private key under `state_key`.
    Attest {
        /// The release challenge's nonce, base64.
        nonce: &'a str,
        /// The key that seals the ephemeral private key.
        state_key: &'a str,
    },
    /// Open `release` with the sealed key and decrypt `records` with the released key.
    Decrypt {
        /// The key `attest` sealed the private key with.
        state_key: &'a str,
        /// What `attest` returned as `sealed_state`.
        sealed_state: &'a str,
        /// The nonce the release is bound to.
        nonce: &'a str,
        /// The release as the server answered it.
        release: &'a ReleaseResponse,
        /// The records to decrypt.
        records: &'a [Record],
    },
}

/// A record the application encrypted: its ciphertext and encryption context.
#[derive(Debug, Serialize)]
pub(super) struct Record {
    /// The Kastell ciphertext, base64.
    pub ciphertext: String,
    /// The encryption context it was made with.
    pub context: BTreeMap<String, String>,
}

/// What `attest` returns: the evidence, and the ephemeral key sealed for `decrypt`.
#[derive(Debug, Deserialize)]
pub(super) struct Attested {
    /// The attestation certificate, DER, base64.
    pub certificate: String,
    /// The same evidence as a Nitro-format document (`COSE_Sign1`), base64.
    pub document: String,
    /// The certificate's chain, host CA first, each DER, base64.
    pub chain: Vec<String>,
    /// The ephemeral private key, sealed under the state key.
    pub sealed_state: String,
}

/// What `decrypt` returns: one outcome per record, and which build answered.
#[derive(Debug, Deserialize)]
pub(super) struct Decrypted {
    /// One per record, in order.
    #[serde(default)]
    pub records: Vec<Outcome>,
    /// `original` or `modified`.
    #[serde(default)]
    pub variant: String,
}

/// One record's outcome: its plaintext (base64), or why it was not decrypted.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Outcome {
    /// The plaintext, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
    /// Why it was not decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `text` (a command's output, or a file) read as `T`.
pub(super) fn parse<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, CliError> {
    serde_json::from_str(text)
        .map_err(|e| stopped(format_args!("{what} is not the expected JSON: {e}")))
}

/// `value` as JSON text, its fields in name order.
pub(super) fn json_text(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_value(value)
        .map(|json| json.to_string())
        .map_err(|e| CliError::internal(e.to_string()))
}
