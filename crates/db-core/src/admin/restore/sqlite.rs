//! Restore into SQLite: a file that does not exist yet is built aside ([`NewFile`]); rows go in
//! with batched `INSERT … SELECT … FROM json_each(?)` ([`load`]).

use super::LoadJob;
use super::checks::check_target_columns;
use crate::admin::backup::format::Manifest;
use crate::admin::backup::limits::open_table;
use crate::admin::schema::{self, Schema};
use crate::admin::{AdminError, Progress, Result};
use crate::direct::{Direct, ident, ident_list, literal};
use crate::migrate::{self, LEDGER_DDL, apply_sql};
use crate::{Backend, DbUrl};
use std::path::{Path, PathBuf};

/// Rows per `INSERT` (a batch also ends at 8 MiB of JSON).
const BATCH_ROWS: i64 = 1_000;

/// A SQLite target file that does not exist yet, built next to it as `.<name>.restoring`
/// without a journal (nothing to roll back to: on failure the file is deleted), synced, and
/// renamed into place: the target either does not exist or is complete, and its pages are
/// written once instead of once to the WAL and again at checkpoint.
pub(super) struct NewFile {
    /// The target's path.
    path: PathBuf,
    /// The file being built.
    temp: PathBuf,
}

impl NewFile {
    /// Starts building `path` (removing what a crashed restore may have left of the temporary
    /// file).
    pub(super) fn start(path: &Path) -> NewFile {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "database".into());
        let file = NewFile {
            path: path.to_owned(),
            temp: path.with_file_name(format!(".{name}.restoring")),
        };
        file.remove_temp();
        file
    }

    /// The URL of the file being built.
    pub(super) fn url(&self) -> DbUrl {
        DbUrl::SqliteFile(self.temp.clone())
    }

    /// After the restore into [`NewFile::url`]: on success syncs the file and renames it into
    /// place; on failure (of the restore or of this step) removes it.
    ///
    /// # Errors
    /// `restored`'s error; [`AdminError::Io`] when the file cannot be synced or renamed.
    pub(super) fn finish<T>(self, restored: Result<T>) -> Result<T> {
        let report = match restored {
            Ok(report) => report,
            Err(e) => {
                self.remove_temp();
                return Err(e);
            }
        };
        let finish = || -> std::io::Result<()> {
            std::fs::File::open(&self.temp)?.sync_all()?;
            std::fs::rename(&self.temp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        if let Err(e) = finish() {
            self.remove_temp();
            return Err(AdminError::io(&self.path, e));
        }
        Ok(report)
    }

    fn remove_temp(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.temp.display()));
        }
    }
}

