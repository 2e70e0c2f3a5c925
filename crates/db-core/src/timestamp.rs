//! Timestamps as both backends store them: UTC without zone (`TIMESTAMP`), microsecond
//! precision, so values round-trip exactly and order the same on SQLite and PostgreSQL.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

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

/// A `NaiveDateTime` (UTC) for a diesel `Timestamp` column, stored exactly as diesel stores a
/// `NaiveDateTime`: `TIMESTAMP` on PostgreSQL (diesel's own encoding), text
/// `YYYY-MM-DD HH:MM:SS[.ffffff]` on SQLite. The two are interchangeable on any database.
///
/// On SQLite it writes and reads that text by hand instead of through chrono's format strings
/// (`%F %T%.f`), which cost ~2,500 instructions per written and ~2,000 per read timestamp,
/// ~14 % of the SQLite append writer's work (BENCHMARKS.md). Any other text SQLite may hold
/// (a `T` separator, a zone, a Julian day number, a leap second, a year past 9999) goes to
/// diesel's parser, which reads the same forms as before; a year outside 0–9999 or a leap
/// second is written by chrono, as before.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Timestamp)]
pub struct DbTimestamp(pub NaiveDateTime);

impl From<NaiveDateTime> for DbTimestamp {
    fn from(t: NaiveDateTime) -> DbTimestamp {
        DbTimestamp(t)
    }
}

impl ToSql<Timestamp, Pg> for DbTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<Timestamp, Pg> for DbTimestamp {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(DbTimestamp)
    }
}

impl ToSql<Timestamp, Sqlite> for DbTimestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match sqlite_text(&self.0) {
            Some(text) => {
                out.set_value(text);
                Ok(IsNull::No)
            }
            None => <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
        }
    }
}

impl FromSql<Timestamp, Sqlite> for DbTimestamp {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(diesel::sqlite::SqliteType::Text)
            && let Some(t) = parse_sqlite_text(value.read_text())
        {
            return Ok(DbTimestamp(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(DbTimestamp)
    }
}

/// `t` as chrono's `%F %T%.f` writes it: `YYYY-MM-DD HH:MM:SS`, then a dot and 3, 6 or 9
/// digits, the fewest that hold the fraction exactly (none for a whole second). `None` for a
/// year outside 0–9999 or a leap second, which chrono writes differently (left to it).
pub(crate) fn sqlite_text(t: &chrono::NaiveDateTime) -> Option<String> {
    use chrono::{Datelike as _, Timelike as _};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut s = String::with_capacity(29);
    let digits = |s: &mut String, value: u32, width: u32| {
        for k in (0..width).rev() {
            let d = (value / 10u32.pow(k)) % 10;
            s.push(char::from(b'0' + d as u8));
        }
    };
    digits(&mut s, year, 4);
    s.push('-');
    digits(&mut s, t.month(), 2);
    s.push('-');
    digits(&mut s, t.day(), 2);
    s.push(' ');
    digits(&mut s, t.hour(), 2);
    s.push(':');
    digits(&mut s, t.minute(), 2);
    s.push(':');
    digits(&mut s, t.second(), 2);
    if nanos != 0 {
        s.push('.');
        if nanos.is_multiple_of(1_000_000) {
            digits(&mut s, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            digits(&mut s, nanos / 1_000, 6);
        } else {
            digits(&mut s, nanos, 9);
        }
    }
    Some(s)
}

/// Parses exactly `YYYY-MM-DD HH:MM:SS` with an optional dot and 1–9 fraction digits (what
/// [`sqlite_text`] and chrono's `%F %T%.f` write) into the value chrono would read from it.
/// `None` for any other text, including an impossible date or time.
pub(crate) fn parse_sqlite_text(text: &str) -> Option<chrono::NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let (month, day) = (number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(20..b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use proptest::prelude::*;

    const CHRONO: &str = "%F %T%.f";

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, CHRONO).unwrap()
    }

    #[test]
    fn writes_what_chrono_writes() {
        for s in [
            "2026-12-04 00:00:00",
            "2026-12-04 13:05:41.5",
            "0001-01-01 00:00:00.000001",
            "9999-12-31 23:59:59.999999999",
            "2024-02-29 12:00:00.120",
        ] {
            let t = at(s);
            assert_eq!(
                sqlite_text(&t).unwrap(),
                t.format(CHRONO).to_string(),
                "{s}"
            );
        }
        // chrono's own forms: a leap second, a year of five digits.
        let leap = at("2016-12-31 23:59:59")
            .with_nanosecond(1_500_000_000)
            .unwrap();
        assert_eq!(sqlite_text(&leap), None);
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0);
        assert_eq!(sqlite_text(&far.unwrap()), None);
    }

    #[test]
    fn reads_only_the_plain_form() {
        assert_eq!(
            parse_sqlite_text("2026-12-04 13:05:41"),
            Some(at("2026-12-04 13:05:41"))
        );
        assert_eq!(
            parse_sqlite_text("2026-12-04 13:05:41.25"),
            Some(at("2026-12-04 13:05:41.250"))
        );
        for other in [
            "2026-12-04T13:05:41",
            "2026-12-04 13:05:41Z",
            "2026-12-04 13:05:41.",
            "2026-12-04 13:05:41.1234567890",
            "2026-02-30 00:00:00",
            "2026-12-04 24:00:00",
            "2026-12-04 23:59:60",
            "2026-12-04 13:05",
            "2461378.5",
            "",
            "2026-12-04 13:05:4x",
            "+026-12-04 13:05:41",
        ] {
            assert_eq!(parse_sqlite_text(other), None, "{other}");
        }
    }

    use chrono::Timelike as _;

    proptest! {
        /// Every timestamp of years 0–9999 is written as chrono writes it and read back as
        /// itself, the way chrono reads it.
        #[test]
        fn round_trips_as_chrono_does(secs in -62_167_219_200i64..253_402_300_800, nanos in 0u32..1_000_000_000, exact in 0u8..4) {
            let nanos = match exact { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, 2 => nanos / 1_000 * 1_000, _ => nanos };
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc();
            let text = sqlite_text(&t).unwrap();
            prop_assert_eq!(&text, &t.format(CHRONO).to_string());
            prop_assert_eq!(parse_sqlite_text(&text), Some(t));
            prop_assert_eq!(NaiveDateTime::parse_from_str(&text, CHRONO).unwrap(), t);
        }

        /// Whatever text the fast reader accepts, chrono reads as the same value.
        #[test]
        fn accepts_nothing_chrono_reads_otherwise(text in "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?") {
            if let Some(t) = parse_sqlite_text(&text) {
                prop_assert_eq!(NaiveDateTime::parse_from_str(&text, CHRONO).ok(), Some(t));
            }
        }
    }
}
