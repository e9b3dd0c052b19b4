//! The AWS KMS operations Kastell serves, each over the same key-service method as its
//! `/v1` counterpart (so role, state, usage, policy and audit are the same), with AWS's
//! request and response members. Administration that `/v1` puts under quorum is under the
//! same quorum here: a class that needs approvals stores a pending operation and answers
//! `KMSInvalidStateException` naming it (AWS KMS has no "pending approval" answer).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use kastell_core::keys::{Caller, KeyDescription, NewKey};
use kastell_core::quorum::Submitted;
use kastell_proto::api::SecretBase64;
use kastell_proto::aws::{
    AliasListEntry, AwsException, Context, CreateAliasRequest, CreateKeyRequest, DecryptRequest,
    DecryptResponse, EncryptRequest, EncryptResponse, GenerateDataKeyRequest,
    GenerateDataKeyResponse, GenerateRandomRequest, GenerateRandomResponse, KeyIdRequest,
    KeyIdResponse, KeyListEntry, KeyMetadata, KeyMetadataResponse, ListAliasesResponse,
    ListKeysResponse, ListRequest, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse,
    SpecError, aws_key_spec, kastell_key_spec,
};
use kastell_proto::{EncryptionContext, KeyUsage, Origin, QuorumAction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AwsError, AwsState};

/// The operations of the AWS KMS API (2014-11-01) that Kastell does not serve yet: each
/// answers `UnsupportedOperationException` naming it.
const NOT_YET: &[&str] = &[
    "ConnectCustomKeyStore",
    "CreateCustomKeyStore",
    "CreateGrant",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKeyRotation",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
    "GetKeyLastUsage",
];

const SERVED: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "CreateAlias",
    "ListAliases",
];

/// Whether `op` is an operation of the AWS KMS API.
pub(super) fn is_known(op: &str) -> bool {
    SERVED.contains(&op) || NOT_YET.contains(&op)
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, AwsError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        AwsError::new(
            AwsException::Serialization,
            format!("the request body does not fit the operation: {e}"),
        )
    })
}

fn json<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/x-amz-json-1.1",
        )],
        body,
    )
        .into_response()
}

fn blob(field: &str, text: &str) -> Result<Vec<u8>, AwsError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            AwsError::new(
                AwsException::Serialization,
                format!("{field} is not base64"),
            )
        })
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn context(given: Option<Context>) -> EncryptionContext {
    given
        .and_then(|pairs| EncryptionContext::from_pairs(pairs).ok())
        .unwrap_or_default()
}

fn symmetric_only(algorithm: Option<&String>) -> Result<(), AwsError> {
    match algorithm.map(String::as_str) {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(AwsError::new(
            AwsException::Validation,
            format!("EncryptionAlgorithm {other}: Kastell encrypts with SYMMETRIC_DEFAULT only"),
        )),
    }
}

/// The key id a Kastell ciphertext names.
fn ciphertext_key(ciphertext: &[u8]) -> Option<String> {
    kastell_proto::ciphertext::Header::parse(ciphertext)
        .ok()
        .map(|(header, _)| header.key.to_string())
}

fn rfc3339_seconds(text: &str) -> f64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_or(
        0.0,
        |t| {
            #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 fit in f64")]
            let seconds = t.unix_timestamp() as f64;
            seconds
        },
    )
}

fn metadata(state: &AwsState, key: &KeyDescription) -> KeyMetadata {
    let spec = aws_key_spec(key.spec).to_owned();
    let (encryption, signing, mac) = match key.usage {
        KeyUsage::EncryptDecrypt => (Some(vec!["SYMMETRIC_DEFAULT".to_owned()]), None, None),
        KeyUsage::SignVerify => (None, Some(vec!["ECDSA_SHA_384".to_owned()]), None),
        KeyUsage::GenerateVerifyMac => (None, None, Some(vec!["HMAC_SHA_384".to_owned()])),
        // Not created through this endpoint yet (its specs are the three above).
        KeyUsage::KeyAgreement => (None, None, None),
    };
    let key_state = match key.state.as_str() {
        "enabled" => "Enabled",
        "disabled" => "Disabled",
        "pending-deletion" => "PendingDeletion",
        _ => "Unavailable",
    };
    KeyMetadata {
        aws_account_id: state.endpoint.account_id.clone(),
        key_id: key.id.clone(),
        arn: state.endpoint.key_arn(&key.id),
        creation_date: rfc3339_seconds(&key.created),
        enabled: key.state == "enabled",
        description: key.description.clone(),
        key_usage: key.usage.as_str().to_owned(),
        key_state: key_state.to_owned(),
        deletion_date: key.deletion_date.as_deref().map(rfc3339_seconds),
        origin: "AWS_KMS".to_owned(),
        key_manager: "CUSTOMER".to_owned(),
        customer_master_key_spec: spec.clone(),
        key_spec: spec,
        encryption_algorithms: encryption,
        signing_algorithms: signing,
        mac_algorithms: mac,
        multi_region: false,
    }
}

