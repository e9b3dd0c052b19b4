//! Key use: encrypt, decrypt, re-encrypt, data keys, sign, verify, public key, MACs,
//! random bytes. Binary fields are standard base64. The key service checks the
//! crypto-user role, the key's state and usage, evaluates its policy and audits every call.

use kastell_proto::EncryptionContext;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, base64, base64_field};
use super::{Auth, Shared, operation};
use kastell_core::keys::SignInput;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router
        .routes(routes!(encrypt))
        .routes(routes!(decrypt))
        .routes(routes!(re_encrypt))
        .routes(routes!(generate_data_key))
        .routes(routes!(sign))
        .routes(routes!(verify))
        .routes(routes!(public_key))
        .routes(routes!(generate_mac))
        .routes(routes!(verify_mac))
        .routes(routes!(random))
}

/// The key id in a ciphertext's header (the service just made it, so it parses).
fn ciphertext_key(ciphertext: &[u8]) -> Option<kastell_proto::KeyId> {
    kastell_proto::ciphertext::Header::parse(ciphertext)
        .ok()
        .map(|(header, _)| header.key)
}

fn context(context: Option<EncryptionContext>) -> EncryptionContext {
    context.unwrap_or_default()
}

/// Data to encrypt (`Debug` shows neither the plaintext nor the context).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    /// The plaintext, base64.
    pub plaintext: String,
    /// Encryption context: bound to the ciphertext as AAD, shown to the key's policy,
    /// never logged (the audit trail keeps an HMAC of it).
    #[serde(default)]
    pub context: Option<EncryptionContext>,
}

/// A ciphertext and the key that made it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CiphertextResponse {
    /// The key's id.
    pub key_id: String,
    /// The Kastell ciphertext (header naming key and version, IV, AES-256-GCM), base64.
    pub ciphertext: String,
}

/// Encrypts with the key's current version (AES-256-GCM).
#[utoipa::path(post, path = "/v1/keys/{key}/encrypt", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias (alias%2Fname)")),
    request_body = EncryptRequest,
    responses((status = 200, body = CiphertextResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn encrypt(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<EncryptRequest>,
) -> Result<Json<CiphertextResponse>, ApiError> {
    let plaintext = zeroize::Zeroizing::new(base64_field("plaintext", &body.plaintext)?);
    let context = context(body.context);
    operation(&state, move |state| {
        let ciphertext = state.service.encrypt(&caller, &key, &plaintext, &context)?;
        let key_id = ciphertext_key(&ciphertext).map_or_else(|| key.clone(), |id| id.to_string());
        Ok(Json(CiphertextResponse {
            key_id,
            ciphertext: base64(&ciphertext),
        }))
    })
    .await
}

/// A ciphertext to decrypt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecryptRequest {
    /// The ciphertext, base64.
    pub ciphertext: String,
    /// The encryption context it was made with.
    #[serde(default)]
    pub context: Option<EncryptionContext>,
    /// Refuse unless the ciphertext is under this key (id or alias).
    #[serde(default)]
    pub key: Option<String>,
}

/// A plaintext and the key that decrypted it (`Debug` redacts the plaintext).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PlaintextResponse {
    /// The key's id.
    pub key_id: String,
    /// The plaintext, base64.
    pub plaintext: String,
}

