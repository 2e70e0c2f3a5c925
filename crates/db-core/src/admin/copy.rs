//! `codelab db copy`: every row of one database into another (SQLite → PostgreSQL and back),
//! through the backup format.

use super::backup::format::Compression;
use super::backup::write::{BackupOptions, backup};
use super::restore::{RestoreOptions, restore};
use super::{AdminError, Progress, Result, TableRows};
use crate::DbUrl;
use crate::migrate::MigrationSet;
use std::path::Path;

/// Outcome of [`copy`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Rows per table read from the source.
    pub source: Vec<TableRows>,
    /// Rows per table in the target afterwards (equal to `source`, checked).
    pub target: Vec<TableRows>,
    /// Safety backup of a non-empty target.
    pub safety_backup: Option<String>,
}

/// Copies every row of the database at `from` into `to` (e.g. SQLite → PostgreSQL): a backup
/// into a temporary folder restored into the target, then row counts compared.
///
/// # Errors
/// As [`backup`] and [`restore`]; [`AdminError::Refused`] when the counts differ.
pub async fn copy(
    from: &DbUrl,
    to: &DbUrl,
    set: &MigrationSet,
    force: bool,
    safety_dir: &Path,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    if from == to {
        return Err(AdminError::Refused(
            "source and target are the same database".into(),
        ));
    }
    let tmp = tempfile::tempdir().map_err(|e| AdminError::io(std::env::temp_dir(), e))?;
    let info = backup(
        from,
        set,
        BackupOptions {
            dir: tmp.path(),
            label: Some("copy"),
            compression: Compression::None,
            progress,
        },
    )
    .await?;
    let report = restore(
        &info.path,
        to,
        set,
        RestoreOptions {
            force,
            safety_dir,
            progress,
        },
    )
    .await?;
    let source = info.manifest.row_counts();
    for s in &source {
        let got = report
            .tables
            .iter()
            .find(|t| t.name == s.name)
            .map_or(0, |t| t.rows);
        if got != s.rows {
            return Err(AdminError::Refused(format!(
                "copy check failed: {} has {got} rows in the target, {} in the source",
                s.name, s.rows
            )));
        }
    }
    Ok(CopyReport {
        source,
        target: report.tables,
        safety_backup: report.safety_backup,
    })
}
