//! Describe and list keys: what an operator or a client sees of a key (never material).

use kastell_proto::api::{
    KeyDescription, MaterialDescription, RotationDescription, VersionDescription,
};
use kastell_proto::{KeySpec, Operation, Role};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::audited::Record;
use super::service::KeyService;
use super::{Caller, KeyError, KeyRecord, KeyState, Material};
use crate::audit::Outcome;

/// Longest page of [`KeyService::list_keys`].
pub const MAX_LIST: u32 = 1000;

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// What callers see of `key`, named by `aliases`.
fn describe(key: &KeyRecord, aliases: Vec<String>) -> KeyDescription {
    let (state, deletion_date) = match key.state {
        KeyState::Enabled => ("enabled", None),
        KeyState::Disabled => ("disabled", None),
        KeyState::PendingDeletion { delete_at } => ("pending-deletion", Some(rfc3339(delete_at))),
        KeyState::Destroyed => ("destroyed", None),
        KeyState::PendingImport => ("pending-import", None),
    };
    // Imported material past its expiry is gone for every use already (the gate refuses
    // it); the host's sweep then erases it.
    let expired = key
        .imported
        .and_then(|m| m.expires_at)
        .is_some_and(|at| at <= super::unix_now());
    let state = if expired && matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
        "pending-import"
    } else {
        state
    };
    let materials = super::import::listed(key);
    KeyDescription {
        id: key.id.to_string(),
        aliases,
        spec: key.spec,
        usage: key.usage,
        origin: key.origin,
        state: state.to_owned(),
        deletion_date,
        description: key.description.clone(),
        tags: key.tags.clone(),
        policy: key.policy.map(|m| m.to_string()),
        created: rfc3339(key.created),
        current_version: key.current().map_or(0, |v| v.number),
        min_decryption_version: key.min_decrypt_version,
        versions: key
            .versions
            .iter()
            .map(|v| VersionDescription {
                number: v.number,
                created: rfc3339(v.created),
                material: match v.material {
                    Material::Token => "token",
                    Material::ForeignLabel(_) => "tampered",
                    Material::Wrapped { .. } => "wrapped",
                    Material::Destroyed => "destroyed",
                }
                .to_owned(),
                automatic: v.automatic,
                key_material: material_of(key, &materials, v.number),
            })
            .collect(),
        releasable: key.releasable,
        rotation: key.rotation.map(|r| RotationDescription {
            period_days: r.period_days,
            next: rfc3339(r.next_at),
        }),
        material_expires: key
            .imported
            .and_then(|m| m.expires_at)
            .filter(|_| !expired)
            .map(rfc3339),
        material_id: key.imported.map(|m| super::import::material_id_hex(&m.id)),
        pending_material: materials
            .iter()
            .find(|m| m.version.is_none())
            .map(|m| Box::new(shown(m))),
    }
}

/// A listed material as callers see it.
fn shown(material: &super::KeyMaterial) -> MaterialDescription {
    MaterialDescription {
        id: super::import::material_id_hex(&material.id),
        description: material.description.clone(),
        expires: material.expires_at.map(rfc3339),
    }
}

/// Version `number`'s key material: an imported key's listed material, or the id of the
/// material Kastell made for a symmetric key.
fn material_of(
    key: &KeyRecord,
    materials: &[super::KeyMaterial],
    number: u32,
) -> Option<MaterialDescription> {
    if let Some(listed) = materials.iter().find(|m| m.version == Some(number)) {
        return Some(shown(listed));
    }
    super::import::material_id_of(key, number).map(|id| MaterialDescription {
        id,
        description: None,
        expires: None,
    })
}

impl KeyService {
    pub(super) fn may_describe(&self, record: &Record<'_>) -> Result<(), KeyError> {
        let known = [Role::CryptoOfficer, Role::CryptoUser, Role::Auditor];
        if !record.caller.roles.iter().any(|r| known.contains(r)) {
            return self.refuse(record, KeyError::AccessDenied, "caller has no role".into());
        }
        Ok(())
    }

    /// The description of a key record an audited operation returned (no new record).
    ///
    /// # Errors
    /// A store failure.
    pub fn description_of(&self, key: &KeyRecord) -> Result<KeyDescription, KeyError> {
        let aliases = self.stored_aliases(&key.id)?;
        Ok(describe(
            key,
            aliases.iter().map(ToString::to_string).collect(),
        ))
    }

    /// Describes a key (any role; audited).
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::AccessDenied`], or an internal failure.
    pub fn describe_key(&self, caller: &Caller, key: &str) -> Result<KeyDescription, KeyError> {
        let key = self.resolve_for(caller, Operation::DescribeKey, key)?;
        let record = Record::on(caller, Operation::DescribeKey, Some(&key));
        self.may_describe(&record)?;
        self.check_key_policy(&record, &key)?;
        let aliases = self.stored_aliases(&key.id)?;
        self.audit(&record, Outcome::Allowed, String::new())?;
        Ok(describe(
            &key,
            aliases.iter().map(ToString::to_string).collect(),
        ))
    }

    /// The id of the key `key` names (an id or `alias/…`), resolved now. Not an operation of
    /// its own (nothing is audited): the quorum uses it to pin a request to the exact key
    /// officers approve, whose own audit records follow.
    ///
    /// # Errors
    /// [`KeyError::NotFound`], [`KeyError::InvalidInput`] for a malformed id or alias, or
    /// an internal failure.
    pub fn key_id(&self, key: &str) -> Result<kastell_proto::KeyId, KeyError> {
        Ok(self.resolve(key)?.id)
    }

    /// The id and spec of the key `key` names, resolved now and unaudited, like
    /// [`KeyService::key_id`]: a workload opening a key handle (its operations on the
    /// handle are gated and audited one by one).
    ///
    /// # Errors
    /// As [`KeyService::key_id`].
    pub fn key_spec(&self, key: &str) -> Result<(kastell_proto::KeyId, KeySpec), KeyError> {
        let record = self.resolve(key)?;
        Ok((record.id, record.spec))
    }

    /// Up to `limit` (at most [`MAX_LIST`]) keys ordered by id, after `after` (any role;
    /// audited once per page).
    ///
    /// # Errors
    /// [`KeyError::InvalidInput`] for a bad `after` or `limit`, [`KeyError::AccessDenied`],
    /// or an internal failure.
    pub fn list_keys(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyDescription>, KeyError> {
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(KeyError::InvalidInput(format!(
                "list limit must be 1 to {MAX_LIST}, not {limit}"
            )));
        }
        let after = after
            .map(|a| a.parse().map_err(KeyError::from))
            .transpose()?;
        let record = Record::on(caller, Operation::DescribeKey, None);
        self.may_describe(&record)?;
        let keys = self.store.list_keys(after.as_ref(), limit)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let key = &self.checked_key(key)?;
            let aliases = self.stored_aliases(&key.id)?;
            out.push(describe(
                key,
                aliases.iter().map(ToString::to_string).collect(),
            ));
        }
        self.audit(
            &record,
            Outcome::Allowed,
            format!("listed {} keys", out.len()),
        )?;
        Ok(out)
    }
}
