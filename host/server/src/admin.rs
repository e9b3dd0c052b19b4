//! Gated administration: the one executor of each administrative operation under quorum,
//! shared by the direct path (the class needs one approval) and the approved path (the
//! approval that completes the quorum), and the request that stores a pending operation.
//! The resource modules (`keys`, `clients`, `access_keys`, `approvals`) call into it; it
//! calls none of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kastell_attest::identity::ClientIdentity;
use kastell_core::keys::AccessKeyIdentity;
use kastell_core::keys::Caller;
use kastell_core::quorum::{PendingOperation, Submitted};
use kastell_proto::api::{
    AccessKeyIssued, AccessKeyRequest, AccessKeyRevoked, ActionResult, AliasResponse,
    ClientRequest, ClientResponse, PendingResponse, RevokeResponse,
};
use kastell_proto::{QuorumAction, Role};

use super::error::ApiError;
use super::{Shared, blocking};

fn pending(operation: PendingOperation, required: u32) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(PendingResponse {
            status: "pending".to_owned(),
            required,
            operation,
        }),
    )
        .into_response()
}

/// Runs `action` now when its class needs no approvals; otherwise stores it, its key
/// resolved to the key's id, as a pending operation and answers 202. The direct path and
/// the approved path run the same [`execute`].
pub(super) async fn gated(
    state: Shared,
    caller: Arc<Caller>,
    action: QuorumAction<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let required = state.quorum.required(action.class())?;
        if required <= 1 {
            return Ok(Json(execute(&state, action, &caller, &caller)?).into_response());
        }
        // Officers approve the exact key, not an alias that could be re-pointed meanwhile.
        let resolved = action
            .clone()
            .try_map_key(|key| state.service.key_id(&key))?;
        match state.quorum.submit(&caller, resolved, state.approval_ttl)? {
            Submitted::Execute => {
                Ok(Json(execute(&state, action, &caller, &caller)?).into_response())
            }
            Submitted::Pending(operation) => Ok(pending(operation, required)),
        }
    })
    .await
}

/// Executes a gated action: the one executor of each gated operation, for the direct
/// path (`requester` and `executor` are the caller) and the approved one (the operation's
/// requester acts; the officer whose approval completed the quorum applies quorum
/// settings).
fn execute(
    state: &Shared,
    action: QuorumAction<String>,
    requester: &Caller,
    executor: &Caller,
) -> Result<ActionResult, ApiError> {
    match action {
        QuorumAction::ScheduleDeletion { key, days } => {
            let record = state.service.schedule_deletion(requester, &key, days)?;
            Ok(ActionResult::Key(state.service.description_of(&record)?))
        }
        QuorumAction::BindPolicy { key, policy } => {
            let record = state.service.bind_policy(requester, &key, policy)?;
            Ok(ActionResult::Key(state.service.description_of(&record)?))
        }
        QuorumAction::PutKeyPolicy {
            key,
            document,
            bypass_lockout,
        } => {
            let record =
                state
                    .service
                    .put_key_policy(requester, &key, &document, bypass_lockout)?;
            Ok(ActionResult::Key(state.service.description_of(&record)?))
        }
        QuorumAction::UpdateTags {
            key,
            tags,
            description,
        } => {
            let record = state
                .service
                .update_tags(requester, &key, tags, description)?;
            Ok(ActionResult::Key(state.service.description_of(&record)?))
        }
        QuorumAction::SetAlias { alias, key } => {
            state.service.set_alias(requester, &alias, &key)?;
            let key = state.service.describe_key(requester, &alias)?;
            Ok(ActionResult::Alias(AliasResponse { alias, key: key.id }))
        }
        QuorumAction::IssueClient(request) => {
            Ok(ActionResult::Client(issue(state, requester, &request)?))
        }
        QuorumAction::RevokeOfficer { serial, reason } => Ok(ActionResult::Revoked(revoke(
            state, requester, &serial, &reason,
        )?)),
        QuorumAction::IssueAccessKey(request) => Ok(ActionResult::AccessKey(issue_access_key(
            state, requester, &request,
        )?)),
        QuorumAction::RevokeAccessKey { id, reason } => Ok(ActionResult::AccessKeyRevoked(
            revoke_access_key(state, requester, &id, &reason)?,
        )),
        QuorumAction::SetQuorum { class, required } => Ok(ActionResult::Quorum(
            state.quorum.apply_setting(class, required, executor)?,
        )),
        QuorumAction::ExportBackup(request) => {
            let recipients =
                super::backups::recipients(&request.recipients, request.token_recipient)?;
            Ok(ActionResult::Backup(super::backups::take(
                state,
                &state.backup_dir,
                requester,
                &recipients,
                request.token_recipient,
            )?))
        }
        QuorumAction::CreateBackupKey {} => Ok(ActionResult::BackupKey(
            super::backups::create_key(state, requester)?,
        )),
    }
}

