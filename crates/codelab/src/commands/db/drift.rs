//! `codelab db drift [DATABASE] [--url URL] [--json]`: exit 1 on drift.

use super::{print_json, table};
use crate::output::println;
use anyhow::Context as _;

/// Options of `db drift`.
pub type Opts = super::ReportOpts;

/// Compares each live schema with what its applied migrations produce.
///
/// # Errors
/// A database that cannot be opened; drift found (after printing it).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut drifted = Vec::new();
    let mut out = Vec::new();
    for db in opts.target.all_or_one()? {
        let diffs = db_core::admin::drift(&db.url, db.spec.migrations)
            .await
            .with_context(|| db.label())?;
        if !diffs.is_empty() {
            drifted.push(format!("{} ({} differences)", db.spec.name, diffs.len()));
        }
        out.push((db, diffs));
    }
    if opts.json {
        let v: Vec<_> = out
            .iter()
            .map(|(db, d)| serde_json::json!({ "database": db.spec.name, "drift": !d.is_empty(), "differences": d }))
            .collect();
        print_json(&v)?;
    } else {
        for (db, diffs) in &out {
            if diffs.is_empty() {
                println(&format!("{}: no drift", db.spec.name))?;
                continue;
            }
            println(&format!("{}: schema drift", db.spec.name))?;
            let mut t = table(&["kind", "object", "difference"]);
            for d in diffs {
                t.add_row(vec![d.kind.clone(), d.object.clone(), d.detail.clone()]);
            }
            println(&t.to_string())?;
        }
    }
    if !drifted.is_empty() {
        anyhow::bail!("schema drift: {}", drifted.join(", "));
    }
    Ok(())
}
