//! Changing a schema under the one-migrator-at-a-time lock: [`migrate`], [`rollback`],
//! [`redo`], and what a service runs at start ([`run_pending`], [`check`]).

use super::ledger::{LEDGER_DDL, apply_sql, revert_sql};
use super::set::{Migration, MigrationSet};
use super::status::{MigrationState, StatusReport, status_on};
use crate::direct::{Direct, literal};
use crate::{Backend, DbError, DbUrl, Pool};

/// What to revert in [`rollback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The newest `n` applied migrations.
    Steps(usize),
    /// Every applied migration newer than this version; the version itself stays applied.
    To(String),
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
