//! Restoring a backup into a database of either backend: [`restore`] (its doc lists the
//! steps) and the load of each backend, [`sqlite`] (batched `INSERT … SELECT … FROM
//! json_each(?)`; a new file built aside) and [`postgres_copy`] (`COPY … FROM STDIN`). The
//! refusals both loads share are in [`checks`].

pub(crate) mod checks;
mod postgres_copy;
pub(crate) mod sqlite;

use super::backup::format::{Compression, Manifest};
use super::backup::verify::verify;
use super::backup::write::{BackupOptions, backup_on};
use super::schema;
use super::{AdminError, Progress, Result, TableRows, table_rows};
use crate::direct::Direct;
use crate::migrate::{self, MigrationSet, MigrationState};
use crate::{Backend, DbUrl};
use checks::{check_restorable, check_target_belongs};
use std::path::Path;

/// Options of [`restore`].
#[derive(Clone, Copy)]
pub struct RestoreOptions<'a> {
    /// Replace a non-empty target's rows.
    pub force: bool,
    /// Where the safety backup of a non-empty target goes (required to restore over data).
    pub safety_dir: &'a Path,
    /// Progress receiver.
    pub progress: &'a dyn Progress,
}

/// Outcome of [`restore`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Id of the safety backup taken of the target, if it held data.
    pub safety_backup: Option<String>,
    /// Row counts now in the target.
    pub tables: Vec<TableRows>,
}

/// Restores `backup` into the database at `url`.
///
/// Verifies the backup first, refuses a backup of another database or from a schema newer
/// than the binary, refuses a target that belongs to another database (its ledger holds
/// versions the migrations do not know, or it has tables they never create), refuses a
/// non-empty target without `force`, takes a safety backup of a non-empty target, then in ONE
/// transaction migrates the target to the backup's schema version and replaces all rows
/// (PostgreSQL sequences reset to the restored maxima): a failure leaves schema and data as
/// they were. Rows go in with `COPY … FROM STDIN` on PostgreSQL and with batched `INSERT …
/// SELECT … FROM json_each(?)` on SQLite; secondary indexes are dropped and rebuilt after the
/// load on both.
///
/// # Errors
/// [`AdminError::BadBackup`] (missing, truncated, tampered); [`AdminError::Refused`] (another
/// database, newer schema, target newer than the backup, non-empty target without `force`);
/// database and I/O errors. The target's data is unchanged after any error.
///
/// A SQLite target file that does not exist yet is built next to it as
/// `.<name>.restoring` without a journal (nothing to roll back to: on failure the file is
/// deleted), synced, and renamed into place: the target either does not exist or is complete,
/// and its pages are written once instead of once to the WAL and again at checkpoint.
pub async fn restore(
    backup: &Path,
    url: &DbUrl,
    set: &MigrationSet,
    opts: RestoreOptions<'_>,
) -> Result<RestoreReport> {
    if let DbUrl::SqliteFile(path) = url
        && !path.exists()
    {
        let file = sqlite::NewFile::start(path);
        let restored = restore_into(backup, &file.url(), set, opts, true).await;
        return file.finish(restored);
    }
    restore_into(backup, url, set, opts, false).await
}

/// The steps of [`restore`]; `new_file`: the target is a file this restore just created and
/// nobody else has open, so it is loaded without a journal.
async fn restore_into(
    backup: &Path,
    url: &DbUrl,
    set: &MigrationSet,
    opts: RestoreOptions<'_>,
    new_file: bool,
) -> Result<RestoreReport> {
    let check = verify(backup, Some(set), false).await?;
    if !check.ok {
        return Err(AdminError::BadBackup {
            backup: backup.display().to_string(),
            problem: check.problems.join("; "),
        });
    }
    let manifest = Manifest::read(backup)?;
    check_restorable(&manifest, set)?;
    let mut conn = Direct::open(url).await?;
    let status = migrate::status_on(&mut conn, set).await?;
    if !status.in_state(MigrationState::Modified).is_empty() {
        return Err(AdminError::Refused(format!(
            "target schema: {}",
            super::schema_summary(&status)
        )));
    }
    let live = schema::introspect(&mut conn, None).await?;
    check_target_belongs(url, set, &status, &live).await?;
    if let (Some(cur), Some(v)) = (&status.current, &manifest.schema_version)
        && cur > v
    {
        return Err(AdminError::Refused(format!(
            "target schema {cur} is newer than the backup's {v}: roll the target back to {v} or \
             restore into an empty database"
        )));
    }
    let mut rows_present = 0u64;
    for t in live.tables.keys() {
        rows_present += schema::row_count(&mut conn, t).await?;
    }
    let mut safety_backup = None;
    if rows_present > 0 {
        if !opts.force {
            return Err(AdminError::Refused(format!(
                "target {url} holds {rows_present} rows; pass --force to replace them (a safety \
                 backup is taken first)"
            )));
        }
        let info = backup_on(
            &mut conn,
            url,
            set,
            BackupOptions {
                dir: opts.safety_dir,
                label: Some("pre-restore"),
                compression: Compression::Zstd,
                progress: opts.progress,
            },
        )
        .await?;
        safety_backup = Some(info.id);
    }
    if new_file {
        // A fresh file nobody else has open: no journal, no fsync until the caller syncs it.
        conn.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
            .await?;
    }
    let job = LoadJob {
        backup,
        manifest: &manifest,
        set,
        progress: opts.progress,
    };
    load(&mut conn, url, job).await?;
    if new_file {
        conn.exec("PRAGMA journal_mode = WAL").await?;
    }
    let tables = table_rows(&mut conn).await?;
    Ok(RestoreReport {
        safety_backup,
        tables,
    })
}

/// In ONE transaction: migrates the target to the backup's schema version (the migrations of
/// `set` it lacks, DDL being transactional on both backends), then replaces every row of its
/// tables with the backup's. A failure anywhere — a migration, a bad row, a foreign key, a full
/// disk — rolls all of it back: the target keeps its schema version, schema and rows.
async fn load(conn: &mut Direct, url: &DbUrl, job: LoadJob<'_>) -> Result<()> {
    match conn.backend() {
        Backend::Postgres => postgres_copy::load(url, job).await,
        Backend::Sqlite => sqlite::load(conn, job).await,
    }
}

/// What a backend's load restores: the backup in folder `backup` described by `manifest`,
/// into a target migrated with `set`, reporting to `progress`.
#[derive(Clone, Copy)]
pub(crate) struct LoadJob<'a> {
    /// The backup's folder.
    pub(crate) backup: &'a Path,
    /// The backup's manifest (already verified).
    pub(crate) manifest: &'a Manifest,
    /// The migrations of the target's database.
    pub(crate) set: &'a MigrationSet,
    /// Progress receiver.
    pub(crate) progress: &'a dyn Progress,
}

impl LoadJob<'_> {
    /// The migrations of the set a target on `backend` that has `applied` lacks to reach the
    /// backup's schema version.
    ///
    /// # Errors
    /// [`AdminError::Refused`] when the target holds a migration unknown to the set or newer
    /// than the backup's.
    fn migrations_to_apply(
        &self,
        backend: Backend,
        applied: &[String],
    ) -> Result<Vec<&'static migrate::Migration>> {
        checks::migrations_to_apply(
            self.set,
            backend,
            applied,
            self.manifest.schema_version.as_deref(),
        )
    }
}
