//! `codelab db restore BACKUP [--database NAME] [--to URL] [--force] [--json]`.
//!
//! The migrations used are the TARGET's, never the backup's: the database named with
//! `--database`; else the one whose configured URL `--to` is; else the one whose migrations
//! the target's ledger holds; else (no `--to`, or an empty target) the backup's own database.
//! A backup of another database than the target's is refused before anything is touched, and
//! the engine refuses a target whose ledger or tables are not the migrations' own.

use super::{WriteOpts, print_json, registry};
use crate::output::println;
use anyhow::Context as _;
use db_core::DbUrl;
use db_core::admin::DatabaseSpec;
use db_core::admin::backup::{Manifest, RestoreOptions};

/// Options of `db restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Backup id (folder name under the backup folder) or path.
    pub backup: String,
    /// The database restored into (`agent_runtime`, `auth`): its migrations, and its configured
    /// URL unless `--to` is given. Default: the database `--to` belongs to, else the backup's.
    #[arg(long, value_name = "DATABASE")]
    pub database: Option<String>,
    /// Target database URL (default: the configured URL of the target database).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Non-empty target, backup folder, output.
    #[command(flatten)]
    pub write: WriteOpts,
}

/// Verifies the backup and restores it in one transaction.
///
/// # Errors
/// A missing, truncated or tampered backup; a backup of another database than the target's; a
/// target that cannot be told apart (`--to` of no known database: name it with `--database`);
/// a backup from a newer schema; a non-empty target without `--force`; database errors. The
/// target is unchanged.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let path = db_core::admin::backup::resolve(&opts.write.dir.backup_dir, &opts.backup);
    let manifest = Manifest::read(&path)?;
    let (spec, url) = target(&opts, &manifest).await?;
    if manifest.database != spec.name {
        anyhow::bail!(
            "refused: backup {} is of database `{}`, but the target {url} is the `{}` database; \
             restoring it would replace `{}`'s rows (restore it into a `{}` database: \
             --database {} [--to URL])",
            path.display(),
            manifest.database,
            spec.name,
            spec.name,
            manifest.database,
            manifest.database,
        );
    }
    let progress = super::progress::Reporter::new();
    let report = db_core::admin::backup::restore(
        &path,
        &url,
        spec.migrations,
        RestoreOptions {
            force: opts.write.force,
            safety_dir: &opts.write.dir.backup_dir,
            progress: &progress,
        },
    )
    .await
    .with_context(|| format!("restoring {} into {url}", path.display()))?;
    if opts.write.json {
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

/// The target database and its URL (see the module doc for the order of the rules).
async fn target(
    opts: &Opts,
    manifest: &Manifest,
) -> anyhow::Result<(&'static DatabaseSpec, DbUrl)> {
    if let Some(name) = &opts.database {
        let spec = registry::find(name)?;
        let url = match &opts.to {
            Some(u) => DbUrl::parse(u).context("--to")?,
            None => registry::configured_url(spec)?,
        };
        return Ok((spec, url));
    }
    let Some(to) = &opts.to else {
        let spec = registry::find(&manifest.database)?;
        return Ok((spec, registry::configured_url(spec)?));
    };
    let url = DbUrl::parse(to).context("--to")?;
    let configured: Vec<&'static DatabaseSpec> = registry::DATABASES
        .iter()
        .filter(|d| registry::configured_url(d).is_ok_and(|u| u == url))
        .collect();
    if let [one] = configured.as_slice() {
        return Ok((one, url));
    }
    match registry::owner(&url).await? {
        registry::Owner::Empty => Ok((registry::find(&manifest.database)?, url)),
        registry::Owner::Database(spec) => Ok((spec, url)),
        registry::Owner::Unknown(versions) => anyhow::bail!(
            "refused: {url} holds migration(s) {} of no single known database ({}); name the \
             target with --database",
            versions.join(", "),
            registry::names().join(", ")
        ),
    }
}
