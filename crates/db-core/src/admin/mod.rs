//! The admin engine behind `codelab db …` and the `DatabaseAdmin` gRPC service: stats, health,
//! schema drift, and (in [`backup`]) backup, verify, restore, copy and retention.
//!
//! It knows no service's tables: everything is introspected from the catalogue ([`schema`]) and
//! the service's [`MigrationSet`]. A database is named by a [`DatabaseSpec`]; the registry of
//! specs lives with the callers (the CLI), which know every service.
//!
//! Invariant: every operation that changes a database runs in one transaction on one dedicated
//! connection, so a failure leaves the database as it was.

pub mod backup;
mod copy;
mod restore;
pub mod schema;

use crate::direct::{Direct, ident};
use crate::migrate::{self, MigrationSet, MigrationState, StatusReport};
use crate::{Backend, DbError, DbUrl};
use std::time::Instant;

/// A named database codelab manages: `agent_runtime`, `auth`.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseSpec {
    /// Short name used on the command line and in backup manifests.
    pub name: &'static str,
    /// Environment variable holding its URL (`AGENT_RUNTIME__DB_URL`).
    pub url_env: &'static str,
    /// URL when the variable is unset (`sqlite:///data/agent_runtime.db`).
    pub default_url: &'static str,
    /// Its migrations.
    pub migrations: &'static MigrationSet,
}

/// Why an admin operation failed. Every variant names the bad thing; none leaves a database
/// half-changed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A database error (unreachable, locked, query failed, migration refused).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file could not be read or written (`path` says which).
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error (`No space left on device`, `No such file or directory`…).
        source: std::io::Error,
    },
    /// A backup is missing, truncated, tampered with or unreadable.
    #[error("backup {backup}: {problem}")]
    BadBackup {
        /// Backup folder.
        backup: String,
        /// What is wrong.
        problem: String,
    },
    /// The operation was refused to protect data (non-empty target without force, newer
    /// schema, backup of another database…).
    #[error("refused: {0}")]
    Refused(String),
}

impl AdminError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> AdminError {
        AdminError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Result of admin operations.
pub type Result<T, E = AdminError> = std::result::Result<T, E>;

/// Receives progress of long operations (the CLI draws bars; others ignore it).
pub trait Progress: Send + Sync {
    /// A new phase (`backup sessions`) of `total` units (rows), 0 when unknown.
    fn start(&self, phase: &str, total: u64);
    /// `n` more units done.
    fn advance(&self, n: u64);
    /// The phase is over.
    fn finish(&self);
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Row count of one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableRows {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
}

/// What `stats` shows of one database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatabaseInfo {
    /// Registry name, or `url` for a database given by URL only.
    pub name: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// URL with the password replaced by `***`.
    pub url: String,
    /// Size on disk in bytes (SQLite file + WAL; PostgreSQL `pg_database_size`).
    pub size_bytes: u64,
    /// Tables (ledger excluded) with row counts, by name.
    pub tables: Vec<TableRows>,
    /// Newest applied migration (`None`: never migrated).
    pub schema_version: Option<String>,
    /// Migrations this binary would still apply.
    pub pending: usize,
}

/// Reads [`DatabaseInfo`] of the database at `url`.
///
/// # Errors
/// [`DbError::Unavailable`] for a wrong URL, a missing SQLite file or a server that does not
/// answer; query errors.
pub async fn stats(name: &str, url: &DbUrl, set: &MigrationSet) -> Result<DatabaseInfo> {
    let mut conn = Direct::open_existing(url).await?;
    let tables = table_rows(&mut conn).await?;
    let status = migrate::status_on(&mut conn, set).await?;
    Ok(DatabaseInfo {
        name: name.to_owned(),
        backend: url.backend().to_string(),
        url: url.to_string(),
        size_bytes: schema::size_bytes(&mut conn, url.sqlite_path()).await?,
        tables,
        schema_version: status.current.clone(),
        pending: status.in_state(MigrationState::Pending).len(),
    })
}

/// The row count of every table of the database behind `conn`, in name order.
///
/// # Errors
/// Query errors.
pub(crate) async fn table_rows(conn: &mut Direct) -> Result<Vec<TableRows>> {
    let schema = schema::introspect(conn, None).await?;
    let mut tables = Vec::new();
    for t in schema.tables.keys() {
        tables.push(TableRows {
            name: t.clone(),
            rows: schema::row_count(conn, t).await?,
        });
    }
    Ok(tables)
}

/// What `health` shows of one database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Registry name.
    pub name: String,
    /// URL with the password redacted.
    pub url: String,
    /// Whether the database answered and its schema is usable (no modified migration).
    pub ok: bool,
    /// Time to open a connection, in ms.
    pub connect_ms: Option<f64>,
    /// Time of a `SELECT 1` round trip, in ms.
    pub round_trip_ms: Option<f64>,
    /// `up to date`, `N pending`, `modified: …`, `not migrated`, or the error.
    pub schema: String,
    /// Settings of the server that work against the services without making the database
    /// unhealthy (`ok` stays as it is); empty when there is nothing to say. On PostgreSQL:
    /// `autovacuum` off.
    pub warnings: Vec<String>,
}

