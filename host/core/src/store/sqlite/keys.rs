//! Keys, versions and aliases: written inside a transaction, and decoded from their rows.

use std::collections::BTreeMap;

use kastell_proto::{KeyId, KeySpec, KeyUsage, Origin};
use rusqlite::{Connection, Row, params};

use super::super::{grants, materials};
use super::{KEY_COLUMNS, corrupt, is_constraint, sql, state_columns};
use crate::model::{
    Alias, AliasRow, ImportedMaterial, KeyRecord, KeyState, KeyVersion, Material, RotationSchedule,
    token_label,
};
use crate::store::StoreError;

pub(super) fn insert_version(
    conn: &Connection,
    id: &KeyId,
    version: &KeyVersion,
) -> Result<(), rusqlite::Error> {
    let (label, master, wrapped) = match &version.material {
        Material::Token => (Some(token_label(id, version.number)), None, None),
        Material::Wrapped { master, wrapped } => {
            (None, Some(master.as_str()), Some(wrapped.as_slice()))
        }
        Material::Destroyed | Material::ForeignLabel(_) => {
            return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(
                std::io::Error::other("a destroyed or tampered version cannot be stored as new"),
            )));
        }
    };
    conn.execute(
        "INSERT INTO key_versions (key_id, number, created, token_label, master, wrapped,
                                   automatic)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id.to_string(),
            version.number,
            version.created,
            label,
            master,
            wrapped,
            i64::from(version.automatic),
        ],
    )?;
    Ok(())
}

/// The `rotation_period_days, next_rotation` columns of a schedule.
fn rotation_columns(rotation: Option<RotationSchedule>) -> (Option<u32>, Option<i64>) {
    rotation.map_or((None, None), |r| (Some(r.period_days), Some(r.next_at)))
}

/// A key revision as SQLite stores it.
fn stored_revision(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision).map_err(|_| corrupt("key revision"))
}

/// Why a change to key `id` at a given revision wrote nothing: the key does not exist, or
/// a concurrent change moved it to another revision.
fn not_at_revision(conn: &Connection, id: &KeyId) -> StoreError {
    let exists = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM keys WHERE id = ?1)",
        [id.to_string()],
        |r| r.get::<_, bool>(0),
    );
    match exists {
        Ok(true) => StoreError::KeyChanged(*id),
        Ok(false) => StoreError::KeyNotFound(*id),
        Err(err) => sql("find key")(err),
    }
}

pub(super) fn create_key_in(
    tx: &Connection,
    key: &KeyRecord,
    alias: Option<&AliasRow>,
) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let (period, next) = rotation_columns(key.rotation);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    tx.execute(
        &format!(
            "INSERT INTO keys ({KEY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21)"
        ),
        params![
            key.id.to_string(),
            key.spec.as_str(),
            key.origin.as_str(),
            state,
            delete_at,
            key.description,
            tags,
            key.policy.map(|m| m.to_string()),
            key.created,
            key.min_decrypt_version,
            i64::from(key.releasable),
            stored_revision(key.revision)?,
            key.seal,
            key.usage.as_str(),
            period,
            next,
            key.key_policy,
            grants::column(&key.grants)?,
            key.imported.map(|m| m.id.to_vec()),
            key.imported.and_then(|m| m.expires_at),
            materials::column(&key.materials)?,
        ],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::KeyExists(key.id)
        } else {
            sql("insert key")(e)
        }
    })?;
    for version in &key.versions {
        insert_version(tx, &key.id, version).map_err(sql("insert version"))?;
    }
    if let Some(row) = alias {
        tx.execute(
            "INSERT INTO aliases (alias, key_id, seal) VALUES (?1, ?2, ?3)",
            params![row.alias.to_string(), key.id.to_string(), row.seal],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StoreError::AliasExists(row.alias.clone())
            } else {
                sql("insert alias")(e)
            }
        })?;
    }
    Ok(())
}

pub(super) fn update_key_in(conn: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    let (state, delete_at) = state_columns(key.state);
    let (period, next) = rotation_columns(key.rotation);
    let tags = serde_json::to_string(&key.tags).map_err(|_| corrupt("tags"))?;
    let changed = conn
        .execute(
            "UPDATE keys SET state = ?2, delete_at = ?3, description = ?4, tags = ?5,
             policy = ?6, min_decrypt_version = ?7, revision = revision + 1, seal = ?9,
             rotation_period_days = ?10, next_rotation = ?11, key_policy = ?12,
             grants = ?13, material_id = ?14, material_expires = ?15, materials = ?16
             WHERE id = ?1 AND revision = ?8",
            params![
                key.id.to_string(),
                state,
                delete_at,
                key.description,
                tags,
                key.policy.map(|m| m.to_string()),
                key.min_decrypt_version,
                stored_revision(key.revision)?,
                key.seal,
                period,
                next,
                key.key_policy,
                grants::column(&key.grants)?,
                key.imported.map(|m| m.id.to_vec()),
                key.imported.and_then(|m| m.expires_at),
                materials::column(&key.materials)?,
            ],
        )
        .map_err(sql("update key"))?;
    if changed == 0 {
        return Err(not_at_revision(conn, &key.id));
    }
    Ok(())
}

