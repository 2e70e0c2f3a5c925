//! `codelab db prune [DATABASE] --keep-last N [--keep-days D] [--label L] [--execute]`: dry run
//! by default; the rules hold per database, and each database's newest backup that verifies is
//! never removed.

use super::{BackupDir, print_json};
use crate::output::println;

/// Options of `db prune`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Only backups of this database.
    #[arg(value_name = "DATABASE")]
    pub database: Option<String>,
    /// Keep the newest N backups of each database.
    #[arg(long, value_name = "N")]
    pub keep_last: usize,
    /// Also keep backups younger than D days.
    #[arg(long, value_name = "D")]
    pub keep_days: Option<u64>,
    /// Only backups with this label (`scheduled`, `pre-restore`, a `backup --name`).
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Delete (without it, only print what would be deleted).
    #[arg(long)]
    pub execute: bool,
    /// Backup folder.
    #[command(flatten)]
    pub dir: BackupDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Applies the retention rule.
///
/// # Errors
/// An unreadable folder or a backup that cannot be deleted.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let r = db_core::admin::backup::prune(
        &opts.dir.backup_dir,
        opts.database.as_deref(),
        opts.label.as_deref(),
        opts.keep_last,
        opts.keep_days,
        !opts.execute,
    )
    .await?;
    if opts.json {
        return print_json(&r);
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for id in &r.removed {
        println(&format!("{verb} {id}"))?;
    }
    println(&format!(
        "{} {verb}, {} kept{}",
        r.removed.len(),
        r.kept.len(),
        if r.dry_run {
            " (dry run: pass --execute to delete)"
        } else {
            ""
        }
    ))?;
    Ok(())
}
