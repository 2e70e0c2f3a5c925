//! The migration engine: status, up (to the latest or a target), rollback, redo, checksums and
//! the one-migrator-at-a-time lock.
//!
//! Each service keeps diesel_cli-layout migrations (`<version>_<name>/up.sql`, `down.sql`) in
//! `migrations/postgres` and `migrations/sqlite` and lists them once with [`migration_set!`],
//! which embeds the files. The engine adds what diesel lacks (see `reference/anchors.md` §1):
//!
//! - **Ledger.** Applied versions are recorded in diesel's own `__diesel_schema_migrations`
//!   (so the `diesel` CLI keeps working on the same database) and, with the sha256 of each
//!   applied `up.sql`, in `__codelab_migrations`. Line endings are normalised before hashing
//!   (`\r\n` → `\n`, trailing whitespace of the file ignored), so a checkout with CRLF does not
//!   count as a change.
//! - **Modified migrations are a loud error.** An applied migration whose file now hashes
//!   differently stops `migrate`, `rollback`, `redo` and [`run_pending`] (so a service refuses
//!   to start) with [`DbError::Migration`] naming the version and both hashes. Rows applied
//!   before checksums were recorded are `Unverified` (a warning) and adopted on the next run.
//! - **Lock.** Every operation runs on ONE dedicated connection: PostgreSQL takes
//!   `pg_advisory_lock(<hash of the set's name>)` on it, SQLite a `BEGIN EXCLUSIVE`
//!   transaction; the applied list is read only after the lock is held, so two replicas starting
//!   together never apply a migration twice.
//! - **Transactions.** One transaction per migration (a SAVEPOINT inside the exclusive
//!   transaction on SQLite): a failing migration leaves the ones before it applied.
//! - **Rollback to a target** reverts, newest first, every applied migration newer than the
//!   target; the target itself stays applied (sqlx semantics).

use crate::direct::{Direct, literal};
use crate::{Backend, DbError, DbUrl, Pool};
use diesel::QueryableByName;
use sha2::Digest as _;

/// One migration: the folder name and the embedded SQL of both directions.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Folder name, `2026-11-21-000000_conversation_store`.
    pub dir: &'static str,
    /// `up.sql`.
    pub up: &'static str,
    /// `down.sql`.
    pub down: &'static str,
}

impl Migration {
    /// diesel's version: the folder name up to the first `_`, dashes removed
    /// (`20261121000000`).
    pub fn version(&self) -> String {
        self.dir
            .split('_')
            .next()
            .unwrap_or_default()
            .replace('-', "")
    }

    /// The name after the version (`conversation_store`).
    pub fn name(&self) -> &'static str {
        self.dir.split_once('_').map_or("", |(_, n)| n)
    }

    /// sha256 (lowercase hex) of `up.sql` with line endings normalised.
    pub fn checksum(&self) -> String {
        checksum(self.up)
    }
}

/// sha256 (hex) of SQL text after turning `\r\n` and `\r` into `\n` and trimming trailing
/// whitespace, so editors and checkouts that only change line endings do not change it.
pub fn checksum(sql: &str) -> String {
    let normalised = sql.replace("\r\n", "\n").replace('\r', "\n");
    hex(&sha2::Sha256::digest(normalised.trim_end().as_bytes()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A service's migrations, one list per backend, oldest first. Build it with
/// [`migration_set!`]; both lists hold the same versions.
pub struct MigrationSet {
    /// Short name of the database (`agent_runtime`, `auth`); also seeds the advisory lock key
    /// and is written into backup manifests.
    pub name: &'static str,
    /// `migrations/postgres`.
    pub postgres: &'static [Migration],
    /// `migrations/sqlite`.
    pub sqlite: &'static [Migration],
}

impl std::fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationSet")
            .field("name", &self.name)
            .field("migrations", &self.sqlite.len())
            .finish()
    }
}

impl MigrationSet {
    /// The list for `backend`.
    pub fn for_backend(&self, backend: Backend) -> &'static [Migration] {
        match backend {
            Backend::Postgres => self.postgres,
            Backend::Sqlite => self.sqlite,
        }
    }

    /// The newest version this binary knows (`None` for an empty set).
    pub fn latest_version(&self) -> Option<String> {
        self.sqlite.iter().map(Migration::version).max()
    }

    /// Whether this binary knows `version`.
    pub fn knows(&self, version: &str) -> bool {
        self.sqlite.iter().any(|m| m.version() == version)
    }

    /// PostgreSQL advisory-lock key: the first 8 bytes (big-endian) of
    /// sha256(`codelab-migrations:<name>`). Everything that applies this set's migrations (the
    /// engine here, a restore) takes it, so they exclude each other.
    pub(crate) fn lock_key(&self) -> i64 {
        let digest = sha2::Sha256::digest(format!("codelab-migrations:{}", self.name));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }
}

