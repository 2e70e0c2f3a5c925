//! Timestamps as both backends store them: UTC without zone (`TIMESTAMP`), microsecond
//! precision, so values round-trip exactly and order the same on SQLite and PostgreSQL.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, truncated to the microsecond both backends store.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// A stored (UTC) timestamp as `DateTime<Utc>`.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A `DateTime<Utc>` as stored: naive UTC, microseconds.
pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc().trunc_subsecs(6)
}
