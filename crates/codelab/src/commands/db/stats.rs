//! `codelab db stats [DATABASE] [--url URL] [--json]`.

use super::{human_bytes, print_json, table};
use crate::output::println;
use anyhow::Context as _;

/// Options of `db stats`.
pub type Opts = super::ReportOpts;

/// Prints backend, redacted URL, size, tables with row counts and schema version.
///
/// # Errors
/// A database that cannot be opened (named in the message).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut infos = Vec::new();
    for db in opts.target.all_or_one()? {
        let info = db_core::admin::stats(db.spec.name, &db.url, db.spec.migrations)
            .await
            .with_context(|| db.label())?;
        infos.push(info);
    }
    if opts.json {
        return print_json(&infos);
    }
    for info in infos {
        println(&format!(
            "{} — {} {} — {} — schema {}{}",
            info.name,
            info.backend,
            info.url,
            human_bytes(info.size_bytes),
            info.schema_version.as_deref().unwrap_or("(not migrated)"),
            if info.pending > 0 {
                format!(" ({} pending)", info.pending)
            } else {
                String::new()
            }
        ))?;
        let mut t = table(&["table", "rows"]);
        for row in &info.tables {
            t.add_row(vec![row.name.clone(), row.rows.to_string()]);
        }
        println(&t.to_string())?;
    }
    Ok(())
}