/// In ONE transaction (`BEGIN IMMEDIATE`): migrates the target on `conn` to the backup's schema
/// version (the migrations of `set` it lacks), then replaces every row of its tables with the
/// backup's. A failure anywhere — a migration, a bad row, a foreign key, a full disk — rolls
/// all of it back: the target keeps its schema version, schema and rows.
///
/// # Errors
/// [`AdminError::Refused`] when the target holds a migration newer than the backup's or unknown
/// to `set`, or lacks a table or column of the backup; [`crate::DbError::Migration`] when a
/// migration fails; [`AdminError::BadBackup`] for a row that is not a JSON array or that the
/// database refuses, or a row count other than the manifest's; database errors.
pub(crate) async fn load(conn: &mut Direct, job: LoadJob<'_>) -> Result<()> {
    let LoadJob {
        backup,
        manifest,
        progress,
        ..
    } = job;
    // SQLite's default page cache: a 64 MiB one measured no faster and took RSS past 100 MB on
    // a 1.3 GB restore.
    // `BEGIN IMMEDIATE` takes the write lock first: a migrator (`BEGIN EXCLUSIVE`) waits.
    conn.exec("BEGIN IMMEDIATE").await?;
    let result = async {
        let applied: Vec<String> = migrate::read_ledger(conn)
            .await?
            .into_iter()
            .map(|(v, _, _)| v)
            .collect();
        let pending = job.migrations_to_apply(Backend::Sqlite, &applied)?;
        if !pending.is_empty() {
            conn.exec(LEDGER_DDL).await?;
        }
        for m in pending {
            conn.exec(&apply_sql(m)).await.map_err(|e| {
                crate::DbError::Migration(format!("migration {} failed: {e}", m.dir))
            })?;
        }
        let schema = schema::introspect(conn, None).await?;
        check_target_columns(manifest, &schema)?;
        load_in_transaction(conn, backup, manifest, &schema, progress).await
    }
    .await;
    match result {
        Ok(()) => Ok(conn.exec("COMMIT").await?),
        Err(e) => {
            let _ = conn.exec("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Replaces every row of the backup's tables inside the open transaction.
async fn load_in_transaction(
    conn: &mut Direct,
    backup: &Path,
    manifest: &Manifest,
    schema: &Schema,
    progress: &dyn Progress,
) -> Result<()> {
    for t in schema.dependency_order().iter().rev() {
        conn.exec(&format!("DELETE FROM {}", ident(t))).await?;
    }
    // Secondary indexes are dropped and rebuilt after the load (as pg_restore does): one
    // sorted build is much faster than maintaining them row by row. Inside the transaction, so
    // a failure brings them back with the old rows.
    let mut rebuild = Vec::new();
    for t in &manifest.tables {
        for (name, create) in secondary_indexes(conn, &t.name).await? {
            conn.exec(&format!("DROP INDEX {}", ident(&name))).await?;
            rebuild.push((name, create));
        }
    }
    let bad = |problem: String| AdminError::BadBackup {
        backup: backup.display().to_string(),
        problem,
    };
    for t in &manifest.tables {
        let insert = insert_sql(&t.name, &t.columns);
        let mut reader = open_table(backup, manifest.compression, t)?;
        progress.start(&format!("restore {}", t.name), t.rows);
        let mut rows = 0u64;
        let mut batch = String::with_capacity(1 << 20);
        let mut batch_rows = 0i64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_row(&mut line)
                .map_err(|e| bad(format!("{}: {e}", t.file)))?;
            let done = n == 0;
            if !done {
                let text = std::str::from_utf8(&line)
                    .map_err(|_| bad(format!("{}: row {} is not UTF-8", t.file, rows + 1)))?
                    .trim_end();
                if !text.starts_with('[') || !text.ends_with(']') {
                    return Err(bad(format!(
                        "{}: row {} is not a JSON array",
                        t.file,
                        rows + 1
                    )));
                }
                batch.push(if batch_rows == 0 { '[' } else { ',' });
                batch.push_str(text);
                batch_rows += 1;
                rows += 1;
            }
            if batch_rows > 0 && (done || batch_rows >= BATCH_ROWS || batch.len() > (8 << 20)) {
                batch.push(']');
                conn.exec_text(&insert, std::mem::take(&mut batch))
                    .await
                    .map_err(|e| bad(format!("{}: rows up to {rows}: {e}", t.file)))?;
                progress.advance(batch_rows as u64);
                batch_rows = 0;
            }
            if done {
                break;
            }
        }
        progress.finish();
        if rows != t.rows {
            return Err(bad(format!(
                "{}: {rows} rows read, manifest says {}",
                t.file, t.rows
            )));
        }
    }
    for (name, create) in rebuild {
        progress.start(&format!("index {name}"), 0);
        let built = conn.exec(&create).await;
        progress.finish();
        built.map_err(|e| bad(format!("rebuilding index {name}: {e}")))?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct IndexSql {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    create: String,
}

/// Indexes of `table` that back no constraint, with the statement that recreates each.
async fn secondary_indexes(conn: &mut Direct, table: &str) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "SELECT name, sql AS \"create\" FROM sqlite_master \
         WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = {}",
        literal(table)
    );
    let rows: Vec<IndexSql> = conn.rows(&sql).await?;
    Ok(rows.into_iter().map(|r| (r.name, r.create)).collect())
}

/// `INSERT … SELECT` reading one JSON array of row arrays (the `{p}` parameter).
fn insert_sql(table: &str, columns: &[String]) -> String {
    let cols = ident_list(columns);
    let values = (0..columns.len())
        .map(|i| format!("value ->> {i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {} ({cols}) SELECT {values} FROM json_each({{p}})",
        ident(table)
    )
}
