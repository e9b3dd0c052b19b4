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

/// Changes kept in `kastell_change_log` behind the newest: a host whose last counter read
/// is further behind drops everything it holds instead.
pub const CHANGE_LOG_KEPT: i64 = 4096;

/// Increments the change counter in the transaction of the change `what` names, and logs
/// the change under the counter's new value (SQLite sends no notices: other processes on
/// the file learn of it by reading the counter and the log).
pub(super) fn note_change_in(tx: &Connection, what: &Changed) -> Result<(), StoreError> {
    let seq: i64 = tx
        .query_row(
            "UPDATE kastell_changes SET seq = seq + 1 RETURNING seq",
            [],
            |r| r.get(0),
        )
        .map_err(sql("count a change"))?;
    tx.execute(
        "INSERT OR REPLACE INTO kastell_change_log (seq, what) VALUES (?1, ?2)",
        params![seq, what.payload()],
    )
    .map_err(sql("log a change"))?;
    if seq % 256 == 0 {
        tx.execute(
            "DELETE FROM kastell_change_log WHERE seq <= ?1",
            [seq - CHANGE_LOG_KEPT],
        )
        .map_err(sql("prune the change log"))?;
    }
    Ok(())
}

/// The counter and the changes after `seen` when the log still holds every one of them.
pub(super) fn changes_after(
    store: &SqliteStore,
    seen: u64,
) -> Result<crate::store::ChangesAfter, StoreError> {
    let conn = store.reader()?;
    let counter: i64 = conn
        .query_row("SELECT seq FROM kastell_changes", [], |r| r.get(0))
        .map_err(sql("read the change counter"))?;
    let counter = u64::try_from(counter).map_err(|_| corrupt("change counter"))?;
    if counter <= seen {
        return Ok(crate::store::ChangesAfter {
            counter,
            changes: Some(Vec::new()),
        });
    }
    let (from, to) = (
        i64::try_from(seen).map_err(|_| corrupt("change counter"))?,
        i64::try_from(counter).map_err(|_| corrupt("change counter"))?,
    );
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, what FROM kastell_change_log WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )
        .map_err(sql("read the change log"))?;
    let rows = stmt
        .query_map([from, to], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql("read the change log"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql("read the change log"))?;
    // Complete only when every value from `seen + 1` to the counter is there.
    let complete = rows
        .iter()
        .enumerate()
        .all(|(i, (seq, _))| i64::try_from(i).is_ok_and(|i| *seq == from + 1 + i))
        && i64::try_from(rows.len()).is_ok_and(|n| n == to - from);
    let changes = complete.then(|| {
        rows.into_iter()
            .map(|(seq, what)| (u64::try_from(seq).unwrap_or(0), Changed::parse(&what)))
            .collect()
    });
    Ok(crate::store::ChangesAfter { counter, changes })
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
