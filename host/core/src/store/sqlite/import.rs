//! Bulk import: many keys and their creation audit records in one transaction, for
//! benchmarks (filling a store with a million keys, `kastell-scale`) and migrations.

use super::{SqliteStore, append_audit_in, create_key_in};
use crate::audit::AuditEntry;
use crate::model::KeyRecord;
use crate::store::StoreError;

impl SqliteStore {
    /// Stores `keys`, each with its versions (no alias), and appends each key's audit entry
    /// (the record of its creation, e.g. operation `create-key`) right after it, all in
    /// one transaction: every key and record is written, or none. The records are chained
    /// like any other; signing a checkpoint over them is the caller's affair
    /// ([`crate::keys::KeyService::checkpoint`]).
    ///
    /// Returns the sequence number of the last audit record written (0 when `keys` is
    /// empty: nothing is written).
    ///
    /// This bypasses the key service's role, policy and material checks: the caller builds
    /// the records exactly as [`crate::keys::KeyService::create_key`] would (material
    /// wrapped under the deployment's master key, policy in the registry).
    ///
    /// # Errors
    /// [`StoreError::KeyExists`] for an id already stored (nothing is written), or a
    /// storage failure.
    #[doc(hidden)]
    pub fn import_keys(&self, keys: &[(KeyRecord, AuditEntry)]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.in_transaction("import keys", |tx| {
            let mut last = 0;
            for (key, entry) in keys {
                create_key_in(tx, key, None)?;
                last = append_audit_in(tx, entry.clone())?.seq;
            }
            Ok(last)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

    use std::collections::BTreeMap;

    use super::*;
    use crate::audit::{GENESIS, Outcome, verify_chain};
    use crate::model::{KeyState, KeyVersion, Material};
    use crate::store::Store as _;
    use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};

    fn imported(n: u8) -> (KeyRecord, AuditEntry) {
        let key = KeyRecord {
            id: KeyId::random(),
            spec: KeySpec::Aes256,
            usage: KeyUsage::of(KeySpec::Aes256),
            origin: Origin::Wrapped,
            state: KeyState::Enabled,
            description: format!("imported {n}"),
            tags: BTreeMap::new(),
            policy: None,
            created: 1_764_064_800,
            min_decrypt_version: 1,
            versions: vec![KeyVersion {
                number: 1,
                created: 1_764_064_800,
                material: Material::Wrapped {
                    master: "kastell-master".into(),
                    wrapped: vec![n; 40],
                },
                automatic: false,
            }],
            releasable: false,
            revision: 0,
            seal: None,
            rotation: None,
            key_policy: None,
            grants: Vec::new(),
            imported: None,
            materials: Vec::new(),
        };
        let entry = AuditEntry {
            key_version: Some(1),
            ..AuditEntry::event(
                "bench-import",
                "create-key",
                Some(key.id),
                Outcome::Allowed,
                String::new(),
            )
        };
        (key, entry)
    }

    #[test]
    fn imported_keys_and_their_audit_records_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("kastell.db")).expect("open");
        let first = store
            .append_audit(AuditEntry::event(
                "cli:test",
                "init",
                None,
                Outcome::Allowed,
                String::new(),
            ))
            .expect("first record");
        let keys: Vec<_> = (1..=3).map(imported).collect();
        assert_eq!(store.import_keys(&keys).expect("import"), first.seq + 3);
        assert_eq!(store.import_keys(&[]).expect("nothing"), 0);
        for (key, _) in &keys {
            assert_eq!(store.key(&key.id).expect("read").as_ref(), Some(key));
        }
        let trail = store.audit_range(0, 10).expect("trail");
        assert_eq!(trail.len(), 4);
        for (record, (key, entry)) in trail[1..].iter().zip(&keys) {
            assert_eq!(&record.entry, entry);
            assert_eq!(record.entry.key, Some(key.id));
        }
        assert_eq!(
            verify_chain(&trail, 0, GENESIS).expect("chain intact"),
            (4, trail[3].hash)
        );
    }

    #[test]
    fn an_import_with_a_stored_id_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("kastell.db")).expect("open");
        let keys: Vec<_> = (1..=2).map(imported).collect();
        store.import_keys(&keys[..1]).expect("first import");
        let err = store.import_keys(&keys).expect_err("refused");
        assert!(
            matches!(err, StoreError::KeyExists(id) if id == keys[0].0.id),
            "{err}"
        );
        assert_eq!(store.key(&keys[1].0.id).expect("read"), None);
        assert_eq!(store.audit_range(0, 10).expect("trail").len(), 1);
    }
}
