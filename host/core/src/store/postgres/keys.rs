//! Keys, versions and aliases in PostgreSQL: written inside a transaction, and read back
//! with their versions in one statement (one snapshot, one round trip).
//!
//! Concurrent changes: a change to a key is an `UPDATE … WHERE revision = $n`; under READ
//! COMMITTED a second writer waits for the first one's row lock, then finds the revision
//! moved and changes nothing ([`StoreError::KeyChanged`]). Inserts that may collide (a key
//! id, an alias, a version number) use `ON CONFLICT DO NOTHING` and report the collision
//! by name, without aborting the transaction.

use std::collections::BTreeMap;

use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};
use postgres::error::SqlState;
use postgres::{GenericClient, Row};

use super::connect::{Db, violates};
use super::{corrupt, state_columns};
use crate::model::{
    Alias, AliasRow, ImportedMaterial, KeyRecord, KeyState, KeyVersion, Material, RotationSchedule,
    token_label,
};
use crate::store::{StoreError, grants, materials};

/// The key columns and, after them, the version columns of a key joined with its versions
/// (`k` and `v`), in [`decode_keys`]'s order.
macro_rules! key_select {
    ($tail:literal) => {
        concat!(
            "SELECT k.id, k.spec, k.origin, k.state, k.delete_at, k.description, k.tags, \
             k.policy, k.created, k.min_decrypt_version, k.releasable, k.revision, k.seal, \
             k.usage, k.rotation_period_days, k.next_rotation, v.number, v.created, \
             v.token_label, v.master, v.wrapped, v.automatic, k.key_policy, k.grants, \
             k.material_id, k.material_expires, k.materials ",
            $tail
        )
    };
}
pub(super) use key_select;

/// A stored revision (BIGINT).
fn stored_revision(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| corrupt("key revision"))
}

fn insert_version<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &KeyId,
    version: &KeyVersion,
) -> Result<u64, StoreError> {
    let (label, master, wrapped) = match &version.material {
        Material::Token => (Some(token_label(id, version.number)), None, None),
        Material::Wrapped { master, wrapped } => {
            (None, Some(master.as_str()), Some(wrapped.as_slice()))
        }
        Material::Destroyed | Material::ForeignLabel(_) => {
            return Err(corrupt(
                "a destroyed or tampered version cannot be stored as new",
            ));
        }
    };
    db.execute(
        "insert version",
        "INSERT INTO key_versions (key_id, number, created, token_label, master, wrapped,
                                   automatic)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id, number) DO NOTHING",
        &[
            &id.to_string(),
            &i64::from(version.number),
            &version.created,
            &label,
            &master,
            &wrapped,
            &version.automatic,
        ],
    )
}

/// Why a change to key `id` at a given revision wrote nothing.
fn not_at_revision<C: GenericClient>(db: &mut Db<'_, C>, id: &KeyId) -> StoreError {
    match db.query_opt(
        "find key",
        "SELECT 1 FROM keys WHERE id = $1",
        &[&id.to_string()],
    ) {
        Ok(Some(_)) => StoreError::KeyChanged(*id),
        Ok(None) => StoreError::KeyNotFound(*id),
        Err(err) => err,
    }
}

pub(super) fn create_key_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    key: &KeyRecord,
    alias: Option<&AliasRow>,
) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let (period, next) = rotation_columns(key.rotation);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    let inserted = db.execute(
        "insert key",
        "INSERT INTO keys (id, spec, origin, state, delete_at, description, tags, policy,
                           created, min_decrypt_version, releasable, revision, seal, usage,
                           rotation_period_days, next_rotation, key_policy, grants, material_id,
                           material_expires, materials)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21)
         ON CONFLICT (id) DO NOTHING",
        &[
            &key.id.to_string(),
            &key.spec.as_str(),
            &key.origin.as_str(),
            &state,
            &delete_at,
            &key.description,
            &tags,
            &key.policy.map(|m| m.to_string()),
            &key.created,
            &i64::from(key.min_decrypt_version),
            &key.releasable,
            &stored_revision(key.revision)?,
            &key.seal,
            &key.usage.as_str(),
            &period,
            &next,
            &key.key_policy,
            &grants::column(&key.grants)?,
            &key.imported.map(|m| m.id.to_vec()),
            &key.imported.and_then(|m| m.expires_at),
            &materials::column(&key.materials)?,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::KeyExists(key.id));
    }
    for version in &key.versions {
        if insert_version(db, &key.id, version)? == 0 {
            return Err(StoreError::VersionExists {
                id: key.id,
                number: version.number,
            });
        }
    }
    if let Some(row) = alias {
        create_alias_in(db, row)?;
    }
    Ok(())
}