pub(super) fn add_version_in(
    conn: &Connection,
    id: &KeyId,
    revision: u64,
    version: &KeyVersion,
    seal: Option<&[u8]>,
) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "UPDATE keys SET revision = revision + 1, seal = ?3 WHERE id = ?1 AND revision = ?2",
            params![id.to_string(), stored_revision(revision)?, seal],
        )
        .map_err(sql("add version"))?;
    if changed == 0 {
        return Err(not_at_revision(conn, id));
    }
    insert_version(conn, id, version).map_err(|e| {
        if is_constraint(&e) {
            StoreError::VersionExists {
                id: *id,
                number: version.number,
            }
        } else {
            sql("insert version")(e)
        }
    })
}

/// Stores each version's material as `key` holds it, after [`update_key_in`] (an
/// imported key's import, deletion or expiry): wrapped material stored, or erased.
pub(super) fn set_material_in(conn: &Connection, key: &KeyRecord) -> Result<(), StoreError> {
    for version in &key.versions {
        match &version.material {
            Material::Wrapped { master, wrapped } => {
                conn.execute(
                    "INSERT INTO key_versions (key_id, number, created, master, wrapped,
                                               automatic)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (key_id, number) DO UPDATE
                     SET master = excluded.master, wrapped = excluded.wrapped",
                    params![
                        key.id.to_string(),
                        version.number,
                        version.created,
                        master,
                        wrapped,
                        i64::from(version.automatic),
                    ],
                )
                .map_err(sql("store imported material"))?;
            }
            Material::Destroyed => {
                conn.execute(
                    "UPDATE key_versions SET wrapped = NULL WHERE key_id = ?1 AND number = ?2",
                    params![key.id.to_string(), version.number],
                )
                .map_err(sql("erase imported material"))?;
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

/// Sets the rotation schedule of key `id` (a rotation just added its version, in the
/// same transaction, against the key's revision).
pub(super) fn set_rotation_in(
    conn: &Connection,
    id: &KeyId,
    rotation: Option<RotationSchedule>,
) -> Result<(), StoreError> {
    let (period, next) = rotation_columns(rotation);
    conn.execute(
        "UPDATE keys SET rotation_period_days = ?2, next_rotation = ?3 WHERE id = ?1",
        params![id.to_string(), period, next],
    )
    .map_err(sql("set rotation"))?;
    Ok(())
}

/// Creates an alias; [`StoreError::AliasExists`] when the name is taken.
pub(super) fn create_alias_in(conn: &Connection, row: &AliasRow) -> Result<(), StoreError> {
    let taken = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM aliases WHERE alias = ?1)",
            [row.alias.to_string()],
            |r| r.get::<_, bool>(0),
        )
        .map_err(sql("find alias"))?;
    if taken {
        return Err(StoreError::AliasExists(row.alias.clone()));
    }
    set_alias_in(conn, row)
}

/// Points an alias that names `from` at the key `row` names; [`StoreError::AliasChanged`]
/// when it no longer names `from` (or no longer exists).
pub(super) fn update_alias_in(
    conn: &Connection,
    row: &AliasRow,
    from: &KeyId,
) -> Result<(), StoreError> {
    let changed = conn
        .execute(
            "UPDATE aliases SET key_id = ?2, seal = ?3 WHERE alias = ?1 AND key_id = ?4",
            params![
                row.alias.to_string(),
                row.key.to_string(),
                row.seal,
                from.to_string()
            ],
        )
        .map_err(|e| {
            if is_constraint(&e) {
                StoreError::KeyNotFound(row.key)
            } else {
                sql("update alias")(e)
            }
        })?;
    if changed == 0 {
        return Err(StoreError::AliasChanged(row.alias.clone()));
    }
    Ok(())
}

/// Removes an alias that names `key`; [`StoreError::AliasChanged`] when it no longer does.
pub(super) fn delete_alias_in(
    conn: &Connection,
    alias: &Alias,
    key: &KeyId,
) -> Result<(), StoreError> {
    let removed = conn
        .execute(
            "DELETE FROM aliases WHERE alias = ?1 AND key_id = ?2",
            params![alias.to_string(), key.to_string()],
        )
        .map_err(sql("delete alias"))?;
    if removed == 0 {
        return Err(StoreError::AliasChanged(alias.clone()));
    }
    Ok(())
}

pub(super) fn set_alias_in(conn: &Connection, row: &AliasRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO aliases (alias, key_id, seal) VALUES (?1, ?2, ?3)
             ON CONFLICT (alias) DO UPDATE SET key_id = excluded.key_id, seal = excluded.seal",
        params![row.alias.to_string(), row.key.to_string(), row.seal],
    )
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::KeyNotFound(row.key)
        } else {
            sql("set alias")(e)
        }
    })?;
    Ok(())
}

