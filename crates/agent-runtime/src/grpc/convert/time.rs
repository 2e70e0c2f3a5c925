//! Timestamps: protobuf ↔ chrono, and the clock skew a client may have.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

/// A timestamp field: unset → `None`; out of range → `INVALID_ARGUMENT`.
pub fn timestamp(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>> {
    let Some(ts) = ts else { return Ok(None) };
    u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .map(Some)
        .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
}

/// Clock skew allowed between a client and this service on times a client reports.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Refuses a client-reported time later than now plus [`MAX_CLOCK_SKEW`] (a session whose
/// `last_activity` lies in the future would stay first in every listing and never be cleaned
/// up as inactive).
pub fn not_in_future(field: &str, at: Option<DateTime<Utc>>) -> Result<()> {
    match at {
        Some(at) if at > Utc::now() + MAX_CLOCK_SKEW => Err(Error::invalid(
            field,
            format!(
                "must not be later than now plus {} minutes of clock skew",
                MAX_CLOCK_SKEW.num_minutes()
            ),
        )),
        _ => Ok(()),
    }
}

/// A `DateTime<Utc>` as a protobuf timestamp.
pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}
