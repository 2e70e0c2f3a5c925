//! `codelab db status [DATABASE] [--url URL] [--json]`: exits 1 when an applied migration was
//! modified.

use super::{print_json, table};
use crate::output::println;
use anyhow::Context as _;
use db_core::migrate::MigrationState;

/// Options of `db status`.
pub type Opts = super::ReportOpts;

/// Prints every migration with its state; fails when one was modified after it ran.
///
/// # Errors
/// A database that cannot be opened; a modified applied migration.
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut modified = Vec::new();
    let mut reports = Vec::new();
    for db in opts.target.all_or_one()? {
        let report = db_core::migrate::status(&db.url, db.spec.migrations)
            .await
            .with_context(|| db.label())?;
        for m in report.in_state(MigrationState::Modified) {
            modified.push(format!("{} {}", db.spec.name, m.version));
        }
        reports.push((db, report));
    }
    if opts.json {
        let out: Vec<_> = reports
            .iter()
            .map(|(db, r)| serde_json::json!({ "database": db.spec.name, "url": db.url.to_string(), "status": r }))
            .collect();
        print_json(&out)?;
    } else {
        for (db, r) in &reports {
            println(&format!(
                "{} ({}): {}",
                db.spec.name,
                db.url,
                db_core::admin::schema_summary(r)
            ))?;
            let mut t = table(&["version", "name", "state", "applied at"]);
            for m in &r.migrations {
                t.add_row(vec![
                    m.version.clone(),
                    m.name.clone(),
                    format!("{:?}", m.state).to_lowercase(),
                    m.applied_at.clone().unwrap_or_default(),
                ]);
            }
            println(&t.to_string())?;
        }
    }
    if !modified.is_empty() {
        anyhow::bail!(
            "applied migration(s) were modified after they ran: {} (restore the original up.sql; add a new migration instead)",
            modified.join(", ")
        );
    }
    Ok(())
}
