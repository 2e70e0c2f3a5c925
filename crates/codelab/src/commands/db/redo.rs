//! `codelab db redo [DATABASE] [--url URL]`.

use super::Target;
use crate::output::println;
use anyhow::Context as _;

/// Options of `db redo`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Database.
    #[command(flatten)]
    pub target: Target,
}

/// Reverts the newest migration and applies it again.
///
/// # Errors
/// As `rollback` and `migrate`.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = opts.target.one()?;
    match db_core::migrate::redo(&db.url, db.spec.migrations)
        .await
        .with_context(|| format!("redo on {}", db.label()))?
    {
        Some(v) => println(&format!("{}: redid {v}", db.spec.name))?,
        None => println(&format!("{}: nothing applied", db.spec.name))?,
    }
    Ok(())
}
