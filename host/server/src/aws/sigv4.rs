//! SigV4 verification of every request to the AWS endpoint, KMS and STS alike, by
//! recomputation: the signing information parsed from the `Authorization` header or the
//! presigned query string ([`kastell_proto::aws::sigv4`]), the access key looked up (an
//! unknown or revoked one refused), the scope checked (this endpoint's region, service
//! `kms` or `sts`, the date within 15 minutes, a presigned request within its
//! `X-Amz-Expires`), the string to sign rebuilt from the request as received (the headers
//! the client signed, the SHA-256 of the body that arrived), signed with the access key's
//! signing key and compared in constant time.
//!
//! Signing keys are cached per access key, date, region and service (the id names one
//! secret): a request of a known key costs one HMAC and no token call to unseal the secret,
//! and no store read either: the access key's row comes from
//! [`KeyService::access_key_for_request`](kastell_core::keys::KeyService::access_key_for_request),
//! which reads it again at most every `[aws] access_key_recheck_ms` and at once for a key
//! revoked through this server. The cache keeps the identity the secret was unsealed with;
//! a row whose principal, roles or tenant changed since is unsealed again, which fails for
//! an edited row (`TamperDetected`).
//!
//! Every refusal is audited without letting a client buy an fsync per request: the first
//! of a kind at once, the rest counted and summed up every `server.refusal_summary_secs`
//! ([`crate::refusals`]). A kind is the exception, and for an access key issued here that
//! key and the cause (wrong region, expired, mismatch, …); refusals without such a key are
//! one kind per exception, so made-up ids cannot grow the table.
//!
//! Canonicalisation is Kastell's (in `kastell-proto`, fuzzed, checked against AWS's
//! published example and against botocore's header and presigning signers and the AWS
//! CLI): the AWS SDK's `aws-sigv4` crate (1.6) signs requests but keeps its canonical
//! request and string to sign private, so a verifier could only call its `sign`, which
//! derives the signing key from the secret on every call (no cache), chooses the signed
//! headers itself rather than taking the client's list, and `expect`s a URI authority
//! where a request without a `host` header has none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, Method, Uri};
use kastell_core::clients::Duties;
use kastell_core::keys::{Caller, KeyError};
use kastell_proto::Role;
use kastell_proto::api::AccessKeyInfo;
use kastell_proto::aws::sigv4::{self, Refusal, RefusalKind, Request};

use super::AwsState;

/// Signing keys kept at most; the cache is emptied when full (at most two dates are valid
/// at a time, and region and service are fixed, so a key has at most four entries).
const SIGNING_KEY_CACHE: usize = 10_000;
/// The most characters of a refusal's message kept in its audit record.
const AUDITED_MESSAGE: usize = 300;
/// The principal of refusals whose access key is not one issued here.
const UNAUTHENTICATED: &str = "(unauthenticated)";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// The service a request is for: its signature's scope must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS KMS (`kms`).
    Kms,
    /// AWS STS (`sts`).
    Sts,
}

impl Service {
    /// The name in the credential scope.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::Sts => "sts",
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug)]
pub enum Denied {
    /// Refused, with AWS's name for it.
    Refused(Refusal),
    /// The store or the token failed: 500, nothing refused.
    Internal,
}

type CacheKey = (String, String, String, Service);

struct Verified {
    key: hmac::Key,
    principal: String,
    roles: Vec<String>,
    tenant: Option<String>,
}

impl Verified {
    fn matches(&self, info: &AccessKeyInfo) -> bool {
        self.principal == info.principal && self.roles == info.roles && self.tenant == info.tenant
    }
}

/// Signing keys of access keys, each with the identity its secret was unsealed with.
#[derive(Default)]
pub struct SigningKeys {
    cache: Mutex<HashMap<CacheKey, Arc<Verified>>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").finish_non_exhaustive()
    }
}

impl SigningKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Verified>>> {
        // Derived keys only: a panic elsewhere leaves nothing half-written.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &CacheKey, info: &AccessKeyInfo) -> Option<Arc<Verified>> {
        self.lock().get(key).filter(|v| v.matches(info)).cloned()
    }

    fn insert(&self, key: CacheKey, verified: Arc<Verified>) {
        let mut cache = self.lock();
        if cache.len() >= SIGNING_KEY_CACHE {
            cache.clear();
        }
        cache.insert(key, verified);
    }
}