/// The `rotation_period_days, next_rotation` columns of a schedule.
fn rotation_columns(rotation: Option<RotationSchedule>) -> (Option<i64>, Option<i64>) {
    rotation.map_or((None, None), |r| {
        (Some(i64::from(r.period_days)), Some(r.next_at))
    })
}

pub(super) fn update_key_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let (period, next) = rotation_columns(key.rotation);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    let changed = db.execute(
        "update key",
        "UPDATE keys SET state = $2, delete_at = $3, description = $4, tags = $5,
         policy = $6, min_decrypt_version = $7, revision = revision + 1, seal = $9,
         rotation_period_days = $10, next_rotation = $11, key_policy = $12,
         grants = $13, material_id = $14, material_expires = $15, materials = $16
         WHERE id = $1 AND revision = $8",
        &[
            &key.id.to_string(),
            &state,
            &delete_at,
            &key.description,
            &tags,
            &key.policy.map(|m| m.to_string()),
            &i64::from(key.min_decrypt_version),
            &stored_revision(key.revision)?,
            &key.seal,
            &period,
            &next,
            &key.key_policy,
            &grants::column(&key.grants)?,
            &key.imported.map(|m| m.id.to_vec()),
            &key.imported.and_then(|m| m.expires_at),
            &materials::column(&key.materials)?,
        ],
    )?;
    if changed == 0 {
        return Err(not_at_revision(db, &key.id));
    }
    Ok(())
}

