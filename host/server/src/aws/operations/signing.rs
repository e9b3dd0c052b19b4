//! `Sign`, `Verify`, `GenerateMac`, `VerifyMac`: every signing and MAC algorithm of
//! Kastell's specs, `RAW` and `DIGEST` messages; an invalid signature or MAC is AWS's
//! `KMSInvalidSignatureException` / `KMSInvalidMacException`.

use std::sync::Arc;

use axum::response::Response;
use kastell_core::keys::{Caller, DryRun, SignInput};
use kastell_proto::algorithm::{MacAlgorithm, MessageType, SigningAlgorithm};
use kastell_proto::aws::{
    AwsException, GenerateMacResponse, MacRequest, SignRequest, SignResponse, VerifyMacResponse,
    VerifyResponse,
};

use super::shared::{
    any_key, dry_run, encode, enumerated, json, key_operation, missing, parse, sized_blob,
};
use super::{AwsError, AwsState};

/// Longest signature or MAC AWS takes, in bytes.
const MAX_SIGNATURE: usize = 6144;

/// What a `Sign` or `Verify` request asks, checked as AWS checks it.
struct Signing {
    key: String,
    message: Vec<u8>,
    message_type: MessageType,
    algorithm: SigningAlgorithm,
    dry_run: bool,
}

impl Signing {
    fn input(&self) -> SignInput<'_> {
        match self.message_type {
            MessageType::Raw => SignInput::Message(&self.message),
            MessageType::Digest => SignInput::Digest(&self.message),
        }
    }
}

fn signing_request(state: &AwsState, request: &SignRequest) -> Result<Signing, AwsError> {
    let key = any_key(state, "KeyId", &request.key_id)?;
    let message = sized_blob("Message", request.message.as_deref(), 1, 4096)?;
    let message_type = enumerated::<MessageType>(
        "MessageType",
        request.message_type.as_deref(),
        &["RAW", "DIGEST"],
        &["EXTERNAL_MU"],
    )?
    .unwrap_or(MessageType::Raw);
    let algorithm = enumerated::<SigningAlgorithm>(
        "SigningAlgorithm",
        request.signing_algorithm.as_deref(),
        SigningAlgorithm::NAMES,
        &["SM2DSA", "ED25519_SHA_512", "ED25519_PH_SHA_512"],
    )?
    .ok_or_else(|| missing("SigningAlgorithm"))?;
    let dry_run = request.dry_run == Some(true);
    if dry_run
        && message_type == MessageType::Digest
        && let Some(len) = algorithm.digest_len()
        && len != message.len()
    {
        // What the operation refuses by the digest's length, a dry run refuses too.
        return Err(AwsError::new(
            AwsException::Validation,
            format!(
                "a DIGEST for {algorithm} is {len} bytes, not {}",
                message.len()
            ),
        ));
    }
    Ok(Signing {
        key,
        message,
        message_type,
        algorithm,
        dry_run,
    })
}

pub(super) async fn sign(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: SignRequest = parse(body)?;
    let signing = signing_request(state, &request)?;
    if signing.dry_run {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Sign {
                    key: &signing.key,
                    algorithm: Some(signing.algorithm),
                    message_type: signing.message_type,
                    verify: false,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let signed = app.service.sign_with(
            &caller,
            &signing.key,
            signing.input(),
            Some(signing.algorithm),
        )?;
        Ok(json(&SignResponse {
            key_id: st.endpoint.key_arn(&signed.key.to_string()),
            signature: encode(&signed.der),
            signing_algorithm: signed.algorithm.as_str().to_owned(),
        }))
    })
    .await
}

pub(super) async fn verify(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: SignRequest = parse(body)?;
    let signing = signing_request(state, &request)?;
    let signature = sized_blob("Signature", request.signature.as_deref(), 1, MAX_SIGNATURE)?;
    if signing.dry_run {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Sign {
                    key: &signing.key,
                    algorithm: Some(signing.algorithm),
                    message_type: signing.message_type,
                    verify: true,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let valid = app.service.verify_with(
            &caller,
            &signing.key,
            signing.input(),
            Some(signing.algorithm),
            &signature,
        )?;
        if !valid {
            return Err(AwsError::new(
                AwsException::KmsInvalidSignature,
                format!(
                    "the signature is not valid for this message, key and {}",
                    signing.algorithm
                ),
            ));
        }
        // After the operation, which audited an unknown key as such.
        let key = app.service.key_id(&signing.key)?;
        Ok(json(&VerifyResponse {
            key_id: st.endpoint.key_arn(&key.to_string()),
            signature_valid: true,
            signing_algorithm: signing.algorithm.as_str().to_owned(),
        }))
    })
    .await
}

/// What a `GenerateMac` or `VerifyMac` request asks.
struct Macing {
    key: String,
    message: Vec<u8>,
    algorithm: MacAlgorithm,
    dry_run: bool,
}

fn mac_request(state: &AwsState, request: &MacRequest) -> Result<Macing, AwsError> {
    Ok(Macing {
        key: any_key(state, "KeyId", &request.key_id)?,
        message: sized_blob("Message", request.message.as_deref(), 1, 4096)?,
        algorithm: enumerated::<MacAlgorithm>(
            "MacAlgorithm",
            request.mac_algorithm.as_deref(),
            MacAlgorithm::NAMES,
            &[],
        )?
        .ok_or_else(|| missing("MacAlgorithm"))?,
        dry_run: request.dry_run == Some(true),
    })
}

pub(super) async fn generate_mac(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: MacRequest = parse(body)?;
    let mac = mac_request(state, &request)?;
    if mac.dry_run {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Mac {
                    key: &mac.key,
                    algorithm: Some(mac.algorithm),
                    verify: false,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let tag =
            app.service
                .generate_mac_with(&caller, &mac.key, Some(mac.algorithm), &mac.message)?;
        let key = app.service.key_id(&mac.key)?;
        Ok(json(&GenerateMacResponse {
            mac: encode(&tag),
            mac_algorithm: mac.algorithm.as_str().to_owned(),
            key_id: st.endpoint.key_arn(&key.to_string()),
        }))
    })
    .await
}

pub(super) async fn verify_mac(
    state: &AwsState,
    caller: Arc<Caller>,
    body: &[u8],
) -> Result<Response, AwsError> {
    let request: MacRequest = parse(body)?;
    let mac = mac_request(state, &request)?;
    let tag = sized_blob("Mac", request.mac.as_deref(), 1, MAX_SIGNATURE)?;
    if mac.dry_run {
        return dry_run(state, caller, move |app, caller| {
            app.service.dry_run(
                caller,
                DryRun::Mac {
                    key: &mac.key,
                    algorithm: Some(mac.algorithm),
                    verify: true,
                },
            )
        })
        .await;
    }
    let st = state.clone();
    key_operation(state, move |app| {
        let valid = app.service.verify_mac_with(
            &caller,
            &mac.key,
            Some(mac.algorithm),
            &mac.message,
            &tag,
        )?;
        if !valid {
            return Err(AwsError::new(
                AwsException::KmsInvalidMac,
                format!(
                    "the MAC is not valid for this message, key and {}",
                    mac.algorithm
                ),
            ));
        }
        let key = app.service.key_id(&mac.key)?;
        Ok(json(&VerifyMacResponse {
            key_id: st.endpoint.key_arn(&key.to_string()),
            mac_valid: true,
            mac_algorithm: mac.algorithm.as_str().to_owned(),
        }))
    })
    .await
}
