//! Access-key rows as the AWS endpoint reads them on every request: from the store at most
//! once per recheck time per key ([`ACCESS_KEY_RECHECK`] unless the deployment sets
//! `[aws] access_key_recheck_ms`; 0 reads the store on every request), from memory in
//! between, so that a signed request costs no store read.
//!
//! Revocation keeps its guarantees. A key revoked through this service (the server's API,
//! an approved quorum operation) is marked before its revocation is written, and a marked
//! key is read from the store on every request: refused from the next request on, as
//! without the cache. A key revoked elsewhere (`kastell access-key revoke --config` on the
//! store, another server on a shared store) is refused once its row is read again: within
//! the recheck time. The signature is still verified on every request; what is kept
//! is only the row (id, principal, roles, tenant, revocation), never the secret.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kastell_proto::api::{AccessKeyInfo, is_access_key_id};

use super::super::KeyError;
use super::super::service::KeyService;

/// How long an access-key row read from the store is used before it is read again, unless
/// configured: the longest a revocation made outside this server takes to be honoured.
pub const ACCESS_KEY_RECHECK: Duration = Duration::from_secs(1);
/// Rows kept at most; the cache is emptied when full.
const MAX_ROWS: usize = 10_000;

/// Access-key rows read recently, and the keys revoked through this service.
pub struct AccessKeyCache {
    inner: Mutex<Inner>,
    recheck: Duration,
}

impl Default for AccessKeyCache {
    fn default() -> Self {
        Self::new(ACCESS_KEY_RECHECK)
    }
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, (Arc<AccessKeyInfo>, Instant)>,
    /// Revoked (or being revoked) through this service: always read from the store.
    /// Revocations are never undone, so the set only grows, by at most one entry per
    /// access key.
    revoked: HashSet<String>,
}

impl std::fmt::Debug for AccessKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyCache").finish_non_exhaustive()
    }
}

impl AccessKeyCache {
    /// Rows kept for `recheck` (zero: none kept, the store read on every request).
    pub(super) fn new(recheck: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            recheck,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Rows as read from the store only: a panic elsewhere leaves nothing half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The row of `id` if it was read less than the recheck time ago and the key was not
    /// revoked through this service.
    fn fresh(&self, id: &str, now: Instant) -> Option<Arc<AccessKeyInfo>> {
        let inner = self.lock();
        if inner.revoked.contains(id) {
            return None;
        }
        inner
            .rows
            .get(id)
            .filter(|(_, read)| now.saturating_duration_since(*read) < self.recheck)
            .map(|(info, _)| Arc::clone(info))
    }

    fn keep(&self, info: Arc<AccessKeyInfo>, read: Instant) {
        if self.recheck.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.revoked.contains(&info.access_key_id) {
            return;
        }
        if inner.rows.len() >= MAX_ROWS {
            inner.rows.clear();
        }
        inner.rows.insert(info.access_key_id.clone(), (info, read));
    }

    /// Marks `id` as revoked: from now on its row is read from the store on every request.
    pub(super) fn revoking(&self, id: &str) {
        let mut inner = self.lock();
        inner.rows.remove(id);
        inner.revoked.insert(id.to_owned());
    }

    /// Drops every row kept (another host's changes may have been missed).
    fn clear(&self) {
        self.lock().rows.clear();
    }
}

impl KeyService {
    /// Another host revoked the access key `id` (a change notice from the store): from now
    /// on its row is read from the store on every request, as for one revoked here.
    pub fn access_key_changed(&self, id: &str) {
        if is_access_key_id(id) {
            self.access_key_rows.revoking(id);
        }
    }

    /// Drops every access-key row kept: each is read from the store at its next use
    /// (another host's changes may have been missed).
    pub fn forget_access_keys(&self) {
        self.access_key_rows.clear();
    }

    /// Keeps access-key rows for `recheck` before reading them again (default
    /// [`ACCESS_KEY_RECHECK`]; zero reads the store on every request): the longest a
    /// revocation made outside this service takes to be honoured.
    #[must_use]
    pub fn with_access_key_recheck(mut self, recheck: Duration) -> Self {
        self.access_key_rows = AccessKeyCache::new(recheck);
        self
    }

    /// The access key `id` (revoked or not, without its secret) to authenticate a request
    /// signed with it: as read from the store less than the recheck time ago, or read
    /// now; a key revoked through this service is read from the store every time. `None`
    /// for a malformed or unknown id (never kept: made-up ids cannot fill the cache).
    ///
    /// # Errors
    /// The store.
    pub fn access_key_for_request(&self, id: &str) -> Result<Option<Arc<AccessKeyInfo>>, KeyError> {
        if !is_access_key_id(id) {
            return Ok(None);
        }
        // Taken before the read: a row is never kept as newer than it is.
        let now = Instant::now();
        if let Some(info) = self.access_key_rows.fresh(id, now) {
            return Ok(Some(info));
        }
        let Some(row) = self.store.access_key(id)? else {
            return Ok(None);
        };
        let info = Arc::new(row.info);
        self.access_key_rows.keep(Arc::clone(&info), now);
        Ok(Some(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> Arc<AccessKeyInfo> {
        Arc::new(AccessKeyInfo {
            access_key_id: id.to_owned(),
            principal: "app".to_owned(),
            roles: vec!["crypto-user".to_owned()],
            tenant: None,
            created_ms: 0,
            created_by: "officer".to_owned(),
            revoked_ms: None,
        })
    }

    #[test]
    fn a_row_is_used_until_its_recheck_time_then_read_again() {
        let cache = AccessKeyCache::default();
        let read = Instant::now();
        cache.keep(info("KSTLAAAAAAAAAAAAAAAA"), read);
        assert!(cache.fresh("KSTLAAAAAAAAAAAAAAAA", read).is_some());
        let almost = read + ACCESS_KEY_RECHECK - Duration::from_millis(1);
        assert!(cache.fresh("KSTLAAAAAAAAAAAAAAAA", almost).is_some());
        assert!(
            cache
                .fresh("KSTLAAAAAAAAAAAAAAAA", read + ACCESS_KEY_RECHECK)
                .is_none()
        );
        assert!(cache.fresh("KSTLBBBBBBBBBBBBBBBB", read).is_none());
    }

    #[test]
    fn a_recheck_time_of_zero_keeps_nothing() {
        let cache = AccessKeyCache::new(Duration::ZERO);
        let read = Instant::now();
        cache.keep(info("KSTLAAAAAAAAAAAAAAAA"), read);
        assert!(cache.fresh("KSTLAAAAAAAAAAAAAAAA", read).is_none());
    }

    #[test]
    fn a_key_being_revoked_is_never_served_from_memory_again() {
        let cache = AccessKeyCache::default();
        let read = Instant::now();
        cache.keep(info("KSTLAAAAAAAAAAAAAAAA"), read);
        cache.revoking("KSTLAAAAAAAAAAAAAAAA");
        assert!(cache.fresh("KSTLAAAAAAAAAAAAAAAA", read).is_none());
        // A request that read the row before the revocation and keeps it after: not kept.
        cache.keep(info("KSTLAAAAAAAAAAAAAAAA"), read);
        assert!(cache.fresh("KSTLAAAAAAAAAAAAAAAA", read).is_none());
    }
}
