//! Access keys of the AWS KMS-compatible endpoint: issuance, revocation and the one way to
//! read a secret back (to check a request's signature).
//!
//! The secret is 30 random bytes from the token, given to the principal once as 40
//! characters of base64 (the shape of an AWS secret access key). It must be recoverable
//! (SigV4 is an HMAC keyed by it), so it is stored sealed with AES-256-GCM under a token
//! key of its own (`<prefix>-access-keys`), with `kastell-access-key-v1 ‖ 0` and the
//! length-prefixed id, principal, role and tenant as the associated data: a secret copied
//! onto another row does not open, nor one whose row someone who writes the store edited
//! to another principal, role or tenant (refused as `TamperDetected`). A key of its own
//! rather than the master key: the master key wraps key material with RFC 5649, which has
//! no associated data, and one key per purpose keeps a mistake in one use from touching
//! the other.

use base64::Engine as _;
use kastell_attest::identity::ClientIdentity;
use kastell_proto::api::{AccessKeyInfo, is_access_key_id};
use kastell_proto::secret::SecretBytes;

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

/// A newly issued access key: its row and the secret, shown once.
#[derive(Debug)]
pub struct IssuedAccessKey {
    /// Id, principal, role, tenant, issuance.
    pub info: AccessKeyInfo,
    /// The secret access key: 40 characters of base64.
    pub secret: SecretBytes,
}

/// The associated data binding a sealed secret to its row's identity: the label, then id,
/// principal, role and tenant (empty for none), each prefixed by its length (u32, BE).
fn aad(id: &str, principal: &str, role: &str, tenant: Option<&str>) -> Vec<u8> {
    let mut out = AAD_LABEL.to_vec();
    for field in [id, principal, role, tenant.unwrap_or_default()] {
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

impl KeyService {
    /// Issues an access key acting as `identity` (its principal keeps one role for life, as
    /// with client certificates; reserved names are refused), audited `issue-access-key`
    /// as `caller`'s.
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for an unknown role or a malformed principal or tenant;
    /// [`KeyError::AccessDenied`] for a reserved principal or one bound to another role;
    /// the token or the store.
    pub fn issue_access_key(
        &self,
        caller: &Caller,
        identity: &ClientIdentity,
    ) -> Result<IssuedAccessKey, KeyError> {
        let role: kastell_proto::Role = identity.role.parse().map_err(|_| {
            KeyError::InvalidInput(format!(
                "unknown role `{}`: crypto-officer, crypto-user or auditor",
                identity.role
            ))
        })?;
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
        crate::clients::check_principal(&*self.store, identity).map_err(|e| match e {
            crate::clients::ClientError::Store(e) => KeyError::Store(e),
            other => {
                tracing::info!(principal = %identity.principal, reason = %other, "access key refused");
                KeyError::AccessDenied
            }
        })?;
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
                role.as_str(),
                identity.tenant.as_deref(),
            ),
            secret.expose(),
        )?;
        let info = AccessKeyInfo {
            access_key_id: id.clone(),
            principal: identity.principal.clone(),
            role: role.as_str().to_owned(),
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
        let reason = format!(
            "access key {id}: {} as {}{}",
            identity.principal,
            role.as_str(),
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
                    &row.info.role,
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
