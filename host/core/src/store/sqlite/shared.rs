//! Shared state in SQLite (see [`crate::store::shared`]): release challenges, components
//! by measurement and the change counter. One writer at a time, so issuing under the
//! limits and taking a nonce are each one transaction that nobody interleaves with.

use kastell_attest::Measurement;
use kastell_proto::KeyId;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{SqliteStore, corrupt, sql};
use crate::store::{
    ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake, Changed, ComponentKind,
    StoreError,
};

/// Increments the change counter in the transaction of the change `what` names (SQLite
/// sends no notices: other processes on the file learn of it by reading the counter).
pub(super) fn note_change_in(tx: &Connection, what: &Changed) -> Result<(), StoreError> {
    let _ = what;
    tx.execute("UPDATE kastell_changes SET seq = seq + 1", [])
        .map_err(sql("count a change"))
        .map(drop)
}

pub(super) fn change_seq(store: &SqliteStore) -> Result<u64, StoreError> {
    let conn = store.reader()?;
    let seq: i64 = conn
        .query_row("SELECT seq FROM kastell_changes", [], |r| r.get(0))
        .map_err(sql("read the change counter"))?;
    u64::try_from(seq).map_err(|_| corrupt("change counter"))
}

fn to_u64(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

pub(super) fn issue_challenge(
    store: &SqliteStore,
    challenge: &ChallengeRow,
    limits: ChallengeLimits,
    now_ms: i64,
) -> Result<ChallengeIssue, StoreError> {
    store.in_transaction("issue release challenge", |tx| {
        tx.execute(
            "DELETE FROM release_challenges WHERE expires_ms <= ?1",
            [now_ms],
        )
        .map_err(sql("purge expired release challenges"))?;
        let held: i64 = tx
            .query_row(
                "SELECT count(*) FROM release_challenges WHERE principal = ?1",
                [&challenge.principal],
                |r| r.get(0),
            )
            .map_err(sql("count release challenges"))?;
        if to_u64(held) >= limits.per_principal {
            return Ok(ChallengeIssue::PrincipalFull { held: to_u64(held) });
        }
        let total: i64 = tx
            .query_row("SELECT count(*) FROM release_challenges", [], |r| r.get(0))
            .map_err(sql("count release challenges"))?;
        if to_u64(total) >= limits.total {
            return Ok(ChallengeIssue::TotalFull);
        }
        tx.execute(
            "INSERT INTO release_challenges (nonce, key_id, principal, expires_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                challenge.nonce,
                challenge.key.to_string(),
                challenge.principal,
                challenge.expires_ms
            ],
        )
        .map_err(sql("store release challenge"))?;
        Ok(ChallengeIssue::Issued)
    })
}

pub(super) fn take_challenge(
    store: &SqliteStore,
    nonce: &[u8],
    key: &KeyId,
    principal: &str,
    now_ms: i64,
) -> Result<ChallengeTake, StoreError> {
    store.in_transaction("take release challenge", |tx| {
        let taken: Option<(String, i64)> = tx
            .query_row(
                "DELETE FROM release_challenges WHERE nonce = ?1 AND principal = ?2
                 RETURNING key_id, expires_ms",
                params![nonce, principal],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("take release challenge"))?;
        Ok(match taken {
            Some((_, expires_ms)) if expires_ms <= now_ms => ChallengeTake::Expired,
            Some((stored, _)) if stored != key.to_string() => ChallengeTake::OtherKey,
            Some(_) => ChallengeTake::Taken,
            None => {
                let other: Option<i64> = tx
                    .query_row(
                        "SELECT expires_ms FROM release_challenges WHERE nonce = ?1",
                        [nonce],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql("read release challenge"))?;
                match other {
                    Some(expires_ms) if expires_ms <= now_ms => ChallengeTake::Expired,
                    Some(_) => ChallengeTake::OtherPrincipal,
                    None => ChallengeTake::Unknown,
                }
            }
        })
    })
}

pub(super) fn purge_challenges(store: &SqliteStore, now_ms: i64) -> Result<u64, StoreError> {
    store.in_transaction("purge expired release challenges", |tx| {
        let purged = tx
            .execute(
                "DELETE FROM release_challenges WHERE expires_ms <= ?1",
                [now_ms],
            )
            .map_err(sql("purge expired release challenges"))?;
        Ok(u64::try_from(purged).unwrap_or(0))
    })
}

pub(super) fn add_component(
    store: &SqliteStore,
    kind: ComponentKind,
    measurement: &Measurement,
    bytes: &[u8],
) -> Result<bool, StoreError> {
    store.in_transaction("store component", |tx| {
        let added = tx
            .execute(
                "INSERT INTO components (kind, measurement, bytes, added_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, measurement) DO NOTHING",
                params![
                    kind.as_str(),
                    measurement.to_hex(),
                    bytes,
                    crate::clock::unix_now_ms()
                ],
            )
            .map_err(sql("store component"))?;
        Ok(added > 0)
    })
}

pub(super) fn component(
    store: &SqliteStore,
    kind: ComponentKind,
    measurement: &Measurement,
) -> Result<Option<Vec<u8>>, StoreError> {
    let conn = store.reader()?;
    conn.query_row(
        "SELECT bytes FROM components WHERE kind = ?1 AND measurement = ?2",
        params![kind.as_str(), measurement.to_hex()],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql("read component"))
}

/// A stored measurement column (96 hex digits) as a measurement.
pub(crate) fn measurement_of(hex: &str) -> Result<Measurement, StoreError> {
    format!("sha384:{hex}")
        .parse()
        .map_err(|_| corrupt(format!("component measurement {hex}")))
}

pub(super) fn components(
    store: &SqliteStore,
    kind: ComponentKind,
) -> Result<Vec<Measurement>, StoreError> {
    let conn = store.reader()?;
    let mut stmt = conn
        .prepare_cached("SELECT measurement FROM components WHERE kind = ?1 ORDER BY measurement")
        .map_err(sql("list components"))?;
    let hexes = stmt
        .query_map([kind.as_str()], |r| r.get::<_, String>(0))
        .map_err(sql("list components"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql("list components"))?;
    hexes.iter().map(|hex| measurement_of(hex)).collect()
}
