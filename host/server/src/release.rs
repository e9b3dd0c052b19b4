//! Attested key release over the API: a single-use challenge nonce, then the attestation
//! (certificate and chain, or Nitro-format document) verified against the configured
//! trust anchors, its freshness and nonce checked, and the key service's `release` (key
//! releasable, bound policy allows `release` for the verified evidence, HPKE seal).
//!
//! ```text
//! POST /v1/keys/{key}/release/challenge ─► nonce (32 random bytes, single use, short-lived)
//! workload: attest(nonce, its public key) ─► certificate + chain / document
//! POST /v1/keys/{key}/release {nonce, certificate+chain | document}
//!   ─► nonce checked: another client's is refused and left to its owner (403 InvalidNonce);
//!      the owner's is taken (unknown, used, expired or for another key: 403 InvalidNonce)
//!   ─► chain to a trusted root, validity, nonce in the claims, age (403 AttestationRejected)
//!   ─► key service: releasable, policy(release, evidence) ─► HPKE box to the attested key
//!      of the material in its spec's format (`format`: `raw` or `pkcs8-der`)
//! ```

use kastell_proto::api::{ChallengeResponse, ErrorBody, ReleaseBody, ReleaseResponse};
use kastell_proto::{ErrorCode, Role};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use kastell_attest::document::{VerifiedDocument, verify_document_with};
use kastell_attest::verify::{Expectations, Trust, not_after, verify_attestation_at};
use kastell_attest::x509::Certificate;
use p384::elliptic_curve::sec1::ToEncodedPoint as _;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require;
use super::error::{ApiError, ApiJson, ApiPath, base64, base64_field};
use super::{Auth, Shared, operation};
use kastell_core::audit::{AuditEntry, Outcome};
use kastell_core::keys::{Caller, ReleaseKind, ReleaseRequest};
use kastell_core::sandbox::Evidence;

/// Most intermediates a release may send with its certificate (path building tries each).
pub const MAX_CHAIN: usize = 4;

mod challenges;
mod issuers;

pub use challenges::{Challenges, Issued, NONCE_LEN};
pub use issuers::Issuers;

pub(super) fn routes(router: OpenApiRouter<Shared>) -> OpenApiRouter<Shared> {
    router.routes(routes!(challenge)).routes(routes!(release))
}

/// What a release trusts.
#[derive(Debug, Clone)]
pub struct ReleaseTrust {
    /// Roots whose attestations are accepted (this deployment's own and those configured).
    pub anchors: Vec<Certificate>,
    /// How long a challenge nonce stays usable.
    pub challenge_ttl: Duration,
    /// Oldest attestation accepted (its issue time against now).
    pub max_age: Duration,
    /// How far the attesting host's clock may run ahead of this one's: attestations are
    /// judged at now + this (so one issued "in the future" by that much still passes).
    pub max_clock_skew: Duration,
    /// Checks the attestations' signatures (and remembers the host CA and root ones).
    pub checker: std::sync::Arc<kastell_core::crypto::AwsLcChecker>,
    /// The anchors with each set of intermediates sent, decoded once per exact DER.
    pub issuers: Issuers,
}

