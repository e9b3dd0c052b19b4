//! Release challenges held in this host's memory, for a single-host deployment (SQLite):
//! the same rules as the store's (`Store::issue_challenge`, `Store::take_challenge`) without
//! a write transaction (and its fsync) per issue and per use. A restart forgets the open
//! challenges: a client whose challenge was issued before asks for a new one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use kastell_core::store::{ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake};
use kastell_proto::KeyId;

struct Open {
    key: KeyId,
    principal: String,
    expires_ms: i64,
}

/// Open challenges by nonce.
#[derive(Default)]
pub(crate) struct MemoryChallenges {
    open: Mutex<HashMap<Vec<u8>, Open>>,
}

impl MemoryChallenges {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Open>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `challenge` unless its principal or everyone holds the limit (expired ones
    /// dropped first).
    pub(crate) fn issue(
        &self,
        challenge: &ChallengeRow,
        limits: ChallengeLimits,
        now_ms: i64,
    ) -> ChallengeIssue {
        let mut open = self.open();
        open.retain(|_, c| c.expires_ms > now_ms);
        let held = open
            .values()
            .filter(|c| c.principal == challenge.principal)
            .count();
        let held = u64::try_from(held).unwrap_or(u64::MAX);
        if held >= limits.per_principal {
            return ChallengeIssue::PrincipalFull { held };
        }
        if u64::try_from(open.len()).unwrap_or(u64::MAX) >= limits.total {
            return ChallengeIssue::TotalFull;
        }
        open.insert(
            challenge.nonce.clone(),
            Open {
                key: challenge.key,
                principal: challenge.principal.clone(),
                expires_ms: challenge.expires_ms,
            },
        );
        ChallengeIssue::Issued
    }

    /// Uses up `nonce` when `principal` owns it (whatever else is wrong with it); leaves
    /// another principal's nonce as it was.
    pub(crate) fn take(
        &self,
        nonce: &[u8],
        key: &KeyId,
        principal: &str,
        now_ms: i64,
    ) -> ChallengeTake {
        let mut open = self.open();
        let Some(found) = open.get(nonce) else {
            return ChallengeTake::Unknown;
        };
        if found.expires_ms <= now_ms {
            open.remove(nonce);
            return ChallengeTake::Expired;
        }
        if found.principal != principal {
            return ChallengeTake::OtherPrincipal;
        }
        let found_key = found.key;
        open.remove(nonce);
        if found_key == *key {
            ChallengeTake::Taken
        } else {
            ChallengeTake::OtherKey
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;

    const LIMITS: ChallengeLimits = ChallengeLimits {
        per_principal: 2,
        total: 3,
    };

    fn row(key: KeyId, principal: &str, nonce: u8, expires_ms: i64) -> ChallengeRow {
        ChallengeRow {
            nonce: vec![nonce; 32],
            key,
            principal: principal.to_owned(),
            expires_ms,
        }
    }

    #[test]
    fn a_nonce_is_used_once_by_its_owner_for_its_key_before_it_expires() {
        let memory = MemoryChallenges::default();
        let key = KeyId::random();
        assert_eq!(
            memory.issue(&row(key, "app", 1, 100), LIMITS, 0),
            ChallengeIssue::Issued
        );
        assert_eq!(
            memory.take(&[1; 32], &key, "mallory", 1),
            ChallengeTake::OtherPrincipal
        );
        assert_eq!(memory.take(&[1; 32], &key, "app", 1), ChallengeTake::Taken);
        assert_eq!(
            memory.take(&[1; 32], &key, "app", 1),
            ChallengeTake::Unknown
        );
        memory.issue(&row(key, "app", 2, 100), LIMITS, 0);
        assert_eq!(
            memory.take(&[2; 32], &KeyId::random(), "app", 1),
            ChallengeTake::OtherKey
        );
        assert_eq!(
            memory.take(&[2; 32], &key, "app", 1),
            ChallengeTake::Unknown,
            "used up"
        );
        memory.issue(&row(key, "app", 3, 100), LIMITS, 0);
        assert_eq!(
            memory.take(&[3; 32], &key, "app", 100),
            ChallengeTake::Expired
        );
        assert_eq!(
            memory.take(&[3; 32], &key, "app", 1),
            ChallengeTake::Unknown,
            "gone"
        );
    }

    #[test]
    fn the_limits_hold_and_expired_challenges_free_their_places() {
        let memory = MemoryChallenges::default();
        let key = KeyId::random();
        for n in 0..2 {
            assert_eq!(
                memory.issue(&row(key, "a", n, 100), LIMITS, 0),
                ChallengeIssue::Issued
            );
        }
        assert_eq!(
            memory.issue(&row(key, "a", 9, 100), LIMITS, 0),
            ChallengeIssue::PrincipalFull { held: 2 }
        );
        assert_eq!(
            memory.issue(&row(key, "b", 10, 100), LIMITS, 0),
            ChallengeIssue::Issued
        );
        assert_eq!(
            memory.issue(&row(key, "c", 11, 100), LIMITS, 0),
            ChallengeIssue::TotalFull
        );
        assert_eq!(
            memory.issue(&row(key, "c", 11, 200), LIMITS, 100),
            ChallengeIssue::Issued
        );
    }
}