/// The signing key of `secret` for a date, region and service.
#[must_use]
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> hmac::Key {
    let mut first = zeroize::Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret);
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, &first);
    for part in [date, region, service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// Whether `signature` (64 hexadecimal digits) is the HMAC of `string_to_sign` under
/// `key`, compared in constant time (as bytes: the signature decoded, not the HMAC
/// encoded).
#[must_use]
pub fn signature_matches(key: &hmac::Key, string_to_sign: &str, signature: &str) -> bool {
    let mut given = [0u8; 32];
    if hex::decode_to_slice(signature, &mut given).is_err() {
        return false;
    }
    let expected = hmac::sign(key, string_to_sign.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), &given).is_ok()
}

/// A refusal and the access key it names, when that key exists.
struct Failure {
    refusal: Refusal,
    key: Option<AccessKeyInfo>,
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Self { refusal, key: None }
    }
}

fn refused(kind: RefusalKind, message: impl Into<String>, key: &AccessKeyInfo) -> Failure {
    Failure {
        refusal: Refusal::new(kind, message),
        key: Some(key.clone()),
    }
}

/// The caller an access key names, once the request's signature for `service` is verified;
/// each refusal audited (the first of its kind at once, the rest counted).
///
/// # Errors
/// [`Denied::Refused`] with the kind AWS names ([`RefusalKind::kms`], [`RefusalKind::sts`]);
/// [`Denied::Internal`] when the store or the token fails.
pub async fn authenticate(
    state: &AwsState,
    service: Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Denied> {
    match verify(state, service, method, uri, headers, body).await {
        Ok(caller) => Ok(caller),
        Err(None) => Err(Denied::Internal),
        Err(Some(failure)) => {
            audit(state, service, &failure).await;
            Err(Denied::Refused(failure.refusal))
        }
    }
}

async fn verify(
    state: &AwsState,
    service: Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Option<Failure>> {
    let lines: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let request = Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &lines,
    };
    let signed = sigv4::parse(&request).map_err(|r| Some(r.into()))?;
    let shared = &state.shared;
    let info = match shared.service.access_key_for_request(&signed.access_key_id) {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(Some(
                Refusal::new(RefusalKind::UnknownKey, INVALID_TOKEN).into(),
            ));
        }
        Err(error) => {
            tracing::error!(%error, "AWS endpoint: cannot read an access key");
            return Err(None);
        }
    };
    if info.revoked_ms.is_some() {
        return Err(Some(refused(RefusalKind::UnknownKey, INVALID_TOKEN, &info)));
    }
    let endpoint = &state.endpoint;
    signed
        .check(
            service.name(),
            &endpoint.region,
            kastell_core::keys::unix_now(),
        )
        .map_err(|r| Some(refused(r.kind, r.message, &info)))?;
    // The operation is part of what a KMS client signs: a presigned request whose holder
    // could pick another operation would not be one request delegated.
    if service == Service::Kms
        && headers.contains_key("x-amz-target")
        && !signed.signs("x-amz-target")
    {
        return Err(Some(refused(
            RefusalKind::Incomplete,
            "SignedHeaders must include x-amz-target",
            &info,
        )));
    }
    let cache_key = (
        signed.access_key_id.clone(),
        signed.date.clone(),
        signed.region.clone(),
        service,
    );
    let verified = match endpoint.signing_keys.get(&cache_key, &info) {
        Some(verified) => verified,
        None => {
            let verified = unseal(state, &signed, &info).await?;
            endpoint
                .signing_keys
                .insert(cache_key, Arc::clone(&verified));
            verified
        }
    };
    let payload = sigv4::payload_hash(body);
    let to_sign = signed
        .string_to_sign(&request, &payload)
        .map_err(|r| Some(refused(r.kind, r.message, &info)))?;
    if !signature_matches(&verified.key, &to_sign, &signed.signature) {
        return Err(Some(refused(
            RefusalKind::Invalid,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
            &info,
        )));
    }
    let mut roles = Vec::with_capacity(verified.roles.len());
    for name in &verified.roles {
        let Ok(role) = name.parse::<Role>() else {
            tracing::error!(access_key = %info.access_key_id, role = %name, "an access key names an unknown role");
            return Err(None);
        };
        roles.push(role);
    }
    if roles.len() > 1 && endpoint.duties == Duties::Separated {
        return Err(Some(refused(
            RefusalKind::Denied,
            format!(
                "access key {} holds the roles {}: separation of duties is on \
                 ([aws] separation_of_duties), so it is refused until it is revoked and \
                 reissued with one role",
                info.access_key_id,
                verified.roles.join(",")
            ),
            &info,
        )));
    }
    Ok(Caller {
        id: verified.principal.clone(),
        roles,
        tenant: verified.tenant.clone(),
        evidence: None,
    })
}