/// Stores each version's material as `key` holds it, after [`update_key_in`] (an
/// imported key's import, deletion or expiry): wrapped material stored, or erased.
pub(super) fn set_material_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    for version in &key.versions {
        match &version.material {
            Material::Wrapped { master, wrapped } => {
                db.execute(
                    "store imported material",
                    "INSERT INTO key_versions (key_id, number, created, master, wrapped,
                                               automatic)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (key_id, number) DO UPDATE
                     SET master = excluded.master, wrapped = excluded.wrapped",
                    &[
                        &key.id.to_string(),
                        &i64::from(version.number),
                        &version.created,
                        master,
                        wrapped,
                        &version.automatic,
                    ],
                )?;
            }
            Material::Destroyed => {
                db.execute(
                    "erase imported material",
                    "UPDATE key_versions SET wrapped = NULL WHERE key_id = $1 AND number = $2",
                    &[&key.id.to_string(), &i64::from(version.number)],
                )?;
            }
            Material::Token | Material::ForeignLabel(_) => {
                return Err(corrupt(format!(
                    "version {} of key {}: imported material is never token-resident",
                    version.number, key.id
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn add_version_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &KeyId,
    revision: u64,
    version: &KeyVersion,
    seal: Option<&[u8]>,
) -> Result<(), StoreError> {
    let changed = db.execute(
        "add version",
        "UPDATE keys SET revision = revision + 1, seal = $3 WHERE id = $1 AND revision = $2",
        &[&id.to_string(), &stored_revision(revision)?, &seal],
    )?;
    if changed == 0 {
        return Err(not_at_revision(db, id));
    }
    if insert_version(db, id, version)? == 0 {
        return Err(StoreError::VersionExists {
            id: *id,
            number: version.number,
        });
    }
    Ok(())
}

/// Sets the rotation schedule of key `id` (its rotation was just added, in this
/// transaction, against the key's revision, whose row lock it holds).
pub(super) fn set_rotation_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &KeyId,
    rotation: Option<RotationSchedule>,
) -> Result<(), StoreError> {
    let (period, next) = rotation_columns(rotation);
    db.execute(
        "set rotation",
        "UPDATE keys SET rotation_period_days = $2, next_rotation = $3 WHERE id = $1",
        &[&id.to_string(), &period, &next],
    )?;
    Ok(())
}

/// Creates an alias; [`StoreError::AliasExists`] when the name is taken,
/// [`StoreError::KeyNotFound`] when its key does not exist.
pub(super) fn create_alias_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    row: &AliasRow,
) -> Result<(), StoreError> {
    let inserted = db
        .execute(
            "insert alias",
            "INSERT INTO aliases (alias, key_id, seal) VALUES ($1, $2, $3)
             ON CONFLICT (alias) DO NOTHING",
            &[&row.alias.to_string(), &row.key.to_string(), &row.seal],
        )
        .map_err(|e| foreign_key(e, row.key))?;
    if inserted == 0 {
        return Err(StoreError::AliasExists(row.alias.clone()));
    }
    Ok(())
}

/// A foreign-key violation as the missing key.
fn foreign_key(err: StoreError, key: KeyId) -> StoreError {
    if violates(&err, &SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::KeyNotFound(key)
    } else {
        err
    }
}

/// Points an alias that names `from` at the key `row` names.
pub(super) fn update_alias_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    row: &AliasRow,
    from: &KeyId,
) -> Result<(), StoreError> {
    let changed = db
        .execute(
            "update alias",
            "UPDATE aliases SET key_id = $2, seal = $3 WHERE alias = $1 AND key_id = $4",
            &[
                &row.alias.to_string(),
                &row.key.to_string(),
                &row.seal,
                &from.to_string(),
            ],
        )
        .map_err(|e| foreign_key(e, row.key))?;
    if changed == 0 {
        return Err(StoreError::AliasChanged(row.alias.clone()));
    }
    Ok(())
}

/// Removes an alias that names `key`.
pub(super) fn delete_alias_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    alias: &Alias,
    key: &KeyId,
) -> Result<(), StoreError> {
    let removed = db.execute(
        "delete alias",
        "DELETE FROM aliases WHERE alias = $1 AND key_id = $2",
        &[&alias.to_string(), &key.to_string()],
    )?;
    if removed == 0 {
        return Err(StoreError::AliasChanged(alias.clone()));
    }
    Ok(())
}

/// Creates or re-points an alias.
pub(super) fn set_alias_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    row: &AliasRow,
) -> Result<(), StoreError> {
    db.execute(
        "set alias",
        "INSERT INTO aliases (alias, key_id, seal) VALUES ($1, $2, $3)
         ON CONFLICT (alias) DO UPDATE SET key_id = excluded.key_id, seal = excluded.seal",
        &[&row.alias.to_string(), &row.key.to_string(), &row.seal],
    )
    .map_err(|e| foreign_key(e, row.key))?;
    Ok(())
}

/// Writes the seals of rows stored without one, each only while the row is as sealed.
pub(super) fn seal_rows_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    keys: &[(KeyId, u64, Vec<u8>)],
    aliases: &[AliasRow],
) -> Result<(), StoreError> {
    for (id, revision, seal) in keys {
        let changed = db.execute(
            "seal key",
            "UPDATE keys SET seal = $3 WHERE id = $1 AND revision = $2 AND seal IS NULL",
            &[&id.to_string(), &stored_revision(*revision)?, seal],
        )?;
        if changed == 0 {
            return Err(StoreError::KeyChanged(*id));
        }
    }
    for row in aliases {
        let changed = db.execute(
            "seal alias",
            "UPDATE aliases SET seal = $3 WHERE alias = $1 AND key_id = $2 AND seal IS NULL",
            &[&row.alias.to_string(), &row.key.to_string(), &row.seal],
        )?;
        if changed == 0 {
            return Err(StoreError::AliasChanged(row.alias.clone()));
        }
    }
    Ok(())
}

