//! What every AWS operation uses: the body read as the operation's request, the answer
//! written as AWS's JSON, blobs, AWS's validation of members (required, ranges, enumerated
//! values), the key named as AWS accepts it, `KeyMetadata` as AWS returns it for each
//! spec, the blocking pool, the audited key operation, the quorum gate and dry runs.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use kastell_core::keys::algorithms::kind_of;
use kastell_core::keys::{Caller, KeyDescription};
use kastell_core::quorum::Submitted;
use kastell_proto::aws::{AwsException, Context, KeyMetadata, customer_master_key_spec};
use kastell_proto::{EncryptionContext, KeyUsage, QuorumAction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::super::{AwsError, AwsState};

/// The request of an operation; an empty body is the request with no members.
pub(super) fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, AwsError> {
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

/// An answer, as AWS's JSON 1.1.
pub(super) fn json<T: Serialize>(value: &T) -> Response {
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

/// The empty answer of operations that return nothing.
pub(super) fn empty() -> Response {
    json(&serde_json::Map::new())
}

/// A blob member's bytes.
pub(super) fn blob(field: &str, text: &str) -> Result<Vec<u8>, AwsError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            AwsError::new(
                AwsException::Serialization,
                format!("{field} is not base64"),
            )
        })
}

/// A required blob member's bytes, of `min..=max` bytes.
pub(super) fn sized_blob(
    field: &str,
    text: Option<&str>,
    min: usize,
    max: usize,
) -> Result<Vec<u8>, AwsError> {
    let text = text.ok_or_else(|| missing(field))?;
    let bytes = blob(field, text)?;
    if bytes.len() < min {
        return Err(blob_validation(
            field,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if bytes.len() > max {
        return Err(blob_validation(
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(bytes)
}

/// `ValidationException` for a blob member as AWS words it, without the value (which may
/// be secret): "1 validation error detected: Value at 'plaintext' failed to satisfy
/// constraint: …".
fn blob_validation(field: &str, constraint: &str) -> AwsError {
    AwsError::new(
        AwsException::Validation,
        format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: \
             {constraint}",
            camel(field)
        ),
    )
}

/// Base64 of `bytes`.
pub(super) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `ValidationException` as AWS words it: "1 validation error detected: Value … at …".
pub(super) fn validation(field: &str, value: &str, constraint: &str) -> AwsError {
    AwsError::new(
        AwsException::Validation,
        format!(
            "1 validation error detected: Value {value} at '{}' failed to satisfy constraint: \
             {constraint}",
            camel(field)
        ),
    )
}

/// `ValidationException` for a required member that is absent.
pub(super) fn missing(field: &str) -> AwsError {
    validation(field, "null", "Member must not be null")
}

/// AWS names members in its messages in camelCase (`keyId`, `signingAlgorithm`).
fn camel(field: &str) -> String {
    let mut chars = field.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// A number member within `range`, `default` when absent.
pub(super) fn within(
    field: &str,
    given: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
) -> Result<u32, AwsError> {
    let value = given.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(validation(
            field,
            &format!("'{value}'"),
            &format!(
                "Member must have value between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// A required key member, not empty.
pub(super) fn required_key(field: &str, given: &str) -> Result<(), AwsError> {
    if given.is_empty() {
        return Err(missing(field));
    }
    if given.len() > 2048 {
        return Err(validation(
            field,
            "(too long)",
            "Member must have length less than or equal to 2048",
        ));
    }
    Ok(())
}

/// The encryption context as Kastell takes it.
pub(super) fn context(given: Option<Context>) -> EncryptionContext {
    EncryptionContext(given.unwrap_or_default())
}

/// An enumerated member: `Ok(None)` when absent, the value when Kastell has it;
/// `InvalidKeyUsageException` for a value AWS has and Kastell not (no Kastell key allows
/// it), `ValidationException` for one AWS does not have.
pub(super) fn enumerated<T: std::str::FromStr>(
    field: &str,
    given: Option<&str>,
    kastell: &[&str],
    aws_only: &[&str],
) -> Result<Option<T>, AwsError> {
    let Some(name) = given else {
        return Ok(None);
    };
    if let Ok(value) = name.parse::<T>()
        && kastell.contains(&name)
    {
        return Ok(Some(value));
    }
    if aws_only.contains(&name) {
        return Err(AwsError::new(
            AwsException::InvalidKeyUsage,
            format!(
                "{field} {name} is not offered by Kastell: no key of this deployment allows it"
            ),
        ));
    }
    let all: Vec<&str> = kastell.iter().chain(aws_only).copied().collect();
    Err(validation(
        field,
        &format!("'{name}'"),
        &format!("Member must satisfy enum value set: [{}]", all.join(", ")),
    ))
}

/// The key reference the key service takes for what AWS accepts where it names a key by
/// key id or key ARN only (`TagResource`, `EnableKeyRotation`, `CreateAlias`'s target,
/// …): an alias there is AWS's `NotFoundException`.
pub(super) fn key_id_only(state: &AwsState, field: &str, given: &str) -> Result<String, AwsError> {
    required_key(field, given)?;
    let key = state.endpoint.key_reference(given)?;
    if key.starts_with("alias/") {
        return Err(AwsError::new(
            AwsException::NotFound,
            format!("Invalid keyId {given}: {field} takes a key id or key ARN, not an alias"),
        ));
    }
    Ok(key)
}

/// The key reference the key service takes for a key id, key ARN, alias name or alias
/// ARN.
pub(super) fn any_key(state: &AwsState, field: &str, given: &str) -> Result<String, AwsError> {
    required_key(field, given)?;
    state.endpoint.key_reference(given)
}

/// Seconds since the epoch of an RFC 3339 time (as the key service describes keys).
pub(super) fn rfc3339_seconds(text: &str) -> f64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_or(
        0.0,
        |t| {
            #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 fit in f64")]
            let seconds = t.unix_timestamp() as f64;
            seconds
        },
    )
}

/// AWS's names of a list of algorithms, `None` when empty (AWS omits the member).
fn names<T: std::fmt::Display>(items: &[T]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.iter().map(ToString::to_string).collect())
}

/// The algorithms a key of `description`'s spec and usage allows, as AWS lists them:
/// encryption, signing, MAC, key agreement.
pub(super) type Algorithms = (
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Vec<String>>,
);

/// The algorithm members of a key of `spec` with `usage` (only its usage's).
pub(super) fn algorithms(spec: kastell_proto::KeySpec, usage: KeyUsage) -> Algorithms {
    let kind = kind_of(spec);
    match usage {
        KeyUsage::EncryptDecrypt => (names(kind.encryption_algorithms()), None, None, None),
        KeyUsage::SignVerify => (None, names(kind.signing_algorithms()), None, None),
        KeyUsage::GenerateVerifyMac => (None, None, names(kind.mac_algorithm().as_slice()), None),
        KeyUsage::KeyAgreement => (None, None, None, names(kind.key_agreement().as_slice())),
    }
}

/// `KeyMetadata` of a key, as AWS returns it for its spec and usage.
pub(super) fn metadata(state: &AwsState, key: &KeyDescription) -> KeyMetadata {
    let (encryption, signing, mac, agreement) = algorithms(key.spec, key.usage);
    let key_state = match key.state.as_str() {
        "enabled" => "Enabled",
        "disabled" => "Disabled",
        "pending-deletion" => "PendingDeletion",
        "pending-import" => "PendingImport",
        _ => "Unavailable",
    };
    let external = key.origin == kastell_proto::Origin::External;
    // AWS names the expiration model of imported material once it is imported.
    let expiration_model = (external && key.state != "pending-import").then(|| {
        if key.material_expires.is_some() {
            "KEY_MATERIAL_EXPIRES".to_owned()
        } else {
            "KEY_MATERIAL_DOES_NOT_EXPIRE".to_owned()
        }
    });
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
        origin: if external { "EXTERNAL" } else { "AWS_KMS" }.to_owned(),
        key_manager: "CUSTOMER".to_owned(),
        customer_master_key_spec: customer_master_key_spec(key.spec).map(str::to_owned),
        key_spec: kastell_proto::aws::aws_key_spec(key.spec).to_owned(),
        encryption_algorithms: encryption,
        signing_algorithms: signing,
        mac_algorithms: mac,
        key_agreement_algorithms: agreement,
        multi_region: false,
        valid_to: key.material_expires.as_deref().map(rfc3339_seconds),
        expiration_model,
        // AWS names the current material of symmetric keys, which rotate: imported
        // material's id, or the id of the material Kastell made.
        current_key_material_id: key
            .versions
            .iter()
            .find(|v| v.number == key.current_version)
            .and_then(|v| v.key_material.as_ref())
            .map(|m| m.id.clone())
            .filter(|_| key.spec == kastell_proto::KeySpec::Aes256),
    }
}

/// The id of the key material a Kastell ciphertext was made with (AWS's
/// `KeyMaterialId`), for a symmetric key; read after the operation that used it
/// succeeded, so the key's record was just checked.
pub(super) fn ciphertext_material(
    service: &kastell_core::keys::KeyService,
    ciphertext: &[u8],
) -> Option<String> {
    let (header, _) = kastell_proto::ciphertext::Header::parse(ciphertext).ok()?;
    service
        .key_material_id(&header.key, header.version)
        .ok()
        .flatten()
}

/// The key id a Kastell ciphertext names.
pub(super) fn ciphertext_key(ciphertext: &[u8]) -> Option<String> {
    kastell_proto::ciphertext::Header::parse(ciphertext)
        .ok()
        .map(|(header, _)| header.key.to_string())
}

/// Runs `work` on the blocking pool (store, token and sandbox work).
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AwsError> + Send + 'static,
) -> Result<T, AwsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| AwsError::new(AwsException::KmsInternal, "internal error"))?
}

/// A key operation, answered once its audit records are durable (as `/v1`'s).
pub(super) async fn key_operation<T: Send + 'static>(
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

/// A dry run of a key operation: its gate passed and audited, then AWS's
/// `DryRunOperationException` ("would have succeeded"); the gate's refusal otherwise.
pub(super) async fn dry_run(
    state: &AwsState,
    caller: Arc<Caller>,
    run: impl FnOnce(&crate::AppState, &Caller) -> Result<(), kastell_core::keys::KeyError>
    + Send
    + 'static,
) -> Result<Response, AwsError> {
    key_operation(state, move |app| Ok(run(app, &caller)?)).await?;
    Err(AwsError::new(
        AwsException::DryRunOperation,
        "The request would have succeeded, but the DryRun option is set.",
    ))
}

/// A quorum refusal as AWS answers it.
pub(super) fn quorum_error(e: kastell_core::quorum::QuorumError) -> AwsError {
    AwsError::new(AwsException::of(e.code()), e.to_string())
}

/// Runs the administrative `action` now when its class needs one approval, otherwise
/// stores it as a pending operation and refuses with its id.
pub(super) fn gated(
    app: &crate::AppState,
    caller: &Caller,
    action: QuorumAction<String>,
    run: impl FnOnce() -> Result<Response, AwsError>,
) -> Result<Response, AwsError> {
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

/// A `Marker` that is not one this endpoint returned.
pub(super) fn bad_marker(marker: &str) -> AwsError {
    AwsError::new(
        AwsException::InvalidMarker,
        format!("Marker {marker} is not one a previous page returned"),
    )
}

/// The issue that brings key policies, grants, imported key material and Nitro
/// recipients to the AWS endpoint.
pub(super) const LATER_ISSUE: &str = "issue 19 (AWS KMS-compatible endpoint, 2 of 2)";
