//! Verifying a backup: [`verify`] re-hashes the manifest and every table file and counts each
//! file's rows within the limits of [`limits`](super::limits); deep, it also restores the
//! backup into a scratch SQLite database and checks it there.

use super::format::{Compression, MANIFEST, MANIFEST_SUM, Manifest, TableEntry};
use super::limits::Rows;
use crate::DbUrl;
use crate::admin::restore::{LoadJob, checks::check_restorable, sqlite};
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
/// manifest, counting each file's rows within the limits in the same read; with `deep`, also
/// restores it into a scratch SQLite database (migrated with `set`) and checks row counts,
/// `integrity_check` and `foreign_key_check`.
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
        if let Some(problem) = check_table(backup, manifest.compression, t) {
            problems.push(problem);
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

/// Checks table file `t` in ONE read: its bytes are hashed as the decompressor reads them, and
/// its rows counted within the limits of [`limits`](super::limits). What is wrong with it, if
/// anything: a size or sha256 other than the manifest's first (the file is not the one the
/// manifest names), then a file that does not decompress within the limits (a consistent but
/// crafted backup), then a row count other than the manifest's.
fn check_table(backup: &Path, compression: Compression, t: &TableEntry) -> Option<String> {
    let path = backup.join(&t.file);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return Some(format!("{}: {e}", t.file)),
    };
    let mut hashed = HashReader::new(file);
    let counted = match Rows::new(&mut hashed, compression, t) {
        Err(e) => Err(AdminError::io(&path, e).to_string()),
        Ok(mut rows) => rows.count().map_err(|e| e.to_string()),
    };
    let problem = match hashed.finish() {
        Err(e) => format!("{}: {e}", t.file),
        Ok((bytes, _)) if bytes != t.bytes => format!(
            "{}: {bytes} bytes, manifest says {} (truncated or replaced)",
            t.file, t.bytes
        ),
        Ok((_, sum)) if sum != t.sha256 => format!("{}: sha256 mismatch (file changed)", t.file),
        Ok(_) => match counted {
            Err(e) => format!("{}: {e}", t.file),
            Ok(n) if n != t.rows => format!("{}: {n} rows read, manifest says {}", t.file, t.rows),
            Ok(_) => return None,
        },
    };
    Some(problem)
}

/// The size and sha256 (hex) of the file at `path`.
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    HashReader::new(std::fs::File::open(path)?).finish()
}

/// A reader counting and hashing the bytes that pass through it.
struct HashReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
    /// The first error of `inner` (a decompressor reading through this reader reports its own
    /// failure; this one is the file's).
    failed: Option<std::io::Error>,
}

impl<R: Read> HashReader<R> {
    fn new(inner: R) -> HashReader<R> {
        HashReader {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
            failed: None,
        }
    }

    /// Reads what is left and returns the size and sha256 (hex) of everything `inner` yielded.
    ///
    /// # Errors
    /// The first read error of `inner`, whenever it happened.
    fn finish(mut self) -> std::io::Result<(u64, String)> {
        let drained = std::io::copy(&mut self, &mut std::io::sink());
        match (self.failed, drained) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(_)) => Ok((self.bytes, hex(&self.hasher.finalize()))),
        }
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted && self.failed.is_none() {
                    // The error itself goes to the caller; its text is kept for `finish`.
                    self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

async fn deep_check(backup: &Path, manifest: &Manifest, set: &MigrationSet) -> Result<()> {
    let scratch = tempfile::tempdir().map_err(|e| AdminError::io(std::env::temp_dir(), e))?;
    let url = DbUrl::SqliteFile(scratch.path().join("verify.db"));
    let mut conn = Direct::open(&url).await?;
    check_restorable(manifest, set)?;
    // Foreign keys are not enforced during the load, so that `foreign_key_check` below sees
    // (and reports) every dangling reference instead of the load stopping at the first.
    conn.exec("PRAGMA foreign_keys = OFF").await?;
    let job = LoadJob {
        backup,
        manifest,
        set,
        progress: &NoProgress,
    };
    sqlite::load(&mut conn, job).await?;
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

#[cfg(test)]
mod tests;