pub(super) fn destroy_key_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    id: &KeyId,
    revision: u64,
    token_labels: &[String],
    seal: Option<&[u8]>,
) -> Result<(), StoreError> {
    let changed = db.execute(
        "destroy key",
        "UPDATE keys SET state = 'destroyed', delete_at = NULL, revision = revision + 1,
         seal = $3 WHERE id = $1 AND revision = $2",
        &[&id.to_string(), &stored_revision(revision)?, &seal],
    )?;
    if changed == 0 {
        return Err(not_at_revision(db, id));
    }
    db.execute(
        "erase wrapped material",
        "UPDATE key_versions SET wrapped = NULL WHERE key_id = $1",
        &[&id.to_string()],
    )?;
    db.execute(
        "remove aliases of destroyed key",
        "DELETE FROM aliases WHERE key_id = $1",
        &[&id.to_string()],
    )?;
    for label in token_labels {
        db.execute(
            "queue token object destruction",
            "INSERT INTO token_destruction (label, key_id) VALUES ($1, $2)
             ON CONFLICT (label) DO NOTHING",
            &[label, &id.to_string()],
        )?;
    }
    Ok(())
}

/// An alias row from its `alias, key_id, seal` columns.
pub(super) fn decode_alias(row: &Row) -> Result<AliasRow, StoreError> {
    let alias: String = row.try_get(0).map_err(|_| corrupt("alias"))?;
    let key: String = row.try_get(1).map_err(|_| corrupt("alias target"))?;
    let seal: Option<Vec<u8>> = row.try_get(2).map_err(|_| corrupt("alias seal"))?;
    let alias: Alias = alias
        .parse()
        .map_err(|_| corrupt(format!("alias {alias}")))?;
    let key = key
        .parse()
        .map_err(|_| corrupt(format!("target of {alias}")))?;
    Ok(AliasRow { alias, key, seal })
}

/// Keys from rows of [`key_select`] ordered by key id then version number: consecutive
/// rows of one key give its versions (a key without versions has one row of NULLs).
pub(super) fn decode_keys(rows: &[Row]) -> Result<Vec<KeyRecord>, StoreError> {
    let mut keys: Vec<KeyRecord> = Vec::new();
    for row in rows {
        let id: String = row.try_get(0).map_err(|_| corrupt("key id"))?;
        let same = keys.last().is_some_and(|key| key.id.to_string() == id);
        if !same {
            keys.push(decode_key(row)?);
        }
        let key = keys.last_mut().ok_or_else(|| corrupt("key row"))?;
        if let Some(version) = decode_version(&key.id, key.state, row)? {
            key.versions.push(version);
        }
    }
    Ok(keys)
}

fn decode_version(
    id: &KeyId,
    state: KeyState,
    row: &Row,
) -> Result<Option<KeyVersion>, StoreError> {
    let bad = || corrupt(format!("a version of key {id}"));
    let Some(number) = row.try_get::<_, Option<i64>>(16).map_err(|_| bad())? else {
        return Ok(None);
    };
    let number = u32::try_from(number).map_err(|_| bad())?;
    let label: Option<String> = row.try_get(18).map_err(|_| bad())?;
    let master: Option<String> = row.try_get(19).map_err(|_| bad())?;
    let wrapped: Option<Vec<u8>> = row.try_get(20).map_err(|_| bad())?;
    let material = match (label, master, wrapped) {
        _ if state == KeyState::Destroyed => Material::Destroyed,
        (Some(label), None, None) => Material::from_stored_label(id, number, label),
        (None, Some(master), Some(wrapped)) => Material::Wrapped { master, wrapped },
        (None, Some(_), None) => Material::Destroyed,
        _ => return Err(corrupt(format!("version {number} of key {id}"))),
    };
    Ok(Some(KeyVersion {
        number,
        created: row.try_get(17).map_err(|_| bad())?,
        material,
        automatic: row.try_get(21).map_err(|_| bad())?,
    }))
}

