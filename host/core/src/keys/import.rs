//! Imported key material (AWS KMS's `Origin=EXTERNAL`, "bring your own key"): the import
//! parameters ([`parameters`]), the material unwrapped with the token-held wrapping key and
//! wrapped at once by the master key, its deletion, and its expiry. Each step is audited
//! (`get-parameters-for-import`, `import-key-material`, `delete-imported-key-material`,
//! `expire-key-material`), a refusal with its reason; the material's id and expiry are
//! sealed with the key record ([`super::seal`]), so editing the store can neither revive
//! expired material nor swap it for other material. A symmetric key takes new material
//! to rotate to ([`rotation`]).

mod form;
mod material;
mod parameters;
mod rotation;
mod target;

use kastell_proto::{KeyId, Operation, Origin, Role};

use super::audited::Record;
use super::error::KeyError;
use super::service::{Caller, KeyService};
use super::{KeyRecord, KeyState};
use crate::audit::{AuditEntry, Outcome};
use crate::store::Change;

pub use material::importable;
pub use parameters::{IMPORT_TOKEN_TTL, ImportParameters, WrappingAlgorithm, WrappingKeySpec};
pub(super) use rotation::listed;
pub use rotation::material_id_of;

/// Audit operation of `GetParametersForImport`.
pub const GET_PARAMETERS: &str = "get-parameters-for-import";
/// Audit operation of `ImportKeyMaterial`.
pub const IMPORT_MATERIAL: &str = "import-key-material";
/// Audit operation of `DeleteImportedKeyMaterial`.
pub const DELETE_MATERIAL: &str = "delete-imported-key-material";
/// Audit operation of the host's sweep when imported material expires.
pub const EXPIRE_MATERIAL: &str = "expire-key-material";

/// When imported material expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Never (AWS's `KEY_MATERIAL_DOES_NOT_EXPIRE`).
    Never,
    /// At this Unix time, seconds (AWS's `KEY_MATERIAL_EXPIRES` with `ValidTo`).
    At(i64),
}

/// Which material an import says it brings (AWS's `ImportType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportType {
    /// Not stated: new material for a key that never had any, else the key's own.
    Unstated,
    /// `NEW_KEY_MATERIAL`: the key's first material, or, for a symmetric key that has
    /// material, new material pending rotation (`RotateKeyOnDemand` makes it current).
    New,
    /// `EXISTING_KEY_MATERIAL`: material the key has (had): its current material, or the
    /// one [`MaterialImport::material_id`] names.
    Existing,
}

/// What `ImportKeyMaterial` hands over.
#[derive(Debug, Clone)]
pub struct MaterialImport {
    /// The import token of [`KeyService::parameters_for_import`].
    pub token: Vec<u8>,
    /// The material wrapped by the token's public key and algorithm (not secret: only the
    /// token's wrapping key opens it).
    pub encrypted: Vec<u8>,
    /// When the material expires.
    pub expiry: Expiry,
    /// Which material the import says it brings.
    pub import_type: ImportType,
    /// The id the material must have (AWS's `KeyMaterialId`): one the key already has.
    pub material_id: Option<[u8; 32]>,
    /// The importer's description of the material (AWS's `KeyMaterialDescription`),
    /// kept with it; a re-import without one keeps the description it had.
    pub description: Option<String>,
}

/// The id of imported material, as AWS shows it (`KeyMaterialId`, 64 hexadecimal digits).
#[must_use]
pub fn material_id_hex(id: &[u8; 32]) -> String {
    hex::encode(id)
}

impl KeyService {
    /// Audits `operation` on `key` by `caller` as refused for `error`, and returns it.
    fn refuse_import<T>(
        &self,
        caller: &Caller,
        operation: &str,
        key: Option<KeyId>,
        error: KeyError,
    ) -> Result<T, KeyError> {
        if let Some(metrics) = &self.metrics {
            metrics.denied(super::audited::denial_cause(&error));
        }
        self.record_event(
            &caller.id,
            operation,
            key,
            Outcome::Denied,
            error.to_string(),
        )?;
        Err(error)
    }