/// The warning [`health`] gives for a PostgreSQL server whose `autovacuum` is off.
pub const AUTOVACUUM_OFF: &str = "autovacuum is off: the dead row versions every UPDATE and \
    DELETE leaves are never removed, so often-updated tables and their indexes grow and every \
    write slows; turn it on (PostgreSQL's default) or VACUUM regularly";

/// Connects to `url`, times a round trip, reads the migration status and, on PostgreSQL,
/// checks that `autovacuum` is on ([`AUTOVACUUM_OFF`] in `warnings` otherwise). Never fails: a
/// problem is reported in the answer (`ok = false`).
pub async fn health(name: &str, url: &DbUrl, set: &MigrationSet) -> Health {
    let mut out = Health {
        name: name.to_owned(),
        url: url.to_string(),
        ok: false,
        connect_ms: None,
        round_trip_ms: None,
        schema: String::new(),
        warnings: Vec::new(),
    };
    let started = Instant::now();
    let mut conn = match Direct::open_existing(url).await {
        Ok(c) => c,
        Err(e) => {
            out.schema = e.to_string();
            return out;
        }
    };
    out.connect_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    let started = Instant::now();
    if let Err(e) = conn.exec("SELECT 1").await {
        out.schema = e.to_string();
        return out;
    }
    out.round_trip_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    match migrate::status_on(&mut conn, set).await {
        Ok(s) => {
            out.ok = s.in_state(MigrationState::Modified).is_empty();
            out.schema = schema_summary(&s);
        }
        Err(e) => out.schema = e.to_string(),
    }
    if conn.backend() == Backend::Postgres {
        let sql = "SELECT current_setting('autovacuum') AS name";
        match conn.rows::<schema::Name>(sql).await.as_deref() {
            Ok([s]) if s.name == "off" => out.warnings.push(AUTOVACUUM_OFF.to_owned()),
            Ok(_) => {}
            Err(e) => out.warnings.push(format!("cannot read `autovacuum`: {e}")),
        }
    }
    out
}