/// A key's own columns (versions are added by [`decode_keys`]).
fn decode_key(row: &Row) -> Result<KeyRecord, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> {
        row.try_get::<_, String>(i)
            .map_err(|_| corrupt("key column"))
    };
    let opt_i64 = |i: usize, what: &str| -> Result<Option<i64>, StoreError> {
        row.try_get::<_, Option<i64>>(i)
            .map_err(|_| corrupt(what.to_owned()))
    };
    let id: KeyId = text(0)?.parse().map_err(|_| corrupt("key id"))?;
    let spec: KeySpec = text(1)?
        .parse()
        .map_err(|_| corrupt(format!("spec of key {id}")))?;
    let origin: Origin = text(2)?
        .parse()
        .map_err(|_| corrupt(format!("origin of key {id}")))?;
    let state = match (text(3)?.as_str(), opt_i64(4, "delete_at")?) {
        ("enabled", None) => KeyState::Enabled,
        ("disabled", None) => KeyState::Disabled,
        ("pending-deletion", Some(delete_at)) => KeyState::PendingDeletion { delete_at },
        ("destroyed", None) => KeyState::Destroyed,
        ("pending-import", None) => KeyState::PendingImport,
        _ => return Err(corrupt(format!("state of key {id}"))),
    };
    let tags: BTreeMap<String, String> =
        serde_json::from_str(&text(6)?).map_err(|_| corrupt(format!("tags of key {id}")))?;
    let policy: Option<String> = row.try_get(7).map_err(|_| corrupt("policy"))?;
    let policy = policy
        .map(|text| text.parse())
        .transpose()
        .map_err(|_| corrupt(format!("policy of key {id}")))?;
    let usage: Option<String> = row.try_get(13).map_err(|_| corrupt("usage"))?;
    let usage = match usage {
        Some(text) => text
            .parse::<KeyUsage>()
            .ok()
            .filter(|usage| spec.allows(*usage))
            .ok_or_else(|| corrupt(format!("usage of key {id}")))?,
        None => KeyUsage::of(spec),
    };
    let rotation = match (
        opt_i64(14, "rotation period")?,
        opt_i64(15, "next rotation")?,
    ) {
        (None, None) => None,
        (Some(period), Some(next_at)) => Some(RotationSchedule {
            period_days: u32::try_from(period)
                .map_err(|_| corrupt(format!("rotation period of key {id}")))?,
            next_at,
        }),
        _ => return Err(corrupt(format!("rotation of key {id}"))),
    };
    let key_policy: Option<String> = row
        .try_get(22)
        .map_err(|_| corrupt(format!("key policy of key {id}")))?;
    let grants_text: Option<String> = row
        .try_get(23)
        .map_err(|_| corrupt(format!("grants of key {id}")))?;
    let grants = grants::parse(&id, grants_text.as_deref())?;
    let material_id: Option<Vec<u8>> = row
        .try_get(24)
        .map_err(|_| corrupt(format!("material id of key {id}")))?;
    let imported = match (material_id, opt_i64(25, "material expiry")?) {
        (None, None) => None,
        (Some(bytes), expires_at) => Some(ImportedMaterial {
            id: bytes
                .try_into()
                .map_err(|_| corrupt(format!("material id of key {id}")))?,
            expires_at,
        }),
        (None, Some(_)) => return Err(corrupt(format!("imported material of key {id}"))),
    };
    let materials_text: Option<String> = row
        .try_get(26)
        .map_err(|_| corrupt(format!("key materials of key {id}")))?;
    let materials = materials::parse(&id, materials_text.as_deref())?;
    let min_decrypt_version: i64 = row.try_get(9).map_err(|_| corrupt("min version"))?;
    let revision: i64 = row.try_get(11).map_err(|_| corrupt("revision"))?;
    Ok(KeyRecord {
        id,
        spec,
        usage,
        origin,
        state,
        description: text(5)?,
        tags,
        policy,
        created: row.try_get(8).map_err(|_| corrupt("created"))?,
        min_decrypt_version: u32::try_from(min_decrypt_version)
            .map_err(|_| corrupt("min version"))?,
        versions: Vec::new(),
        releasable: row.try_get(10).map_err(|_| corrupt("releasable"))?,
        revision: u64::try_from(revision).map_err(|_| corrupt(format!("revision of key {id}")))?,
        seal: row
            .try_get(12)
            .map_err(|_| corrupt(format!("seal of key {id}")))?,
        rotation,
        key_policy,
        grants,
        imported,
        materials,
    })
}
