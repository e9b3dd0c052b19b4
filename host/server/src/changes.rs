//! What this host keeps in memory, and how it learns of other hosts' changes (issue 20).
//!
//! The in-memory state of a host, and what a change elsewhere does to it:
//!
//! | Kept in memory | Why it cannot serve a stale answer |
//! |---|---|
//! | key records (state, policy binding, versions, tags, AWS key policy and grants) and aliases (`KeyRecordCache`) | a change made on this host drops what it touched in the call that commits it, before its answer; a notice about a key or alias drops it at once; a counter check that finds changes whose notices did not come drops everything |
//! | unwrapped key versions (the key service's key cache) | used only while the held key record names the same wrapped bytes. A notice about a key drops its versions at once, so material of a disabled or destroyed key does not stay in memory |
//! | revoked client certificates (`AppState::revoked`) | a notice adds the serial at once; the counter check reloads the set |
//! | access-key rows (`[aws] access_key_recheck_ms`) | a notice marks the key, read from the store on every request from then on; rows are reread after the recheck time anyway |
//! | signing keys of access keys | keyed by the identity the row names, used only after the row passed |
//! | compiled policies and workloads, verified seals | content-addressed: a measurement or digest names one content for ever |
//! | open release challenges | on PostgreSQL none: they live in the store; a single-host SQLite deployment holds them in memory (`Challenges::held_in_memory`), no other host can take them |
//! | quorum settings, pending operations | none: read from the store at every use |
//!
//! Each host starts the store's listener (`Store::listen`, PostgreSQL's `LISTEN`), which applies each notice as it arrives, and reads the store's
//! change counter every `[store] change_check_ms`. On SQLite (no notices) the read also
//! returns the changes logged above the host's last value (`kastell_change_log`), and just
//! those are dropped. Otherwise a counter above every notice received at two successive
//! reads (one without a listener) means notices were lost: everything above is flushed. A
//! lost connection flushes everything once it is listening again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kastell_core::store::{ChangeEvent, Changed, StoreError};

use crate::AppState;

/// The change counter as this host knows it.
#[derive(Debug, Default)]
pub struct ChangeWatch {
    /// The highest counter value this host has applied (from notices, or a flush).
    seen: AtomicU64,
    /// Whether notices arrive (a listener runs).
    listening: std::sync::atomic::AtomicBool,
    /// The counter at the previous check when it was above `seen`.
    pending: Mutex<Option<u64>>,
    /// Full flushes so far (read by tests through the metrics-free debug output).
    flushes: AtomicU64,
}

impl ChangeWatch {
    /// Starts from the counter `seq` (read once the listener runs, or at start-up).
    pub fn start_at(&self, seq: u64, listening: bool) {
        self.seen.fetch_max(seq, Ordering::SeqCst);
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// Full flushes so far.
    #[must_use]
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

impl AppState {
    /// Applies a notice from the store's listener: drops what the change named, or
    /// everything when notices were lost.
    pub fn apply_change(&self, event: &ChangeEvent) {
        match event {
            ChangeEvent::Changed { seq, what } => {
                match what {
                    Changed::Key(id) => match id.parse() {
                        Ok(id) => self.service.forget_key(&id),
                        Err(_) => self.flush_all(),
                    },
                    Changed::Alias(name) => match name.parse() {
                        Ok(alias) => self.service.key_records().forget_alias(&alias),
                        Err(_) => self.flush_all(),
                    },
                    Changed::Client(serial) => {
                        self.revoked
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(serial.clone());
                    }
                    Changed::AccessKey(id) => self.service.access_key_changed(id),
                    _ => self.flush_all(),
                }
                self.changes.seen.fetch_max(*seq, Ordering::SeqCst);
                tracing::debug!(seq, change = %what.payload(), "applied a change notice");
            }
            _ => self.flush_all(),
        }
    }

    /// Drops everything this host holds that another host may have changed: key records,
    /// aliases, unwrapped keys and access-key rows, and reloads the revoked client certificates.
    pub fn flush_all(&self) {
        self.changes.flushes.fetch_add(1, Ordering::Relaxed);
        self.service.key_cache().clear();
        self.service.key_records().clear();
        self.service.forget_access_keys();
        if let Err(err) = self.reload_revocations() {
            tracing::error!(error = %err, "cannot reload client revocations");
        }
    }

    /// Reads the store's change counter and flushes everything when it shows changes
    /// whose notices did not come (at two successive checks with a listener, at once
    /// without one), unless the store names each of those changes (SQLite's change log):
    /// then only what they name is dropped. A counter that cannot be read flushes
    /// everything too.
    ///
    /// # Errors
    /// The store.
    pub fn check_changes(&self) -> Result<(), StoreError> {
        let watch = &self.changes;
        let mut pending = watch
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = match self
            .service
            .store()
            .changes_after(watch.seen.load(Ordering::SeqCst))
        {
            Ok(found) => found,
            Err(err) => {
                // The bound on what this host holds rests on each check: a check that
                // cannot read the counter drops everything held, so that nothing another
                // host changed meanwhile outlives the bound (requests read the store anew,
                // and fail while it is away).
                drop(pending);
                self.flush_all();
                return Err(err);
            }
        };
        let current = found.counter;
        if current <= watch.seen.load(Ordering::SeqCst) {
            *pending = None;
            return Ok(());
        }
        // A store that names each change (SQLite's change log): drop just what changed.
        if let Some(changes) = found.changes {
            for (seq, what) in changes {
                self.apply_change(&ChangeEvent::Changed { seq, what });
            }
            watch.seen.fetch_max(current, Ordering::SeqCst);
            *pending = None;
            return Ok(());
        }
        let missed = !watch.listening.load(Ordering::SeqCst)
            || pending.is_some_and(|before| before > watch.seen.load(Ordering::SeqCst));
        if missed {
            tracing::info!(
                counter = current,
                "changes made elsewhere without a notice here; flushing what this host holds"
            );
            self.flush_all();
            watch.seen.fetch_max(current, Ordering::SeqCst);
            *pending = None;
        } else {
            *pending = Some(current);
        }
        Ok(())
    }
}
