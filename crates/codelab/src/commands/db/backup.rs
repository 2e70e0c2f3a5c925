//! `codelab db backup [DATABASE] [--url URL] [--name LABEL] [--compression zstd|gzip|none]`.

use super::{BackupDir, Target, human_bytes, print_json};
use crate::output::println;
use anyhow::Context as _;
use db_core::admin::backup::{BackupOptions, Compression};

/// Options of `db backup`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Database (all registered ones when omitted).
    #[command(flatten)]
    pub target: Target,
    /// Backup folder.
    #[command(flatten)]
    pub dir: BackupDir,
    /// Label appended to the backup id.
    #[arg(long, value_name = "LABEL")]
    pub name: Option<String>,
    /// Compression of the table files: zstd, gzip or none.
    #[arg(long, default_value = "zstd")]
    pub compression: Compression,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Backs up each database in one consistent snapshot.
///
/// # Errors
/// A database that cannot be read; a backup folder that cannot be written (nothing partial is
/// left behind).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let progress = super::progress::Reporter::new();
    let mut done = Vec::new();
    for db in opts.target.all_or_one()? {
        let info = db_core::admin::backup::backup(
            &db.url,
            db.spec.migrations,
            BackupOptions {
                dir: &opts.dir.backup_dir,
                label: opts.name.as_deref(),
                compression: opts.compression,
                progress: &progress,
            },
        )
        .await
        .with_context(|| format!("backing up {}", db.label()))?;
        if !opts.json {
            let rows: u64 = info.manifest.tables.iter().map(|t| t.rows).sum();
            println(&format!(
                "{}: backup {} ({} rows, {}) at {}",
                db.spec.name,
                info.id,
                rows,
                human_bytes(info.manifest.size_bytes),
                info.path.display()
            ))?;
        }
        done.push(serde_json::json!({
            "id": info.id, "path": info.path, "sha256": info.sha256, "manifest": info.manifest,
        }));
    }
    if opts.json {
        print_json(&done)?;
    }
    Ok(())
}
