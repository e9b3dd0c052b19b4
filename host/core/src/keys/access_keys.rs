//! Access keys of the AWS KMS-compatible endpoint: issuance, revocation, the one way to
//! read a secret back (to check a request's signature) and the one way a secret leaves
//! the host after its issuance (sealed to the requester's public key).
//!
//! The secret is 30 random bytes from the token, given to the principal once as 40
//! characters of base64 (the shape of an AWS secret access key). It must be recoverable
//! (SigV4 is an HMAC keyed by it), so it is stored sealed with AES-256-GCM under a token
//! key of its own (`<prefix>-access-keys`), with `kastell-access-key-v1 ‖ 0` and the
//! length-prefixed id, principal, roles (joined with `,`) and tenant as the associated
//! data: a secret copied onto another row does not open, nor one whose row someone who
//! writes the store edited to another principal, role or tenant (refused as
//! `TamperDetected`).
//!
//! Offline (`kastell access-key create --config`, on the token's host) the secret is
//! printed once. Through the server it is never in an answer in the clear:
//! [`KeyService::seal_access_key_secret`] seals it with HPKE to the P-384 public key the
//! officers approved in the request. A key of its own
//! rather than the master key: the master key wraps key material with RFC 5649, which has
//! no associated data, and one key per purpose keeps a mistake in one use from touching
//! the other.

mod cache;

pub use cache::ACCESS_KEY_RECHECK;
pub(super) use cache::AccessKeyCache;

use base64::Engine as _;
use kastell_proto::Role;
use kastell_proto::api::{
    AccessKeyInfo, SealedSecret, delivery_aad, delivery_info, is_access_key_id,
};
use kastell_proto::secret::SecretBytes;

use crate::clients::Duties;

use super::KeyError;
use super::service::{Caller, KeyService, now_ms};
use crate::audit::{AuditEntry, Outcome};
use crate::store::{AccessKeyRow, Revocation};

/// Bytes of randomness in a secret (40 characters of base64).
const SECRET_BYTES: usize = 30;
/// Bytes of randomness in an id (16 characters of base32).
const ID_BYTES: usize = 10;
/// The associated data's fixed part.
const AAD_LABEL: &[u8] = b"kastell-access-key-v1\0";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Who an access key acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyIdentity {
    /// The principal: 1–128 of `A–Z a–z 0–9 - _ .`.
    pub principal: String,
    /// Its roles: one, or crypto-officer and crypto-user with [`Duties::Combined`].
    pub roles: Vec<String>,
    /// Its tenant, if any.
    pub tenant: Option<String>,
}

/// A newly issued access key: its row and the secret, shown once.
#[derive(Debug)]
pub struct IssuedAccessKey {
    /// Id, principal, role, tenant, issuance.
    pub info: AccessKeyInfo,
    /// The secret access key: 40 characters of base64.
    pub secret: SecretBytes,
}