/// Executes an approved operation as its requester (an officer).
pub(super) fn execute_approved(
    state: &Shared,
    operation: &PendingOperation,
    executor: &Caller,
) -> Result<ActionResult, ApiError> {
    let requester = Caller {
        id: operation.requester.clone(),
        roles: vec![Role::CryptoOfficer],
        tenant: None,
        evidence: None,
    };
    let action = operation
        .action
        .clone()
        .try_map_key(|id| Ok::<_, ApiError>(id.to_string()))?;
    execute(state, action, &requester, executor)
}

/// Revokes the client certificate `serial` (audited as `caller`'s), refused by the server
/// from this moment: the one revocation of the API, direct for users and auditors and
/// through [`gated`] (class `issue-officer`) for officers.
///
/// # Errors
/// 500 when the store fails.
pub(super) fn revoke(
    state: &Shared,
    caller: &Caller,
    serial: &str,
    reason: &str,
) -> Result<RevokeResponse, ApiError> {
    let record = kastell_core::clients::revoke(&*state.service.store(), serial, &caller.id, reason)
        .map_err(ApiError::internal)?;
    if let Some(record) = &record {
        state.service.checkpoint_if_due(record.seq);
    }
    state
        .revoked
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(serial.to_owned());
    Ok(RevokeResponse {
        serial: serial.to_owned(),
        revoked_now: record.is_some(),
    })
}

/// Refuses a principal that is reserved or bound to another role (`AccessDenied`).
///
/// # Errors
/// 403 naming why; 500 when the store fails.
pub(super) fn check_principal(state: &Shared, identity: &ClientIdentity) -> Result<(), ApiError> {
    kastell_core::clients::check_principal(&*state.service.store(), identity)
        .map_err(|e| ApiError::of(e.code(), e.to_string()))
}

/// Issues a client certificate for `request`'s public key (the one issuance of the API,
/// run by [`execute`] through [`gated`]).
///
/// # Errors
/// 400 for a malformed key or validity, 500 when the token or the store fails.
pub(super) fn issue(
    state: &Shared,
    caller: &Caller,
    request: &ClientRequest,
) -> Result<ClientResponse, ApiError> {
    let key: p384::PublicKey = p384::pkcs8::DecodePublicKey::from_public_key_pem(
        request.public_key.trim(),
    )
    .map_err(|e| ApiError::invalid_input(format!("public_key: not a P-384 SPKI PEM: {e}")))?;
    let days = request.days.unwrap_or(365);
    if !(1..=825).contains(&days) {
        return Err(ApiError::invalid_input(format!("days {days}: 1–825")));
    }
    let identity = ClientIdentity {
        principal: request.principal.clone(),
        role: request.role.clone(),
        tenant: request.tenant.clone(),
    };
    check_principal(state, &identity)?;
    let certificate = kastell_core::clients::issue_client_certificate(
        state.service.token(),
        &state.files,
        &identity,
        &key,
        Duration::from_secs(u64::from(days) * 86_400),
    )
    .map_err(|e| match e {
        kastell_core::ca::HostCaError::Ca(e) => ApiError::invalid_input(e.to_string()),
        other => ApiError::internal(other),
    })?;
    let pem = |cert: &kastell_attest::x509::Certificate| cert.to_pem().map_err(ApiError::internal);
    let root = state
        .files
        .certificate("root.pem", "kastell init")
        .map_err(ApiError::internal)?;
    let record = kastell_core::clients::register(
        &*state.service.store(),
        &certificate,
        &identity,
        &caller.id,
    )
    .map_err(ApiError::internal)?;
    state.service.checkpoint_if_due(record.seq);
    Ok(ClientResponse {
        serial: kastell_core::clients::serial_of(&certificate),
        certificate: pem(&certificate)?,
        root: pem(&root)?,
    })
}

