//! Verifying a backup: [`verify`] re-hashes the manifest and every table file and counts each
//! file's rows within the limits of [`limits`](super::limits); deep, it also restores the
//! backup into a scratch SQLite database and checks it there.

use super::format::{MANIFEST, MANIFEST_SUM, Manifest};
use super::limits::open_table;
use crate::DbUrl;
use crate::admin::restore::{checks::check_restorable, sqlite};
use crate::admin::schema;
use crate::admin::{AdminError, NoProgress, Result};
use crate::direct::Direct;
use crate::migrate::{MigrationSet, hex};
use sha2::Digest as _;
use std::io::Read;
use std::path::Path;

/// Outcome of [`verify`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// True when no problem was found.
    pub ok: bool,
    /// What is wrong, one line each (`messages.jsonl.zst: sha256 mismatch`).
    pub problems: Vec<String>,
    /// Whether the deep check (restore into a scratch database) ran.
    pub deep: bool,
}

/// Re-hashes `manifest.json` against `manifest.json.sha256` and every table file against the
/// manifest; with `deep`, also restores it into
/// a scratch SQLite database (migrated with `set`) and checks row counts, `integrity_check` and
/// `foreign_key_check`.
///
/// # Errors
/// [`AdminError::BadBackup`] when there is no readable manifest. Problems with the files are
/// reported in the answer, not as errors.
pub async fn verify(backup: &Path, set: Option<&MigrationSet>, deep: bool) -> Result<VerifyReport> {
    let manifest = Manifest::read(backup)?;
    let mut problems = Vec::new();
    match std::fs::read_to_string(backup.join(MANIFEST_SUM)) {
        Err(e) => problems.push(format!("{MANIFEST_SUM}: {e}")),
        Ok(line) => {
            let expected = line.split_whitespace().next().unwrap_or_default();
            match hash_file(&backup.join(MANIFEST)) {
                Err(e) => problems.push(format!("{MANIFEST}: {e}")),
                Ok((_, sum)) if sum != expected => {
                    problems.push(format!("{MANIFEST}: sha256 mismatch (file changed)"));
                }
                Ok(_) => {}
            }
        }
    }
    for t in &manifest.tables {
        let path = backup.join(&t.file);
        match hash_file(&path) {
            Err(e) => problems.push(format!("{}: {e}", t.file)),
            Ok((bytes, _)) if bytes != t.bytes => problems.push(format!(
                "{}: {bytes} bytes, manifest says {} (truncated or replaced)",
                t.file, t.bytes
            )),
            Ok((_, sum)) if sum != t.sha256 => {
                problems.push(format!("{}: sha256 mismatch (file changed)", t.file));
            }
            // The file is the one the manifest names: decompress it within the limits and
            // count its rows (a consistent but crafted backup is refused here too).
            Ok(_) => match open_table(backup, manifest.compression, t) {
                Err(e) => problems.push(format!("{}: {e}", t.file)),
                Ok(mut rows) => match rows.count() {
                    Err(e) => problems.push(format!("{}: {e}", t.file)),
                    Ok(n) if n != t.rows => problems.push(format!(
                        "{}: {n} rows read, manifest says {}",
                        t.file, t.rows
                    )),
                    Ok(_) => {}
                },
            },
        }
    }
    let mut ran_deep = false;
    if deep && problems.is_empty() {
        ran_deep = true;
        match set {
            None => problems.push("deep check needs the database's migrations".into()),
            Some(set) => {
                if let Err(e) = deep_check(backup, &manifest, set).await {
                    problems.push(format!("deep check: {e}"));
                }
            }
        }
    }
    Ok(VerifyReport {
        ok: problems.is_empty(),
        problems,
        deep: ran_deep,
    })
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex(&hasher.finalize())))
}

async fn deep_check(backup: &Path, manifest: &Manifest, set: &MigrationSet) -> Result<()> {
    let scratch = tempfile::tempdir().map_err(|e| AdminError::io(std::env::temp_dir(), e))?;
    let url = DbUrl::SqliteFile(scratch.path().join("verify.db"));
    let mut conn = Direct::open(&url).await?;
    check_restorable(manifest, set)?;
    // Foreign keys are not enforced during the load, so that `foreign_key_check` below sees
    // (and reports) every dangling reference instead of the load stopping at the first.
    conn.exec("PRAGMA foreign_keys = OFF").await?;
    sqlite::load(&mut conn, backup, manifest, set, &NoProgress).await?;
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let rows: Vec<Check> = conn.rows("PRAGMA integrity_check").await?;
    let verdict: Vec<String> = rows.into_iter().map(|r| r.integrity_check).collect();
    if verdict != ["ok"] {
        return Err(AdminError::Refused(format!(
            "integrity_check: {}",
            verdict.join("; ")
        )));
    }
    // One row per row whose reference has no parent (SQLite manual, "PRAGMA foreign_key_check").
    #[derive(diesel::QueryableByName)]
    struct Dangling {
        #[diesel(sql_type = diesel::sql_types::Text)]
        child: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        child_rowid: Option<i64>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        parent: String,
    }
    let dangling: Vec<Dangling> = conn
        .rows(
            "SELECT \"table\" AS child, rowid AS child_rowid, parent FROM pragma_foreign_key_check \
             ORDER BY 1, 2",
        )
        .await?;
    if !dangling.is_empty() {
        let shown: Vec<String> = dangling
            .iter()
            .take(5)
            .map(|d| match d.child_rowid {
                Some(r) => format!("{} row {r} → {}", d.child, d.parent),
                None => format!("{} → {}", d.child, d.parent),
            })
            .collect();
        return Err(AdminError::Refused(format!(
            "foreign_key_check: {} row(s) reference a missing parent: {}{}",
            dangling.len(),
            shown.join(", "),
            if dangling.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        )));
    }
    for t in &manifest.tables {
        let n = schema::row_count(&mut conn, &t.name).await?;
        if n != t.rows {
            return Err(AdminError::Refused(format!(
                "{}: {n} rows restored, manifest says {}",
                t.name, t.rows
            )));
        }
    }
    Ok(())
}