/// The associated data binding a sealed secret to its row's identity: the label, then id,
/// principal, roles (joined with `,`) and tenant (empty for none), each prefixed by its
/// length (u32, BE).
fn aad(id: &str, principal: &str, roles: &str, tenant: Option<&str>) -> Vec<u8> {
    let mut out = AAD_LABEL.to_vec();
    for field in [id, principal, roles, tenant.unwrap_or_default()] {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

fn base32(bytes: &[u8; ID_BYTES]) -> String {
    let mut out = String::with_capacity(16);
    let mut bits: u32 = 0;
    let mut count = 0;
    for &byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 5 {
            count -= 5;
            out.push(char::from(BASE32[((bits >> count) & 31) as usize]));
        }
    }
    out
}

/// The secret sealed with HPKE to `recipient`, bound to the key's id
/// ([`kastell_proto::api::delivery_info`]) and identity
/// ([`kastell_proto::api::delivery_aad`]): the requester opens it with
/// `kastell_attest::hpke::open_with_info`.
fn seal_to(
    info: &AccessKeyInfo,
    secret: &SecretBytes,
    recipient: &[u8],
) -> Result<SealedSecret, KeyError> {
    let sealed = crate::crypto::hpke::seal_with_info(
        recipient,
        &delivery_info(&info.access_key_id),
        &delivery_aad(&info.principal, &info.roles, info.tenant.as_deref()),
        secret.expose(),
    )
    .map_err(|e| match e {
        crate::crypto::hpke::SealError::Recipient(err) => {
            KeyError::InvalidInput(format!("public_key: {err}"))
        }
        crate::crypto::hpke::SealError::Crypto(err) => KeyError::Token(err.into()),
    })?;
    let engine = base64::engine::general_purpose::STANDARD;
    Ok(SealedSecret {
        encapsulated_key: engine.encode(&sealed.encapsulated_key),
        ciphertext: engine.encode(&sealed.ciphertext),
    })
}

/// The roles asked for, parsed, sorted and each once.
fn parse_roles(roles: &[String]) -> Result<Vec<Role>, KeyError> {
    let mut parsed = roles
        .iter()
        .map(|name| {
            name.parse::<Role>().map_err(|_| {
                KeyError::InvalidInput(format!(
                    "unknown role `{name}`: crypto-officer, crypto-user or auditor"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    parsed.dedup();
    if parsed.is_empty() {
        return Err(KeyError::InvalidInput(
            "an access key needs a role: crypto-officer, crypto-user or auditor".into(),
        ));
    }
    Ok(parsed)
}

impl KeyService {
    /// Issues an access key acting as `identity` (its principal keeps one role for life, as
    /// with client certificates, or holds crypto-officer and crypto-user under
    /// [`Duties::Combined`]; reserved names are refused), audited `issue-access-key` as
    /// `caller`'s. The secret is in the answer: only `kastell access-key create` on the
    /// token's host prints it; the server seals it ([`Self::seal_access_key_secret`]).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for an unknown role or a malformed principal or tenant;
    /// [`KeyError::AccessDenied`] for a reserved principal, one bound to another role, or
    /// two roles under [`Duties::Separated`]; the token or the store.
    pub fn issue_access_key(
        &self,
        caller: &Caller,
        identity: &AccessKeyIdentity,
        duties: Duties,
    ) -> Result<IssuedAccessKey, KeyError> {
        let roles = parse_roles(&identity.roles)?;
        for (what, value) in std::iter::once(("principal", &identity.principal))
            .chain(identity.tenant.iter().map(|t| ("tenant", t)))
        {
            let ok = !value.is_empty()
                && value.len() <= 128
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(KeyError::InvalidInput(format!(
                    "{what} `{value}` must be 1–128 characters of A–Z a–z 0–9 - _ ."
                )));
            }
        }
        crate::clients::check_access_key_principal(
            &*self.store,
            &identity.principal,
            &roles,
            duties,
        )
        .map_err(|e| match e {
            crate::clients::ClientError::Store(e) => KeyError::Store(e),
            other => {
                // Callers that name the refusal check it first
                // (`check_access_key_principal`); here it is the last word.
                tracing::info!(principal = %identity.principal, reason = %other, "access key refused");
                KeyError::AccessDenied
            }
        })?;
        let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        let joined = roles.join(",");
        let mut id_bytes = [0u8; ID_BYTES];
        self.token.random(&mut id_bytes)?;
        let id = format!(
            "{}{}",
            kastell_proto::api::ACCESS_KEY_PREFIX,
            base32(&id_bytes)
        );
        debug_assert!(is_access_key_id(&id));
        let mut raw = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
        self.token.random(raw.as_mut())?;
        let secret = SecretBytes::new(
            base64::engine::general_purpose::STANDARD
                .encode(raw.as_ref())
                .into_bytes(),
        );
        let sealed = self.token.encrypt(
            &self.keys.access_keys,
            &aad(
                &id,
                &identity.principal,
                &joined,
                identity.tenant.as_deref(),
            ),
            secret.expose(),
        )?;
        let info = AccessKeyInfo {
            access_key_id: id.clone(),
            principal: identity.principal.clone(),
            roles,
            tenant: identity.tenant.clone(),
            created_ms: now_ms(),
            created_by: caller.id.clone(),
            revoked_ms: None,
        };
        let row = AccessKeyRow {
            info: info.clone(),
            key_label: self.keys.access_keys.clone(),
            nonce: sealed.nonce,
            sealed: sealed.ciphertext,
        };
        // The identity only: the secret is never in a record or a log line.
        let reason = format!(
            "access key {id}: {} as {joined}{}",
            identity.principal,
            identity
                .tenant
                .as_ref()
                .map(|t| format!(" of tenant {t}"))
                .unwrap_or_default()
        );
        let record = self.store.add_access_key(
            &row,
            AuditEntry::event(
                &caller.id,
                "issue-access-key",
                None,
                Outcome::Allowed,
                reason,
            ),
        )?;
        self.checkpoint_if_due(record.seq);
        Ok(IssuedAccessKey { info, secret })
    }

    /// Issues an access key as [`Self::issue_access_key`] does and answers its secret sealed
    /// to `recipient` (a SEC1 uncompressed P-384 point, checked before anything is issued):
    /// the server's issuance, where the secret is in no answer in the clear.
    ///
    /// # Errors
    /// As [`Self::issue_access_key`]; [`KeyError::InvalidInput`] naming what is wrong with
    /// the recipient key.
    pub fn issue_access_key_sealed(
        &self,
        caller: &Caller,
        identity: &AccessKeyIdentity,
        duties: Duties,
        recipient: &[u8],
    ) -> Result<(AccessKeyInfo, SealedSecret), KeyError> {
        kastell_attest::hpke::check_public_key(recipient)
            .map_err(|err| KeyError::InvalidInput(format!("public_key: {err}")))?;
        let issued = self.issue_access_key(caller, identity, duties)?;
        let sealed = seal_to(&issued.info, &issued.secret, recipient)?;
        Ok((issued.info, sealed))
    }

    /// Seals the secret of access key `id` to `recipient` (a SEC1 uncompressed P-384
    /// point): how the server hands a secret out after its issuance, to the public key the
    /// officers approved in the issuance request only.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] for an unknown or revoked key; [`KeyError::InvalidInput`]
    /// naming what is wrong with the recipient key; [`KeyError::TamperDetected`] when the
    /// stored secret does not open; the token.
    pub fn seal_access_key_secret(
        &self,
        id: &str,
        recipient: &[u8],
    ) -> Result<(AccessKeyInfo, SealedSecret), KeyError> {
        let (info, secret) = self
            .access_key_secret(id)?
            .ok_or_else(|| KeyError::NotFound(format!("access key {id} (unknown or revoked)")))?;
        let sealed = seal_to(&info, &secret, recipient)?;
        Ok((info, sealed))
    }

    /// The access key `id` as stored (revoked or not), without its secret; `None` for a
    /// malformed or unknown id.
    ///
    /// # Errors
    /// The store.
    pub fn access_key(&self, id: &str) -> Result<Option<AccessKeyInfo>, KeyError> {
        if !is_access_key_id(id) {
            return Ok(None);
        }
        Ok(self.store.access_key(id)?.map(|row| row.info))
    }

    /// Revokes the access key `id`, audited `revoke-access-key` as `caller`'s; whether it
    /// was revoked now (false: it was revoked already).
    ///
    /// # Errors
    /// [`KeyError::NotFound`] for an unknown id; the store.
    pub fn revoke_access_key(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<bool, KeyError> {
        if self.store.access_key(id)?.is_none() {
            return Err(KeyError::NotFound(format!("access key {id}")));
        }
        // Before the write: from here on every request signed with it reads the store.
        self.access_key_rows.revoking(id);
        let revocation = Revocation {
            serial: id.to_owned(),
            revoked_ms: now_ms(),
            revoked_by: caller.id.clone(),
            reason: reason.to_owned(),
        };
        let audit = AuditEntry::event(
            &caller.id,
            "revoke-access-key",
            None,
            Outcome::Allowed,
            format!("access key {id}: {reason}"),
        );
        let record = self.store.revoke_access_key(&revocation, audit)?;
        if let Some(record) = &record {
            self.checkpoint_if_due(record.seq);
        }
        Ok(record.is_some())
    }

    /// The access key `id` and its secret, to check a request signed with it: `None` when
    /// the id is malformed, unknown or revoked (the caller answers the same for each).
    ///
    /// # Errors
    /// [`KeyError::TamperDetected`] when the sealed secret does not open (the row was
    /// edited or moved); the token or the store.
    pub fn access_key_secret(
        &self,
        id: &str,
    ) -> Result<Option<(AccessKeyInfo, SecretBytes)>, KeyError> {
        if !is_access_key_id(id) {
            return Ok(None);
        }
        let Some(row) = self.store.access_key(id)? else {
            return Ok(None);
        };
        if row.info.revoked_ms.is_some() {
            return Ok(None);
        }
        let secret = self
            .token
            .decrypt(
                &row.key_label,
                &row.nonce,
                &aad(
                    id,
                    &row.info.principal,
                    &row.info.roles.join(","),
                    row.info.tenant.as_deref(),
                ),
                &row.sealed,
            )
            .map_err(|_| {
                KeyError::TamperDetected(format!(
                    "the sealed secret of access key {id} does not open"
                ))
            })?;
        Ok(Some((row.info, secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sixteen_base32_characters_after_the_prefix() {
        let id = format!("KSTL{}", base32(&[0xff; ID_BYTES]));
        assert_eq!(id, "KSTL7777777777777777");
        assert!(is_access_key_id(&id));
        assert_eq!(base32(&[0; ID_BYTES]), "AAAAAAAAAAAAAAAA");
    }
}
