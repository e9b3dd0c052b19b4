//! The wall clock, in the units the store and the audit trail keep.

/// The current Unix time in seconds (the clock of deletion windows).
#[must_use]
pub fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

/// The current Unix time in milliseconds (audit records, quorum expiry).
#[must_use]
pub fn unix_now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}
