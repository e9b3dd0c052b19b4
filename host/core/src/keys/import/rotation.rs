//! Rotation of imported key material, as AWS KMS does it for symmetric encryption keys of
//! origin `EXTERNAL`: new material imported with `ImportType NEW_KEY_MATERIAL` waits,
//! wrapped by the master key, pending rotation; `RotateKeyOnDemand` makes it a new
//! version (current from then on; older versions still decrypt). Each material of the key
//! is listed with its id, description and expiry ([`KeyMaterial`]) and sealed with the
//! record; deleting or expiring one erases that material only.

use kastell_proto::{KeyId, KeySpec, Origin};
use sha2::{Digest as _, Sha256};

use super::material_id_hex;
use crate::keys::audited::Record;
use crate::keys::error::KeyError;
use crate::keys::service::{KeyService, now_ms};
use crate::keys::{ImportedMaterial, KeyMaterial, KeyRecord, KeyState, KeyVersion, Material};
use crate::store::Change;

/// Domain separation of the material ids of keys whose material Kastell made.
const MADE_MATERIAL_DOMAIN: &[u8] = b"kastell key material id v1\0";

/// The materials of `key`: those it lists, or for a key whose one material was imported
/// before materials were listed (schema v23), that material as its current version's.
pub(in crate::keys) fn listed(key: &KeyRecord) -> Vec<KeyMaterial> {
    if !key.materials.is_empty() {
        return key.materials.clone();
    }
    key.imported
        .map(|m| KeyMaterial {
            id: m.id,
            version: key.current().map(|v| v.number),
            description: None,
            expires_at: m.expires_at,
            pending: None,
        })
        .into_iter()
        .collect()
}

/// Whether `material` of `key` is held now (pending, or its version's material wrapped).
pub(super) fn held(key: &KeyRecord, material: &KeyMaterial) -> bool {
    match material.version {
        None => material.pending.is_some(),
        Some(number) => key
            .versions
            .iter()
            .any(|v| v.number == number && matches!(v.material, Material::Wrapped { .. })),
    }
}

/// `key.imported` made to say what its current version's material is.
pub(super) fn sync_imported(key: &mut KeyRecord) {
    let current = key.current().map(|v| v.number);
    if let Some(material) = key.materials.iter().find(|m| m.version == current) {
        key.imported = Some(ImportedMaterial {
            id: material.id,
            expires_at: material.expires_at,
        });
    }
}

/// What erasing a material did.
pub(super) enum Erased {
    /// A material pending rotation, dropped from the key (AWS: not yet associated).
    Pending,
    /// The current version's: the key is pending import.
    Current,
    /// An older version's: the key is pending import too (AWS: the deletion or expiry of
    /// any material associated with the key), until that material is imported again.
    Older(u32),
}

/// Erases material `id` of `next` (whose materials are listed): a pending material is
/// dropped, a version's material destroyed (its id kept, so that only the same material
/// is imported again). `None` when `next` holds no material `id`.
pub(super) fn erase(next: &mut KeyRecord, id: &[u8; 32]) -> Option<Erased> {
    let index = next.materials.iter().position(|m| &m.id == id)?;
    let Some(number) = next.materials[index].version else {
        next.materials[index].pending.as_ref()?;
        next.materials.remove(index);
        return Some(Erased::Pending);
    };
    let version = next.versions.iter_mut().find(|v| v.number == number)?;
    if !matches!(version.material, Material::Wrapped { .. }) {
        return None;
    }
    version.material = Material::Destroyed;
    next.materials[index].expires_at = None;
    let current = next.current().map(|v| v.number) == Some(number);
    if current {
        next.state = KeyState::PendingImport;
        next.imported = Some(ImportedMaterial {
            id: *id,
            expires_at: None,
        });
        return Some(Erased::Current);
    }
    next.state = KeyState::PendingImport;
    Some(Erased::Older(number))
}