/// Builds a `&'static` [`MigrationSet`] from migration folder names, embedding
/// `migrations/{postgres,sqlite}/<dir>/{up,down}.sql` of the calling crate.
///
/// ```ignore
/// pub static MIGRATIONS: MigrationSet = db_core::migration_set!(
///     "agent_runtime",
///     ["2026-11-21-000000_conversation_store"]
/// );
/// ```
///
/// A missing file is a compile error. List every folder: a test of the service compares the
/// list with the folders on disk ([`check_listed`]).
///
/// `migration_set!(name, root = "tests/migrations", [...])` reads another folder of the crate.
#[macro_export]
macro_rules! migration_set {
    ($name:expr, [$($dir:literal),* $(,)?]) => {
        $crate::migration_set!($name, root = "migrations", [$($dir),*])
    };
    ($name:expr, root = $root:literal, [$($dir:literal),* $(,)?]) => {
        $crate::migrate::MigrationSet {
            name: $name,
            postgres: &[$($crate::migrate::Migration {
                dir: $dir,
                up: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/postgres/", $dir, "/up.sql")),
                down: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/postgres/", $dir, "/down.sql")),
            }),*],
            sqlite: &[$($crate::migrate::Migration {
                dir: $dir,
                up: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/sqlite/", $dir, "/up.sql")),
                down: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $root, "/sqlite/", $dir, "/down.sql")),
            }),*],
        }
    };
}

