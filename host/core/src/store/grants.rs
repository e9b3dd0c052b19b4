//! A key's AWS grants as both backends store them: one JSON text beside the key row
//! (column `grants`, NULL when the key has none). The key record's seal covers their
//! canonical encoding, so the text itself needs no seal of its own: a row whose grants
//! were edited, added or put back is refused as tampered when the record is read.

use kastell_proto::KeyId;
use kastell_proto::aws::grant::Grant;

use super::StoreError;

/// The column's value for `grants`: `None` when there are none.
pub(super) fn column(grants: &[Grant]) -> Result<Option<String>, StoreError> {
    if grants.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(grants)
        .map(Some)
        .map_err(|_| StoreError::Corrupt("grants".into()))
}

/// The grants of key `id` from the column's value.
pub(super) fn parse(id: &KeyId, text: Option<&str>) -> Result<Vec<Grant>, StoreError> {
    text.map_or_else(
        || Ok(Vec::new()),
        |text| {
            serde_json::from_str(text)
                .map_err(|e| StoreError::Corrupt(format!("grants of key {id}: {e}")))
        },
    )
}