/// Decrypts; the ciphertext names its key and version.
#[utoipa::path(post, path = "/v1/decrypt", tag = "crypto", request_body = DecryptRequest,
    responses((status = 200, body = PlaintextResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn decrypt(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<DecryptRequest>,
) -> Result<Json<PlaintextResponse>, ApiError> {
    let ciphertext = base64_field("ciphertext", &body.ciphertext)?;
    let context = context(body.context);
    operation(&state, move |state| {
        let (key_id, plaintext) =
            state
                .service
                .decrypt(&caller, body.key.as_deref(), &ciphertext, &context)?;
        Ok(Json(PlaintextResponse {
            key_id: key_id.to_string(),
            plaintext: base64(plaintext.expose()),
        }))
    })
    .await
}

/// A ciphertext to move under another key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReEncryptRequest {
    /// The ciphertext, base64.
    pub ciphertext: String,
    /// Its encryption context (kept for the new ciphertext).
    #[serde(default)]
    pub context: Option<EncryptionContext>,
    /// The destination key (id or alias).
    pub destination: String,
}

/// Decrypts and encrypts again under another key without returning the plaintext.
#[utoipa::path(post, path = "/v1/re-encrypt", tag = "crypto", request_body = ReEncryptRequest,
    responses((status = 200, body = CiphertextResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn re_encrypt(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<ReEncryptRequest>,
) -> Result<Json<CiphertextResponse>, ApiError> {
    let ciphertext = base64_field("ciphertext", &body.ciphertext)?;
    let context = context(body.context);
    operation(&state, move |state| {
        let out = state
            .service
            .re_encrypt(&caller, &ciphertext, &context, &body.destination)?;
        let key_id =
            ciphertext_key(&out).map_or_else(|| body.destination.clone(), |id| id.to_string());
        Ok(Json(CiphertextResponse {
            key_id,
            ciphertext: base64(&out),
        }))
    })
    .await
}

/// A data key request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataKeyRequest {
    /// The encryption context of the encrypted data key.
    #[serde(default)]
    pub context: Option<EncryptionContext>,
    /// Return only the encrypted data key.
    #[serde(default)]
    pub without_plaintext: bool,
}

/// A new 256-bit data key (`Debug` redacts the plaintext).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DataKeyResponse {
    /// The key that encrypted it.
    pub key_id: String,
    /// The data key as a Kastell ciphertext, base64.
    pub ciphertext: String,
    /// The data key itself, base64 (absent with `without_plaintext`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<String>,
}

/// Generates a data key and returns it encrypted under the key (and in plaintext unless
/// asked not to).
#[utoipa::path(post, path = "/v1/keys/{key}/generate-data-key", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = DataKeyRequest,
    responses((status = 200, body = DataKeyResponse), (status = 403, body = ErrorBody)))]
async fn generate_data_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<DataKeyRequest>,
) -> Result<Json<DataKeyResponse>, ApiError> {
    let context = context(body.context);
    operation(&state, move |state| {
        let data_key =
            state
                .service
                .generate_data_key(&caller, &key, &context, !body.without_plaintext)?;
        let key_id =
            ciphertext_key(&data_key.ciphertext).map_or_else(|| key.clone(), |id| id.to_string());
        Ok(Json(DataKeyResponse {
            key_id,
            ciphertext: base64(&data_key.ciphertext),
            plaintext: data_key.plaintext.as_ref().map(|p| base64(p.expose())),
        }))
    })
    .await
}

/// What to sign: a message, or its SHA-384 digest.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The message, base64 (hashed with SHA-384 by the server).
    #[serde(default)]
    pub message: Option<String>,
    /// A 48-byte SHA-384 digest, base64, instead of the message.
    #[serde(default)]
    pub digest: Option<String>,
}

/// A signature.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignResponse {
    /// The key's id.
    pub key_id: String,
    /// The version that signed.
    pub version: u32,
    /// ECDSA P-384 signature (DER), base64.
    pub signature: String,
}

fn sign_input(message: Option<&String>, digest: Option<&String>) -> Result<Vec<u8>, ApiError> {
    match (message, digest) {
        (Some(m), None) => base64_field("message", m),
        (None, Some(d)) => base64_field("digest", d),
        _ => Err(ApiError::invalid_input(
            "give exactly one of `message` and `digest`",
        )),
    }
}

/// Signs with ECDSA P-384 / SHA-384 (DER signature).
#[utoipa::path(post, path = "/v1/keys/{key}/sign", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = SignRequest,
    responses((status = 200, body = SignResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn sign(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<SignRequest>,
) -> Result<Json<SignResponse>, ApiError> {
    let data = sign_input(body.message.as_ref(), body.digest.as_ref())?;
    let is_digest = body.digest.is_some();
    operation(&state, move |state| {
        let input = if is_digest {
            SignInput::Digest(&data)
        } else {
            SignInput::Message(&data)
        };
        let out = state.service.sign(&caller, &key, input)?;
        Ok(Json(SignResponse {
            key_id: out.key.to_string(),
            version: out.version,
            signature: base64(&out.der),
        }))
    })
    .await
}

/// A signature to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The message, base64.
    #[serde(default)]
    pub message: Option<String>,
    /// Or its SHA-384 digest, base64.
    #[serde(default)]
    pub digest: Option<String>,
    /// The DER signature, base64.
    pub signature: String,
}

/// Whether a signature or MAC is valid.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidResponse {
    /// `true` when valid.
    pub valid: bool,
}

/// Verifies a signature made by any still-usable version of the key.
#[utoipa::path(post, path = "/v1/keys/{key}/verify", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = VerifyRequest,
    responses((status = 200, body = ValidResponse), (status = 400, body = ErrorBody)))]
