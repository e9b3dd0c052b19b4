//! Release challenges: single-use nonces, each for one key and the client that asked, for
//! a short time; bounded per client and in all.
//!
//! Every challenge lives for the same TTL, so their expiries come in the order they were
//! issued: a queue in issue order finds the expired ones at its front, and counts per client
//! answer "is this client over its quota?" without looking at anyone's challenges. Issuing
//! and refusing are O(1) (amortised: each expiry is paid for by the issue that queued it).

use kastell_proto::ErrorCode;
use kastell_proto::KeyId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Length of a challenge nonce.
pub const NONCE_LEN: usize = 32;

struct Challenge {
    key: KeyId,
    /// Who asked: only they may use it.
    principal: String,
    expires: Instant,
}

/// The open challenges and what indexes them.
#[derive(Default)]
struct Open {
    by_nonce: HashMap<[u8; NONCE_LEN], Challenge>,
    /// Nonces in issue order, so in expiry order; may name challenges already used (they
    /// are skipped, and the queue is compacted when they outnumber the open ones).
    queue: VecDeque<([u8; NONCE_LEN], Instant)>,
    /// Open challenges per principal (no entry at zero).
    per_principal: HashMap<String, usize>,
}

impl Open {
    /// Removes `nonce`'s challenge, keeping the counts.
    fn remove(&mut self, nonce: &[u8; NONCE_LEN]) -> Option<Challenge> {
        let challenge = self.by_nonce.remove(nonce)?;
        if let Some(count) = self.per_principal.get_mut(&challenge.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_principal.remove(&challenge.principal);
            }
        }
        Some(challenge)
    }

    /// Drops every challenge expired at `now`, from the front of the queue.
    fn expire(&mut self, now: Instant) {
        while let Some(&(nonce, expires)) = self.queue.front() {
            if expires > now {
                break;
            }
            self.queue.pop_front();
            self.remove(&nonce);
        }
    }

    /// Drops queue entries of used challenges once they are more than half the queue.
    fn compact(&mut self) {
        if self.queue.len() > 64 && self.queue.len() > 2 * self.by_nonce.len() {
            let by_nonce = &self.by_nonce;
            self.queue.retain(|(nonce, _)| by_nonce.contains_key(nonce));
        }
    }
}

