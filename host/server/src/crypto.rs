//! Key use: encrypt, decrypt, re-encrypt, data keys, sign, verify, public key, MACs,
//! random bytes. Binary fields are standard base64. The key service checks the
//! crypto-user role, the key's state and usage, evaluates its policy and audits every call.

use kastell_proto::EncryptionContext;
use kastell_proto::api::{
    CiphertextResponse, DataKeyRequest, DataKeyResponse, DecryptRequest, EncryptRequest, ErrorBody,
    MacRequest, MacResponse, PlaintextResponse, PublicKeyResponse, RandomRequest, RandomResponse,
    ReEncryptRequest, SecretBase64, SignRequest, SignResponse, ValidResponse, VerifyMacRequest,
    VerifyRequest,
};

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiJson, ApiPath, base64, base64_field};
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
    let plaintext = zeroize::Zeroizing::new(base64_field("plaintext", body.plaintext.expose())?);
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
            plaintext: SecretBase64::new(base64(plaintext.expose())),
        }))
    })
    .await
}

/// Decrypts and encrypts again under another key without returning the plaintext. The
/// source key's policy must allow `re-encrypt-from` and the destination's `re-encrypt-to`
/// (403 AccessDenied otherwise).
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
            plaintext: data_key
                .plaintext
                .as_ref()
                .map(|p| SecretBase64::new(base64(p.expose()))),
        }))
    })
    .await
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
            random: SecretBase64::new(base64(&bytes)),
        }))
    })
    .await
}
