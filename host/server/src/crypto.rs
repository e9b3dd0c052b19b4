//! Key use: encrypt, decrypt, re-encrypt, data keys, sign, verify, public key, MACs,
//! random bytes. Binary fields are standard base64. The key service checks the
//! crypto-user role, the key's state and usage, evaluates its policy and audits every call.

use kastell_proto::EncryptionContext;
use kastell_proto::algorithm::MessageType;
use kastell_proto::api::{
    CiphertextResponse, DataKeyPairRequest, DataKeyPairResponse, DataKeyRequest, DataKeyResponse,
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, ErrorBody, MacRequest, MacResponse,
    PlaintextResponse, PublicKeyResponse, RandomRequest, RandomResponse, ReEncryptRequest,
    SecretBase64, SharedSecretResponse, SignRequest, SignResponse, ValidResponse, VerifyMacRequest,
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
        .routes(routes!(generate_data_key_pair))
        .routes(routes!(derive_shared_secret))
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

/// Encrypts with the key's current version: AES-256-GCM (a Kastell ciphertext) or, for
/// RSA keys, the RSA-OAEP algorithm named (the raw OAEP output).
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
    let algorithm = body.algorithm;
    operation(&state, move |state| {
        let encrypted = state
            .service
            .encrypt_with(&caller, &key, algorithm, &plaintext, &context)?;
        Ok(Json(CiphertextResponse {
            key_id: encrypted.key.to_string(),
            ciphertext: base64(&encrypted.ciphertext),
            algorithm: Some(encrypted.algorithm),
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
        let (key_id, plaintext) = state.service.decrypt_with(
            &caller,
            body.key.as_deref(),
            body.algorithm,
            &ciphertext,
            &context,
        )?;
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
            algorithm: None,
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

/// The bytes to sign or verify and whether they are a digest: `message` (with
/// `message_type` `RAW`, the default, or `DIGEST`) or `digest`.
fn sign_input(
    message: Option<&String>,
    digest: Option<&String>,
    message_type: Option<MessageType>,
) -> Result<(Vec<u8>, bool), ApiError> {
    match (message, digest, message_type) {
        (Some(m), None, None | Some(MessageType::Raw)) => Ok((base64_field("message", m)?, false)),
        (Some(m), None, Some(MessageType::Digest)) => Ok((base64_field("message", m)?, true)),
        (None, Some(d), None | Some(MessageType::Digest)) => Ok((base64_field("digest", d)?, true)),
        (None, Some(_), Some(MessageType::Raw)) => Err(ApiError::invalid_input(
            "`digest` is a DIGEST: give the message as `message` with message_type RAW",
        )),
        _ => Err(ApiError::invalid_input(
            "give exactly one of `message` and `digest`",
        )),
    }
}

fn signed(data: &[u8], is_digest: bool) -> SignInput<'_> {
    if is_digest {
        SignInput::Digest(data)
    } else {
        SignInput::Message(data)
    }
}

/// Signs with the key's current version: the algorithm named (required for RSA keys) or
/// the spec's only one; DER signatures for ECDSA.
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
    let (data, is_digest) = sign_input(
        body.message.as_ref(),
        body.digest.as_ref(),
        body.message_type,
    )?;
    let algorithm = body.algorithm;
    operation(&state, move |state| {
        let out = state
            .service
            .sign_with(&caller, &key, signed(&data, is_digest), algorithm)?;
        Ok(Json(SignResponse {
            key_id: out.key.to_string(),
            version: out.version,
            signature: base64(&out.der),
            algorithm: Some(out.algorithm),
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
    let (data, is_digest) = sign_input(
        body.message.as_ref(),
        body.digest.as_ref(),
        body.message_type,
    )?;
    let signature = base64_field("signature", &body.signature)?;
    let algorithm = body.algorithm;
    operation(&state, move |state| {
        let valid = state.service.verify_with(
            &caller,
            &key,
            signed(&data, is_digest),
            algorithm,
            &signature,
        )?;
        Ok(Json(ValidResponse { valid }))
    })
    .await
}

/// The current version's public key (RSA, ECC and ML-DSA keys) as SPKI DER and PEM, with
/// the algorithms the key allows.
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
            spec: Some(out.spec.as_str().to_owned()),
            usage: Some(out.usage.as_str().to_owned()),
            signing_algorithms: out
                .signing_algorithms
                .iter()
                .map(|a| a.to_string())
                .collect(),
            encryption_algorithms: out
                .encryption_algorithms
                .iter()
                .map(|a| a.to_string())
                .collect(),
            key_agreement_algorithms: out
                .key_agreement_algorithms
                .iter()
                .map(|a| a.to_string())
                .collect(),
        }))
    })
    .await
}

/// Computes the HMAC of the key's spec (HMAC-SHA-224/256/384/512).
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
        let mac = state
            .service
            .generate_mac_with(&caller, &key, body.algorithm, &message)?;
        Ok(Json(MacResponse { mac: base64(&mac) }))
    })
    .await
}

/// Checks an HMAC in constant time.
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
        let valid = state
            .service
            .verify_mac_with(&caller, &key, body.algorithm, &message, &mac)?;
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

/// Generates an RSA or ECC key pair; its private key (PKCS#8) comes back encrypted under
/// the (symmetric) key, and in plaintext unless asked not to.
#[utoipa::path(post, path = "/v1/keys/{key}/generate-data-key-pair", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = DataKeyPairRequest,
    responses((status = 200, body = DataKeyPairResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn generate_data_key_pair(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<DataKeyPairRequest>,
) -> Result<Json<DataKeyPairResponse>, ApiError> {
    let spec = super::keys::parse_spec(&body.key_pair_spec)?;
    let context = context(body.context);
    operation(&state, move |state| {
        let pair = state.service.generate_data_key_pair(
            &caller,
            &key,
            spec,
            &context,
            !body.without_plaintext,
        )?;
        Ok(Json(DataKeyPairResponse {
            key_id: pair.key.to_string(),
            key_pair_spec: pair.spec.as_str().to_owned(),
            public_key: base64(&pair.public_key),
            private_key_ciphertext: base64(&pair.private_key_ciphertext),
            private_key_plaintext: pair
                .private_key
                .as_ref()
                .map(|p| SecretBase64::new(base64(p.expose()))),
        }))
    })
    .await
}

/// ECDH between the key's current version and a peer's public key: the shared secret
/// (key material, gated and audited like decrypt).
#[utoipa::path(post, path = "/v1/keys/{key}/derive-shared-secret", tag = "crypto",
    params(("key" = String, Path, description = "Key id or alias")),
    request_body = DeriveSharedSecretRequest,
    responses((status = 200, body = SharedSecretResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn derive_shared_secret(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<DeriveSharedSecretRequest>,
) -> Result<Json<SharedSecretResponse>, ApiError> {
    let peer = base64_field("peer_public_key", &body.peer_public_key)?;
    operation(&state, move |state| {
        let (key_id, secret) =
            state
                .service
                .derive_shared_secret(&caller, &key, body.algorithm, &peer)?;
        Ok(Json(SharedSecretResponse {
            key_id: key_id.to_string(),
            shared_secret: SecretBase64::new(base64(secret.expose())),
        }))
    })
    .await
}