/// Runs `work` on the blocking pool (store, token and sandbox work).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AwsError> + Send + 'static,
) -> Result<T, AwsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| AwsError::new(AwsException::KmsInternal, "internal error"))?
}

/// A key operation, answered once its audit records are durable (as `/v1`'s).
async fn key_operation<T: Send + 'static>(
    state: &AwsState,
    work: impl FnOnce(&crate::AppState) -> Result<T, AwsError> + Send + 'static,
) -> Result<T, AwsError> {
    crate::operation(&state.shared, move |app| Ok(work(app)))
        .await
        .map_err(|e| {
            tracing::error!(error = %e.message, "AWS endpoint: the operation's commit failed");
            AwsError::new(AwsException::KmsInternal, "internal error")
        })?
}

/// Runs the administrative `action` now when its class needs one approval, otherwise
/// stores it as a pending operation and refuses with its id.
fn gated(
    app: &crate::AppState,
    caller: &Caller,
    action: QuorumAction<String>,
    run: impl FnOnce() -> Result<Response, AwsError>,
) -> Result<Response, AwsError> {
    let quorum_error = |e: kastell_core::quorum::QuorumError| {
        AwsError::new(AwsException::of(e.code()), e.to_string())
    };
    let required = app.quorum.required(action.class()).map_err(quorum_error)?;
    if required <= 1 {
        return run();
    }
    let resolved = action
        .try_map_key(|key| app.service.key_id(&key))
        .map_err(AwsError::from)?;
    match app
        .quorum
        .submit(caller, resolved, app.approval_ttl)
        .map_err(quorum_error)?
    {
        Submitted::Execute => run(),
        Submitted::Pending(operation) => Err(AwsError::new(
            AwsException::PendingApproval,
            format!(
                "approval pending: operation {} needs {required} officer approvals \
                 (kastell approve {}); it runs once approved",
                operation.id, operation.id
            ),
        )),
    }
}

