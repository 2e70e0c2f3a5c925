//! `codelab db restore BACKUP [--to URL] [--force] [--json]`.

use super::{BackupDir, print_json};
use crate::output::println;
use anyhow::Context as _;
use db_core::DbUrl;
use db_core::admin::backup::{Manifest, RestoreOptions};

/// Options of `db restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Backup id (folder name under the backup folder) or path.
    pub backup: String,
    /// Target database URL (default: the configured URL of the backup's database).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Replace the rows of a non-empty target (a safety backup is taken first).
    #[arg(long)]
    pub force: bool,
    /// Backup folder (also receives the safety backup).
    #[command(flatten)]
    pub dir: BackupDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Verifies the backup and restores it in one transaction.
///
/// # Errors
/// A missing, truncated or tampered backup; a backup of an unknown database or from a newer
/// schema; a non-empty target without `--force`; database errors. The target is unchanged.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let path = db_core::admin::backup::resolve(&opts.dir.backup_dir, &opts.backup);
    let manifest = Manifest::read(&path)?;
    let spec = super::registry::find(&manifest.database)?;
    let url = match &opts.to {
        Some(u) => DbUrl::parse(u).context("--to")?,
        None => super::registry::configured_url(spec)?,
    };
    let progress = super::progress::Reporter::new();
    let report = db_core::admin::backup::restore(
        &path,
        &url,
        spec.migrations,
        RestoreOptions {
            force: opts.force,
            safety_dir: &opts.dir.backup_dir,
            progress: &progress,
        },
    )
    .await
    .with_context(|| format!("restoring {} into {url}", path.display()))?;
    if opts.json {
        return print_json(&report);
    }
    if let Some(id) = &report.safety_backup {
        println(&format!("safety backup of the previous contents: {id}"))?;
    }
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    println(&format!(
        "restored {} into {url}: {rows} rows",
        path.display()
    ))?;
    Ok(())
}
