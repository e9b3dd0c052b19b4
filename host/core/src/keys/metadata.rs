//! The cache of key records and aliases (issue 22): a key operation finds its key, its
//! versions, its policy binding and the alias it was named by without a store transaction
//! in the steady state.
//!
//! Only records whose seal was checked are held ([`KeyService::stored_key`]). What this
//! host changes leaves the cache in the same call that commits the change, before the
//! change's answer is returned (and also when the commit failed, whatever the store says:
//! nothing stale survives an uncertain write). What another host changes leaves it when
//! its notice arrives, or, without notices, at the next read of the store's change counter
//! (`[store] change_check_ms`): the server wires both ([`KeyRecordCache::forget_key`],
//! [`KeyRecordCache::forget_alias`], [`KeyRecordCache::clear`]).
//!
//! A lookup that missed reads the store and inserts what it read only if no invalidation
//! happened since the lookup began (an epoch counter): a read that raced a change can
//! never put the record from before the change back.
//!
//! Off unless enabled ([`KeyService::with_record_cache`]): a service without anyone to
//! apply other processes' changes (the command line's offline commands, tests) reads the
//! store on every lookup, as before.
//!
//! [`KeyService::stored_key`]: super::KeyService
//! [`KeyService::with_record_cache`]: super::KeyService::with_record_cache

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use kastell_proto::KeyId;

use super::{Alias, KeyRecord};

/// Key records (and aliases) held at most; when full, everything is dropped and the cache
/// fills again from the store.
pub const RECORD_CACHE_ENTRIES: usize = 10_000;

#[derive(Default)]
struct Held {
    keys: HashMap<KeyId, Arc<KeyRecord>>,
    aliases: HashMap<Alias, KeyId>,
}

/// Checked key records and alias rows, invalidated precisely (see the module's text).
pub struct KeyRecordCache {
    enabled: bool,
    capacity: usize,
    held: RwLock<Held>,
    /// Incremented by every invalidation, under the write lock.
    epoch: AtomicU64,
}

impl std::fmt::Debug for KeyRecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecordCache")
            .field("enabled", &self.enabled)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// Where a lookup began: an insert after the store read succeeds only if nothing was
/// invalidated since.
#[derive(Debug, Clone, Copy)]
pub(super) struct Epoch(u64);

impl KeyRecordCache {
    /// A cache holding up to `capacity` keys and as many aliases; `enabled: false` holds
    /// nothing.
    #[must_use]
    pub fn new(enabled: bool, capacity: usize) -> Self {
        Self {
            enabled: enabled && capacity > 0,
            capacity,
            held: RwLock::default(),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether records are held at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.held.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Held> {
        self.held.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Taken before the store is read on a miss.
    pub(super) fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::SeqCst))
    }

    /// The checked record of `id`, if held.
    pub(super) fn key(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        if !self.enabled {
            return None;
        }
        self.read().keys.get(id).cloned()
    }

    /// The key the checked alias row names, if held.
    pub(super) fn alias(&self, alias: &Alias) -> Option<KeyId> {
        if !self.enabled {
            return None;
        }
        self.read().aliases.get(alias).copied()
    }

    /// Holds `record` (just read and checked) unless something was invalidated since
    /// `since`.
    pub(super) fn insert_key(&self, since: Epoch, record: &KeyRecord) {
        if !self.enabled {
            return;
        }
        let mut held = self.write();
        if self.epoch.load(Ordering::SeqCst) != since.0 {
            return;
        }
        if held.keys.len() >= self.capacity {
            held.keys.clear();
        }
        held.keys.insert(record.id, Arc::new(record.clone()));
    }

    /// Holds `alias` → `id` (just read and checked) unless something was invalidated
    /// since `since`.
    pub(super) fn insert_alias(&self, since: Epoch, alias: &Alias, id: KeyId) {
        if !self.enabled {
            return;
        }
        let mut held = self.write();
        if self.epoch.load(Ordering::SeqCst) != since.0 {
            return;
        }
        if held.aliases.len() >= self.capacity {
            held.aliases.clear();
        }
        held.aliases.insert(alias.clone(), id);
    }

    /// Drops the record of `id` and every alias naming it (the key changed, here or on
    /// another host).
    pub fn forget_key(&self, id: &KeyId) {
        let mut held = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        held.keys.remove(id);
        held.aliases.retain(|_, named| named != id);
    }

    /// Drops `alias` (created, re-pointed or deleted, here or on another host).
    pub fn forget_alias(&self, alias: &Alias) {
        let mut held = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        held.aliases.remove(alias);
    }

    /// Drops everything (another host's changes may have been missed).
    pub fn clear(&self) {
        let mut held = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        held.keys.clear();
        held.aliases.clear();
    }

    /// Key records held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether no key record is held.
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
    use crate::keys::{KeyState, KeyVersion, Material};
    use kastell_proto::{KeySpec, KeyUsage, Origin};

    fn record(id: KeyId) -> KeyRecord {
        KeyRecord {
            id,
            spec: KeySpec::Aes256,
            usage: KeyUsage::EncryptDecrypt,
            origin: Origin::Wrapped,
            state: KeyState::Enabled,
            description: String::new(),
            tags: std::collections::BTreeMap::new(),
            policy: None,
            created: 1,
            min_decrypt_version: 1,
            releasable: false,
            revision: 1,
            versions: vec![KeyVersion {
                number: 1,
                created: 1,
                material: Material::Token,
                automatic: false,
            }],
            seal: None,
            rotation: None,
            key_policy: None,
            grants: Vec::new(),
            imported: None,
            materials: Vec::new(),
        }
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_held() {
        let cache = KeyRecordCache::new(true, 10);
        let id = KeyId::random();
        let before = cache.epoch();
        cache.forget_key(&id); // a change committed while the store was being read
        cache.insert_key(before, &record(id));
        assert!(cache.key(&id).is_none(), "the read from before the change");
        let after = cache.epoch();
        cache.insert_key(after, &record(id));
        assert!(cache.key(&id).is_some());
    }

    #[test]
    fn forgetting_a_key_drops_its_aliases_and_a_disabled_cache_holds_nothing() {
        let cache = KeyRecordCache::new(true, 10);
        let (id, other) = (KeyId::random(), KeyId::random());
        let (a, b): (Alias, Alias) = ("alias/a".parse().unwrap(), "alias/b".parse().unwrap());
        let now = cache.epoch();
        cache.insert_key(now, &record(id));
        cache.insert_alias(now, &a, id);
        cache.insert_alias(now, &b, other);
        cache.forget_key(&id);
        assert!(cache.key(&id).is_none() && cache.alias(&a).is_none());
        assert_eq!(cache.alias(&b), Some(other));
        cache.forget_alias(&b);
        assert!(cache.alias(&b).is_none());

        let off = KeyRecordCache::new(false, 10);
        off.insert_key(off.epoch(), &record(id));
        assert!(off.key(&id).is_none() && off.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let cache = KeyRecordCache::new(true, 4);
        for _ in 0..50 {
            cache.insert_key(cache.epoch(), &record(KeyId::random()));
            assert!(cache.len() <= 4);
        }
    }
}