    /// The `external` key `key` for `operation` by a crypto officer whom the key's AWS key
    /// policy allows `action` (with the condition keys `extra`), in a state that allows
    /// it; every refusal audited.
    fn external_key(
        &self,
        caller: &Caller,
        (operation, action): (&'static str, &str),
        key: &str,
        allowed: &[&str],
        extra: Vec<(String, Vec<String>)>,
    ) -> Result<KeyRecord, KeyError> {
        let key = match self.resolve(key) {
            Ok(found) => found,
            Err(err @ (KeyError::NotFound(_) | KeyError::InvalidInput(_))) => {
                return self.refuse_import(caller, operation, None, err);
            }
            Err(other) => return Err(other),
        };
        if !caller.roles.contains(&Role::CryptoOfficer) {
            if let Some(metrics) = &self.metrics {
                metrics.denied("role");
            }
            let why = format!("caller lacks the {} role", Role::CryptoOfficer);
            self.record_event(&caller.id, operation, Some(key.id), Outcome::Denied, why)?;
            return Err(KeyError::AccessDenied);
        }
        if key.origin != Origin::External {
            let why = format!(
                "key {} has origin {}: only a key created with origin EXTERNAL takes imported \
                 key material",
                key.id, key.origin
            );
            return self.refuse_import(
                caller,
                operation,
                Some(key.id),
                KeyError::UnsupportedSpec(why),
            );
        }
        let record = Record {
            label: Some(operation),
            ..Record::on(caller, Operation::DescribeKey, Some(&key))
        };
        self.check_key_policy_with(&record, &key, action, extra)?;
        let state = state_name(key.state);
        if !allowed.contains(&state) {
            let why = format!("key {} is {state}", key.id);
            return self.refuse_import(
                caller,
                operation,
                Some(key.id),
                KeyError::InvalidState(why),
            );
        }
        Ok(key)
    }

    /// Commits `next` (the key as changed, at its current revision) with its versions'
    /// material, and the allowed audit record of `operation`, in one transaction.
    fn commit_material(
        &self,
        principal: &str,
        operation: &str,
        next: &mut KeyRecord,
        reason: String,
    ) -> Result<(), KeyError> {
        self.seal_next(next)?;
        let entry = AuditEntry::event(
            principal,
            operation,
            Some(next.id),
            Outcome::Allowed,
            reason,
        );
        let appended = self.store.apply(Change::ImportMaterial(next), entry);
        // Whether or not the store says it committed: nothing stale stays in memory.
        self.forget_key(&next.id);
        let appended = appended?;
        next.revision += 1;
        self.checkpoint_if_due(appended.seq);
        Ok(())
    }

    /// Deletes imported material of `key` (AWS's `DeleteImportedKeyMaterial`): the one
    /// `material_id` names, else the current material. A version's wrapped material is
    /// erased from the store (its id stays, so that only the same material can be
    /// imported again); the current version's leaves the key pending import, an older
    /// version's leaves its ciphertexts undecryptable until it is imported again; material
    /// pending rotation is dropped. Returns the key and the id of the material deleted.
    ///
    /// # Errors
    /// [`KeyError::AccessDenied`] (crypto officers only), [`KeyError::UnsupportedSpec`]
    /// for a key not of origin `external`, [`KeyError::InvalidState`] for material not
    /// held (deleted already) or a key pending deletion or destroyed,
    /// [`KeyError::NotFound`] for a `material_id` that is not the key's; each audited.
    /// [`KeyError::Store`] when a concurrent change won (nothing changed).
    pub fn delete_imported_material(
        &self,
        caller: &Caller,
        key: &str,
        material_id: Option<&[u8; 32]>,
    ) -> Result<(KeyRecord, [u8; 32]), KeyError> {
        let key = self.external_key(
            caller,
            (DELETE_MATERIAL, "kms:DeleteImportedKeyMaterial"),
            key,
            &["enabled", "disabled", "pending-import"],
            Vec::new(),
        )?;
        let materials = listed(&key);
        let target = match material_id {
            Some(asked) => materials.iter().find(|m| &m.id == asked),
            None => {
                let current = key.current().map(|v| v.number);
                materials
                    .iter()
                    .find(|m| m.version.is_some() && m.version == current)
            }
        };
        let Some(target) = target else {
            let why = match material_id {
                Some(asked) => format!(
                    "key material {} is not associated with key {}",
                    material_id_hex(asked),
                    key.id
                ),
                None => format!("key {} holds no imported key material", key.id),
            };
            let error = if material_id.is_some() {
                KeyError::NotFound(why)
            } else {
                KeyError::InvalidState(why)
            };
            return self.refuse_import(caller, DELETE_MATERIAL, Some(key.id), error);
        };
        let id = target.id;
        let mut next = key.clone();
        next.materials = materials;
        let erased = rotation::erase(&mut next, &id);
        let Some(erased) = erased else {
            let why = format!(
                "key material {} of key {} is deleted already (the key is {})",
                material_id_hex(&id),
                key.id,
                state_name(key.state)
            );
            return self.refuse_import(
                caller,
                DELETE_MATERIAL,
                Some(key.id),
                KeyError::InvalidState(why),
            );
        };
        let reason = format!(
            "material {} erased; {}",
            material_id_hex(&id),
            erased_note(&erased)
        );
        self.commit_material(&caller.id, DELETE_MATERIAL, &mut next, reason)?;
        Ok((next, id))
    }

    /// Erases every imported material that expired by `now` (its `ValidTo`), each key with
    /// an `expire-key-material` record (principal `kastell`): a version's material (the
    /// current one or an older one, as at AWS) leaves the key pending import, a pending one
    /// is dropped. A key whose record fails its seal is refused (audited) and left alone;
    /// its use is refused anyway. Returns the keys whose material expired.
    ///
    /// # Errors
    /// The first store or token failure (keys before it stay expired).
    pub fn expire_imported_due(&self, now: i64) -> Result<Vec<KeyId>, KeyError> {
        let mut expired = Vec::new();
        for id in self.store.material_expired(now)? {
            let key = match self.stored_key(&id) {
                Ok(Some(key)) => key,
                Ok(None) | Err(KeyError::TamperDetected(_)) => continue,
                Err(other) => return Err(other),
            };
            if !matches!(
                key.state,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport
            ) {
                continue;
            }
            let materials = listed(&key);
            let due: Vec<[u8; 32]> = materials
                .iter()
                .filter(|m| m.expires_at.is_some_and(|at| at <= now) && rotation::held(&key, m))
                .map(|m| m.id)
                .collect();
            if due.is_empty() {
                continue;
            }
            let mut next = key.clone();
            next.materials = materials;
            let mut notes = Vec::new();
            for material in &due {
                if let Some(erased) = rotation::erase(&mut next, material) {
                    notes.push(format!(
                        "material {} expired (ValidTo): {}",
                        material_id_hex(material),
                        erased_note(&erased)
                    ));
                }
            }
            match self.commit_material(
                super::SYSTEM_PRINCIPAL,
                EXPIRE_MATERIAL,
                &mut next,
                notes.join("; "),
            ) {
                Ok(()) => expired.push(id),
                // Changed meanwhile: the next sweep decides on what is stored then.
                Err(KeyError::Store(crate::store::StoreError::KeyChanged(_))) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(expired)
    }
}

/// What an erasure left, for its audit record.
fn erased_note(erased: &rotation::Erased) -> String {
    match erased {
        rotation::Erased::Current => "the key is pending import".to_owned(),
        rotation::Erased::Older(number) => {
            format!(
                "version {number} no longer decrypts and the key is pending import until it \
                 is imported again"
            )
        }
        rotation::Erased::Pending => "it was pending rotation and is dropped".to_owned(),
    }
}

/// A state as the import refusals name it.
pub(super) const fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
        KeyState::PendingDeletion { .. } => "pending-deletion",
        KeyState::Destroyed => "destroyed",
        KeyState::PendingImport => "pending-import",
    }
}