/// One-line summary of a migration status.
pub fn schema_summary(s: &StatusReport) -> String {
    let modified = s.in_state(MigrationState::Modified);
    if !modified.is_empty() {
        return format!(
            "MODIFIED migration(s): {}",
            modified
                .iter()
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let pending = s.in_state(MigrationState::Pending).len();
    let missing = s.in_state(MigrationState::Missing).len();
    match (&s.current, pending, missing) {
        (None, _, _) => "not migrated".to_owned(),
        (Some(v), 0, 0) => format!("up to date ({v})"),
        (Some(v), p, 0) => format!("{p} pending (at {v})"),
        (Some(v), _, m) => format!("{m} migration(s) from a newer version (at {v})"),
    }
}

/// One difference between the live schema and what the applied migrations produce.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// `table`, `column` or `index`.
    pub kind: String,
    /// `messages`, `messages.role`, `messages.idx_role_timestamp`.
    pub object: String,
    /// `missing`, `unexpected`, or `expected …, found …`.
    pub detail: String,
}

/// Compares the live schema at `url` with a scratch database migrated with the same applied
/// migrations (tables, columns, types, nullability, indexes). Pending migrations are not drift.
/// An empty answer means no drift.
///
/// The scratch database is an in-memory SQLite database, or on PostgreSQL a temporary schema
/// created and dropped inside one rolled-back transaction.
///
/// # Errors
/// Connection and query errors; [`DbError::Migration`] when an applied migration is unknown to
/// this binary (the expected schema cannot be built).
pub async fn drift(url: &DbUrl, set: &MigrationSet) -> Result<Vec<Difference>> {
    let mut conn = Direct::open_existing(url).await?;
    let status = migrate::status_on(&mut conn, set).await?;
    if let Some(m) = status.in_state(MigrationState::Missing).first() {
        return Err(DbError::Migration(format!(
            "migration {} is applied but unknown to this binary: cannot build the expected schema",
            m.version
        ))
        .into());
    }
    let applied: Vec<&migrate::Migration> = set
        .for_backend(url.backend())
        .iter()
        .filter(|m| status.applied().iter().any(|s| s.version == m.version()))
        .collect();
    let live = schema::introspect(&mut conn, None).await?;
    let expected = match url.backend() {
        Backend::Sqlite => {
            let mut scratch = Direct::Sqlite(Box::new(
                <crate::SqliteConn as diesel_async::AsyncConnection>::establish(":memory:")
                    .await
                    .map_err(|e| DbError::Unavailable(e.to_string()))?,
            ));
            for m in &applied {
                scratch.exec(m.up).await?;
            }
            schema::introspect(&mut scratch, None).await?
        }
        Backend::Postgres => {
            let nsp = format!(
                "codelab_drift_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            );
            conn.exec("BEGIN").await?;
            let built = async {
                conn.exec(&format!(
                    "CREATE SCHEMA {n}; SET LOCAL search_path TO {n}",
                    n = ident(&nsp)
                ))
                .await?;
                for m in &applied {
                    conn.exec(m.up).await?;
                }
                schema::introspect(&mut conn, Some(&nsp)).await
            }
            .await;
            conn.exec("ROLLBACK").await?;
            built?
        }
    };
    Ok(compare(&expected, &live))
}

/// Every table a migration of `set` creates, at any version: the SQLite list applied one by one
/// to an in-memory database, the tables read after each step (both lists create the same
/// tables; the service's one Diesel schema serves both). A table outside it is not `set`'s.
///
/// # Errors
/// A migration that does not apply to an empty SQLite database.
pub(crate) async fn tables_of(set: &MigrationSet) -> Result<std::collections::BTreeSet<String>> {
    let mut scratch = Direct::Sqlite(Box::new(
        <crate::SqliteConn as diesel_async::AsyncConnection>::establish(":memory:")
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?,
    ));
    let mut tables = std::collections::BTreeSet::new();
    for m in set.sqlite {
        scratch
            .exec(m.up)
            .await
            .map_err(|e| DbError::Migration(format!("migration {} does not apply: {e}", m.dir)))?;
        tables.extend(
            schema::introspect(&mut scratch, None)
                .await?
                .tables
                .into_keys(),
        );
    }
    Ok(tables)
}

/// Differences of `live` against `expected`.
pub fn compare(expected: &schema::Schema, live: &schema::Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    let diff = |kind: &str, object: String, detail: String| Difference {
        kind: kind.to_owned(),
        object,
        detail,
    };
    for (name, want) in &expected.tables {
        let Some(have) = live.tables.get(name) else {
            out.push(diff("table", name.clone(), "missing".into()));
            continue;
        };
        for c in &want.columns {
            match have.columns.iter().find(|h| h.name == c.name) {
                None => out.push(diff(
                    "column",
                    format!("{name}.{}", c.name),
                    "missing".into(),
                )),
                Some(h) if h != c => out.push(diff(
                    "column",
                    format!("{name}.{}", c.name),
                    format!(
                        "expected {} {}, found {} {}",
                        c.data_type,
                        null_word(c.nullable),
                        h.data_type,
                        null_word(h.nullable)
                    ),
                )),
                Some(_) => {}
            }
        }
        for h in &have.columns {
            if !want.columns.iter().any(|c| c.name == h.name) {
                out.push(diff(
                    "column",
                    format!("{name}.{}", h.name),
                    "unexpected".into(),
                ));
            }
        }
        for (iname, i) in &want.indexes {
            match have.indexes.get(iname) {
                None => out.push(diff("index", format!("{name}.{iname}"), "missing".into())),
                Some(h) if h != i => out.push(diff(
                    "index",
                    format!("{name}.{iname}"),
                    format!("expected `{}`, found `{}`", i.definition, h.definition),
                )),
                Some(_) => {}
            }
        }
        for iname in have.indexes.keys() {
            if !want.indexes.contains_key(iname) {
                out.push(diff(
                    "index",
                    format!("{name}.{iname}"),
                    "unexpected".into(),
                ));
            }
        }
    }
    for name in live.tables.keys() {
        if !expected.tables.contains_key(name) {
            out.push(diff("table", name.clone(), "unexpected".into()));
        }
    }
    out
}

fn null_word(nullable: bool) -> &'static str {
    if nullable { "NULL" } else { "NOT NULL" }
}

/// The live schema of the database at `url` (for tests and `drift --json` consumers).
///
/// # Errors
/// Connection and query errors.
pub async fn live_schema(url: &DbUrl) -> Result<schema::Schema> {
    let mut conn = Direct::open_existing(url).await?;
    Ok(schema::introspect(&mut conn, None).await?)
}

/// Gives freed space back to the file system: `VACUUM` on a SQLite file (rewrites the file).
/// Returns whether anything ran; PostgreSQL is left to autovacuum and an in-memory SQLite
/// database has no file to shrink (both `false`).
///
/// # Errors
/// Connection errors (a SQLite file that does not exist included); a database locked by a
/// writer for longer than the busy timeout.
pub async fn vacuum(url: &DbUrl) -> Result<bool> {
    if url.backend() != Backend::Sqlite || matches!(url, DbUrl::SqliteMemory) {
        return Ok(false);
    }
    let mut conn = Direct::open_existing(url).await?;
    conn.exec("VACUUM").await?;
    Ok(true)
}
