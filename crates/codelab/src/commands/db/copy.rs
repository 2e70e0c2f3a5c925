//! `codelab db copy [DATABASE] --from URL --to URL [--force]`: e.g. SQLite → PostgreSQL.

use super::{WriteOpts, print_json, table};
use crate::output::println;
use anyhow::Context as _;
use db_core::DbUrl;

/// Options of `db copy`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Database whose migrations both sides use (optional when only one is registered).
    #[arg(value_name = "DATABASE")]
    pub database: Option<String>,
    /// Source URL.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// Target URL (migrated as needed).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Non-empty target, backup folder, output.
    #[command(flatten)]
    pub write: WriteOpts,
}

/// Copies every row and checks the row counts on both sides.
///
/// # Errors
/// As `backup` and `restore`; differing row counts.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let spec = super::Target {
        database: opts.database.clone(),
        url: Some(opts.from.clone()),
    }
    .one()?
    .spec;
    let from = DbUrl::parse(&opts.from).context("--from")?;
    let to = DbUrl::parse(&opts.to).context("--to")?;
    let progress = super::progress::Reporter::new();
    let report = db_core::admin::backup::copy(
        &from,
        &to,
        spec.migrations,
        opts.write.force,
        &opts.write.dir.backup_dir,
        &progress,
    )
    .await
    .with_context(|| format!("copying {from} to {to}"))?;
    if opts.write.json {
        return print_json(&report);
    }
    let mut t = table(&["table", "source rows", "target rows"]);
    for (s, d) in report.source.iter().zip(&report.target) {
        t.add_row(vec![s.name.clone(), s.rows.to_string(), d.rows.to_string()]);
    }
    println(&t.to_string())?;
    println(&format!("copied {from} to {to}; row counts match"))?;
    Ok(())
}
