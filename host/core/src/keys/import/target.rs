//! Where an import puts its material: the key's first material (version 1), new material
//! pending rotation (a symmetric key that has material, `ImportType NEW_KEY_MATERIAL`), or
//! material the key has (had) imported again; and the refusals decided before the material
//! is unwrapped.

use kastell_proto::KeySpec;

use super::{ImportType, MaterialImport, material_id_hex};
use crate::keys::error::KeyError;
use crate::keys::service::{KeyService, now_ms};
use crate::keys::{KeyMaterial, KeyRecord, KeyState, KeyVersion, Material};

/// Which material an import brings.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    /// The key's first material: version 1.
    First,
    /// New material of a symmetric key that has some: pending rotation.
    Pending,
    /// Material the key has (had), with this id: imported again.
    Same([u8; 32]),
}

/// Puts material `id` (`wrapped` by the master key) where `target` says in `next`, with
/// its expiry; what it did, for the audit record.
pub(super) fn place(
    next: &mut KeyRecord,
    target: Target,
    id: [u8; 32],
    (master, wrapped): (String, Vec<u8>),
    expires_at: Option<i64>,
) -> &'static str {
    let listed = |version| KeyMaterial {
        id,
        version,
        description: None,
        expires_at,
        pending: None,
    };
    match target {
        Target::First => {
            let number = next.current().map_or(1, |v| v.number);
            let material = Material::Wrapped { master, wrapped };
            match next.versions.last_mut() {
                Some(version) => version.material = material,
                None => next.versions.push(KeyVersion {
                    number,
                    created: now_ms() / 1000,
                    material,
                    automatic: false,
                }),
            }
            next.materials = vec![listed(Some(number))];
            if next.state == KeyState::PendingImport {
                next.state = KeyState::Enabled;
            }
            ""
        }
        Target::Pending => {
            next.materials.push(KeyMaterial {
                pending: Some((master, wrapped)),
                ..listed(None)
            });
            ", pending rotation (RotateKeyOnDemand makes it current)"
        }
        Target::Same(_) => {
            let current = next.current().map(|v| v.number);
            let Some(entry) = next.materials.iter_mut().find(|m| m.id == id) else {
                return "";
            };
            entry.expires_at = expires_at;
            match entry.version {
                None => {
                    entry.pending = Some((master, wrapped));
                    ", pending rotation"
                }
                Some(number) => {
                    if let Some(version) = next.versions.iter_mut().find(|v| v.number == number) {
                        version.material = Material::Wrapped { master, wrapped };
                    }
                    // Usable again once every associated material is back (AWS: an
                    // older material deleted or expired leaves the key pending import).
                    if next.state == KeyState::PendingImport && super::rotation::all_held(next) {
                        next.state = KeyState::Enabled;
                    }
                    if Some(number) == current {
                        ""
                    } else {
                        ", an older version"
                    }
                }
            }
        }
    }
}

impl KeyService {
    /// Which material an import into `key` (listing `materials`) must bring, or why it
    /// is refused before its material is unwrapped.
    pub(super) fn import_target(
        &self,
        key: &KeyRecord,
        materials: &[KeyMaterial],
        import: &MaterialImport,
    ) -> Result<Target, KeyError> {
        let Some(current) = key.imported else {
            if let Some(asked) = &import.material_id {
                return Err(KeyError::IncorrectKeyMaterial(format!(
                    "KeyMaterialId {} is not key material of key {}",
                    material_id_hex(asked),
                    key.id
                )));
            }
            return Ok(Target::First);
        };
        if import.import_type == ImportType::New {
            if key.spec != KeySpec::Aes256 {
                return Err(KeyError::UnsupportedSpec(format!(
                    "key {} is a {} key: its imported material cannot change, only \
                     symmetric encryption keys (SYMMETRIC_DEFAULT) take new key material to \
                     rotate to, as in AWS KMS",
                    key.id, key.spec
                )));
            }
            if !matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
                return Err(KeyError::InvalidState(format!(
                    "key {} is {}: import its deleted or expired material again before new material",
                    key.id,
                    super::state_name(key.state)
                )));
            }
            if let Some(pending) = materials.iter().find(|m| m.version.is_none()) {
                return Err(KeyError::InvalidState(format!(
                    "key material {} of key {} is pending rotation already: rotate to it \
                     (RotateKeyOnDemand) or delete it (DeleteImportedKeyMaterial with its \
                     KeyMaterialId) first",
                    material_id_hex(&pending.id),
                    key.id
                )));
            }
            return Ok(Target::Pending);
        }
        let wanted = import.material_id.unwrap_or(current.id);
        if materials.iter().any(|m| m.id == wanted) {
            return Ok(Target::Same(wanted));
        }
        Err(KeyError::IncorrectKeyMaterial(format!(
            "KeyMaterialId {} is not key material of key {}",
            material_id_hex(&wanted),
            key.id
        )))
    }
}