/// Answers the operation `op` for `caller`.
pub(super) async fn dispatch(
    state: &AwsState,
    caller: Arc<Caller>,
    op: &str,
    body: &[u8],
) -> Result<Response, AwsError> {
    let st = state.clone();
    match op {
        "Encrypt" => {
            let request: EncryptRequest = parse(body)?;
            symmetric_only(request.encryption_algorithm.as_ref())?;
            let plaintext = zeroize::Zeroizing::new(blob(
                "Plaintext",
                request.plaintext.as_ref().map_or("", SecretBase64::expose),
            )?);
            if plaintext.is_empty() || plaintext.len() > 4096 {
                return Err(AwsError::new(
                    AwsException::Validation,
                    "Plaintext must be 1–4096 bytes",
                ));
            }
            let key = state.endpoint.key_reference(&request.key_id)?;
            let context = context(request.encryption_context);
            key_operation(state, move |app| {
                let ciphertext = app.service.encrypt(&caller, &key, &plaintext, &context)?;
                let id = ciphertext_key(&ciphertext).unwrap_or(key);
                Ok(json(&EncryptResponse {
                    ciphertext_blob: encode(&ciphertext),
                    key_id: st.endpoint.key_arn(&id),
                    encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
                }))
            })
            .await
        }
        "Decrypt" => {
            let request: DecryptRequest = parse(body)?;
            symmetric_only(request.encryption_algorithm.as_ref())?;
            let ciphertext = blob("CiphertextBlob", &request.ciphertext_blob)?;
            let key = request
                .key_id
                .as_deref()
                .map(|k| state.endpoint.key_reference(k))
                .transpose()?;
            let context = context(request.encryption_context);
            key_operation(state, move |app| {
                let (id, plaintext) =
                    app.service
                        .decrypt(&caller, key.as_deref(), &ciphertext, &context)?;
                Ok(json(&DecryptResponse {
                    key_id: st.endpoint.key_arn(&id.to_string()),
                    plaintext: SecretBase64::new(encode(plaintext.expose())),
                    encryption_algorithm: "SYMMETRIC_DEFAULT".to_owned(),
                }))
            })
            .await
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let request: GenerateDataKeyRequest = parse(body)?;
            match (request.key_spec.as_deref(), request.number_of_bytes) {
                (Some("AES_256"), None) | (None, Some(32)) => {}
                (None, None) => {
                    return Err(AwsError::new(
                        AwsException::Validation,
                        "give KeySpec or NumberOfBytes",
                    ));
                }
                _ => {
                    return Err(AwsError::new(
                        AwsException::Validation,
                        "Kastell generates 256-bit data keys: KeySpec AES_256 or NumberOfBytes 32",
                    ));
                }
            }
            let with_plaintext = op == "GenerateDataKey";
            let key = state.endpoint.key_reference(&request.key_id)?;
            let context = context(request.encryption_context);
            key_operation(state, move |app| {
                let data_key =
                    app.service
                        .generate_data_key(&caller, &key, &context, with_plaintext)?;
                let id = ciphertext_key(&data_key.ciphertext).unwrap_or(key);
                Ok(json(&GenerateDataKeyResponse {
                    ciphertext_blob: encode(&data_key.ciphertext),
                    plaintext: data_key
                        .plaintext
                        .as_ref()
                        .map(|p| SecretBase64::new(encode(p.expose()))),
                    key_id: st.endpoint.key_arn(&id),
                }))
            })
            .await
        }
        "GenerateRandom" => {
            let request: GenerateRandomRequest = parse(body)?;
            let len = request.number_of_bytes.unwrap_or(0);
            if !(1..=1024).contains(&len) {
                return Err(AwsError::new(
                    AwsException::Validation,
                    "NumberOfBytes must be 1–1024",
                ));
            }
            key_operation(state, move |app| {
                let bytes = zeroize::Zeroizing::new(
                    app.service
                        .generate_random(&caller, usize::try_from(len).unwrap_or(0))?,
                );
                Ok(json(&GenerateRandomResponse {
                    plaintext: SecretBase64::new(encode(&bytes)),
                }))
            })
            .await
        }
        "DescribeKey" => {
            let request: KeyIdRequest = parse(body)?;
            let key = state.endpoint.key_reference(&request.key_id)?;
            blocking(move || {
                let description = st.shared.service.describe_key(&caller, &key)?;
                Ok(json(&KeyMetadataResponse {
                    key_metadata: metadata(&st, &description),
                }))
            })
            .await
        }
        "ListKeys" | "ListAliases" => {
            let request: ListRequest = parse(body)?;
            let limit = request.limit.unwrap_or(100);
            if !(1..=1000).contains(&limit) {
                return Err(AwsError::new(
                    AwsException::Validation,
                    "Limit must be 1–1000",
                ));
            }
            let aliases = op == "ListAliases";
            let only = request
                .key_id
                .as_deref()
                .map(|k| state.endpoint.key_reference(k))
                .transpose()?;
            blocking(move || {
                if aliases {
                    let keys = match only {
                        Some(key) => vec![st.shared.service.describe_key(&caller, &key)?],
                        None => st.shared.service.list_keys(&caller, None, 1000)?,
                    };
                    let mut entries = Vec::new();
                    for key in &keys {
                        for alias in &key.aliases {
                            entries.push(AliasListEntry {
                                alias_name: alias.clone(),
                                alias_arn: st.endpoint.alias_arn(alias),
                                target_key_id: key.id.clone(),
                            });
                        }
                    }
                    return Ok(json(&ListAliasesResponse {
                        aliases: entries,
                        truncated: false,
                    }));
                }
                let keys =
                    st.shared
                        .service
                        .list_keys(&caller, request.marker.as_deref(), limit)?;
                let full = u32::try_from(keys.len()).unwrap_or(u32::MAX) == limit;
                let next_marker = full.then(|| keys.last().map(|k| k.id.clone())).flatten();
                Ok(json(&ListKeysResponse {
                    keys: keys
                        .iter()
                        .map(|k| KeyListEntry {
                            key_id: k.id.clone(),
                            key_arn: st.endpoint.key_arn(&k.id),
                        })
                        .collect(),
                    truncated: next_marker.is_some(),
                    next_marker,
                }))
            })
            .await
        }
        "CreateKey" => {
            let request: CreateKeyRequest = parse(body)?;
            let new = new_key(request)?;
            blocking(move || {
                let record = st.shared.service.create_key(&caller, new, None)?;
                let description = st.shared.service.description_of(&record)?;
                Ok(json(&KeyMetadataResponse {
                    key_metadata: metadata(&st, &description),
                }))
            })
            .await
        }
        "EnableKey" | "DisableKey" => {
            let request: KeyIdRequest = parse(body)?;
            let key = state.endpoint.key_reference(&request.key_id)?;
            let enabled = op == "EnableKey";
            blocking(move || {
                st.shared.service.set_enabled(&caller, &key, enabled)?;
                Ok(json(&serde_json::Map::new()))
            })
            .await
        }
        "CancelKeyDeletion" => {
            let request: KeyIdRequest = parse(body)?;
            let key = state.endpoint.key_reference(&request.key_id)?;
            blocking(move || {
                let record = st.shared.service.cancel_deletion(&caller, &key)?;
                Ok(json(&KeyIdResponse {
                    key_id: st.endpoint.key_arn(&record.id.to_string()),
                }))
            })
            .await
        }
        "ScheduleKeyDeletion" => {
            let request: ScheduleKeyDeletionRequest = parse(body)?;
            let key = state.endpoint.key_reference(&request.key_id)?;
            let days = request.pending_window_in_days.unwrap_or(30);
            blocking(move || {
                let action = QuorumAction::ScheduleDeletion {
                    key: key.clone(),
                    days,
                };
                gated(&st.shared, &caller, action, || {
                    let record = st.shared.service.schedule_deletion(&caller, &key, days)?;
                    let description = st.shared.service.description_of(&record)?;
                    Ok(json(&ScheduleKeyDeletionResponse {
                        key_id: st.endpoint.key_arn(&description.id),
                        deletion_date: description
                            .deletion_date
                            .as_deref()
                            .map_or(0.0, rfc3339_seconds),
                        key_state: "PendingDeletion".to_owned(),
                        pending_window_in_days: days,
                    }))
                })
            })
            .await
        }
        "CreateAlias" => {
            let request: CreateAliasRequest = parse(body)?;
            if !request.alias_name.starts_with("alias/")
                || request.alias_name.starts_with("alias/aws/")
            {
                return Err(AwsError::new(
                    AwsException::InvalidAliasName,
                    format!(
                        "AliasName `{}` must start with alias/ and not alias/aws/",
                        request.alias_name
                    ),
                ));
            }
            let key = state.endpoint.key_reference(&request.target_key_id)?;
            let alias = request.alias_name;
            blocking(move || {
                let action = QuorumAction::SetAlias {
                    alias: alias.clone(),
                    key: key.clone(),
                };
                gated(&st.shared, &caller, action, || {
                    st.shared.service.set_alias(&caller, &alias, &key)?;
                    Ok(json(&serde_json::Map::new()))
                })
            })
            .await
        }
        other if NOT_YET.contains(&other) => Err(AwsError::new(
            AwsException::UnsupportedOperation,
            format!("Kastell does not serve {other} yet"),
        )),
        other => Err(AwsError::new(
            AwsException::UnknownOperation,
            format!("unknown operation TrentService.{other}"),
        )),
    }
}

