//! `codelab db verify BACKUP [--deep] [--json]`.

use super::{BackupDir, print_json};
use crate::output::println;

/// Options of `db verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Backup id (folder name under the backup folder) or path.
    pub backup: String,
    /// Backup folder.
    #[command(flatten)]
    pub dir: BackupDir,
    /// Also restore into a scratch SQLite database and check row counts and integrity.
    #[arg(long)]
    pub deep: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Re-hashes every file of the backup against its manifest.
///
/// # Errors
/// A missing or unreadable backup; any problem found (after listing them).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let path = db_core::admin::backup::resolve(&opts.dir.backup_dir, &opts.backup);
    let manifest = db_core::admin::backup::Manifest::read(&path)?;
    let set = super::registry::find(&manifest.database)
        .ok()
        .map(|d| d.migrations);
    let report = db_core::admin::backup::verify(&path, set, opts.deep).await?;
    if opts.json {
        print_json(&report)?;
    } else if report.ok {
        println(&format!(
            "{}: ok ({} files{})",
            path.display(),
            manifest.tables.len(),
            if report.deep {
                ", deep check passed"
            } else {
                ""
            }
        ))?;
    } else {
        for p in &report.problems {
            println(&format!("{}: {p}", path.display()))?;
        }
    }
    if !report.ok {
        anyhow::bail!(
            "backup {} failed verification: {}",
            path.display(),
            report.problems.join("; ")
        );
    }
    Ok(())
}