async fn verify(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Json<ValidResponse>, ApiError> {
    let data = sign_input(body.message.as_ref(), body.digest.as_ref())?;
    let signature = base64_field("signature", &body.signature)?;
    let is_digest = body.digest.is_some();
    operation(&state, move |state| {
        let input = if is_digest {
            SignInput::Digest(&data)
        } else {
            SignInput::Message(&data)
        };
        let valid = state.service.verify(&caller, &key, input, &signature)?;
        Ok(Json(ValidResponse { valid }))
    })
    .await
}

/// A public key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKeyResponse {
    /// The key's id.
    pub key_id: String,
    /// SubjectPublicKeyInfo DER, base64.
    pub spki: String,
    /// The same as PEM.
    pub pem: String,
}

/// The current version's public key (signing keys).
#[utoipa::path(get, path = "/v1/keys/{key}/public-key", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    responses((status = 200, body = PublicKeyResponse), (status = 400, body = ErrorBody)))]
async fn public_key(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<PublicKeyResponse>, ApiError> {
    operation(&state, move |state| {
        let out = state.service.public_key(&caller, &key)?;
        Ok(Json(PublicKeyResponse {
            key_id: out.key.to_string(),
            spki: base64(&out.spki_der),
            pem: out.spki_pem,
        }))
    })
    .await
}

/// A message to MAC.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacRequest {
    /// The message, base64.
    pub message: String,
}

/// A MAC.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MacResponse {
    /// HMAC-SHA-384, base64.
    pub mac: String,
}

/// Computes HMAC-SHA-384.
#[utoipa::path(post, path = "/v1/keys/{key}/mac", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = MacRequest,
    responses((status = 200, body = MacResponse), (status = 400, body = ErrorBody)))]
async fn generate_mac(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<MacRequest>,
) -> Result<Json<MacResponse>, ApiError> {
    let message = base64_field("message", &body.message)?;
    operation(&state, move |state| {
        let mac = state.service.generate_mac(&caller, &key, &message)?;
        Ok(Json(MacResponse { mac: base64(&mac) }))
    })
    .await
}

/// A MAC to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyMacRequest {
    /// The message, base64.
    pub message: String,
    /// The MAC, base64.
    pub mac: String,
}

/// Checks an HMAC-SHA-384 in constant time.
#[utoipa::path(post, path = "/v1/keys/{key}/verify-mac", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = VerifyMacRequest,
    responses((status = 200, body = ValidResponse), (status = 400, body = ErrorBody)))]
async fn verify_mac(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<VerifyMacRequest>,
) -> Result<Json<ValidResponse>, ApiError> {
    let message = base64_field("message", &body.message)?;
    let mac = base64_field("mac", &body.mac)?;
    operation(&state, move |state| {
        let valid = state.service.verify_mac(&caller, &key, &message, &mac)?;
        Ok(Json(ValidResponse { valid }))
    })
    .await
}

/// How many random bytes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomRequest {
    /// 1–1024.
    pub length: usize,
}

/// Random bytes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RandomResponse {
    /// The bytes, base64.
    pub random: String,
}

/// Random bytes from the token's generator.
#[utoipa::path(post, path = "/v1/random", tag = "crypto", request_body = RandomRequest,
    responses((status = 200, body = RandomResponse), (status = 400, body = ErrorBody)))]
async fn random(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<RandomRequest>,
) -> Result<Json<RandomResponse>, ApiError> {
    operation(&state, move |state| {
        let bytes = state.service.generate_random(&caller, body.length)?;
        Ok(Json(RandomResponse {
            random: base64(&bytes),
        }))
    })
    .await
}

impl std::fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("plaintext", &"<redacted>")
            .field("context", &self.context)
            .finish()
    }
}

impl std::fmt::Debug for PlaintextResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaintextResponse")
            .field("key_id", &self.key_id)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for DataKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeyResponse")
            .field("key_id", &self.key_id)
            .field("ciphertext", &self.ciphertext)
            .field("plaintext", &self.plaintext.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_plaintext_carrying_bodies_is_redacted() {
        let request = EncryptRequest {
            plaintext: "c2VjcmV0".into(),
            context: Some(EncryptionContext(
                [("tenant".to_owned(), "acme-secret".to_owned())].into(),
            )),
        };
        let response = PlaintextResponse {
            key_id: "k".into(),
            plaintext: "c2VjcmV0".into(),
        };
        let data_key = DataKeyResponse {
            key_id: "k".into(),
            ciphertext: "AAAA".into(),
            plaintext: Some("c2VjcmV0".into()),
        };
        for shown in [
            format!("{request:?}"),
            format!("{response:?}"),
            format!("{data_key:?}"),
        ] {
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            assert!(!shown.contains("acme-secret"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