/// Unseals the access key's secret (on the blocking pool: it may be a token call) and
/// derives its signing key for the request's scope.
async fn unseal(
    state: &AwsState,
    signed: &sigv4::Signed,
    info: &AccessKeyInfo,
) -> Result<Arc<Verified>, Option<Failure>> {
    let shared = Arc::clone(&state.shared);
    let id = signed.access_key_id.clone();
    let found = tokio::task::spawn_blocking(move || shared.service.access_key_secret(&id))
        .await
        .map_err(|_| None)?;
    let (info, secret) = match found {
        Ok(Some(found)) => found,
        // Revoked meanwhile.
        Ok(None) => return Err(Some(refused(RefusalKind::UnknownKey, INVALID_TOKEN, info))),
        // The row was edited in the store (another principal, role or tenant): the caller
        // learns only that its token is invalid; the log names the tampering.
        Err(KeyError::TamperDetected(why)) => {
            tracing::error!(access_key = %info.access_key_id, %why, "TamperDetected: access key refused");
            return Err(Some(refused(RefusalKind::UnknownKey, INVALID_TOKEN, info)));
        }
        Err(error) => {
            tracing::error!(%error, "AWS endpoint: cannot unseal an access key");
            return Err(None);
        }
    };
    let key = signing_key(
        secret.expose(),
        &signed.date,
        &signed.region,
        &signed.service,
    );
    Ok(Arc::new(Verified {
        key,
        principal: info.principal,
        roles: info.roles,
        tenant: info.tenant,
    }))
}

/// The opening words of a refusal's message: up to its first `:`, `'` or `.`, at most 40
/// characters.
fn cause(message: &str) -> &str {
    let end = message
        .char_indices()
        .take(40)
        .find(|(_, c)| matches!(c, ':' | '\'' | '.'))
        .map_or_else(
            || {
                message
                    .char_indices()
                    .nth(40)
                    .map_or(message.len(), |(i, _)| i)
            },
            |(i, _)| i,
        );
    message.get(..end).unwrap_or(message)
}

/// Audits a refusal: the first of its kind (exception, and the access key and the cause
/// when the key exists) at once, the ones after it counted into the next summary.
async fn audit(state: &AwsState, service: Service, failure: &Failure) {
    let shared = &state.shared;
    shared.metrics.denied("aws-signature");
    let kind = failure.refusal.kind;
    let name = match service {
        Service::Kms => kind.kms().name(),
        Service::Sts => kind.sts().0,
    };
    let message: String = failure
        .refusal
        .message
        .chars()
        .take(AUDITED_MESSAGE)
        .collect();
    let (tally, principal, reason) = match &failure.key {
        // Per access key, exception and cause: the message's opening words, which are
        // Kastell's own text for every refusal that names an existing key (wrong region,
        // expired, mismatch, …), so the kinds stay a small set per key.
        Some(key) => (
            format!(
                "aws-sigv4 {name} {} {}",
                key.access_key_id,
                cause(&failure.refusal.message)
            ),
            key.principal.as_str(),
            format!(
                "{} request with access key {} refused: {name}: {message}",
                service.name(),
                key.access_key_id
            ),
        ),
        // Without a key of its own the kind is one per exception, so that made-up ids
        // cannot grow the table; the record names the first request's reason.
        None => (
            format!("aws-sigv4 {name}"),
            UNAUTHENTICATED,
            format!(
                "{} request without an access key issued here refused: {name}: {message}",
                service.name()
            ),
        ),
    };
    let Some(entry) = shared
        .refusals
        .note(&tally, principal, "aws-authenticate", None, &reason)
    else {
        return;
    };
    let shared = Arc::clone(shared);
    let recorded =
        tokio::task::spawn_blocking(move || shared.service.record_entry(entry).map(drop)).await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!("cannot audit a refused AWS request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example of SigV4 (IAM `ListUsers`, 2015-08-30, from the AWS General
    /// Reference): its signing key and signature, through AWS-LC.
    #[test]
    fn the_signature_of_aws_s_published_example_is_reproduced() {
        let key = signing_key(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        let to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
                       f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        let signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        assert!(signature_matches(&key, to_sign, signature));
        assert!(!signature_matches(
            &key,
            &to_sign.replace("36", "37"),
            signature
        ));
        assert!(!signature_matches(&key, to_sign, &signature[..63]));
    }
}

#[cfg(test)]
mod cause_tests {
    use super::cause;

    #[test]
    fn causes_are_the_fixed_opening_words() {
        assert_eq!(
            cause("Signature expired: 20261207T120000Z is now earlier than …"),
            "Signature expired"
        );
        assert_eq!(
            cause("Credential should be scoped to a valid region, not 'x'."),
            "Credential should be scoped to a valid r"
        );
        assert_eq!(
            cause("SignedHeaders must include x-amz-target"),
            "SignedHeaders must include x-amz-target"
        );
        assert_eq!(cause(""), "");
    }
}
