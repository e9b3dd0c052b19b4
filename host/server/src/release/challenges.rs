//! Release challenges: single-use nonces, each for one key and the client that asked, for
//! a short time; bounded in number.

use kastell_proto::ErrorCode;
use kastell_proto::KeyId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Length of a challenge nonce.
pub const NONCE_LEN: usize = 32;
/// Open challenges kept at most; past this, expired ones are dropped, then new ones refused.
const MAX_CHALLENGES: usize = 100_000;

struct Challenge {
    key: KeyId,
    /// Who asked: only they may use it.
    principal: String,
    expires: Instant,
}

/// Open challenge nonces, each usable once, for one key, until it expires.
#[derive(Default)]
pub struct Challenges {
    open: Mutex<HashMap<[u8; NONCE_LEN], Challenge>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges").finish_non_exhaustive()
    }
}

impl Challenges {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; NONCE_LEN], Challenge>> {
        // Entries are independent; a panic elsewhere leaves nothing half-written.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh nonce for `key`, usable once within `ttl` by `principal`.
    pub(super) fn issue(
        &self,
        key: KeyId,
        principal: &str,
        ttl: Duration,
    ) -> Result<[u8; NONCE_LEN], ApiError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut nonce)
            .map_err(ApiError::internal)?;
        let now = Instant::now();
        let expires = now.checked_add(ttl).ok_or_else(|| {
            ApiError::internal(format!("challenge lifetime {ttl:?} is out of range"))
        })?;
        let mut open = self.lock();
        if open.len() >= MAX_CHALLENGES {
            open.retain(|_, c| c.expires > now);
        }
        if open.len() >= MAX_CHALLENGES {
            return Err(ApiError::of(
                ErrorCode::TooManyChallenges,
                format!("{MAX_CHALLENGES} release challenges are open; try again shortly"),
            ));
        }
        open.insert(
            nonce,
            Challenge {
                key,
                principal: principal.to_owned(),
                expires,
            },
        );
        Ok(nonce)
    }

    /// Uses up `nonce` for `key` and `principal`: whatever the outcome, it cannot be used
    /// again.
    pub(super) fn take(&self, nonce: &[u8], key: KeyId, principal: &str) -> Result<(), String> {
        let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(nonce) else {
            return Err(format!(
                "the nonce is {} bytes; challenges are {NONCE_LEN}",
                nonce.len()
            ));
        };
        let Some(challenge) = self.lock().remove(&nonce) else {
            return Err("unknown or already used release nonce".into());
        };
        if challenge.expires <= Instant::now() {
            return Err("the release challenge expired; ask for a new one".into());
        }
        if challenge.key != key {
            return Err("the nonce was issued for another key".into());
        }
        if challenge.principal != principal {
            return Err("the nonce was issued to another client".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_works_once_for_its_key_only() {
        let challenges = Challenges::default();
        let key = KeyId::random();
        let nonce = challenges
            .issue(key, "app", Duration::from_secs(60))
            .expect("issued");
        assert_eq!(challenges.take(&nonce, key, "app"), Ok(()));
        let again = challenges
            .take(&nonce, key, "app")
            .expect_err("replay refused");
        assert!(again.contains("already used"), "{again}");
        let other = challenges
            .issue(key, "app", Duration::from_secs(60))
            .expect("issued");
        let wrong = challenges
            .take(&other, KeyId::random(), "app")
            .expect_err("other key refused");
        assert!(wrong.contains("another key"), "{wrong}");
        // Refused once, the nonce is gone too.
        assert!(challenges.take(&other, key, "app").is_err());
        let theirs = challenges
            .issue(key, "app", Duration::from_secs(60))
            .expect("issued");
        let stolen = challenges
            .take(&theirs, key, "mallory")
            .expect_err("another client refused");
        assert!(stolen.contains("another client"), "{stolen}");
        assert!(
            challenges
                .take(&[0; 5], key, "app")
                .unwrap_err()
                .contains("5 bytes")
        );
    }

    #[test]
    fn an_expired_nonce_is_refused_as_expired() {
        let challenges = Challenges::default();
        let key = KeyId::random();
        let nonce = challenges
            .issue(key, "app", Duration::ZERO)
            .expect("issued");
        let err = challenges.take(&nonce, key, "app").expect_err("expired");
        assert!(err.contains("expired"), "{err}");
    }
}