/// Writes the seals of rows stored without one, each only while the row is as it was
/// sealed (see [`crate::store::Change::SealRows`]).
pub(super) fn seal_rows_in(
    conn: &Connection,
    keys: &[(KeyId, u64, Vec<u8>)],
    aliases: &[AliasRow],
) -> Result<(), StoreError> {
    for (id, revision, seal) in keys {
        let changed = conn
            .execute(
                "UPDATE keys SET seal = ?3 WHERE id = ?1 AND revision = ?2 AND seal IS NULL",
                params![id.to_string(), stored_revision(*revision)?, seal],
            )
            .map_err(sql("seal key"))?;
        if changed == 0 {
            return Err(StoreError::KeyChanged(*id));
        }
    }
    for row in aliases {
        let changed = conn
            .execute(
                "UPDATE aliases SET seal = ?3 WHERE alias = ?1 AND key_id = ?2 AND seal IS NULL",
                params![row.alias.to_string(), row.key.to_string(), row.seal],
            )
            .map_err(sql("seal alias"))?;
        if changed == 0 {
            return Err(StoreError::AliasChanged(row.alias.clone()));
        }
    }
    Ok(())
}

/// An alias row from its `alias, key_id, seal` columns.
pub(super) fn decode_alias(row: &Row<'_>) -> Result<AliasRow, StoreError> {
    let alias: String = row.get(0).map_err(sql("read alias"))?;
    let key: String = row.get(1).map_err(sql("read alias"))?;
    let seal: Option<Vec<u8>> = row.get(2).map_err(sql("read alias"))?;
    let alias: Alias = alias
        .parse()
        .map_err(|_| corrupt(format!("alias {alias}")))?;
    let key = key
        .parse()
        .map_err(|_| corrupt(format!("target of {alias}")))?;
    Ok(AliasRow { alias, key, seal })
}

pub(super) fn destroy_key_in(
    tx: &Connection,
    id: &KeyId,
    revision: u64,
    token_labels: &[String],
    seal: Option<&[u8]>,
) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            "UPDATE keys SET state = 'destroyed', delete_at = NULL, revision = revision + 1,
             seal = ?3 WHERE id = ?1 AND revision = ?2",
            params![id.to_string(), stored_revision(revision)?, seal],
        )
        .map_err(sql("destroy key"))?;
    if changed == 0 {
        return Err(not_at_revision(tx, id));
    }
    tx.execute(
        "UPDATE key_versions SET wrapped = NULL WHERE key_id = ?1",
        [id.to_string()],
    )
    .map_err(sql("erase wrapped material"))?;
    tx.execute("DELETE FROM aliases WHERE key_id = ?1", [id.to_string()])
        .map_err(sql("remove aliases of destroyed key"))?;
    for label in token_labels {
        tx.execute(
            "INSERT INTO token_destruction (label, key_id) VALUES (?1, ?2)
             ON CONFLICT (label) DO NOTHING",
            params![label, id.to_string()],
        )
        .map_err(sql("queue token object destruction"))?;
    }
    Ok(())
}

pub(super) fn versions(conn: &Connection, id: &KeyId) -> Result<Vec<KeyVersion>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT number, created, token_label, master, wrapped, automatic FROM key_versions
             WHERE key_id = ?1 ORDER BY number",
        )
        .map_err(sql("read versions"))?;
    let rows = stmt
        .query_map([id.to_string()], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<Vec<u8>>>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .map_err(sql("read versions"))?;
    let mut versions = Vec::new();
    for row in rows {
        let (number, created, label, master, wrapped, automatic) =
            row.map_err(sql("read versions"))?;
        let material = match (label, master, wrapped) {
            (Some(label), None, None) => Material::from_stored_label(id, number, label),
            (None, Some(master), Some(wrapped)) => Material::Wrapped { master, wrapped },
            (None, Some(_), None) => Material::Destroyed,
            _ => return Err(corrupt(format!("version {number} of key {id}"))),
        };
        versions.push(KeyVersion {
            number,
            created,
            material,
            automatic: match automatic {
                0 => false,
                1 => true,
                _ => return Err(corrupt(format!("version {number} of key {id}"))),
            },
        });
    }
    Ok(versions)
}

