//! Shared state in PostgreSQL (see [`crate::store::shared`]): release challenges, components
//! by measurement, and the change counter with its notices.
//!
//! - A challenge is taken by one `DELETE … RETURNING`: of hosts presenting the same nonce
//!   at once, exactly one gets the row. Issuing holds a transaction-scoped advisory lock,
//!   so the per-principal and total limits hold across hosts.
//! - A change increments the counter row and sends `NOTIFY kastell_changes` in the change's
//!   transaction: the notice is delivered at commit, in commit order, and never for a
//!   change rolled back. The counter row's lock orders changes; it is taken before the
//!   audit chain's lock, as every transaction takes them.

use kastell_attest::Measurement;
use kastell_proto::KeyId;
use postgres::GenericClient;

use super::connect::Db;
use super::{PostgresStore, corrupt};
use crate::store::shared::CHANGE_CHANNEL;
use crate::store::{
    ChallengeIssue, ChallengeLimits, ChallengeRow, ChallengeTake, Changed, ComponentKind,
    StoreError,
};

/// Advisory lock key held while a challenge is issued ("kastchal" in ASCII).
const CHALLENGE_LOCK: i64 = 0x6b61_7374_6368_616c;

/// Increments the change counter and sends the notice naming `what`, in the transaction of
/// the change.
pub(super) fn note_change_in<C: GenericClient>(
    db: &mut Db<'_, C>,
    what: &Changed,
) -> Result<(), StoreError> {
    // The channel is a constant of this build; `pg_notify` takes it as a value.
    const SQL: &str = "WITH counted AS (UPDATE kastell_changes SET seq = seq + 1 RETURNING seq)
                       SELECT pg_notify($1, counted.seq::text || ' ' || $2) FROM counted";
    db.execute("count a change", SQL, &[&CHANGE_CHANNEL, &what.payload()])
        .map(drop)
}

pub(super) fn change_seq(store: &PostgresStore) -> Result<u64, StoreError> {
    store.read(|db| {
        let row = db.query_opt(
            "read the change counter",
            "SELECT seq FROM kastell_changes",
            &[],
        )?;
        let seq: i64 = row
            .ok_or_else(|| corrupt("change counter (missing)"))?
            .try_get(0)
            .map_err(|_| corrupt("change counter"))?;
        u64::try_from(seq).map_err(|_| corrupt("change counter"))
    })
}

fn count(row: &postgres::Row) -> Result<u64, StoreError> {
    let count: i64 = row
        .try_get(0)
        .map_err(|_| corrupt("release challenge count"))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(super) fn issue_challenge(
    store: &PostgresStore,
    challenge: &ChallengeRow,
    limits: ChallengeLimits,
    now_ms: i64,
) -> Result<ChallengeIssue, StoreError> {
    store.in_transaction("issue release challenge", |db| {
        db.execute(
            "lock release challenges",
            "SELECT pg_advisory_xact_lock($1)",
            &[&CHALLENGE_LOCK],
        )?;
        db.execute(
            "purge expired release challenges",
            "DELETE FROM release_challenges WHERE expires_ms <= $1",
            &[&now_ms],
        )?;
        let held = db.query(
            "count release challenges",
            "SELECT count(*) FROM release_challenges WHERE principal = $1",
            &[&challenge.principal],
        )?;
        let held = held.first().map_or(Ok(0), count)?;
        if held >= limits.per_principal {
            return Ok(ChallengeIssue::PrincipalFull { held });
        }
        let total = db.query(
            "count release challenges",
            "SELECT count(*) FROM release_challenges",
            &[],
        )?;
        if total.first().map_or(Ok(0), count)? >= limits.total {
            return Ok(ChallengeIssue::TotalFull);
        }
        db.execute(
            "store release challenge",
            "INSERT INTO release_challenges (nonce, key_id, principal, expires_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &challenge.nonce,
                &challenge.key.to_string(),
                &challenge.principal,
                &challenge.expires_ms,
            ],
        )?;
        Ok(ChallengeIssue::Issued)
    })
}

pub(super) fn take_challenge(
    store: &PostgresStore,
    nonce: &[u8],
    key: &KeyId,
    principal: &str,
    now_ms: i64,
) -> Result<ChallengeTake, StoreError> {
    store.read(|db| {
        let taken = db.query_opt(
            "take release challenge",
            "DELETE FROM release_challenges WHERE nonce = $1 AND principal = $2
             RETURNING key_id, expires_ms",
            &[&nonce, &principal],
        )?;
        if let Some(row) = taken {
            let bad = |_| corrupt("release challenge row");
            let stored: String = row.try_get(0).map_err(bad)?;
            let expires_ms: i64 = row.try_get(1).map_err(bad)?;
            return Ok(if expires_ms <= now_ms {
                ChallengeTake::Expired
            } else if stored != key.to_string() {
                ChallengeTake::OtherKey
            } else {
                ChallengeTake::Taken
            });
        }
        let other = db.query_opt(
            "read release challenge",
            "SELECT expires_ms FROM release_challenges WHERE nonce = $1",
            &[&nonce],
        )?;
        Ok(match other {
            None => ChallengeTake::Unknown,
            Some(row) => {
                let expires_ms: i64 = row
                    .try_get(0)
                    .map_err(|_| corrupt("release challenge row"))?;
                if expires_ms <= now_ms {
                    ChallengeTake::Expired
                } else {
                    ChallengeTake::OtherPrincipal
                }
            }
        })
    })
}

pub(super) fn purge_challenges(store: &PostgresStore, now_ms: i64) -> Result<u64, StoreError> {
    store.read(|db| {
        db.execute(
            "purge expired release challenges",
            "DELETE FROM release_challenges WHERE expires_ms <= $1",
            &[&now_ms],
        )
    })
}

pub(super) fn add_component(
    store: &PostgresStore,
    kind: ComponentKind,
    measurement: &Measurement,
    bytes: &[u8],
) -> Result<bool, StoreError> {
    store.read(|db| {
        let added = db.execute(
            "store component",
            "INSERT INTO components (kind, measurement, bytes, added_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, measurement) DO NOTHING",
            &[
                &kind.as_str(),
                &measurement.to_hex(),
                &bytes,
                &crate::clock::unix_now_ms(),
            ],
        )?;
        Ok(added > 0)
    })
}

pub(super) fn component(
    store: &PostgresStore,
    kind: ComponentKind,
    measurement: &Measurement,
) -> Result<Option<Vec<u8>>, StoreError> {
    store.read(|db| {
        db.query_opt(
            "read component",
            "SELECT bytes FROM components WHERE kind = $1 AND measurement = $2",
            &[&kind.as_str(), &measurement.to_hex()],
        )?
        .map(|row| row.try_get(0).map_err(|_| corrupt("component row")))
        .transpose()
    })
}

pub(super) fn components(
    store: &PostgresStore,
    kind: ComponentKind,
) -> Result<Vec<Measurement>, StoreError> {
    store.read(|db| {
        db.query(
            "list components",
            "SELECT measurement FROM components WHERE kind = $1 ORDER BY measurement",
            &[&kind.as_str()],
        )?
        .iter()
        .map(|row| {
            let hex: String = row.try_get(0).map_err(|_| corrupt("component row"))?;
            format!("sha384:{hex}")
                .parse()
                .map_err(|_| corrupt(format!("component measurement {hex}")))
        })
        .collect()
    })
}
