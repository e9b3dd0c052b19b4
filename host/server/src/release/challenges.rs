//! Release challenges: single-use nonces, each for one key and the client that asked, for
//! a short time; bounded per client and in all.
//!
//! They live in the store ([`Store::issue_challenge`], [`Store::take_challenge`]), so that a
//! nonce issued by one host is usable once on any host sharing the store: taking it is one
//! atomic delete, which of any number of hosts presenting it at once exactly one wins.
//! Expired challenges are purged as challenges are issued, and every minute while serving.
//! A single-host deployment (SQLite) holds them in memory instead
//! ([`Challenges::held_in_memory`]): same rules, no write transaction per challenge; a
//! restart forgets those open.
//! Expiry is by the wall clock of the host that issued (expiry) and the one that takes
//! (now): hosts sharing a store keep their clocks synchronised (NTP).

use kastell_proto::ErrorCode;
use kastell_proto::KeyId;
use std::time::Duration;

use kastell_core::keys::KeyError;
use kastell_core::store::{ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake, Store};

use crate::error::ApiError;

mod memory;

/// Length of a challenge nonce.
pub const NONCE_LEN: usize = 32;

/// The settings of release challenges: how long one is usable, and how many may be open.
pub struct Challenges {
    ttl: Duration,
    limits: ChallengeLimits,
    /// Set for a single-host deployment: the challenges are here, not in the store.
    memory: Option<memory::MemoryChallenges>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges")
            .field("ttl", &self.ttl)
            .field("limits", &self.limits)
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

fn store_error(err: kastell_core::store::StoreError) -> ApiError {
    ApiError::from(KeyError::from(err))
}

impl Challenges {
    /// Challenges usable for `ttl`, at most `per_principal` open for one client and `total`
    /// open in all (both at least 1).
    #[must_use]
    pub fn new(ttl: Duration, per_principal: usize, total: usize) -> Self {
        let to_u64 = |n: usize| u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        Self {
            ttl,
            limits: ChallengeLimits {
                per_principal: to_u64(per_principal),
                total: to_u64(total),
            },
            memory: None,
        }
    }

    /// Holds open challenges in this host's memory instead of the store: only for a
    /// deployment with one host (SQLite), whose restart may forget them (a client then asks
    /// for a new one).
    #[must_use]
    pub fn held_in_memory(mut self) -> Self {
        self.memory = Some(memory::MemoryChallenges::default());
        self
    }

    /// [`Challenges::held_in_memory`] when `single_host`, else as it is.
    #[must_use]
    pub fn held_in_memory_if(self, single_host: bool) -> Self {
        if single_host {
            self.held_in_memory()
        } else {
            self
        }
    }

    /// A fresh nonce for `key`, usable once within the TTL by `principal`, on any host
    /// sharing `store`.
    ///
    /// # Errors
    /// 429 `Throttled` when `principal` holds its quota of open challenges; 503
    /// `TooManyChallenges` when all clients together hold the total; 503
    /// `StoreUnavailable` when the store is away; 500 when the system's randomness fails.
    pub fn issue(
        &self,
        store: &dyn Store,
        key: KeyId,
        principal: &str,
    ) -> Result<Issued, ApiError> {
        let now_ms = kastell_core::clock::unix_now_ms();
        let expires_ms = now_ms
            .checked_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX))
            .ok_or_else(|| {
                ApiError::internal(format!("challenge lifetime {:?} is out of range", self.ttl))
            })?;
        let mut nonce = [0u8; NONCE_LEN];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut nonce)
            .map_err(ApiError::internal)?;
        let row = ChallengeRow {
            nonce: nonce.to_vec(),
            key,
            principal: principal.to_owned(),
            expires_ms,
        };
        let issued = match &self.memory {
            Some(memory) => memory.issue(&row, self.limits, now_ms),
            None => store
                .issue_challenge(&row, self.limits, now_ms)
                .map_err(store_error)?,
        };
        match issued {
            ChallengeIssue::Issued => Ok(Issued {
                nonce,
                ttl: self.ttl,
            }),
            ChallengeIssue::PrincipalFull { held } => Err(ApiError::of(
                ErrorCode::Throttled,
                format!(
                    "this client holds {held} open release challenges, the most one client may \
                     (release.challenges_per_client); use one or let it expire ({} s) first",
                    self.ttl.as_secs()
                ),
            )),
            ChallengeIssue::TotalFull => Err(ApiError::of(
                ErrorCode::TooManyChallenges,
                format!(
                    "{} release challenges are open; try again shortly",
                    self.limits.total
                ),
            )),
        }
    }

    /// Uses up `nonce` for `key` and `principal`. A nonce issued to another client is
    /// refused and left as it was, so that whoever learnt it cannot take it from its owner;
    /// once its owner presents it, it is used up whatever the outcome (an expired one is
    /// gone in any case).
    ///
    /// # Errors
    /// The outer error: the store failed (503 `StoreUnavailable` when it is away). The
    /// inner one: why the nonce is not usable: malformed, unknown or used, expired, another
    /// client's, another key's.
    pub(super) fn take(
        &self,
        store: &dyn Store,
        nonce: &[u8],
        key: KeyId,
        principal: &str,
    ) -> Result<Result<(), String>, ApiError> {
        if nonce.len() != NONCE_LEN {
            return Ok(Err(format!(
                "the nonce is {} bytes; challenges are {NONCE_LEN}",
                nonce.len()
            )));
        }
        let now_ms = kastell_core::clock::unix_now_ms();
        let taken = match &self.memory {
            Some(memory) => memory.take(nonce, &key, principal, now_ms),
            None => store
                .take_challenge(nonce, &key, principal, now_ms)
                .map_err(store_error)?,
        };
        Ok(match taken {
            ChallengeTake::Taken => Ok(()),
            ChallengeTake::Unknown => Err("unknown or already used release nonce".into()),
            ChallengeTake::Expired => {
                Err("the release challenge expired; ask for a new one".into())
            }
            ChallengeTake::OtherPrincipal => Err("the nonce was issued to another client".into()),
            ChallengeTake::OtherKey => Err("the nonce was issued for another key".into()),
        })
    }
}
