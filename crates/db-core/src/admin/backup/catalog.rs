//! The backups in a folder: [`list`] them, [`prune`] them by retention rules, [`resolve`] an id
//! to its folder.

use super::format::Manifest;
use super::verify::verify;
use crate::admin::{AdminError, Result};
use std::path::{Path, PathBuf};

/// One backup found by [`list`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupSummary {
    /// Folder name.
    pub id: String,
    /// Folder path.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl BackupSummary {
    /// The label of the backup (`scheduled`, `pre-restore`, a `--name`), read from its id
    /// `<database>-<UTC timestamp>[-<label>]` (the timestamp holds no `-`); `None` without one.
    pub fn label(&self) -> Option<&str> {
        let rest = self
            .id
            .strip_prefix(&format!("{}-", self.manifest.database))?;
        rest.split_once('-')
            .map(|(_, label)| label)
            .filter(|l| !l.is_empty())
    }
}

/// Backups under `dir` (of `database` only, if given), newest first. Folders without a valid
/// manifest are skipped; a missing `dir` is an empty list.
///
/// # Errors
/// [`AdminError::Io`] when `dir` exists but cannot be read.
pub fn list(dir: &Path, database: Option<&str>) -> Result<Vec<BackupSummary>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AdminError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.filter_map(std::result::Result::ok) {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        if let Ok(manifest) = Manifest::read(&e.path())
            && database.is_none_or(|d| d == manifest.database)
        {
            out.push(BackupSummary {
                id,
                path: e.path(),
                manifest,
            });
        }
    }
    out.sort_by(|a, b| b.manifest.created_at.cmp(&a.manifest.created_at));
    Ok(out)
}

/// What [`prune`] removed (or would remove in a dry run) and kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    /// Whether anything was deleted.
    pub dry_run: bool,
    /// Ids removed (or to remove).
    pub removed: Vec<String>,
    /// Ids kept.
    pub kept: Vec<String>,
}

/// Applies retention to the backups under `dir` — of `database` only if given, and only those
/// labelled `label` if given (scheduled backups prune `scheduled` ones and never touch manual or
/// `pre-restore` safety backups). The rules hold per database (grouped by the manifest's
/// `database`): each keeps its newest `keep_last`, those younger than `keep_days` days, and
/// always its newest backup that verifies. Everything else considered is removed, unless
/// `dry_run`.
///
/// # Errors
/// [`AdminError::Io`] when the folder cannot be read or a backup cannot be deleted.
pub async fn prune(
    dir: &Path,
    database: Option<&str>,
    label: Option<&str>,
    keep_last: usize,
    keep_days: Option<u64>,
    dry_run: bool,
) -> Result<PruneReport> {
    let all: Vec<BackupSummary> = list(dir, database)?
        .into_iter()
        .filter(|b| label.is_none_or(|l| b.label() == Some(l)))
        .collect();
    // Newest first within each database, as `list` orders them.
    let mut by_database: std::collections::BTreeMap<&str, Vec<&BackupSummary>> =
        std::collections::BTreeMap::new();
    for b in &all {
        by_database
            .entry(b.manifest.database.as_str())
            .or_default()
            .push(b);
    }
    let cutoff = keep_days.map(|d| {
        chrono::Utc::now()
            - chrono::Duration::days(i64::try_from(d).unwrap_or(i64::MAX / 86_400_000))
    });
    let mut keep = std::collections::HashSet::new();
    for backups in by_database.values() {
        for (i, b) in backups.iter().enumerate() {
            let young = cutoff.is_some_and(|c| {
                chrono::DateTime::parse_from_rfc3339(&b.manifest.created_at).is_ok_and(|t| t > c)
            });
            if i < keep_last || young {
                keep.insert(b.id.as_str());
            }
        }
        for b in backups {
            if verify(&b.path, None, false).await.is_ok_and(|r| r.ok) {
                keep.insert(b.id.as_str());
                break;
            }
        }
    }
    let mut report = PruneReport {
        dry_run,
        removed: Vec::new(),
        kept: Vec::new(),
    };
    for b in &all {
        if keep.contains(b.id.as_str()) {
            report.kept.push(b.id.clone());
            continue;
        }
        if !dry_run {
            std::fs::remove_dir_all(&b.path).map_err(|e| AdminError::io(&b.path, e))?;
        }
        report.removed.push(b.id.clone());
    }
    Ok(report)
}

/// The backup folder for `id_or_path`: an existing path as given, else `<dir>/<id>`.
pub fn resolve(dir: &Path, id_or_path: &str) -> PathBuf {
    let p = PathBuf::from(id_or_path);
    if p.is_dir() || id_or_path.contains('/') {
        p
    } else {
        dir.join(id_or_path)
    }
}
