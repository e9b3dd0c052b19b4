//! The cache of unwrapped key versions: a wrapped key's material is unwrapped by the token
//! (a PKCS#11 call on an HSM) and prepared by the crypto provider once, then reused for
//! up to [`KeyCacheLimits::ttl`] by later operations on the same version.
//!
//! Bounded: at most [`KeyCacheLimits::entries`] versions, split over shards with their own
//! locks (no global lock on the request path); the oldest entry of a full shard is evicted
//! first. An entry is used only when the store still holds the same wrapped bytes for that
//! version, so a destroyed or replaced version is never served from the cache. Evicted,
//! expired and forgotten entries are dropped, which clears their material
//! ([`PreparedKey`]); an operation still using one keeps it until it finishes.

use kastell_proto::KeyId;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::crypto::PreparedKey;

/// Shards of the cache (each with its own lock).
const SHARDS: usize = 16;

/// The cache's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCacheLimits {
    /// Most key versions held (0 turns the cache off: every operation unwraps).
    pub entries: usize,
    /// How long an unwrapped version is reused after it was unwrapped.
    pub ttl: Duration,
}

impl Default for KeyCacheLimits {
    /// 10,000 versions for 5 minutes.
    fn default() -> Self {
        Self {
            entries: 10_000,
            ttl: Duration::from_secs(300),
        }
    }
}

type Slot = (KeyId, u32);

struct Entry {
    wrapped: Vec<u8>,
    key: Arc<dyn PreparedKey>,
    inserted: Instant,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Slot, Entry>,
    /// Slots in insertion order, with their insertion time (stale pairs are skipped).
    order: VecDeque<(Slot, Instant)>,
}

impl Shard {
    /// Drops the front of `order` while it is expired or stale, or while over `capacity`.
    fn trim(&mut self, now: Instant, ttl: Duration, capacity: usize) {
        while let Some(&(slot, inserted)) = self.order.front() {
            let current = self
                .entries
                .get(&slot)
                .is_some_and(|e| e.inserted == inserted);
            let expired = now.saturating_duration_since(inserted) >= ttl;
            if current && !expired && self.entries.len() <= capacity {
                break;
            }
            self.order.pop_front();
            if current {
                self.entries.remove(&slot);
            }
        }
        // Replaced entries leave stale pairs behind the front: keep the queue bounded.
        if self.order.len() > 2 * capacity + SHARDS {
            let entries = &self.entries;
            self.order.retain(|(slot, inserted)| {
                entries.get(slot).is_some_and(|e| e.inserted == *inserted)
            });
        }
    }
}

/// The cache of unwrapped, prepared key versions.
pub struct KeyCache {
    limits: KeyCacheLimits,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("limits", &self.limits)
            .field("held", &self.len())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// An empty cache with these bounds.
    #[must_use]
    pub fn new(limits: KeyCacheLimits) -> Self {
        Self {
            limits,
            per_shard: limits.entries.div_ceil(SHARDS),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The bounds.
    #[must_use]
    pub fn limits(&self) -> KeyCacheLimits {
        self.limits
    }

    fn shard(&self, id: &KeyId) -> std::sync::MutexGuard<'_, Shard> {
        let index = usize::try_from(self.hasher.hash_one(id) % SHARDS as u64).unwrap_or(0);
        // A panic while a shard was locked leaves whole entries: keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The prepared version `number` of `id`, if cached, not expired, and made from
    /// exactly `wrapped`.
    #[must_use]
    pub fn get(&self, id: &KeyId, number: u32, wrapped: &[u8]) -> Option<Arc<dyn PreparedKey>> {
        if self.limits.entries == 0 {
            return None;
        }
        let now = Instant::now();
        let mut shard = self.shard(id);
        let entry = shard.entries.get(&(*id, number))?;
        if entry.wrapped != wrapped
            || now.saturating_duration_since(entry.inserted) >= self.limits.ttl
        {
            shard.entries.remove(&(*id, number));
            return None;
        }
        Some(Arc::clone(&entry.key))
    }

    /// Caches `key`, the prepared material of version `number` of `id` unwrapped from
    /// `wrapped`, evicting expired and then the oldest entries of its shard.
    pub fn insert(&self, id: &KeyId, number: u32, wrapped: &[u8], key: Arc<dyn PreparedKey>) {
        if self.limits.entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut shard = self.shard(id);
        shard.entries.insert(
            (*id, number),
            Entry {
                wrapped: wrapped.to_vec(),
                key,
                inserted: now,
            },
        );
        shard.order.push_back(((*id, number), now));
        shard.trim(now, self.limits.ttl, self.per_shard);
    }

    /// Drops every cached version of `id` (its state changed or it was destroyed).
    pub fn forget(&self, id: &KeyId) {
        self.shard(id).entries.retain(|(key, _), _| key != id);
    }

    /// Drops every cached version (another host's changes may have been missed).
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.entries.clear();
            shard.order.clear();
        }
    }