fn new_key(request: CreateKeyRequest) -> Result<NewKey, AwsError> {
    let unsupported = |what: &str| {
        AwsError::new(
            AwsException::UnsupportedOperation,
            format!("Kastell does not support {what} yet"),
        )
    };
    if request.policy.is_some() {
        return Err(unsupported("key policies (Policy)"));
    }
    if request.multi_region == Some(true) {
        return Err(unsupported("multi-Region keys"));
    }
    if request.custom_key_store_id.is_some() {
        return Err(unsupported("custom key stores"));
    }
    match request.origin.as_deref() {
        None | Some("AWS_KMS") => {}
        Some(other) => return Err(unsupported(&format!("Origin {other}"))),
    }
    let name = request
        .key_spec
        .or(request.customer_master_key_spec)
        .unwrap_or_else(|| "SYMMETRIC_DEFAULT".to_owned());
    let spec = kastell_key_spec(&name).map_err(|why| match why {
        SpecError::NotSupported => unsupported(&format!("KeySpec {name}")),
        SpecError::Unknown => AwsError::new(
            AwsException::Validation,
            format!("KeySpec {name} is not a KMS key spec"),
        ),
    })?;
    if let Some(usage) = request.key_usage.as_deref()
        && usage.parse::<KeyUsage>().ok() != Some(KeyUsage::of(spec))
    {
        return Err(AwsError::new(
            AwsException::Validation,
            format!("KeyUsage {usage} does not fit KeySpec {name}"),
        ));
    }
    Ok(NewKey {
        spec,
        origin: Origin::Wrapped,
        description: request.description.unwrap_or_default(),
        tags: request
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect(),
        policy: None,
        releasable: false,
        usage: None,
    })
}
