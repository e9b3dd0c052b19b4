//! Seals on key and alias rows: an HMAC-SHA-384 tag by the token-held record key
//! ([`ServiceKeys::record_mac`](super::ServiceKeys::record_mac)) over a row's canonical
//! encoding, so that someone who can write the store but cannot use the token cannot
//! change a key record (its state, policy binding, tags, deletion date, minimum version,
//! versions, revision) or point an alias elsewhere without Kastell noticing.
//!
//! Key record: `KEY_DOMAIN ‖ id ‖ spec ‖ usage ‖ origin ‖ state ‖ delete_at ‖ description
//! ‖ tags (sorted by name) ‖ policy ‖ created ‖ min_decrypt_version ‖ releasable ‖ revision
//! ‖ versions (number, created, material)`, then the trailers later schema versions added
//! (rotation, AWS key policy, grants, imported material, imported materials), each only
//! when present; alias: `ALIAS_DOMAIN ‖ alias ‖ key id`. Every
//! variable-length field is prefixed by its length (u32, big-endian) and every count by
//! the count, so that no two records encode alike.
//!
//! Checking a seal costs a token call (a PKCS#11 round trip on an HSM). A row whose
//! encoding and seal were checked once is remembered by the SHA-384 of both
//! ([`VerifiedSeals`]): the request path reads the row, encodes it and finds it there,
//! without asking the token again. Any change to the row changes that digest.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::crypto::{sha384, sha384_concat};
use kastell_proto::KeyId;
use subtle::ConstantTimeEq as _;

use super::{Alias, KeyRecord, KeyState, Material};
use crate::token::{Token, TokenError};

/// Domain separation of key-record seals from every other use of a token MAC.
const KEY_DOMAIN: &[u8] = b"kastell key record v1\0";
/// Domain separation of alias seals.
const ALIAS_DOMAIN: &[u8] = b"kastell alias record v1\0";
/// Marks the rotation part of a key record's message.
const ROTATION_DOMAIN: &[u8] = b"\0rotation v1\0";
/// Marks the AWS key policy part of a key record's message.
const KEY_POLICY_DOMAIN: &[u8] = b"\0aws key policy v1\0";
/// Marks the AWS grants part of a key record's message.
const GRANTS_DOMAIN: &[u8] = b"\0aws grants v1\0";
/// Marks the imported-material part of a key record's message.
const IMPORT_DOMAIN: &[u8] = b"\0imported material v1\0";
/// Marks the imported materials part of a key record's message (schema v23).
const MATERIALS_DOMAIN: &[u8] = b"\0imported materials v1\0";
/// Length of a seal (HMAC-SHA-384).
pub const SEAL_LEN: usize = 48;