/// Issues a single-use nonce for releasing `key` (crypto-user); audited with the key, the
/// expiry and the nonce's fingerprint. A client holding `release.challenges_per_client`
/// open challenges gets 429 `Throttled`; all clients together holding
/// `release.max_challenges`, 503 `TooManyChallenges`.
#[utoipa::path(post, path = "/v1/keys/{key}/release/challenge", tag = "release",
    params(("key" = String, Path, description = "Key id or alias (alias%2Fname)")),
    responses((status = 200, body = ChallengeResponse), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn challenge(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    require(&state, &caller, Role::CryptoUser, "release-challenge").await?;
    operation(&state, move |state| {
        let service = &state.service;
        let id = service.key_id(&key)?;
        let issued = match state
            .challenges
            .issue(service.store().as_ref(), id, &caller.id)
        {
            Ok(issued) => issued,
            Err(err)
                if matches!(
                    err.code,
                    ErrorCode::Throttled | ErrorCode::TooManyChallenges
                ) =>
            {
                // Refused in O(1), and audited once per client and interval (the first
                // at once, the rest summed up), not once per request.
                state.metrics.denied("challenge-quota");
                let kind = format!("release-challenge {} {}", err.code, caller.id);
                if let Some(entry) = state.refusals.note(
                    &kind,
                    &caller.id,
                    "release-challenge",
                    // The quota is the client's, whatever key it asked for.
                    None,
                    &err.message,
                ) {
                    service.record_outcome(entry)?;
                }
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        // The nonce is not recorded: until it is used it is what lets its owner release.
        // A fingerprint lets an auditor match the issue to the attestation carrying it.
        service.record_outcome(AuditEntry::event(
            &caller.id,
            "release-challenge",
            Some(id),
            Outcome::Allowed,
            format!(
                "challenge {} issued, usable until {} (unix ms)",
                nonce_fingerprint(&issued.nonce),
                kastell_core::clock::unix_now_ms()
                    .saturating_add(i64::try_from(issued.ttl.as_millis()).unwrap_or(i64::MAX)),
            ),
        ))?;
        Ok(Json(ChallengeResponse {
            key_id: id.to_string(),
            nonce: base64(&issued.nonce),
            expires_in: issued.ttl.as_secs(),
        }))
    })
    .await
}

/// Releases `key` to an attested guest (crypto-user): the nonce is used up, the
/// attestation verified against the trusted roots, the key's policy evaluated with
/// operation `release` and the verified evidence; the material comes back sealed with HPKE
/// to the attested public key.
#[utoipa::path(post, path = "/v1/keys/{key}/release", tag = "release",
    params(("key" = String, Path, description = "Key id or alias (alias%2Fname)")),
    request_body = ReleaseBody,
    responses((status = 200, body = ReleaseResponse),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "AccessDenied, InvalidNonce or AttestationRejected"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn release(
    State(state): State<Shared>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    // Before the nonce is touched: no other role may use up a user's challenge.
    require(&state, &caller, Role::CryptoUser, "release").await?;
    let nonce = base64_field("nonce", &body.nonce)?;
    check_body(&body)?;
    let evidence = match (&body.certificate, &body.document) {
        (Some(cert), None) => {
            let chain = body
                .chain
                .iter()
                .enumerate()
                .map(|(i, der)| base64_field(&format!("chain[{i}]"), der))
                .collect::<Result<Vec<_>, _>>()?;
            Attestation::Certificate(base64_field("certificate", cert)?, chain)
        }
        (None, Some(document)) => Attestation::Document(base64_field("document", document)?),
        _ => {
            return Err(ApiError::invalid_input(
                "give exactly one of `certificate` (with `chain`) or `document`",
            ));
        }
    };
    operation(&state, move |state| {
        let service = &state.service;
        let id = match service.key_id(&key) {
            Ok(id) => id,
            Err(err) => {
                service.record_outcome(AuditEntry::event(
                    &caller.id,
                    "release",
                    None,
                    Outcome::Denied,
                    err.to_string(),
                ))?;
                return Err(err.into());
            }
        };
        let refuse = |why: String, code: ErrorCode, guest| -> Result<_, ApiError> {
            service.record_outcome(
                AuditEntry::event(
                    &caller.id,
                    "release",
                    Some(id),
                    Outcome::Denied,
                    why.clone(),
                )
                .with_guest(guest),
            )?;
            state.metrics.denied("attestation");
            Err(ApiError::of(code, why))
        };
        if let Err(why) = state
            .challenges
            .take(service.store().as_ref(), &nonce, id, &caller.id)?
        {
            return refuse(why, ErrorCode::InvalidNonce, None);
        }
        let verified = match verify(&state.release, &evidence, &nonce) {
            Ok(verified) => verified,
            Err(why) => {
                return refuse(
                    format!("attestation: {why}"),
                    ErrorCode::AttestationRejected,
                    None,
                );
            }
        };
        let guest = verified.evidence.guest_sha384;
        let attested = Caller {
            evidence: Some(verified.evidence),
            ..(*caller).clone()
        };
        let context = body.context.unwrap_or_default();
        let released = service.release(
            &attested,
            &ReleaseRequest {
                key: &id.to_string(),
                version: body.version,
                kind: body.kind.unwrap_or(ReleaseKind::Key),
                recipient: &verified.public_key,
                nonce: &nonce,
                context: &context,
            },
        )?;
        Ok(Json(ReleaseResponse {
            key_id: released.key.to_string(),
            key_version: released.version,
            spec: released.spec.as_str().to_owned(),
            kind: released.kind.as_str().to_owned(),
            format: released.format.as_str().to_owned(),
            guest_sha384: guest.to_string(),
            encapsulated_key: base64(&released.encapsulated_key),
            ciphertext: base64(&released.ciphertext),
            data_key_ciphertext: released.data_key_ciphertext.as_deref().map(base64),
        }))
    })
    .await
}

/// What the audit trail records of a nonce: the first 16 bytes of its SHA-384, in hex
/// (`nonce-sha384:…`). It matches the nonce in an attestation's claims without holding
/// the nonce itself.
fn nonce_fingerprint(nonce: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, nonce);
    let hex: String = digest
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("nonce-sha384:{hex}")
}

/// Refuses fields that would be ignored, and oversized chains.
fn check_body(body: &ReleaseBody) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::invalid_input(message));
    if body.document.is_some() && !body.chain.is_empty() {
        return invalid("`chain` goes with `certificate`; a document carries its own".into());
    }
    if body.chain.len() > MAX_CHAIN {
        return invalid(format!(
            "`chain` has {} certificates; at most {MAX_CHAIN}",
            body.chain.len()
        ));
    }
    let kind = body.kind.unwrap_or(ReleaseKind::Key);
    if kind == ReleaseKind::Key && body.context.is_some() {
        return invalid("`context` is for `kind: data-key` (the data key's ciphertext)".into());
    }
    if kind == ReleaseKind::DataKey && body.version.is_some() {
        return invalid("a data key is always made under the current version".into());
    }
    Ok(())
}

/// The attestation as sent.
enum Attestation {
    /// Leaf DER and intermediates' DER.
    Certificate(Vec<u8>, Vec<Vec<u8>>),
    /// COSE_Sign1 bytes.
    Document(Vec<u8>),
}

/// What verification proved.
struct Verified {
    evidence: Evidence,
    /// The attested key, SEC1 uncompressed.
    public_key: Vec<u8>,
}

fn unix(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

/// Verifies the attestation: chain to one of the anchors at the current time, the nonce
/// in the claims, issued within `max_age`.
fn verify(
    trust: &ReleaseTrust,
    attestation: &Attestation,
    nonce: &[u8],
) -> Result<Verified, String> {
    let now = OffsetDateTime::now_utc() + trust.max_clock_skew;
    let expect = Expectations {
        nonce: Some(nonce.to_vec()),
        max_age: Some(trust.max_age),
        ..Expectations::default()
    };
    match attestation {
        Attestation::Certificate(leaf, chain) => {
            let leaf = issuers::decode(leaf, "certificate")?;
            let path = trust.issuers.trust(&trust.anchors, chain)?;
            let verified = verify_attestation_at(&leaf, &path, now, &expect, &*trust.checker)
                .map_err(|e| e.to_string())?;
            // What the verifier found, not decoded again: the leaf's key (SEC1 uncompressed,
            // hex) and the path's second link, the leaf's issuer.
            let public_key = hex::decode(&verified.public_key).map_err(|e| e.to_string())?;
            let issuer = verified
                .chain
                .chain
                .get(1)
                .map_or_else(String::new, |link| link.subject.clone());
            Ok(Verified {
                evidence: Evidence {
                    guest_sha384: verified.claims.guest,
                    policy_sha384: verified.claims.policy,
                    issuer,
                    not_after: unix(not_after(&leaf)),
                    pcrs: std::collections::BTreeMap::new(),
                },
                public_key,
            })
        }
        Attestation::Document(bytes) => {
            let verified = verify_document_with(
                bytes,
                &Trust {
                    anchors: trust.anchors.clone(),
                    intermediates: Vec::new(),
                    crls: Vec::new(),
                    at: now,
                },
                &expect,
                &*trust.checker,
            )
            .map_err(|e| e.to_string())?;
            let Some(attested) = &verified.document.public_key else {
                return Err("the document carries no `public_key` to release to".into());
            };
            let Some(key) = attested.as_p384() else {
                return Err(format!(
                    "the document attests an {} key; a release is sealed to a P-384 key",
                    attested.kind()
                ));
            };
            Ok(Verified {
                evidence: document_evidence(&verified),
                public_key: key.to_encoded_point(false).as_bytes().to_vec(),
            })
        }
    }
}

/// What a verified Nitro-format document proves, as the evidence policies see: the guest
/// (PCR0), its policy (PCR2), the CA that issued the document signer, the end of the
/// attestation's lifetime, and every PCR for key policies' `kms:RecipientAttestation:*`.
pub(crate) fn document_evidence(verified: &VerifiedDocument) -> Evidence {
    let issued_ms = i64::try_from(verified.document.timestamp_ms).unwrap_or(i64::MAX);
    let expires = issued_ms / 1000
        + i64::try_from(kastell_attest::ca::ATTESTATION_LIFETIME.as_secs()).unwrap_or(0);
    Evidence {
        guest_sha384: verified.document.guest,
        policy_sha384: verified.document.policy,
        // The CA that issued the document signer, as for a certificate.
        issuer: verified
            .chain
            .chain
            .get(1)
            .map_or_else(String::new, |link| link.subject.clone()),
        not_after: u64::try_from(expires).unwrap_or(0),
        pcrs: verified.pcrs.clone(),
    }
}
