//! The migration ledger: the tables recording applied versions, and the SQL that applies or
//! reverts one migration together with its ledger rows.

use super::set::Migration;
use crate::Backend;
use crate::DbError;
use crate::direct::{Direct, literal};
use diesel::QueryableByName;

#[derive(QueryableByName)]
struct LedgerRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    run_on: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    checksum: Option<String>,
}

/// The migration ledger: diesel's `__diesel_schema_migrations` plus codelab's
/// `__codelab_migrations` with the checksum of each `up.sql`. Created `IF NOT EXISTS` before
/// every run, and by a restore that applies the first migration to an empty target.
pub(crate) const LEDGER_DDL: &str = "\
CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS __codelab_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    name VARCHAR(255) NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// Reads the ledger (both tables) on `conn`; an empty list when it does not exist yet.
pub(crate) async fn read_ledger(
    conn: &mut Direct,
) -> Result<Vec<(String, Option<String>, Option<String>)>, DbError> {
    if !ledger_exists(conn).await? {
        return Ok(Vec::new());
    }
    let codelab = table_exists(conn, "__codelab_migrations").await?;
    let sql = if codelab {
        "SELECT d.version AS version, CAST(d.run_on AS TEXT) AS run_on, c.checksum AS checksum \
         FROM __diesel_schema_migrations d LEFT JOIN __codelab_migrations c \
         ON c.version = d.version ORDER BY d.version"
    } else {
        "SELECT version, CAST(run_on AS TEXT) AS run_on, CAST(NULL AS TEXT) AS checksum \
         FROM __diesel_schema_migrations ORDER BY version"
    };
    let rows: Vec<LedgerRow> = conn.rows(sql).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.version, r.run_on, r.checksum))
        .collect())
}

async fn ledger_exists(conn: &mut Direct) -> Result<bool, DbError> {
    table_exists(conn, "__diesel_schema_migrations").await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Whether `table` exists (in the current schema on PostgreSQL).
pub(crate) async fn table_exists(conn: &mut Direct, table: &str) -> Result<bool, DbError> {
    let sql = match conn.backend() {
        Backend::Sqlite => format!(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = {}",
            literal(table)
        ),
        Backend::Postgres => format!(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = {}",
            literal(table)
        ),
    };
    let rows: Vec<Count> = conn.rows(&sql).await?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// `up.sql` of `m` followed by its two ledger rows, as one batch: what applying `m` runs (here
/// and in a restore that migrates its target inside the load transaction).
pub(crate) fn apply_sql(m: &Migration) -> String {
    format!(
        "{}\n;\nINSERT INTO __diesel_schema_migrations (version) VALUES ({v});\n\
         INSERT INTO __codelab_migrations (version, name, checksum) VALUES ({v}, {n}, {c});",
        m.up,
        v = literal(&m.version()),
        n = literal(m.name()),
        c = literal(&m.checksum()),
    )
}

pub(super) fn revert_sql(m: &Migration) -> String {
    format!(
        "{}\n;\nDELETE FROM __diesel_schema_migrations WHERE version = {v};\n\
         DELETE FROM __codelab_migrations WHERE version = {v};",
        m.down,
        v = literal(&m.version()),
    )
}
