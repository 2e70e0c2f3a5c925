//! `codelab db backups [DATABASE] [--json]`: newest first.

use super::{BackupDir, human_bytes, print_json, table};
use crate::output::println;

/// Options of `db backups`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Only backups of this database.
    #[arg(value_name = "DATABASE")]
    pub database: Option<String>,
    /// Backup folder.
    #[command(flatten)]
    pub dir: BackupDir,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Lists the backups under the backup folder.
///
/// # Errors
/// An unreadable backup folder.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let all = db_core::admin::backup::list(&opts.dir.backup_dir, opts.database.as_deref())?;
    if opts.json {
        return print_json(&all);
    }
    if all.is_empty() {
        println(&format!("no backups in {}", opts.dir.backup_dir.display()))?;
        return Ok(());
    }
    let mut t = table(&[
        "id", "database", "from", "schema", "created", "rows", "size",
    ]);
    for b in &all {
        let m = &b.manifest;
        t.add_row(vec![
            b.id.clone(),
            m.database.clone(),
            m.backend.clone(),
            m.schema_version.clone().unwrap_or_default(),
            m.created_at.clone(),
            m.tables.iter().map(|t| t.rows).sum::<u64>().to_string(),
            human_bytes(m.size_bytes),
        ]);
    }
    println(&t.to_string())?;
    Ok(())
}
