//! An imported key's materials ([`KeyMaterial`]) as both backends store them: one JSON
//! text beside the key row (column `materials`, schema v23 / PostgreSQL v6; NULL when the
//! key lists none). The key record's seal covers their canonical encoding, so a row whose
//! materials were edited (an id, a description, an expiry, pending material) is refused
//! as tampered when the record is read.

use kastell_proto::KeyId;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::KeyMaterial;

/// One material as stored; byte strings in hexadecimal.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    id: String,
    version: Option<u32>,
    description: Option<String>,
    expires_at: Option<i64>,
    master: Option<String>,
    wrapped: Option<String>,
}

/// The column's value for `materials`: `None` when there are none.
pub(super) fn column(materials: &[KeyMaterial]) -> Result<Option<String>, StoreError> {
    if materials.is_empty() {
        return Ok(None);
    }
    let stored: Vec<Stored> = materials
        .iter()
        .map(|m| Stored {
            id: hex::encode(m.id),
            version: m.version,
            description: m.description.clone(),
            expires_at: m.expires_at,
            master: m.pending.as_ref().map(|(master, _)| master.clone()),
            wrapped: m.pending.as_ref().map(|(_, wrapped)| hex::encode(wrapped)),
        })
        .collect();
    serde_json::to_string(&stored)
        .map(Some)
        .map_err(|_| StoreError::Corrupt("key materials".into()))
}

/// The materials of key `id` from the column's value.
pub(super) fn parse(id: &KeyId, text: Option<&str>) -> Result<Vec<KeyMaterial>, StoreError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("key materials of key {id}: {what}"));
    let stored: Vec<Stored> = serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?;
    stored
        .into_iter()
        .map(|s| {
            let id: [u8; 32] = hex::decode(&s.id)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| corrupt("a material id is not 32 bytes"))?;
            let pending = match (s.master, s.wrapped) {
                (None, None) => None,
                (Some(master), Some(wrapped)) => Some((
                    master,
                    hex::decode(wrapped).map_err(|_| corrupt("pending material"))?,
                )),
                _ => return Err(corrupt("pending material without its master key")),
            };
            Ok(KeyMaterial {
                id,
                version: s.version,
                description: s.description,
                expires_at: s.expires_at,
                pending,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;

    #[test]
    fn materials_round_trip_and_none_is_null() {
        let id = KeyId::random();
        assert_eq!(column(&[]).unwrap(), None);
        assert!(parse(&id, None).unwrap().is_empty());
        let materials = vec![
            KeyMaterial {
                id: [1; 32],
                version: Some(1),
                description: Some("first".into()),
                expires_at: None,
                pending: None,
            },
            KeyMaterial {
                id: [2; 32],
                version: None,
                description: None,
                expires_at: Some(9),
                pending: Some(("kastell-master".into(), vec![7; 40])),
            },
        ];
        let text = column(&materials).unwrap().unwrap();
        assert_eq!(parse(&id, Some(&text)).unwrap(), materials);
        assert!(parse(&id, Some(r#"[{"id":"00"}]"#)).is_err());
    }
}