/// Open challenge nonces, each usable once, for one key, by the client that asked, until
/// it expires.
pub struct Challenges {
    ttl: Duration,
    per_principal: usize,
    total: usize,
    open: Mutex<Open>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges")
            .field("ttl", &self.ttl)
            .field("per_principal", &self.per_principal)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// A challenge as issued: the nonce and when it expires.
#[derive(Debug)]
pub struct Issued {
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
    /// How long it stays usable.
    pub ttl: Duration,
}

impl Challenges {
    /// Challenges usable for `ttl`, at most `per_principal` open for one client and `total`
    /// open in all (both at least 1).
    #[must_use]
    pub fn new(ttl: Duration, per_principal: usize, total: usize) -> Self {
        Self {
            ttl,
            per_principal: per_principal.max(1),
            total: total.max(1),
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // Each change below keeps the map, queue and counts consistent before anything that
        // could panic; a panic elsewhere leaves nothing half-written.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh nonce for `key`, usable once within the TTL by `principal`.
    ///
    /// # Errors
    /// 429 `Throttled` when `principal` holds its quota of open challenges; 503
    /// `TooManyChallenges` when all clients together hold the total; 500 when the system's
    /// randomness fails.
    pub fn issue(&self, key: KeyId, principal: &str) -> Result<Issued, ApiError> {
        let now = Instant::now();
        let expires = now.checked_add(self.ttl).ok_or_else(|| {
            ApiError::internal(format!("challenge lifetime {:?} is out of range", self.ttl))
        })?;
        let mut open = self.lock();
        open.expire(now);
        let held = open.per_principal.get(principal).copied().unwrap_or(0);
        if held >= self.per_principal {
            return Err(ApiError::of(
                ErrorCode::Throttled,
                format!(
                    "this client holds {held} open release challenges, the most one client may \
                     (release.challenges_per_client); use one or let it expire ({} s) first",
                    self.ttl.as_secs()
                ),
            ));
        }
        if open.by_nonce.len() >= self.total {
            return Err(ApiError::of(
                ErrorCode::TooManyChallenges,
                format!(
                    "{} release challenges are open; try again shortly",
                    self.total
                ),
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut nonce)
            .map_err(ApiError::internal)?;
        open.by_nonce.insert(
            nonce,
            Challenge {
                key,
                principal: principal.to_owned(),
                expires,
            },
        );
        open.queue.push_back((nonce, expires));
        *open.per_principal.entry(principal.to_owned()).or_insert(0) += 1;
        open.compact();
        Ok(Issued {
            nonce,
            ttl: self.ttl,
        })
    }

    /// Uses up `nonce` for `key` and `principal`. A nonce issued to another client is
    /// refused and left as it was, so that whoever learnt it cannot take it from its owner;
    /// once its owner presents it, it is used up whatever the outcome (an expired one is
    /// gone in any case).
    ///
    /// # Errors
    /// Why the nonce is not usable: malformed, unknown or used, expired, another client's,
    /// another key's.
    pub(super) fn take(&self, nonce: &[u8], key: KeyId, principal: &str) -> Result<(), String> {
        let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(nonce) else {
            return Err(format!(
                "the nonce is {} bytes; challenges are {NONCE_LEN}",
                nonce.len()
            ));
        };
        let mut open = self.lock();
        let Some(challenge) = open.by_nonce.get(&nonce) else {
            return Err("unknown or already used release nonce".into());
        };
        if challenge.expires <= Instant::now() {
            open.remove(&nonce);
            return Err("the release challenge expired; ask for a new one".into());
        }
        // Before anything is used up: a nonce is its owner's to spend.
        if challenge.principal != principal {
            return Err("the nonce was issued to another client".into());
        }
        let challenge_key = challenge.key;
        open.remove(&nonce);
        if challenge_key != key {
            return Err("the nonce was issued for another key".into());
        }
        Ok(())
    }

    /// How many challenges are open (expired ones not yet dropped included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_nonce.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenges() -> Challenges {
        Challenges::new(Duration::from_secs(60), 64, 100_000)
    }

    #[test]
    fn a_nonce_works_once_for_its_key_only() {
        let challenges = challenges();
        let key = KeyId::random();
        let nonce = challenges.issue(key, "app").expect("issued").nonce;
        assert_eq!(challenges.take(&nonce, key, "app"), Ok(()));
        let again = challenges
            .take(&nonce, key, "app")
            .expect_err("replay refused");
        assert!(again.contains("already used"), "{again}");
        let other = challenges.issue(key, "app").expect("issued").nonce;
        let wrong = challenges
            .take(&other, KeyId::random(), "app")
            .expect_err("other key refused");
        assert!(wrong.contains("another key"), "{wrong}");
        // Refused once to its owner, the nonce is gone too.
        assert!(challenges.take(&other, key, "app").is_err());
        assert!(
            challenges
                .take(&[0; 5], key, "app")
                .unwrap_err()
                .contains("5 bytes")
        );
    }

    #[test]
    fn a_nonce_presented_by_another_client_is_refused_and_stays_its_owners() {
        let challenges = challenges();
        let key = KeyId::random();
        let theirs = challenges.issue(key, "app").expect("issued").nonce;
        for _ in 0..3 {
            let stolen = challenges
                .take(&theirs, key, "mallory")
                .expect_err("another client refused");
            assert!(stolen.contains("another client"), "{stolen}");
        }
        assert_eq!(challenges.take(&theirs, key, "app"), Ok(()), "still usable");
    }

    #[test]
    fn an_expired_nonce_is_refused_as_expired() {
        let challenges = Challenges::new(Duration::ZERO, 64, 100);
        let key = KeyId::random();
        let nonce = challenges.issue(key, "app").expect("issued").nonce;
        let err = challenges.take(&nonce, key, "app").expect_err("expired");
        assert!(err.contains("expired") || err.contains("unknown"), "{err}");
    }

    #[test]
    fn each_client_has_its_quota_and_all_together_the_total() {
        let challenges = Challenges::new(Duration::from_secs(60), 3, 5);
        let key = KeyId::random();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(challenges.issue(key, "app").expect("within quota").nonce);
        }
        let over = challenges.issue(key, "app").expect_err("over quota");
        assert_eq!(over.code, ErrorCode::Throttled, "{}", over.message);
        assert!(over.message.contains("holds 3 open"), "{}", over.message);
        // Another client is not held back by the first one's quota.
        challenges.issue(key, "other").expect("other client");
        challenges.issue(key, "other").expect("other client");
        let full = challenges.issue(key, "third").expect_err("total reached");
        assert_eq!(full.code, ErrorCode::TooManyChallenges);
        // Using one frees a place in the quota and in the total.
        let used = held.pop().expect("held");
        assert_eq!(challenges.take(&used, key, "app"), Ok(()));
        challenges.issue(key, "app").expect("freed by use");
    }

    #[test]
    fn expired_challenges_free_their_places_without_a_scan() {
        let challenges = Challenges::new(Duration::from_millis(30), 2, 4);
        let key = KeyId::random();
        for principal in ["a", "a", "b", "b"] {
            challenges.issue(key, principal).expect("issued");
        }
        assert_eq!(
            challenges.issue(key, "a").expect_err("quota").code,
            ErrorCode::Throttled
        );
        std::thread::sleep(Duration::from_millis(40));
        challenges.issue(key, "a").expect("expired ones dropped");
        assert_eq!(challenges.len(), 1, "the four expired are gone");
        let open = challenges.lock();
        assert_eq!(open.per_principal.get("a"), Some(&1));
        assert_eq!(open.per_principal.get("b"), None, "no entry at zero");
    }

    #[test]
    fn the_queue_of_used_challenges_stays_bounded() {
        let challenges = Challenges::new(Duration::from_secs(60), 2, 10);
        let key = KeyId::random();
        for _ in 0..10_000 {
            let nonce = challenges.issue(key, "app").expect("issued").nonce;
            assert_eq!(challenges.take(&nonce, key, "app"), Ok(()));
        }
        let open = challenges.lock();
        assert!(open.queue.len() <= 130, "{}", open.queue.len());
        assert!(open.by_nonce.is_empty() && open.per_principal.is_empty());
    }
}