pub(super) fn decode_key(conn: &Connection, row: &Row<'_>) -> Result<KeyRecord, StoreError> {
    let get = |i: usize| row.get_ref(i).map_err(sql("read key"));
    let text = |i: usize| -> Result<String, StoreError> {
        get(i)?
            .as_str()
            .map(str::to_owned)
            .map_err(|_| corrupt("key column"))
    };
    let id: KeyId = text(0)?.parse().map_err(|_| corrupt("key id"))?;
    let spec: KeySpec = text(1)?
        .parse()
        .map_err(|_| corrupt(format!("spec of key {id}")))?;
    let origin: Origin = text(2)?
        .parse()
        .map_err(|_| corrupt(format!("origin of key {id}")))?;
    let delete_at = get(4)?.as_i64_or_null().map_err(|_| corrupt("delete_at"))?;
    let state = match (text(3)?.as_str(), delete_at) {
        ("enabled", None) => KeyState::Enabled,
        ("disabled", None) => KeyState::Disabled,
        ("pending-deletion", Some(delete_at)) => KeyState::PendingDeletion { delete_at },
        ("destroyed", None) => KeyState::Destroyed,
        ("pending-import", None) => KeyState::PendingImport,
        _ => return Err(corrupt(format!("state of key {id}"))),
    };
    let tags: BTreeMap<String, String> =
        serde_json::from_str(&text(6)?).map_err(|_| corrupt(format!("tags of key {id}")))?;
    let policy = match get(7)?.as_str_or_null().map_err(|_| corrupt("policy"))? {
        Some(text) => Some(
            text.parse()
                .map_err(|_| corrupt(format!("policy of key {id}")))?,
        ),
        None => None,
    };
    // Keys stored before the usage column have their spec's default usage.
    let usage = match get(13)?.as_str_or_null().map_err(|_| corrupt("usage"))? {
        Some(text) => text
            .parse::<KeyUsage>()
            .ok()
            .filter(|usage| spec.allows(*usage))
            .ok_or_else(|| corrupt(format!("usage of key {id}")))?,
        None => KeyUsage::of(spec),
    };
    let period = get(14)?
        .as_i64_or_null()
        .map_err(|_| corrupt("rotation period"))?;
    let next = get(15)?
        .as_i64_or_null()
        .map_err(|_| corrupt("next rotation"))?;
    let rotation = match (period, next) {
        (None, None) => None,
        (Some(period), Some(next_at)) => Some(RotationSchedule {
            period_days: u32::try_from(period)
                .map_err(|_| corrupt(format!("rotation period of key {id}")))?,
            next_at,
        }),
        _ => return Err(corrupt(format!("rotation of key {id}"))),
    };
    let key_policy = get(16)?
        .as_str_or_null()
        .map_err(|_| corrupt(format!("key policy of key {id}")))?
        .map(str::to_owned);
    let grants = grants::parse(
        &id,
        get(17)?
            .as_str_or_null()
            .map_err(|_| corrupt(format!("grants of key {id}")))?,
    )?;
    let material_id = get(18)?
        .as_blob_or_null()
        .map_err(|_| corrupt(format!("material id of key {id}")))?;
    let material_expires = get(19)?
        .as_i64_or_null()
        .map_err(|_| corrupt(format!("material expiry of key {id}")))?;
    let imported = match (material_id, material_expires) {
        (None, None) => None,
        (Some(bytes), expires_at) => Some(ImportedMaterial {
            id: bytes
                .try_into()
                .map_err(|_| corrupt(format!("material id of key {id}")))?,
            expires_at,
        }),
        (None, Some(_)) => return Err(corrupt(format!("imported material of key {id}"))),
    };
    let materials = materials::parse(
        &id,
        get(20)?
            .as_str_or_null()
            .map_err(|_| corrupt(format!("key materials of key {id}")))?,
    )?;
    let mut versions = versions(conn, &id)?;
    if state == KeyState::Destroyed {
        for version in &mut versions {
            version.material = Material::Destroyed;
        }
    }
    Ok(KeyRecord {
        id,
        spec,
        usage,
        origin,
        state,
        description: text(5)?,
        tags,
        policy,
        created: get(8)?.as_i64().map_err(|_| corrupt("created"))?,
        min_decrypt_version: u32::try_from(get(9)?.as_i64().map_err(|_| corrupt("min version"))?)
            .map_err(|_| corrupt("min version"))?,
        versions,
        releasable: match get(10)?.as_i64().map_err(|_| corrupt("releasable"))? {
            0 => false,
            1 => true,
            _ => return Err(corrupt(format!("releasable flag of key {id}"))),
        },
        revision: u64::try_from(get(11)?.as_i64().map_err(|_| corrupt("revision"))?)
            .map_err(|_| corrupt(format!("revision of key {id}")))?,
        seal: get(12)?
            .as_blob_or_null()
            .map_err(|_| corrupt(format!("seal of key {id}")))?
            .map(<[u8]>::to_vec),
        rotation,
        key_policy,
        grants,
        imported,
        materials,
    })
}
