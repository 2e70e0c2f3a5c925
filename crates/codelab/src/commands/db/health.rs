//! `codelab db health [DATABASE] [--url URL] [--json]`: exit 1 when a database is unhealthy.

use super::{print_json, table};
use crate::output::println;

/// Options of `db health`.
pub type Opts = super::ReportOpts;

/// Times a connection and a round trip and reads the schema status of each database; prints
/// each database's warnings (e.g. PostgreSQL's autovacuum off) below the table.
///
/// # Errors
/// An unknown database; any database unhealthy (after printing the table).
pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for db in opts.target.all_or_one()? {
        all.push(db_core::admin::health(db.spec.name, &db.url, db.spec.migrations).await);
    }
    if opts.json {
        print_json(&all)?;
    } else {
        let ms = |v: Option<f64>| {
            v.map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "-".into())
        };
        let mut t = table(&["database", "url", "ok", "connect", "round trip", "schema"]);
        for h in &all {
            t.add_row(vec![
                h.name.clone(),
                h.url.clone(),
                if h.ok { "yes" } else { "NO" }.to_owned(),
                ms(h.connect_ms),
                ms(h.round_trip_ms),
                h.schema.clone(),
            ]);
        }
        println(&t.to_string())?;
        for h in &all {
            for w in &h.warnings {
                println(&format!("warning: {}: {w}", h.name))?;
            }
        }
    }
    let bad: Vec<&str> = all
        .iter()
        .filter(|h| !h.ok)
        .map(|h| h.name.as_str())
        .collect();
    if !bad.is_empty() {
        anyhow::bail!("unhealthy: {}", bad.join(", "));
    }
    Ok(())
}