    /// Drops every expired entry (the server calls this periodically, so that material of
    /// keys no longer used does not wait for the next insertion to be cleared).
    pub fn purge_expired(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.trim(now, self.limits.ttl, self.per_shard);
            shard
                .entries
                .retain(|_, e| now.saturating_duration_since(e.inserted) < self.limits.ttl);
        }
    }

    /// Versions held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    use crate::crypto::{AwsLc, CryptoProvider as _, KeyKind};
    use crate::secret::SecretBytes;

    fn prepared(byte: u8) -> Arc<dyn PreparedKey> {
        Arc::from(
            AwsLc
                .prepare(KeyKind::Aes256, SecretBytes::new(vec![byte; 32]))
                .expect("prepare"),
        )
    }

    fn cache(entries: usize, ttl: Duration) -> KeyCache {
        KeyCache::new(KeyCacheLimits { entries, ttl })
    }

    #[test]
    fn a_hit_needs_the_same_version_and_the_same_wrapped_bytes() {
        let cache = cache(100, Duration::from_secs(60));
        let id = KeyId::random();
        cache.insert(&id, 1, b"wrapped-1", prepared(1));
        assert!(cache.get(&id, 1, b"wrapped-1").is_some());
        assert!(cache.get(&id, 2, b"wrapped-1").is_none(), "other version");
        assert!(
            cache.get(&KeyId::random(), 1, b"wrapped-1").is_none(),
            "other key"
        );
        // The store now holds other bytes for that version: never served, and dropped.
        assert!(cache.get(&id, 1, b"wrapped-X").is_none());
        assert!(cache.get(&id, 1, b"wrapped-1").is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl_and_purging_drops_their_material() {
        let cache = cache(100, Duration::from_millis(30));
        let id = KeyId::random();
        let key = prepared(2);
        cache.insert(&id, 1, b"w", Arc::clone(&key));
        assert_eq!(Arc::strong_count(&key), 2);
        std::thread::sleep(Duration::from_millis(40));
        cache.purge_expired();
        assert!(cache.is_empty());
        assert_eq!(
            Arc::strong_count(&key),
            1,
            "the cache let go of the material"
        );
        cache.insert(&id, 1, b"w", prepared(2));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(&id, 1, b"w").is_none(), "expired on lookup too");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound_and_evicts_the_oldest_first() {
        let cache = cache(32, Duration::from_secs(60));
        let ids: Vec<KeyId> = (0..500).map(|_| KeyId::random()).collect();
        for id in &ids {
            cache.insert(id, 1, b"w", prepared(3));
            assert!(cache.len() <= 32 + SHARDS, "bound held: {}", cache.len());
        }
        // The newest entry of each shard survives; the first ones are gone.
        assert!(cache.get(&ids[499], 1, b"w").is_some());
        assert!(ids[..16].iter().all(|id| cache.get(id, 1, b"w").is_none()));
    }

    #[test]
    fn forgetting_a_key_drops_all_its_versions_and_a_zero_bound_caches_nothing() {
        let cache = cache(100, Duration::from_secs(60));
        let (id, other) = (KeyId::random(), KeyId::random());
        cache.insert(&id, 1, b"a", prepared(4));
        cache.insert(&id, 2, b"b", prepared(5));
        cache.insert(&other, 1, b"c", prepared(6));
        cache.forget(&id);
        assert!(cache.get(&id, 1, b"a").is_none() && cache.get(&id, 2, b"b").is_none());
        assert!(cache.get(&other, 1, b"c").is_some());

        let off = KeyCache::new(KeyCacheLimits {
            entries: 0,
            ttl: Duration::from_secs(60),
        });
        off.insert(&id, 1, b"a", prepared(7));
        assert!(off.is_empty() && off.get(&id, 1, b"a").is_none());
    }
}
