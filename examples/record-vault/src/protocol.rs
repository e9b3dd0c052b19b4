//! The JSON requests and responses of each step, and the base64 fields they carry.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

/// Bytes carried as base64 (standard alphabet, with padding) in a JSON string.
pub struct B64(pub Vec<u8>);

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text)
            .map(B64)
            .map_err(|e| D::Error::custom(format_args!("invalid base64: {e}")))
    }
}

/// Encodes bytes for a response.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The field every request has: which step to run.
#[derive(Deserialize)]
pub struct Step {
    pub step: String,
}

/// `{"pong":true,"variant":…}`.
#[derive(Serialize)]
pub struct Pong {
    pub pong: bool,
    pub variant: &'static str,
}

/// `{"step":"attest",…}`.
#[derive(Deserialize)]
pub struct AttestRequest {
    /// The relying party's nonce, bound into the evidence (and later into the release).
    pub nonce: B64,
    /// The key that seals the ephemeral private key: an id or `alias/<name>`.
    pub state_key: String,
    /// Bound into the evidence as is; empty when absent.
    #[serde(default)]
    pub user_data: Option<B64>,
}

/// The evidence of `attest`, with the public key it binds and the sealed private key.
#[derive(Serialize)]
pub struct AttestResponse {
    pub certificate: String,
    pub document: String,
    pub chain: Vec<String>,
    pub public_key: String,
    pub sealed_state: String,
}

/// `{"step":"decrypt",…}`.
#[derive(Deserialize)]
pub struct DecryptRequest {
    /// The key `attest` sealed the private key with.
    pub state_key: String,
    /// What `attest` returned as `sealed_state`.
    pub sealed_state: B64,
    /// The nonce the release is bound to.
    pub nonce: B64,
    pub release: Release,
    pub records: Vec<RecordIn>,
}

/// The key service's release response. Other fields (`kind`, `spec`, …) are ignored.
#[derive(Deserialize)]
pub struct Release {
    /// The released key's id, as a hyphenated UUID.
    pub key_id: String,
    /// The released key version (the release AAD's version).
    pub key_version: u32,
    /// The measurement the release is bound to: `sha384:<hex>` or the hex alone.
    pub guest_sha384: String,
    /// HPKE `enc`: a SEC1 uncompressed P-384 point.
    pub encapsulated_key: B64,
    /// HPKE ciphertext of the key material, tag last.
    pub ciphertext: B64,
}

/// A record to decrypt: a Kastell ciphertext and the encryption context it was made with.
#[derive(Deserialize)]
pub struct RecordIn {
    pub ciphertext: B64,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

/// The answer of `decrypt`: one entry per record, in order.
#[derive(Serialize)]
pub struct DecryptResponse {
    pub records: Vec<RecordOut>,
    pub variant: &'static str,
}

/// One record's outcome.
#[derive(Serialize)]
#[serde(untagged)]
pub enum RecordOut {
    /// `{"plaintext":B64}`.
    Plaintext { plaintext: String },
    /// `{"error":"…"}`: why this record was not decrypted.
    Error { error: String },
}

/// Parses `input` as the request `T` of `step` (`None` while the step is not known yet),
/// naming the field that is wrong, if one is.
///
/// # Errors
/// One line: `malformed <step> request: field `<path>`: <what is wrong>`.
pub fn parse<T: DeserializeOwned>(input: &[u8], step: Option<&str>) -> Result<T, String> {
    let what = step.map_or_else(
        || "malformed request".to_owned(),
        |step| format!("malformed {step} request"),
    );
    // A derived `Deserialize` would also take a JSON array, field by field.
    if input.trim_ascii_start().first() != Some(&b'{') {
        return Err(format!("{what}: expected a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{what}: {}", e.inner())
        } else {
            format!("{what}: field `{path}`: {}", e.inner())
        }
    })?;
    deserializer.end().map_err(|e| format!("{what}: {e}"))?;
    Ok(parsed)
}

/// Serialises a response.
///
/// # Errors
/// If serialisation fails (it does not for these types).
pub fn to_json<T: Serialize>(response: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(response).map_err(|e| format!("cannot encode the response: {e}"))
}