/// The SEC1 uncompressed point of a P-384 public key given as SPKI PEM: what an access
/// key's secret is sealed to.
///
/// # Errors
/// 400 naming what is wrong.
pub(super) fn recipient_point(pem: &str) -> Result<Vec<u8>, ApiError> {
    use p384::elliptic_curve::sec1::ToEncodedPoint as _;
    let key: p384::PublicKey = p384::pkcs8::DecodePublicKey::from_public_key_pem(pem.trim())
        .map_err(|e| ApiError::invalid_input(format!("public_key: not a P-384 SPKI PEM: {e}")))?;
    Ok(key.to_encoded_point(false).as_bytes().to_vec())
}

/// Refuses an access key the principal may not have (reserved name, another role, two
/// roles while separation of duties is on), naming why (`AccessDenied`), or with roles
/// that do not exist (`InvalidInput`).
///
/// # Errors
/// 403 or 400 naming why; 500 when the store fails.
pub(super) fn check_access_key_principal(
    state: &Shared,
    request: &AccessKeyRequest,
) -> Result<(), ApiError> {
    let roles = request
        .roles
        .iter()
        .map(|name| {
            name.parse::<Role>()
                .map_err(|e| ApiError::invalid_input(format!("roles: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err(ApiError::invalid_input(
            "roles: an access key needs a role: crypto-officer, crypto-user or auditor",
        ));
    }
    kastell_core::clients::check_access_key_principal(
        &*state.service.store(),
        &request.principal,
        &roles,
        state.duties,
    )
    .map_err(|e| ApiError::of(e.code(), e.to_string()))
}

/// Issues an access key for `request` (the one issuance of the API, run by [`execute`]
/// through [`gated`]), its secret sealed to the request's public key.
///
/// # Errors
/// 400 for a malformed key or identity, 403 for a principal that may not have it, 500
/// when the token or the store fails.
pub(super) fn issue_access_key(
    state: &Shared,
    caller: &Caller,
    request: &AccessKeyRequest,
) -> Result<AccessKeyIssued, ApiError> {
    let recipient = recipient_point(&request.public_key)?;
    check_access_key_principal(state, request)?;
    let identity = AccessKeyIdentity {
        principal: request.principal.clone(),
        roles: request.roles.clone(),
        tenant: request.tenant.clone(),
    };
    let (info, sealed_secret) =
        state
            .service
            .issue_access_key_sealed(caller, &identity, state.duties, &recipient)?;
    Ok(AccessKeyIssued {
        arn: kastell_proto::aws::user_arn(&state.aws_account_id, &info.principal),
        access_key_id: info.access_key_id,
        principal: info.principal,
        roles: info.roles,
        tenant: info.tenant,
        sealed_secret,
    })
}

/// Revokes access key `id` (audited as `caller`'s): the AWS endpoint refuses it from the
/// next request on. Direct for users' and auditors' keys, through [`gated`] (class
/// `issue-officer`) for officers'.
///
/// # Errors
/// 404 for an unknown id, 500 when the store fails.
pub(super) fn revoke_access_key(
    state: &Shared,
    caller: &Caller,
    id: &str,
    reason: &str,
) -> Result<AccessKeyRevoked, ApiError> {
    let revoked_now = state.service.revoke_access_key(caller, id, reason)?;
    Ok(AccessKeyRevoked {
        access_key_id: id.to_owned(),
        revoked_now,
    })
}
