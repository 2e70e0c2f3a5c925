//! `codelab db rollback [DATABASE] [--url URL] (--steps N | --to VERSION)`.
//!
//! `--to V` reverts every migration newer than V; V itself stays applied.

use super::Target;
use crate::output::println;
use anyhow::Context as _;
use db_core::migrate::RollbackTarget;

/// Options of `db rollback`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["steps", "to"])))]
pub struct Opts {
    /// Database.
    #[command(flatten)]
    pub target: Target,
    /// Revert the newest N migrations.
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Revert everything newer than VERSION (which stays applied).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
}

/// Reverts migrations under the migration lock.
///
/// # Errors
/// A modified or unknown applied migration, a target that is not applied, a failing `down.sql`.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = opts.target.one()?;
    let target = match (opts.steps, opts.to) {
        (_, Some(v)) => RollbackTarget::To(v),
        (Some(n), None) => RollbackTarget::Steps(n),
        (None, None) => anyhow::bail!("give --steps N or --to VERSION"),
    };
    let reverted = db_core::migrate::rollback(&db.url, db.spec.migrations, target)
        .await
        .with_context(|| format!("rolling back {}", db.label()))?;
    if reverted.is_empty() {
        println(&format!("{}: nothing to revert", db.spec.name))?;
    }
    for v in reverted {
        println(&format!("{}: reverted {v}", db.spec.name))?;
    }
    Ok(())
}
