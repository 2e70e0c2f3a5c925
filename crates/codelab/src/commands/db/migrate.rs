//! `codelab db migrate [DATABASE] [--url URL] [--to VERSION]`.

use super::Target;
use crate::output::println;
use anyhow::Context as _;

/// Options of `db migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Database.
    #[command(flatten)]
    pub target: Target,
    /// Stop after this version (default: the latest).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
}

/// Applies pending migrations under the migration lock.
///
/// # Errors
/// A modified applied migration, an unknown or older `--to`, a failing migration (named).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let db = opts.target.one()?;
    let applied = db_core::migrate::migrate(&db.url, db.spec.migrations, opts.to.as_deref())
        .await
        .with_context(|| format!("migrating {}", db.label()))?;
    if applied.is_empty() {
        println(&format!("{}: nothing to apply", db.spec.name))?;
    }
    for v in applied {
        println(&format!("{}: applied {v}", db.spec.name))?;
    }
    Ok(())
}