/// Checks that `set` lists exactly the migration folders under `root/{postgres,sqlite}` (for a
/// service's test: a folder added but not listed would never be applied).
///
/// # Errors
/// A message naming the unlisted or missing folders, or the unreadable directory.
pub fn check_listed(set: &MigrationSet, root: &std::path::Path) -> Result<(), String> {
    for (backend, list) in [("postgres", set.postgres), ("sqlite", set.sqlite)] {
        let dir = root.join(backend);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let listed: Vec<String> = list.iter().map(|m| m.dir.to_owned()).collect();
        if on_disk != listed {
            return Err(format!(
                "{}: folders {on_disk:?} but the migration set lists {listed:?}",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Where a migration stands in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Applied, and its file still hashes to the recorded checksum.
    Applied,
    /// Applied before checksums were recorded; adopted (hashed) on the next `migrate`.
    Unverified,
    /// Known to this binary, not applied.
    Pending,
    /// Applied, but its `up.sql` changed since: a loud error for every operation.
    Modified,
    /// Applied, but this binary does not know it (a newer binary applied it).
    Missing,
}

/// One line of [`status`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    /// `20261121000000`.
    pub version: String,
    /// `conversation_store` (empty for a [`MigrationState::Missing`] one).
    pub name: String,
    /// See [`MigrationState`].
    pub state: MigrationState,
    /// When it was applied (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC), if it was.
    pub applied_at: Option<String>,
    /// Recorded checksum, if any.
    pub recorded_checksum: Option<String>,
    /// Checksum of the file this binary embeds, if it knows the migration.
    pub file_checksum: Option<String>,
}

/// Every migration of a database and of the binary, by version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusReport {
    /// Newest applied version (`None`: nothing applied).
    pub current: Option<String>,
    /// Newest version the binary knows.
    pub latest: Option<String>,
    /// One entry per version, oldest first.
    pub migrations: Vec<MigrationStatus>,
}

impl StatusReport {
    /// Versions applied to the database, oldest first (including missing ones).
    pub fn applied(&self) -> Vec<&MigrationStatus> {
        self.migrations
            .iter()
            .filter(|m| m.state != MigrationState::Pending)
            .collect()
    }

    /// Entries in `state`.
    pub fn in_state(&self, state: MigrationState) -> Vec<&MigrationStatus> {
        self.migrations
            .iter()
            .filter(|m| m.state == state)
            .collect()
    }

    /// The error every operation raises when an applied migration was modified.
    fn modified_error(&self) -> Option<DbError> {
        let modified = self.in_state(MigrationState::Modified);
        if modified.is_empty() {
            return None;
        }
        let list: Vec<String> = modified
            .iter()
            .map(|m| {
                format!(
                    "{}_{} (applied with sha256 {}, file now {})",
                    m.version,
                    m.name,
                    m.recorded_checksum.as_deref().unwrap_or("?"),
                    m.file_checksum.as_deref().unwrap_or("?")
                )
            })
            .collect();
        Some(DbError::Migration(format!(
            "applied migration(s) changed since they ran: {}; restore the original up.sql \
             (an applied migration must never be edited: add a new one)",
            list.join(", ")
        )))
    }
}

/// What to revert in [`rollback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The newest `n` applied migrations.
    Steps(usize),
    /// Every applied migration newer than this version; the version itself stays applied.
    To(String),
}

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

/// Builds the status report from a ledger and the binary's list.
fn report(
    set: &MigrationSet,
    backend: Backend,
    ledger: &[(String, Option<String>, Option<String>)],
) -> StatusReport {
    let known = set.for_backend(backend);
    let mut out = Vec::new();
    for m in known {
        let version = m.version();
        let file_checksum = Some(m.checksum());
        let entry = ledger.iter().find(|(v, _, _)| *v == version);
        let (state, applied_at, recorded) = match entry {
            None => (MigrationState::Pending, None, None),
            Some((_, run_on, None)) => (MigrationState::Unverified, run_on.clone(), None),
            Some((_, run_on, Some(sum))) if Some(sum) == file_checksum.as_ref() => {
                (MigrationState::Applied, run_on.clone(), Some(sum.clone()))
            }
            Some((_, run_on, Some(sum))) => {
                (MigrationState::Modified, run_on.clone(), Some(sum.clone()))
            }
        };
        out.push(MigrationStatus {
            version,
            name: m.name().to_owned(),
            state,
            applied_at,
            recorded_checksum: recorded,
            file_checksum,
        });
    }
    for (version, run_on, sum) in ledger {
        if !known.iter().any(|m| m.version() == *version) {
            out.push(MigrationStatus {
                version: version.clone(),
                name: String::new(),
                state: MigrationState::Missing,
                applied_at: run_on.clone(),
                recorded_checksum: sum.clone(),
                file_checksum: None,
            });
        }
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    StatusReport {
        current: ledger.iter().map(|(v, _, _)| v.clone()).max(),
        latest: set.latest_version(),
        migrations: out,
    }
}

/// The status of every migration of `set` in the database at `url` (read-only; takes no lock).
///
/// # Errors
/// [`DbError::Unavailable`] when the database cannot be opened (a SQLite file that does not
/// exist included); query errors.
pub async fn status(url: &DbUrl, set: &MigrationSet) -> Result<StatusReport, DbError> {
    let mut conn = Direct::open_existing(url).await?;
    status_on(&mut conn, set).await
}

pub(crate) async fn status_on(
    conn: &mut Direct,
    set: &MigrationSet,
) -> Result<StatusReport, DbError> {
    let ledger = read_ledger(conn).await?;
    Ok(report(set, conn.backend(), &ledger))
}

/// The lock every changing operation runs under, on its dedicated connection.
async fn lock(conn: &mut Direct, set: &MigrationSet) -> Result<(), DbError> {
    match conn.backend() {
        Backend::Postgres => {
            conn.exec(&format!("SELECT pg_advisory_lock({})", set.lock_key()))
                .await?;
            conn.exec(LEDGER_DDL).await
        }
        Backend::Sqlite => {
            conn.exec("BEGIN EXCLUSIVE").await?;
            conn.exec(LEDGER_DDL).await
        }
    }
}

async fn unlock(conn: &mut Direct, set: &MigrationSet) -> Result<(), DbError> {
    match conn.backend() {
        Backend::Postgres => {
            conn.exec(&format!("SELECT pg_advisory_unlock({})", set.lock_key()))
                .await
        }
        Backend::Sqlite => conn.exec("COMMIT").await,
    }
}

/// Runs `body` inside one migration's transaction (a SAVEPOINT on SQLite, where the whole run
/// is one exclusive transaction).
async fn in_step(conn: &mut Direct, sql: &str) -> Result<(), DbError> {
    let (begin, commit, rollback) = match conn.backend() {
        Backend::Postgres => ("BEGIN", "COMMIT", "ROLLBACK"),
        Backend::Sqlite => (
            "SAVEPOINT codelab_migration",
            "RELEASE codelab_migration",
            "ROLLBACK TO codelab_migration; RELEASE codelab_migration",
        ),
    };
    conn.exec(begin).await?;
    match conn.exec(sql).await {
        Ok(()) => conn.exec(commit).await,
        Err(e) => {
            let _ = conn.exec(rollback).await;
            Err(e)
        }
    }
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

fn revert_sql(m: &Migration) -> String {
    format!(
        "{}\n;\nDELETE FROM __diesel_schema_migrations WHERE version = {v};\n\
         DELETE FROM __codelab_migrations WHERE version = {v};",
        m.down,
        v = literal(&m.version()),
    )
}

/// Applies migrations of `set` under the lock: every pending one, or those up to and including
/// `target`. Returns the versions applied, oldest first.
///
/// # Errors
/// [`DbError::Migration`] when an applied migration was modified, `target` is unknown or older
/// than the newest applied (use [`rollback`]), or a migration fails (it is rolled back; those
/// before it stay applied; the message names it).
pub async fn migrate(
    url: &DbUrl,
    set: &MigrationSet,
    target: Option<&str>,
) -> Result<Vec<String>, DbError> {
    let mut conn = Direct::open(url).await?;
    migrate_on(&mut conn, set, target).await
}

pub(crate) async fn migrate_on(
    conn: &mut Direct,
    set: &MigrationSet,
    target: Option<&str>,
) -> Result<Vec<String>, DbError> {
    if let Some(t) = target
        && !set.knows(t)
    {
        return Err(unknown_version(set, t));
    }
    lock(conn, set).await?;
    let result = migrate_locked(conn, set, target).await;
    // On SQLite the lock is the transaction: commit what was applied even after a failure.
    let unlocked = unlock(conn, set).await;
    let applied = result?;
    unlocked?;
    Ok(applied)
}

fn unknown_version(set: &MigrationSet, v: &str) -> DbError {
    let known: Vec<String> = set.sqlite.iter().map(Migration::version).collect();
    DbError::Migration(format!(
        "unknown migration version `{v}`; known: {}",
        known.join(", ")
    ))
}

async fn migrate_locked(
    conn: &mut Direct,
    set: &MigrationSet,
    target: Option<&str>,
) -> Result<Vec<String>, DbError> {
    let rep = status_on(conn, set).await?;
    if let Some(e) = rep.modified_error() {
        return Err(e);
    }
    if let (Some(t), Some(cur)) = (target, rep.current.as_deref())
        && t < cur
    {
        return Err(DbError::Migration(format!(
            "target {t} is older than the applied version {cur}: use rollback"
        )));
    }
    adopt_unverified(conn, set, &rep).await?;
    let mut applied = Vec::new();
    for m in set.for_backend(conn.backend()) {
        let v = m.version();
        if target.is_some_and(|t| v.as_str() > t) {
            break;
        }
        let pending = rep
            .migrations
            .iter()
            .any(|s| s.version == v && s.state == MigrationState::Pending);
        if !pending {
            continue;
        }
        in_step(conn, &apply_sql(m))
            .await
            .map_err(|e| DbError::Migration(format!("migration {} failed: {e}", m.dir)))?;
        tracing::info!(version = %v, name = m.name(), "applied migration");
        applied.push(v);
    }
    Ok(applied)
}

/// Records checksums for migrations applied before the ledger had them.
async fn adopt_unverified(
    conn: &mut Direct,
    set: &MigrationSet,
    rep: &StatusReport,
) -> Result<(), DbError> {
    for s in rep.in_state(MigrationState::Unverified) {
        tracing::warn!(version = %s.version, "applied migration had no checksum; recording the current file's");
        if let Some(m) = set
            .for_backend(conn.backend())
            .iter()
            .find(|m| m.version() == s.version)
        {
            conn.exec(&format!(
                "INSERT INTO __codelab_migrations (version, name, checksum) VALUES ({}, {}, {})",
                literal(&s.version),
                literal(m.name()),
                literal(&m.checksum())
            ))
            .await?;
        }
    }
    Ok(())
}

/// Reverts applied migrations under the lock, newest first (see [`RollbackTarget`]). Returns
/// the versions reverted, newest first.
///
/// # Errors
/// [`DbError::Migration`] when an applied migration was modified or is unknown to this binary
/// (no `down.sql` to run), the target is unknown or not applied, or a `down.sql` fails (that
/// step is rolled back; earlier steps stay reverted).
pub async fn rollback(
    url: &DbUrl,
    set: &MigrationSet,
    target: RollbackTarget,
) -> Result<Vec<String>, DbError> {
    let mut conn = Direct::open_existing(url).await?;
    lock(&mut conn, set).await?;
    let result = rollback_locked(&mut conn, set, &target).await;
    let unlocked = unlock(&mut conn, set).await;
    let reverted = result?;
    unlocked?;
    Ok(reverted)
}

async fn rollback_locked(
    conn: &mut Direct,
    set: &MigrationSet,
    target: &RollbackTarget,
) -> Result<Vec<String>, DbError> {
    let rep = status_on(conn, set).await?;
    if let Some(e) = rep.modified_error() {
        return Err(e);
    }
    let mut applied: Vec<String> = rep.applied().iter().map(|m| m.version.clone()).collect();
    applied.reverse();
    let to_revert: Vec<String> = match target {
        RollbackTarget::Steps(n) => applied.into_iter().take(*n).collect(),
        RollbackTarget::To(v) => {
            if !applied.contains(v) {
                return Err(DbError::Migration(format!(
                    "rollback target {v} is not applied to this database"
                )));
            }
            applied
                .into_iter()
                .filter(|a| a.as_str() > v.as_str())
                .collect()
        }
    };
    let mut reverted = Vec::new();
    for v in to_revert {
        let m = set
            .for_backend(conn.backend())
            .iter()
            .find(|m| m.version() == v)
            .ok_or_else(|| {
                DbError::Migration(format!(
                    "migration {v} is applied but unknown to this binary (applied by a newer \
                     version): cannot revert it"
                ))
            })?;
        in_step(conn, &revert_sql(m))
            .await
            .map_err(|e| DbError::Migration(format!("reverting {} failed: {e}", m.dir)))?;
        tracing::info!(version = %v, name = m.name(), "reverted migration");
        reverted.push(v);
    }
    Ok(reverted)
}

/// Reverts the newest applied migration and applies it again (to test a `down.sql` while
/// writing a migration). Returns its version, or `None` when nothing is applied.
///
/// # Errors
/// As [`rollback`] and [`migrate`].
pub async fn redo(url: &DbUrl, set: &MigrationSet) -> Result<Option<String>, DbError> {
    let mut conn = Direct::open_existing(url).await?;
    lock(&mut conn, set).await?;
    let result: Result<Option<String>, DbError> = async {
        let reverted = rollback_locked(&mut conn, set, &RollbackTarget::Steps(1)).await?;
        let Some(v) = reverted.into_iter().next() else {
            return Ok(None);
        };
        migrate_locked(&mut conn, set, Some(&v)).await?;
        Ok(Some(v))
    }
    .await;
    let unlocked = unlock(&mut conn, set).await;
    let v = result?;
    unlocked?;
    Ok(v)
}

/// Applies every pending migration of `set` to the pool's database (what a service does at
/// start) and returns the versions applied (empty when the schema was up to date).
///
/// # Errors
/// [`DbError::Unavailable`] when no connection can be had; [`DbError::Migration`] when an
/// applied migration was modified (the service must not start on a schema it cannot vouch for)
/// or a migration fails.
pub async fn run_pending(pool: &Pool, set: &'static MigrationSet) -> Result<Vec<String>, DbError> {
    let mut conn = Direct::for_pool(pool).await?;
    let applied = migrate_on(&mut conn, set, None).await?;
    let rep = status_on(&mut conn, set).await?;
    for m in rep.in_state(MigrationState::Missing) {
        tracing::warn!(version = %m.version, "database has a migration this binary does not know (applied by a newer version)");
    }
    Ok(applied)
}

/// Checks the pool's database without migrating it (a service started with auto-migration
/// off): returns the status, logging pending migrations.
///
/// # Errors
/// [`DbError::Migration`] when an applied migration was modified; connection errors.
pub async fn check(pool: &Pool, set: &MigrationSet) -> Result<StatusReport, DbError> {
    let mut conn = Direct::for_pool(pool).await?;
    let rep = status_on(&mut conn, set).await?;
    if let Some(e) = rep.modified_error() {
        return Err(e);
    }
    let pending = rep.in_state(MigrationState::Pending).len();
    if pending > 0 {
        tracing::warn!(
            pending,
            "database has pending migrations and auto-migration is off"
        );
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_line_endings() {
        assert_eq!(checksum("a;\nb;\n"), checksum("a;\r\nb;\r\n"));
        assert_eq!(checksum("a;\nb;"), checksum("a;\nb;\n\n"));
        assert_ne!(checksum("a;\nb;"), checksum("a;\nc;"));
        assert_eq!(checksum("").len(), 64);
    }

    #[test]
    fn version_and_name_follow_diesel() {
        let m = Migration {
            dir: "2026-11-21-000000_conversation_store",
            up: "",
            down: "",
        };
        assert_eq!(m.version(), "20261121000000");
        assert_eq!(m.name(), "conversation_store");
    }
}