/// The token-held HMAC-SHA-384 key that seals key and alias rows.
#[derive(Clone)]
pub struct RecordKey {
    token: Arc<dyn Token>,
    label: String,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl RecordKey {
    /// The HMAC-SHA-384 key `label` on `token` (the service key
    /// [`ServiceKeys::record_mac`](super::ServiceKeys::record_mac)).
    #[must_use]
    pub fn new(token: Arc<dyn Token>, label: impl Into<String>) -> Self {
        Self {
            token,
            label: label.into(),
        }
    }

    /// The seal of `key` as it is (its `seal` field aside): for a record about to be stored
    /// at another revision, set that revision first.
    ///
    /// # Errors
    /// The token's failure.
    pub fn seal_key(&self, key: &KeyRecord) -> Result<Vec<u8>, TokenError> {
        Ok(self.token.mac(&self.label, &key_message(key))?.to_vec())
    }

    /// The seal of the alias row `alias` → `key`.
    ///
    /// # Errors
    /// The token's failure.
    pub fn seal_alias(&self, alias: &Alias, key: &KeyId) -> Result<Vec<u8>, TokenError> {
        Ok(self
            .token
            .mac(&self.label, &alias_message(alias, key))?
            .to_vec())
    }

    /// Whether `seal` is the seal of `message` (constant time).
    pub(super) fn matches(&self, message: &[u8], seal: &[u8]) -> Result<bool, TokenError> {
        let expected = self.token.mac(&self.label, message)?;
        Ok(seal.len() == SEAL_LEN && bool::from(expected.as_slice().ct_eq(seal)))
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are far below 4 GiB; saturating keeps the encoding total (a longer field
    // would only collide with one of the same saturated length and prefix).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u64::try_from(n).unwrap_or(u64::MAX).to_be_bytes());
}

/// The bytes a key record's seal authenticates.
pub(super) fn key_message(key: &KeyRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(KEY_DOMAIN);
    put(&mut out, key.id.as_bytes());
    put(&mut out, key.spec.as_str().as_bytes());
    put(&mut out, key.usage.as_str().as_bytes());
    put(&mut out, key.origin.as_str().as_bytes());
    let (state, delete_at): (&[u8], i64) = match key.state {
        KeyState::Enabled => (b"enabled", 0),
        KeyState::Disabled => (b"disabled", 0),
        KeyState::PendingDeletion { delete_at } => (b"pending-deletion", delete_at),
        KeyState::Destroyed => (b"destroyed", 0),
        KeyState::PendingImport => (b"pending-import", 0),
    };
    put(&mut out, state);
    out.extend_from_slice(&delete_at.to_be_bytes());
    put(&mut out, key.description.as_bytes());
    count(&mut out, key.tags.len());
    for (name, value) in &key.tags {
        put(&mut out, name.as_bytes());
        put(&mut out, value.as_bytes());
    }
    match &key.policy {
        Some(policy) => {
            out.push(1);
            out.extend_from_slice(policy.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&key.created.to_be_bytes());
    out.extend_from_slice(&key.min_decrypt_version.to_be_bytes());
    out.push(u8::from(key.releasable));
    out.extend_from_slice(&key.revision.to_be_bytes());
    count(&mut out, key.versions.len());
    for version in &key.versions {
        out.extend_from_slice(&version.number.to_be_bytes());
        out.extend_from_slice(&version.created.to_be_bytes());
        match &version.material {
            Material::Token => out.push(0),
            Material::Wrapped { master, wrapped } => {
                out.push(1);
                put(&mut out, master.as_bytes());
                put(&mut out, wrapped);
            }
            Material::Destroyed => out.push(2),
            // Never sealed by Kastell, so never matches a seal it made.
            Material::ForeignLabel(label) => {
                out.push(3);
                put(&mut out, label.as_bytes());
            }
        }
    }
    rotation_trailer(&mut out, key);
    key_policy_trailer(&mut out, key);
    grants_trailer(&mut out, key);
    import_trailer(&mut out, key);
    materials_trailer(&mut out, key);
    out
}

/// An imported key's materials (schema v23): the SHA-384 of their canonical encoding,
/// appended only when the key lists any, so that records sealed before keep their seals.
/// A material's id, version, description, expiry or pending wrapped bytes edited in the
/// store no longer match the sealed digest, and the record is refused as tampered.
fn materials_trailer(out: &mut Vec<u8>, key: &KeyRecord) {
    if key.materials.is_empty() {
        return;
    }
    let mut message = Vec::with_capacity(128 * key.materials.len());
    count(&mut message, key.materials.len());
    for material in &key.materials {
        message.extend_from_slice(&material.id);
        match material.version {
            Some(number) => {
                message.push(1);
                message.extend_from_slice(&number.to_be_bytes());
            }
            None => message.push(0),
        }
        match &material.description {
            Some(text) => {
                message.push(1);
                put(&mut message, text.as_bytes());
            }
            None => message.push(0),
        }
        match material.expires_at {
            Some(at) => {
                message.push(1);
                message.extend_from_slice(&at.to_be_bytes());
            }
            None => message.push(0),
        }
        match &material.pending {
            Some((master, wrapped)) => {
                message.push(1);
                put(&mut message, master.as_bytes());
                put(&mut message, wrapped);
            }
            None => message.push(0),
        }
    }
    out.extend_from_slice(MATERIALS_DOMAIN);
    out.extend_from_slice(&sha384(&message));
}

/// The AWS grants (schema v20): the SHA-384 of their canonical encoding, appended only
/// when the key has any, so that records sealed before keep their seals. The grants are
/// stored beside the record; a grant added, changed, or put back after it was retired or
/// revoked no longer matches the sealed digest, and the record is refused as tampered.
fn grants_trailer(out: &mut Vec<u8>, key: &KeyRecord) {
    if key.grants.is_empty() {
        return;
    }
    let mut message = Vec::with_capacity(256 * key.grants.len());
    count(&mut message, key.grants.len());
    for grant in &key.grants {
        put(&mut message, grant.grant_id.as_bytes());
        put(&mut message, grant.name.as_deref().unwrap_or("").as_bytes());
        message.push(u8::from(grant.name.is_some()));
        put(&mut message, grant.grantee_principal.as_bytes());
        put(
            &mut message,
            grant.retiring_principal.as_deref().unwrap_or("").as_bytes(),
        );
        message.push(u8::from(grant.retiring_principal.is_some()));
        put(&mut message, grant.issuing_principal.as_bytes());
        count(&mut message, grant.operations.len());
        for operation in &grant.operations {
            put(&mut message, operation.as_bytes());
        }
        let constraints = grant.constraints.as_ref();
        for pairs in [
            constraints.and_then(|c| c.encryption_context_subset.as_ref()),
            constraints.and_then(|c| c.encryption_context_equals.as_ref()),
        ] {
            match pairs {
                Some(pairs) => {
                    message.push(1);
                    count(&mut message, pairs.len());
                    for (name, value) in pairs {
                        put(&mut message, name.as_bytes());
                        put(&mut message, value.as_bytes());
                    }
                }
                None => message.push(0),
            }
        }
        message.extend_from_slice(&grant.created.to_be_bytes());
    }
    out.extend_from_slice(GRANTS_DOMAIN);
    out.extend_from_slice(&sha384(&message));
}

/// Imported material (schema v21): its id and expiry, appended only when the key has
/// imported material, so that records sealed before keep their seals. Sealing the expiry
/// means a record edited to push it back, or to clear it, no longer matches its seal.
fn import_trailer(out: &mut Vec<u8>, key: &KeyRecord) {
    if let Some(imported) = &key.imported {
        out.extend_from_slice(IMPORT_DOMAIN);
        out.extend_from_slice(&imported.id);
        match imported.expires_at {
            Some(at) => {
                out.push(1);
                out.extend_from_slice(&at.to_be_bytes());
            }
            None => out.push(0),
        }
    }
}

/// The AWS key policy (schema v18): its SHA-384, appended only when the key has one, so
/// that records sealed before keep their seals. The document itself is stored beside the
/// record; a document edited in the store no longer hashes to the sealed digest.
fn key_policy_trailer(out: &mut Vec<u8>, key: &KeyRecord) {
    if let Some(document) = &key.key_policy {
        out.extend_from_slice(KEY_POLICY_DOMAIN);
        out.extend_from_slice(&sha384(document.as_bytes()));
    }
}

/// Automatic rotation (schema v16): appended only when the record has any, so that the
/// records sealed before it existed keep their seals. The part before is self-delimiting
/// (every field length-prefixed, every list counted), so a record with a trailer never
/// encodes like one without.
fn rotation_trailer(out: &mut Vec<u8>, key: &KeyRecord) {
    let automatic: Vec<u32> = key
        .versions
        .iter()
        .filter(|v| v.automatic)
        .map(|v| v.number)
        .collect();
    if key.rotation.is_none() && automatic.is_empty() {
        return;
    }
    out.extend_from_slice(ROTATION_DOMAIN);
    match key.rotation {
        Some(rotation) => {
            out.push(1);
            out.extend_from_slice(&rotation.period_days.to_be_bytes());
            out.extend_from_slice(&rotation.next_at.to_be_bytes());
        }
        None => out.push(0),
    }
    count(out, automatic.len());
    for number in automatic {
        out.extend_from_slice(&number.to_be_bytes());
    }
}

/// The bytes an alias row's seal authenticates.
pub(super) fn alias_message(alias: &Alias, key: &KeyId) -> Vec<u8> {
    let alias = alias.to_string();
    let mut out = Vec::with_capacity(ALIAS_DOMAIN.len() + alias.len() + 24);
    out.extend_from_slice(ALIAS_DOMAIN);
    put(&mut out, alias.as_bytes());
    put(&mut out, key.as_bytes());
    out
}

/// Shards of [`VerifiedSeals`], each with its own lock.
const SHARDS: usize = 16;
/// Rows remembered per shard; past this, the oldest is forgotten (and checked with the
/// token again at its next read).
const PER_SHARD: usize = 8192;

/// One shard: the digests held, and the same in insertion order (oldest first).
type Shard = (HashSet<[u8; 48]>, VecDeque<[u8; 48]>);

/// Rows whose seal the token has confirmed, remembered by SHA-384(message ‖ seal): a row
/// read again unchanged is accepted without a token call. Holds digests only (no key
/// material), at most `SHARDS × PER_SHARD` of them.
pub(super) struct VerifiedSeals {
    shards: Vec<Mutex<Shard>>,
}

impl std::fmt::Debug for VerifiedSeals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSeals").finish_non_exhaustive()
    }
}

impl VerifiedSeals {
    pub(super) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The digest a row is remembered by.
    pub(super) fn digest(message: &[u8], seal: &[u8]) -> [u8; 48] {
        sha384_concat(&[message, seal])
    }

    fn shard(&self, digest: &[u8; 48]) -> std::sync::MutexGuard<'_, Shard> {
        let index = usize::from(digest[0]) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this row was confirmed before.
    pub(super) fn contains(&self, digest: &[u8; 48]) -> bool {
        self.shard(digest).0.contains(digest)
    }

    /// Remembers a confirmed row.
    pub(super) fn insert(&self, digest: [u8; 48]) {
        let mut shard = self.shard(&digest);
        let (set, order) = &mut *shard;
        if set.insert(digest) {
            order.push_back(digest);
            while order.len() > PER_SHARD {
                if let Some(oldest) = order.pop_front() {
                    set.remove(&oldest);
                }
            }
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

    use std::collections::BTreeMap;

    use kastell_proto::{KeySpec, KeyUsage, Origin};

    use super::*;
    use crate::model::KeyVersion;

    fn record() -> KeyRecord {
        KeyRecord {
            id: KeyId::random(),
            spec: KeySpec::Aes256,
            usage: KeyUsage::of(KeySpec::Aes256),
            origin: Origin::Wrapped,
            state: KeyState::Enabled,
            description: String::new(),
            tags: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
            policy: None,
            created: 1,
            min_decrypt_version: 1,
            versions: vec![KeyVersion {
                number: 1,
                created: 1,
                material: Material::Wrapped {
                    master: "kastell-master".into(),
                    wrapped: vec![7; 40],
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
        }
    }

    /// An edit of one field, named.
    type Edit = (&'static str, Box<dyn Fn(&mut KeyRecord)>);

    /// Every field a record's use depends on changes the message its seal covers.
    #[test]
    fn every_field_of_a_record_changes_its_sealed_message() {
        let base = record();
        let edits: Vec<Edit> = vec![
            ("id", Box::new(|k| k.id = KeyId::random())),
            ("origin", Box::new(|k| k.origin = Origin::Token)),
            ("state", Box::new(|k| k.state = KeyState::Disabled)),
            (
                "deletion date",
                Box::new(|k| k.state = KeyState::PendingDeletion { delete_at: 5 }),
            ),
            ("description", Box::new(|k| k.description = "x".into())),
            (
                "tags",
                Box::new(|k| {
                    k.tags.insert("allowed-guests".into(), "sha384:00".into());
                }),
            ),
            (
                "tag split",
                Box::new(|k| k.tags = BTreeMap::from([("ab".to_owned(), String::new())])),
            ),
            (
                "policy",
                Box::new(|k| k.policy = Some(kastell_attest::Measurement::of(b"p"))),
            ),
            ("created", Box::new(|k| k.created = 2)),
            ("minimum version", Box::new(|k| k.min_decrypt_version = 2)),
            ("releasable", Box::new(|k| k.releasable = true)),
            ("revision", Box::new(|k| k.revision = 1)),
            ("version number", Box::new(|k| k.versions[0].number = 2)),
            (
                "wrapped bytes",
                Box::new(|k| {
                    k.versions[0].material = Material::Wrapped {
                        master: "kastell-master".into(),
                        wrapped: vec![8; 40],
                    };
                }),
            ),
            (
                "material kind",
                Box::new(|k| k.versions[0].material = Material::Token),
            ),
            ("versions", Box::new(|k| k.versions.clear())),
            (
                "rotation on",
                Box::new(|k| {
                    k.rotation = Some(crate::model::RotationSchedule {
                        period_days: 365,
                        next_at: 9,
                    });
                }),
            ),
            (
                "automatic version",
                Box::new(|k| k.versions[0].automatic = true),
            ),
            (
                "aws key policy",
                Box::new(|k| k.key_policy = Some("{}".into())),
            ),
            (
                "pending import",
                Box::new(|k| k.state = KeyState::PendingImport),
            ),
            (
                "imported material",
                Box::new(|k| {
                    k.imported = Some(crate::model::ImportedMaterial {
                        id: [1; 32],
                        expires_at: None,
                    });
                }),
            ),
        ];
        let message = key_message(&base);
        for (field, edit) in edits {
            let mut edited = base.clone();
            edit(&mut edited);
            assert_ne!(key_message(&edited), message, "{field}");
        }
        let mut sealed = base.clone();
        sealed.seal = Some(vec![1; 48]);
        assert_eq!(key_message(&sealed), message, "the seal is not part of it");
    }

    #[test]
    fn a_record_without_rotation_keeps_the_message_sealed_before_rotation_existed() {
        let base = record();
        let message = key_message(&base);
        assert!(
            !message
                .windows(ROTATION_DOMAIN.len())
                .any(|w| w == ROTATION_DOMAIN)
        );
        let schedule = |period_days, next_at| {
            let mut k = base.clone();
            k.rotation = Some(crate::model::RotationSchedule {
                period_days,
                next_at,
            });
            key_message(&k)
        };
        assert_ne!(schedule(365, 9), schedule(366, 9), "period");
        assert_ne!(schedule(365, 9), schedule(365, 10), "next rotation");
    }

    #[test]
    fn an_aws_key_policy_is_sealed_by_its_digest_and_absent_keeps_older_seals() {
        let base = record();
        assert!(
            !key_message(&base)
                .windows(KEY_POLICY_DOMAIN.len())
                .any(|w| w == KEY_POLICY_DOMAIN)
        );
        let with = |document: &str| {
            let mut k = base.clone();
            k.key_policy = Some(document.into());
            key_message(&k)
        };
        assert_ne!(with(r#"{"a":1}"#), with(r#"{"a":2}"#));
        assert_ne!(with(""), key_message(&base));
    }

    #[test]
    fn imported_material_seals_its_id_and_expiry_and_absent_keeps_older_seals() {
        let base = record();
        assert!(
            !key_message(&base)
                .windows(IMPORT_DOMAIN.len())
                .any(|w| w == IMPORT_DOMAIN)
        );
        let with = |id: u8, expires_at| {
            let mut k = base.clone();
            k.imported = Some(crate::model::ImportedMaterial {
                id: [id; 32],
                expires_at,
            });
            key_message(&k)
        };
        assert_ne!(with(1, None), with(2, None), "material id");
        assert_ne!(with(1, None), with(1, Some(0)), "expiry set");
        assert_ne!(with(1, Some(5)), with(1, Some(6)), "expiry moved");
    }

    #[test]
    fn imported_materials_seal_every_field_and_none_keeps_older_seals() {
        let base = record();
        assert!(
            !key_message(&base)
                .windows(MATERIALS_DOMAIN.len())
                .any(|w| w == MATERIALS_DOMAIN)
        );
        let material = crate::model::KeyMaterial {
            id: [1; 32],
            version: Some(1),
            description: Some("a".into()),
            expires_at: Some(5),
            pending: None,
        };
        let with = |edit: &dyn Fn(&mut crate::model::KeyMaterial)| {
            let mut k = base.clone();
            let mut m = material.clone();
            edit(&mut m);
            k.materials = vec![m];
            key_message(&k)
        };
        let sealed = with(&|_| {});
        assert_ne!(sealed, key_message(&base), "listed");
        type MaterialEdit<'a> = (&'a str, &'a dyn Fn(&mut crate::model::KeyMaterial));
        let edits: [MaterialEdit<'_>; 6] = [
            ("id", &|m| m.id = [2; 32]),
            ("version", &|m| m.version = Some(2)),
            ("pending", &|m| m.version = None),
            ("description", &|m| m.description = Some("b".into())),
            ("expiry", &|m| m.expires_at = None),
            ("pending bytes", &|m| {
                m.pending = Some(("kastell-master".into(), vec![1; 40]))
            }),
        ];
        for (field, edit) in edits {
            assert_ne!(with(edit), sealed, "{field}");
        }
    }

    #[test]
    fn alias_messages_bind_name_and_key_and_differ_from_key_records() {
        let (a, b): (Alias, Alias) = ("alias/a".parse().unwrap(), "alias/b".parse().unwrap());
        let (k1, k2) = (KeyId::random(), KeyId::random());
        assert_ne!(alias_message(&a, &k1), alias_message(&b, &k1));
        assert_ne!(alias_message(&a, &k1), alias_message(&a, &k2));
        assert!(!key_message(&record()).starts_with(ALIAS_DOMAIN));
    }

    #[test]
    fn verified_seals_stay_bounded_and_forget_the_oldest() {
        let seals = VerifiedSeals::new();
        let digests: Vec<[u8; 48]> = (0..(SHARDS * PER_SHARD + 10) as u32)
            .map(|i| VerifiedSeals::digest(&i.to_be_bytes(), b"seal"))
            .collect();
        for digest in &digests {
            seals.insert(*digest);
        }
        let held: usize = seals.shards.iter().map(|s| s.lock().unwrap().0.len()).sum();
        assert!(held <= SHARDS * PER_SHARD, "{held}");
        assert!(seals.contains(digests.last().unwrap()));
        assert!(!seals.contains(&VerifiedSeals::digest(b"other", b"seal")));
    }
}
