//! `codelab db list [--data-dir DIR] [--json]`: registered databases, SQLite files found under
//! the data folder, and backups.

use super::{BackupDir, human_bytes, print_json, table};
use crate::output::println;
use std::path::{Path, PathBuf};

/// Options of `db list`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Folder searched for SQLite files.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Backup folder.
    #[command(flatten)]
    pub dir: BackupDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Lists what codelab knows and finds.
///
/// # Errors
/// A variable holding an invalid URL; an unreadable backup folder.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut known = Vec::new();
    let mut known_files = Vec::new();
    for spec in super::registry::DATABASES {
        let url = super::registry::configured_url(spec)?;
        let exists = url.sqlite_path().is_none_or(Path::is_file);
        if let Some(p) = url.sqlite_path() {
            known_files.push(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()));
        }
        known.push(serde_json::json!({
            "name": spec.name, "url": url.to_string(), "backend": url.backend().to_string(),
            "from": spec.url_env, "exists": exists,
        }));
    }
    let mut found = Vec::new();
    discover(&opts.data_dir, &mut found, 0);
    let found: Vec<(PathBuf, u64)> = found
        .into_iter()
        .filter(|(p, _)| {
            let c = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            !known_files.contains(&c)
        })
        .collect();
    let backups = db_core::admin::backup::list(&opts.dir.backup_dir, None)?;
    if opts.json {
        return print_json(&serde_json::json!({
            "databases": known,
            "other_sqlite_files": found.iter().map(|(p, n)| serde_json::json!({"path": p, "size_bytes": n})).collect::<Vec<_>>(),
            "backups": backups.iter().map(|b| serde_json::json!({
                "id": b.id, "database": b.manifest.database, "created_at": b.manifest.created_at,
                "size_bytes": b.manifest.size_bytes,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut t = table(&["database", "backend", "url", "from", "exists"]);
    for k in &known {
        t.add_row(vec![
            k["name"].as_str().unwrap_or_default().to_owned(),
            k["backend"].as_str().unwrap_or_default().to_owned(),
            k["url"].as_str().unwrap_or_default().to_owned(),
            k["from"].as_str().unwrap_or_default().to_owned(),
            if k["exists"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ]);
    }
    println(&t.to_string())?;
    if !found.is_empty() {
        let mut t = table(&["other SQLite file", "size"]);
        for (p, n) in &found {
            t.add_row(vec![p.display().to_string(), human_bytes(*n)]);
        }
        println(&t.to_string())?;
    }
    println(&format!(
        "{} backup(s) in {}{}",
        backups.len(),
        opts.dir.backup_dir.display(),
        backups
            .first()
            .map(|b| format!("; newest {}", b.id))
            .unwrap_or_default()
    ))?;
    Ok(())
}

/// SQLite files (`.db`, `.sqlite`, `.sqlite3`) under `dir`, at most 4 levels deep.
fn discover(dir: &Path, out: &mut Vec<(PathBuf, u64)>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            if depth < 4 {
                discover(&p, out, depth + 1);
            }
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| matches!(x, "db" | "sqlite" | "sqlite3"))
        {
            out.push((p.clone(), e.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
}
