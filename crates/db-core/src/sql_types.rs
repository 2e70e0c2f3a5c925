//! SQL types that differ between the backends but must read the same in `schema.rs`.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{SqlType, Text};
use diesel::sqlite::Sqlite;
use std::io::Write;

/// A JSON document: `JSONB` on PostgreSQL (OID 3802), `TEXT` on SQLite.
///
/// Use it in `schema.rs` as `db_core::sql_types::Json`; the Rust side is [`JsonText`].
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Json;

/// JSON text validated by the caller (the service edge), stored as [`Json`].
///
/// PostgreSQL returns JSONB in its normalised form (no insignificant whitespace, keys sorted by
/// length then bytes, duplicate keys dropped); SQLite returns the text as written.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Json)]
pub struct JsonText(pub String);

impl JsonText {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Binary JSONB format version written before the text (PostgreSQL's `jsonb_send`).
const JSONB_VERSION: u8 = 1;

impl ToSql<Json, Pg> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Json, Pg> for JsonText {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let bytes = value.as_bytes();
        match bytes.split_first() {
            Some((&JSONB_VERSION, text)) => Ok(JsonText(std::str::from_utf8(text)?.to_owned())),
            Some((v, _)) => Err(format!("unsupported JSONB version {v}").into()),
            None => Err("empty JSONB value".into()),
        }
    }
}

impl ToSql<Json, Sqlite> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <str as ToSql<Text, Sqlite>>::to_sql(self.0.as_str(), out)
    }
}

impl FromSql<Json, Sqlite> for JsonText {
    fn from_sql(value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        <String as FromSql<Text, Sqlite>>::from_sql(value).map(JsonText)
    }
}