/// Whether every material associated with `key` (each version's, pending ones aside) is
/// held: a key pending import becomes usable again only then.
pub(super) fn all_held(key: &KeyRecord) -> bool {
    key.materials
        .iter()
        .filter(|m| m.version.is_some())
        .all(|m| held(key, m))
}

/// The id of the material of version `version` of `key` (AWS's `KeyMaterialId`, 64
/// hexadecimal digits): an imported material's own id, or, for a symmetric key whose
/// material Kastell made, the SHA-256 of the key id, version number and creation time
/// (public, stable, naming no material). `None` for other keys and unknown versions.
#[must_use]
pub fn material_id_of(key: &KeyRecord, version: u32) -> Option<String> {
    if key.origin == Origin::External {
        return listed(key)
            .iter()
            .find(|m| m.version == Some(version))
            .map(|m| material_id_hex(&m.id));
    }
    if key.spec != KeySpec::Aes256 {
        return None;
    }
    let made = key.versions.iter().find(|v| v.number == version)?;
    let mut hasher = Sha256::new();
    hasher.update(MADE_MATERIAL_DOMAIN);
    hasher.update(key.id.as_bytes());
    hasher.update(version.to_be_bytes());
    hasher.update(made.created.to_be_bytes());
    Some(hex::encode(hasher.finalize()))
}

impl KeyService {
    /// The id of the material version `version` of key `key` is (AWS's `KeyMaterialId`
    /// in Decrypt, ReEncrypt and GenerateDataKey answers), read from the key record as
    /// the request path reads it (no audit record: the operation that used the version
    /// wrote one).
    ///
    /// # Errors
    /// The key's record failing its seal ([`KeyError::TamperDetected`]), or a store
    /// failure.
    pub fn key_material_id(&self, key: &KeyId, version: u32) -> Result<Option<String>, KeyError> {
        Ok(self
            .stored_key(key)?
            .and_then(|record| material_id_of(&record, version)))
    }

    /// `RotateKeyOnDemand` on an `EXTERNAL` key (authorised as `record` already): the
    /// material pending rotation becomes a new version, current from now on; older
    /// versions still decrypt. Audited as `rotate-key`.
    pub(in crate::keys) fn rotate_imported(
        &self,
        record: &Record<'_>,
        key: &KeyRecord,
    ) -> Result<KeyRecord, KeyError> {
        if key.spec != KeySpec::Aes256 {
            let why = format!(
                "key {} is a {} key with imported material: only symmetric encryption keys \
                 (SYMMETRIC_DEFAULT) rotate imported material, as in AWS KMS",
                key.id, key.spec
            );
            return self.refuse(record, KeyError::UnsupportedSpec(why.clone()), why);
        }
        if key.state != KeyState::Enabled && key.state != KeyState::Disabled {
            return self.refuse_state(
                record,
                format!("cannot rotate a key that is {:?}", key.state),
            );
        }
        let mut materials = listed(key);
        let Some(pending) = materials.iter_mut().find(|m| m.version.is_none()) else {
            let why = format!(
                "key {} has no imported key material pending rotation: import new material \
                 first (ImportKeyMaterial with ImportType NEW_KEY_MATERIAL)",
                key.id
            );
            return self.refuse_state(record, why);
        };
        let Some((master, wrapped)) = pending.pending.take() else {
            return self.refuse_state(record, "the pending material is not held".into());
        };
        let number = key.current().map_or(1, |v| v.number + 1);
        pending.version = Some(number);
        let id = pending.id;
        let mut next = key.clone();
        next.versions.push(KeyVersion {
            number,
            created: now_ms() / 1000,
            material: Material::Wrapped { master, wrapped },
            automatic: false,
        });
        next.materials = materials;
        sync_imported(&mut next);
        self.seal_next(&mut next)?;
        let record = Record {
            version: Some(number),
            ..Record::on(record.caller, record.operation, Some(key))
        };
        let reason = format!(
            "imported material {} made current (version {number})",
            material_id_hex(&id)
        );
        self.commit(Change::ImportMaterial(&next), &record, reason)?;
        next.revision += 1;
        Ok(next)
    }
}
