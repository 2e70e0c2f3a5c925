//! Backups in one portable logical format, so a SQLite backup restores into PostgreSQL and back.
//!
//! A backup is a folder `<dir>/<id>/` (`id` = `<database>-<UTC timestamp>[-<label>]`):
//!
//! - `manifest.json` ([`Manifest`]): database, backend, schema version, created_at, tool
//!   version, compression, and per table its columns, row count, file, size and sha256;
//! - `manifest.json.sha256`: the sha256 of `manifest.json` in `sha256sum` format (so
//!   `sha256sum -c manifest.json.sha256` works in the folder), so a change to the manifest
//!   itself is detected too;
//! - one file per table, `<table>.jsonl.zst` (or `.jsonl.gz`, `.jsonl`): one JSON array per row,
//!   values in the manifest's column order. Numbers and booleans are JSON numbers and booleans;
//!   every other value is its text form (timestamps as `YYYY-MM-DD HH:MM:SS[.fff|.ffffff]`,
//!   the spelling Diesel writes into SQLite, on both backends; JSON documents as their text —
//!   PostgreSQL's `JSONB` keeps the document, not its spacing or key order). Primary keys are kept, so ids and foreign keys survive.
//!
//! The folder is written as `.<id>.partial` and renamed when complete: a failure (a full disk)
//! leaves no half backup. Rows are streamed in primary-key pages; memory stays flat.
//!
//! Consistency: the whole backup reads one snapshot — a read transaction on SQLite (WAL keeps
//! writers going), `REPEATABLE READ READ ONLY` on PostgreSQL.
//!
//! Restore verifies first, refuses a backup of another database or from a schema newer than the
//! binary, refuses a target that belongs to another database (its ledger holds versions the
//! migrations do not know, or it has tables they never create), refuses a non-empty target
//! without `force`, takes a safety backup of a non-empty target, then in ONE transaction
//! migrates the target to the backup's schema version and replaces all rows (PostgreSQL
//! sequences reset to the restored maxima): a failure leaves schema and data as they were. Rows go in with `COPY … FROM STDIN` on PostgreSQL ([`copy_load`]) and with batched
//! `INSERT … SELECT … FROM json_each(?)` on SQLite; secondary indexes are dropped and rebuilt
//! after the load on both.

use super::schema::{self, Schema};
use super::{AdminError, Progress, Result, TableRows};
use crate::direct::{Direct, ident, literal};
use crate::migrate::{self, LEDGER_DDL, MigrationSet, MigrationState, apply_sql, hex};
use crate::{Backend, DbUrl};

mod copy_load;
pub mod limits;
use limits::open_table;
use sha2::Digest as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The manifest's file name.
const MANIFEST: &str = "manifest.json";
/// The file holding the manifest's sha256.
const MANIFEST_SUM: &str = "manifest.json.sha256";

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "codelab-backup/1";

/// Rows per page read from the source and per INSERT into the target.
const PAGE_ROWS: i64 = 1_000;

/// How table files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd level 3 (default: fast and small).
    #[default]
    Zstd,
    /// gzip (flate2), for tools without zstd.
    Gzip,
    /// Plain JSON lines.
    None,
}

impl Compression {
    fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => "jsonl.zst",
            Compression::Gzip => "jsonl.gz",
            Compression::None => "jsonl",
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" | "" => Ok(Compression::Zstd),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            other => Err(format!(
                "unknown compression `{other}`: expected zstd, gzip or none"
            )),
        }
    }
}

/// One table of a backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableEntry {
    /// Table name.
    pub name: String,
    /// Column names, in the order of each row's values.
    pub columns: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// File name inside the backup folder.
    pub file: String,
    /// File size in bytes (compressed).
    pub bytes: u64,
    /// Size of the rows decompressed, in bytes (absent in manifests written before it was
    /// recorded). Reading a file refuses to decompress more ([`limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_bytes: Option<u64>,
    /// sha256 (hex) of the file.
    pub sha256: String,
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Database name (`agent_runtime`).
    pub database: String,
    /// Backend the backup was taken from (`sqlite`, `postgres`); restores into either.
    pub backend: String,
    /// Source URL, password redacted.
    pub source: String,
    /// Newest applied migration of the source.
    pub schema_version: Option<String>,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Version of the codelab tool that wrote it.
    pub tool_version: String,
    /// Compression of the table files.
    pub compression: Compression,
    /// Tables in restore (foreign-key) order.
    pub tables: Vec<TableEntry>,
    /// Sum of the table files' sizes in bytes.
    pub size_bytes: u64,
}

impl Manifest {
    /// Row counts per table.
    pub fn row_counts(&self) -> Vec<TableRows> {
        self.tables
            .iter()
            .map(|t| TableRows {
                name: t.name.clone(),
                rows: t.rows,
            })
            .collect()
    }

    /// Reads `<backup>/manifest.json`.
    ///
    /// # Errors
    /// [`AdminError::BadBackup`] when the folder or manifest is missing or not a manifest.
    pub fn read(backup: &Path) -> Result<Manifest> {
        let bad = |problem: String| AdminError::BadBackup {
            backup: backup.display().to_string(),
            problem,
        };
        if !backup.is_dir() {
            return Err(bad("no such backup folder".into()));
        }
        let text = std::fs::read(backup.join("manifest.json"))
            .map_err(|e| bad(format!("manifest.json: {e}")))?;
        let m: Manifest = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("manifest.json is not a valid manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(bad(format!(
                "manifest format `{}` is not `{FORMAT}`",
                m.format
            )));
        }
        for t in &m.tables {
            if t.file.contains('/') || t.file.contains('\\') || t.file.starts_with('.') {
                return Err(bad(format!("manifest names an unsafe file `{}`", t.file)));
            }
        }
        Ok(m)
    }
}

/// Options of [`backup`].
#[derive(Clone, Copy)]
pub struct BackupOptions<'a> {
    /// Folder holding backups (created when missing).
    pub dir: &'a Path,
    /// Optional label appended to the id.
    pub label: Option<&'a str>,
    /// Compression of table files.
    pub compression: Compression,
    /// Progress receiver.
    pub progress: &'a dyn Progress,
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    /// Folder name: the backup's id.
    pub id: String,
    /// Folder path.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// sha256 (hex) of `manifest.json`, which covers every file's hash.
    pub sha256: String,
}

/// Backs up the database at `url` (named `set.name`) into a new folder under `opts.dir`.
///
/// # Errors
/// [`DbError::Unavailable`] for a wrong URL, missing file or locked database; [`AdminError::Io`]
/// when the folder cannot be written (a full disk: the partial folder is removed).
pub async fn backup(
    url: &DbUrl,
    set: &MigrationSet,
    opts: BackupOptions<'_>,
) -> Result<BackupInfo> {
    let mut conn = Direct::open_existing(url).await?;
    backup_on(&mut conn, url, set, opts).await
}

async fn backup_on(
    conn: &mut Direct,
    url: &DbUrl,
    set: &MigrationSet,
    opts: BackupOptions<'_>,
) -> Result<BackupInfo> {
    crate::owner_only::create_dir_all(opts.dir).map_err(|e| AdminError::io(opts.dir, e))?;
    let now = chrono::Utc::now();
    let mut id = format!("{}-{}", set.name, now.format("%Y%m%dT%H%M%S%.3fZ"));
    if let Some(label) = opts.label.filter(|l| !l.is_empty()) {
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        id.push('-');
        id.push_str(&clean);
    }
    let partial = opts.dir.join(format!(".{id}.partial"));
    let target = opts.dir.join(&id);
    // `symlink_metadata`: a symbolic link in the target's place counts as existing.
    if target.symlink_metadata().is_ok() {
        return Err(AdminError::Refused(format!(
            "backup {} already exists",
            target.display()
        )));
    }
    // Mode 0700, and it must be new: never a folder (or link) somebody else prepared.
    crate::owner_only::create_new_dir(&partial).map_err(|e| AdminError::io(&partial, e))?;
    let written = write_snapshot(conn, url, set, &partial, opts, now).await;
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let finish = || -> std::io::Result<String> {
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        let sha256 = hex(&sha2::Sha256::digest(&bytes));
        for (name, content) in [
            (MANIFEST, bytes),
            (MANIFEST_SUM, format!("{sha256}  {MANIFEST}\n").into_bytes()),
        ] {
            let mut f = crate::owner_only::create_new_file(&partial.join(name))?;
            f.write_all(&content)?;
            f.sync_all()?;
        }
        std::fs::rename(&partial, &target)?;
        Ok(sha256)
    };
    match finish() {
        Ok(sha256) => Ok(BackupInfo {
            id,
            path: target,
            manifest,
            sha256,
        }),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(AdminError::io(&partial, e))
        }
    }
}

async fn write_snapshot(
    conn: &mut Direct,
    url: &DbUrl,
    set: &MigrationSet,
    dir: &Path,
    opts: BackupOptions<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Manifest> {
    let begin = match conn.backend() {
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        Backend::Sqlite => "BEGIN",
    };
    conn.exec(begin).await?;
    let result = async {
        let status = migrate::status_on(conn, set).await?;
        let schema = schema::introspect(conn, None).await?;
        let mut tables = Vec::new();
        for name in schema.dependency_order() {
            let table = &schema.tables[&name];
            let total = schema::row_count(conn, &name).await?;
            opts.progress.start(&format!("backup {name}"), total);
            let entry = export_table(conn, table, dir, opts.compression, opts.progress).await;
            opts.progress.finish();
            tables.push(entry?);
        }
        Ok::<_, AdminError>(Manifest {
            format: FORMAT.to_owned(),
            database: set.name.to_owned(),
            backend: url.backend().to_string(),
            source: url.to_string(),
            schema_version: status.current,
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            compression: opts.compression,
            size_bytes: tables.iter().map(|t: &TableEntry| t.bytes).sum(),
            tables,
        })
    }
    .await;
    // Read-only: ending the snapshot either way changes nothing.
    let _ = conn.exec("COMMIT").await;
    result
}

/// Counts and hashes what reaches the file.
struct HashWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type FileSink = HashWriter<BufWriter<std::fs::File>>;

enum Encoder {
    Zstd(zstd::Encoder<'static, FileSink>),
    Gzip(flate2::write::GzEncoder<FileSink>),
    Plain(FileSink),
}

impl Encoder {
    fn new(sink: FileSink, c: Compression) -> std::io::Result<Encoder> {
        Ok(match c {
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(sink, 3)?),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::fast(),
            )),
            Compression::None => Encoder::Plain(sink),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Encoder::Zstd(e) => e,
            Encoder::Gzip(e) => e,
            Encoder::Plain(e) => e,
        }
    }

    fn finish(self) -> std::io::Result<FileSink> {
        let mut sink = match self {
            Encoder::Zstd(e) => e.finish()?,
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Plain(e) => e,
        };
        sink.flush()?;
        sink.inner.get_ref().sync_all()?;
        Ok(sink)
    }
}

#[derive(diesel::QueryableByName)]
struct KeyedLine {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    k: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

fn is_native_json(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.contains("int")
        || t.starts_with("bool")
        || t.starts_with("real")
        || t.starts_with("double")
        || t.starts_with("float")
        || t.starts_with("numeric")
        || t.starts_with("decimal")
}

/// Whether a PostgreSQL column type is `timestamp [(p)] without time zone`.
fn is_naive_timestamp(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.starts_with("timestamp") && t.ends_with("without time zone")
}

/// The text of PostgreSQL timestamp `col` in the spelling Diesel writes into SQLite (chrono's
/// `%Y-%m-%d %H:%M:%S%.f`: no fraction on a whole second, else 3 digits when the value is
/// whole milliseconds, else 6), where PostgreSQL's own `::text` trims trailing zeros
/// (`.3478`). A SQLite → PostgreSQL → SQLite round trip then gives back the very text it
/// started with, which SQLite compares and sorts as text. Infinite values keep `::text`.
fn timestamp_text(col: &str) -> String {
    let micros = format!("mod(extract(microseconds FROM {col})::bigint, 1000000)");
    format!(
        "CASE WHEN NOT isfinite({col}) THEN {col}::text \
         WHEN {micros} = 0 THEN to_char({col}, 'YYYY-MM-DD HH24:MI:SS') \
         WHEN mod({micros}, 1000) = 0 THEN to_char({col}, 'YYYY-MM-DD HH24:MI:SS.MS') \
         ELSE to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US') END"
    )
}

/// The `SELECT` expression producing one JSON array per row.
fn row_expression(backend: Backend, table: &schema::Table) -> Result<String> {
    match backend {
        Backend::Sqlite => Ok(format!(
            "json_array({})",
            table
                .columns
                .iter()
                .map(|c| ident(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Backend::Postgres => {
            if table.columns.len() > 100 {
                return Err(AdminError::Refused(format!(
                    "table {} has {} columns; backups support at most 100",
                    table.name,
                    table.columns.len()
                )));
            }
            Ok(format!(
                "json_build_array({})::text",
                table
                    .columns
                    .iter()
                    .map(|c| if is_native_json(&c.data_type) {
                        ident(&c.name)
                    } else if is_naive_timestamp(&c.data_type) {
                        timestamp_text(&ident(&c.name))
                    } else {
                        format!("{}::text", ident(&c.name))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

async fn export_table(
    conn: &mut Direct,
    table: &schema::Table,
    dir: &Path,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<TableEntry> {
    let file = format!("{}.{}", sanitize(&table.name), compression.extension());
    let path = dir.join(&file);
    let f = crate::owner_only::create_new_file(&path).map_err(|e| AdminError::io(&path, e))?;
    let sink = HashWriter {
        inner: BufWriter::with_capacity(1 << 20, f),
        hasher: sha2::Sha256::new(),
        bytes: 0,
    };
    let mut enc = Encoder::new(sink, compression).map_err(|e| AdminError::io(&path, e))?;
    let expr = row_expression(conn.backend(), table)?;
    let t = ident(&table.name);
    let keyed = match table.primary_key.as_slice() {
        [pk] => table
            .columns
            .iter()
            .find(|c| &c.name == pk)
            .is_some_and(|c| c.data_type.to_ascii_lowercase().contains("int")),
        _ => false,
    };
    let mut rows = 0u64;
    // Bytes of rows before compression, recorded so a restore can refuse a file that expands
    // beyond them.
    let mut plain = 0u64;
    let io = |e| AdminError::io(&path, e);
    if keyed {
        let pk = ident(&table.primary_key[0]);
        let mut last = i64::MIN;
        loop {
            let page: Vec<KeyedLine> = conn
                .rows(&format!(
                    "SELECT CAST({pk} AS BIGINT) AS k, {expr} AS line FROM {t} WHERE {pk} > {last} \
                     ORDER BY {pk} LIMIT {PAGE_ROWS}"
                ))
                .await?;
            let w = enc.writer();
            for r in &page {
                w.write_all(r.line.as_bytes()).map_err(io)?;
                w.write_all(b"\n").map_err(io)?;
                plain += r.line.len() as u64 + 1;
            }
            rows += page.len() as u64;
            progress.advance(page.len() as u64);
            match page.last() {
                Some(r) if page.len() as i64 == PAGE_ROWS => last = r.k,
                _ => break,
            }
        }
    } else {
        let order = if table.primary_key.is_empty() {
            table
                .columns
                .iter()
                .map(|c| ident(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            table
                .primary_key
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut offset = 0i64;
        loop {
            let page: Vec<Line> = conn
                .rows(&format!(
                    "SELECT {expr} AS line FROM {t} ORDER BY {order} LIMIT {PAGE_ROWS} OFFSET {offset}"
                ))
                .await?;
            let w = enc.writer();
            for r in &page {
                w.write_all(r.line.as_bytes()).map_err(io)?;
                w.write_all(b"\n").map_err(io)?;
                plain += r.line.len() as u64 + 1;
            }
            rows += page.len() as u64;
            progress.advance(page.len() as u64);
            if (page.len() as i64) < PAGE_ROWS {
                break;
            }
            offset += PAGE_ROWS;
        }
    }
    let sink = enc.finish().map_err(io)?;
    Ok(TableEntry {
        name: table.name.clone(),
        columns: table.columns.iter().map(|c| c.name.clone()).collect(),
        rows,
        file,
        bytes: sink.bytes,
        uncompressed_bytes: Some(plain),
        sha256: hex(&sink.hasher.finalize()),
    })
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

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
    load(&mut conn, &url, backup, manifest, set, &super::NoProgress).await?;
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

/// Refuses a manifest of another database or from a schema newer than `set` knows.
fn check_restorable(manifest: &Manifest, set: &MigrationSet) -> Result<()> {
    if manifest.database != set.name {
        return Err(AdminError::Refused(format!(
            "backup is of database `{}`, not `{}`",
            manifest.database, set.name
        )));
    }
    if let Some(v) = &manifest.schema_version
        && !set.knows(v)
    {
        return Err(AdminError::Refused(format!(
            "backup schema version {v} is unknown to this binary (newest known: {}); use a \
             newer codelab",
            set.latest_version().unwrap_or_else(|| "none".into())
        )));
    }
    Ok(())
}

/// Options of [`restore`].
#[derive(Clone, Copy)]
pub struct RestoreOptions<'a> {
    /// Replace a non-empty target's rows.
    pub force: bool,
    /// Where the safety backup of a non-empty target goes (required to restore over data).
    pub safety_dir: &'a Path,
    /// Progress receiver.
    pub progress: &'a dyn Progress,
}

/// Outcome of [`restore`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Id of the safety backup taken of the target, if it held data.
    pub safety_backup: Option<String>,
    /// Row counts now in the target.
    pub tables: Vec<TableRows>,
}

/// Restores `backup` into the database at `url` (see the module doc for the steps).
///
/// # Errors
/// [`AdminError::BadBackup`] (missing, truncated, tampered); [`AdminError::Refused`] (another
/// database, newer schema, target newer than the backup, non-empty target without `force`);
/// database and I/O errors. The target's data is unchanged after any error.
///
/// A SQLite target file that does not exist yet is built next to it as
/// `.<name>.restoring` without a journal (nothing to roll back to: on failure the file is
/// deleted), synced, and renamed into place: the target either does not exist or is complete,
/// and its pages are written once instead of once to the WAL and again at checkpoint.
pub async fn restore(
    backup: &Path,
    url: &DbUrl,
    set: &MigrationSet,
    opts: RestoreOptions<'_>,
) -> Result<RestoreReport> {
    if let DbUrl::SqliteFile(path) = url
        && !path.exists()
    {
        return restore_new_sqlite_file(backup, path, set, opts).await;
    }
    restore_into(backup, url, set, opts, false).await
}

/// [`restore`] into a SQLite file that does not exist: build, sync, rename.
async fn restore_new_sqlite_file(
    backup: &Path,
    path: &Path,
    set: &MigrationSet,
    opts: RestoreOptions<'_>,
) -> Result<RestoreReport> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "database".into());
    let temp = path.with_file_name(format!(".{name}.restoring"));
    let remove_temp = || {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
        }
    };
    remove_temp();
    let result = restore_into(backup, &DbUrl::SqliteFile(temp.clone()), set, opts, true).await;
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            remove_temp();
            return Err(e);
        }
    };
    let finish = || -> std::io::Result<()> {
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        remove_temp();
        return Err(AdminError::io(path, e));
    }
    Ok(report)
}

/// The steps of [`restore`]; `new_file`: the target is a file this restore just created and
/// nobody else has open, so it is loaded without a journal.
async fn restore_into(
    backup: &Path,
    url: &DbUrl,
    set: &MigrationSet,
    opts: RestoreOptions<'_>,
    new_file: bool,
) -> Result<RestoreReport> {
    let check = verify(backup, Some(set), false).await?;
    if !check.ok {
        return Err(AdminError::BadBackup {
            backup: backup.display().to_string(),
            problem: check.problems.join("; "),
        });
    }
    let manifest = Manifest::read(backup)?;
    check_restorable(&manifest, set)?;
    let mut conn = Direct::open(url).await?;
    let status = migrate::status_on(&mut conn, set).await?;
    if !status.in_state(MigrationState::Modified).is_empty() {
        return Err(AdminError::Refused(format!(
            "target schema: {}",
            super::schema_summary(&status)
        )));
    }
    let live = schema::introspect(&mut conn, None).await?;
    check_target_belongs(url, set, &status, &live).await?;
    if let (Some(cur), Some(v)) = (&status.current, &manifest.schema_version)
        && cur > v
    {
        return Err(AdminError::Refused(format!(
            "target schema {cur} is newer than the backup's {v}: roll the target back to {v} or \
             restore into an empty database"
        )));
    }
    let mut rows_present = 0u64;
    for t in live.tables.keys() {
        rows_present += schema::row_count(&mut conn, t).await?;
    }
    let mut safety_backup = None;
    if rows_present > 0 {
        if !opts.force {
            return Err(AdminError::Refused(format!(
                "target {url} holds {rows_present} rows; pass --force to replace them (a safety \
                 backup is taken first)"
            )));
        }
        let info = backup_on(
            &mut conn,
            url,
            set,
            BackupOptions {
                dir: opts.safety_dir,
                label: Some("pre-restore"),
                compression: Compression::Zstd,
                progress: opts.progress,
            },
        )
        .await?;
        safety_backup = Some(info.id);
    }
    if new_file {
        // A fresh file nobody else has open: no journal, no fsync until the caller syncs it.
        conn.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
            .await?;
    }
    load(&mut conn, url, backup, &manifest, set, opts.progress).await?;
    if new_file {
        conn.exec("PRAGMA journal_mode = WAL").await?;
    }
    let schema = schema::introspect(&mut conn, None).await?;
    let mut tables = Vec::new();
    for t in schema.tables.keys() {
        tables.push(TableRows {
            name: t.clone(),
            rows: schema::row_count(&mut conn, t).await?,
        });
    }
    Ok(RestoreReport {
        safety_backup,
        tables,
    })
}

/// Refuses a target that belongs to another database than `set`'s: its migration ledger holds
/// versions `set` does not know ([`MigrationState::Missing`]), or it has tables that no
/// migration of `set` creates. Restoring over such a target would replace another database's
/// rows (the CLI once picked the migrations from the backup, so a backup of `auth` restored
/// "into" `agent_runtime` passed every other check).
async fn check_target_belongs(
    url: &DbUrl,
    set: &MigrationSet,
    status: &migrate::StatusReport,
    live: &Schema,
) -> Result<()> {
    let name = set.name;
    let unknown: Vec<&str> = status
        .in_state(MigrationState::Missing)
        .iter()
        .map(|m| m.version.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(AdminError::Refused(format!(
            "target {url} is not a `{name}` database: its migration ledger holds version(s) {} \
             that `{name}` does not know (another database's, or applied by a newer codelab); \
             restore into a `{name}` database or an empty one",
            unknown.join(", ")
        )));
    }
    let known = super::tables_of(set).await?;
    let foreign: Vec<&str> = live
        .tables
        .keys()
        .filter(|t| !known.contains(*t))
        .map(String::as_str)
        .collect();
    if !foreign.is_empty() {
        return Err(AdminError::Refused(format!(
            "target {url} is not a `{name}` database: it has table(s) {} that no migration of \
             `{name}` creates; restore into a `{name}` database or an empty one",
            foreign.join(", ")
        )));
    }
    Ok(())
}

/// The migrations of `set` a target whose ledger holds `applied` needs to reach the backup's
/// `version`, oldest first (none for a backup of a never-migrated database). Read inside the
/// load transaction, so a concurrent migrator cannot slip in between.
///
/// # Errors
/// [`AdminError::Refused`] when the target holds a version newer than `version` or one `set`
/// does not know.
fn migrations_to_apply(
    set: &MigrationSet,
    backend: Backend,
    applied: &[String],
    version: Option<&str>,
) -> Result<Vec<&'static migrate::Migration>> {
    if let Some(unknown) = applied.iter().find(|a| !set.knows(a)) {
        return Err(AdminError::Refused(format!(
            "target holds migration {unknown}, unknown to `{}`",
            set.name
        )));
    }
    let Some(v) = version else {
        return Ok(Vec::new());
    };
    if let Some(newer) = applied.iter().find(|a| a.as_str() > v) {
        return Err(AdminError::Refused(format!(
            "target schema {newer} is newer than the backup's {v}"
        )));
    }
    Ok(set
        .for_backend(backend)
        .iter()
        .filter(|m| {
            let mv = m.version();
            mv.as_str() <= v && !applied.contains(&mv)
        })
        .collect())
}

/// Checks that every table and column of the backup exists in the target's `schema`.
fn check_target_columns(manifest: &Manifest, schema: &Schema) -> Result<()> {
    for t in &manifest.tables {
        let Some(live) = schema.tables.get(&t.name) else {
            return Err(AdminError::Refused(format!(
                "table {} of the backup does not exist in the target",
                t.name
            )));
        };
        if let Some(c) = t
            .columns
            .iter()
            .find(|c| !live.columns.iter().any(|l| &l.name == *c))
        {
            return Err(AdminError::Refused(format!(
                "column {}.{c} of the backup does not exist in the target",
                t.name
            )));
        }
    }
    Ok(())
}

/// In ONE transaction: migrates the target to the backup's schema version (the migrations of
/// `set` it lacks, DDL being transactional on both backends), then replaces every row of its
/// tables with the backup's. A failure anywhere — a migration, a bad row, a foreign key, a full
/// disk — rolls all of it back: the target keeps its schema version, schema and rows.
async fn load(
    conn: &mut Direct,
    url: &DbUrl,
    backup: &Path,
    manifest: &Manifest,
    set: &MigrationSet,
    progress: &dyn Progress,
) -> Result<()> {
    if conn.backend() == Backend::Postgres {
        return copy_load::load(url, backup, manifest, set, progress).await;
    }
    // SQLite's default page cache: a 64 MiB one measured no faster and took RSS past 100 MB on
    // a 1.3 GB restore.
    // `BEGIN IMMEDIATE` takes the write lock first: a migrator (`BEGIN EXCLUSIVE`) waits.
    conn.exec("BEGIN IMMEDIATE").await?;
    let result = async {
        let applied: Vec<String> = migrate::read_ledger(conn)
            .await?
            .into_iter()
            .map(|(v, _, _)| v)
            .collect();
        let pending = migrations_to_apply(
            set,
            conn.backend(),
            &applied,
            manifest.schema_version.as_deref(),
        )?;
        if !pending.is_empty() {
            conn.exec(LEDGER_DDL).await?;
        }
        for m in pending {
            conn.exec(&apply_sql(m)).await.map_err(|e| {
                crate::DbError::Migration(format!("migration {} failed: {e}", m.dir))
            })?;
        }
        let schema = schema::introspect(conn, None).await?;
        check_target_columns(manifest, &schema)?;
        load_in_transaction(conn, backup, manifest, &schema, progress).await
    }
    .await;
    match result {
        Ok(()) => Ok(conn.exec("COMMIT").await?),
        Err(e) => {
            let _ = conn.exec("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn load_in_transaction(
    conn: &mut Direct,
    backup: &Path,
    manifest: &Manifest,
    schema: &Schema,
    progress: &dyn Progress,
) -> Result<()> {
    let order = schema.dependency_order();
    match conn.backend() {
        Backend::Postgres => {
            if !order.is_empty() {
                let all: Vec<String> = order.iter().map(|t| ident(t)).collect();
                conn.exec(&format!("TRUNCATE {}", all.join(", "))).await?;
            }
        }
        Backend::Sqlite => {
            for t in order.iter().rev() {
                conn.exec(&format!("DELETE FROM {}", ident(t))).await?;
            }
        }
    }
    // Secondary indexes are dropped and rebuilt after the load (as pg_restore does): one
    // sorted build is much faster than maintaining them row by row. Inside the transaction, so
    // a failure brings them back with the old rows.
    let mut rebuild = Vec::new();
    for t in &manifest.tables {
        for (name, create) in secondary_indexes(conn, &t.name).await? {
            conn.exec(&format!("DROP INDEX {}", ident(&name))).await?;
            rebuild.push((name, create));
        }
    }
    let bad = |problem: String| AdminError::BadBackup {
        backup: backup.display().to_string(),
        problem,
    };
    for t in &manifest.tables {
        let live = &schema.tables[&t.name];
        let insert = insert_sql(conn.backend(), &t.name, &t.columns, live);
        let mut reader = open_table(backup, manifest.compression, t)?;
        progress.start(&format!("restore {}", t.name), t.rows);
        let mut rows = 0u64;
        let mut batch = String::with_capacity(1 << 20);
        let mut batch_rows = 0i64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_row(&mut line)
                .map_err(|e| bad(format!("{}: {e}", t.file)))?;
            let done = n == 0;
            if !done {
                let text = std::str::from_utf8(&line)
                    .map_err(|_| bad(format!("{}: row {} is not UTF-8", t.file, rows + 1)))?
                    .trim_end();
                if !text.starts_with('[') || !text.ends_with(']') {
                    return Err(bad(format!(
                        "{}: row {} is not a JSON array",
                        t.file,
                        rows + 1
                    )));
                }
                batch.push(if batch_rows == 0 { '[' } else { ',' });
                batch.push_str(text);
                batch_rows += 1;
                rows += 1;
            }
            if batch_rows > 0 && (done || batch_rows >= PAGE_ROWS || batch.len() > (8 << 20)) {
                batch.push(']');
                conn.exec_text(&insert, std::mem::take(&mut batch))
                    .await
                    .map_err(|e| bad(format!("{}: rows up to {rows}: {e}", t.file)))?;
                progress.advance(batch_rows as u64);
                batch_rows = 0;
            }
            if done {
                break;
            }
        }
        progress.finish();
        if rows != t.rows {
            return Err(bad(format!(
                "{}: {rows} rows read, manifest says {}",
                t.file, t.rows
            )));
        }
        if conn.backend() == Backend::Postgres {
            reset_sequences(conn, live).await?;
        }
    }
    for (name, create) in rebuild {
        progress.start(&format!("index {name}"), 0);
        let built = conn.exec(&create).await;
        progress.finish();
        built.map_err(|e| bad(format!("rebuilding index {name}: {e}")))?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct IndexSql {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    create: String,
}

/// Indexes of `table` that back no constraint, with the statement that recreates each.
async fn secondary_indexes(conn: &mut Direct, table: &str) -> Result<Vec<(String, String)>> {
    let sql = secondary_indexes_sql(conn.backend(), table);
    let rows: Vec<IndexSql> = conn.rows(&sql).await?;
    Ok(rows.into_iter().map(|r| (r.name, r.create)).collect())
}

/// The query listing `table`'s secondary indexes as `(name, create)` rows.
fn secondary_indexes_sql(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT name, sql AS \"create\" FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = {}",
            literal(table)
        ),
        Backend::Postgres => format!(
            "SELECT i.relname::text AS name, pg_get_indexdef(ix.indexrelid) AS \"create\" \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid \
             WHERE t.relname = {} AND t.relnamespace = current_schema()::regnamespace \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)",
            literal(table)
        ),
    }
}

/// `INSERT … SELECT` reading one JSON array of row arrays (the `{p}` parameter).
fn insert_sql(backend: Backend, table: &str, columns: &[String], live: &schema::Table) -> String {
    let cols = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
        Backend::Postgres => {
            let values = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let ty = live
                        .columns
                        .iter()
                        .find(|l| &l.name == c)
                        .map_or("text", |l| l.data_type.as_str());
                    format!("(e->>{i})::{ty}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {} ({cols}) OVERRIDING SYSTEM VALUE SELECT {values} \
                 FROM json_array_elements(CAST({{p}} AS json)) AS e",
                ident(table)
            )
        }
        Backend::Sqlite => {
            let values = (0..columns.len())
                .map(|i| format!("value ->> {i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {} ({cols}) SELECT {values} FROM json_each({{p}})",
                ident(table)
            )
        }
    }
}

/// Sets every sequence owned by a column of `table` past the restored maximum.
async fn reset_sequences(conn: &mut Direct, table: &schema::Table) -> Result<()> {
    for sql in reset_sequences_sql(table) {
        conn.exec(&sql).await?;
    }
    Ok(())
}

/// PostgreSQL statements setting every sequence owned by an integer column of `table` past the
/// column's maximum (so the next generated id follows the restored ones).
fn reset_sequences_sql(table: &schema::Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.data_type.contains("int"))
        .map(|c| {
            format!(
                "SELECT setval(s, COALESCE((SELECT max({col}) FROM {t}), 0) + 1, false) \
                 FROM pg_get_serial_sequence({tl}, {cl}) AS s WHERE s IS NOT NULL",
                col = ident(&c.name),
                t = ident(&table.name),
                tl = literal(&ident(&table.name)),
                cl = literal(&c.name),
            )
        })
        .collect()
}

/// Outcome of [`copy`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Rows per table read from the source.
    pub source: Vec<TableRows>,
    /// Rows per table in the target afterwards (equal to `source`, checked).
    pub target: Vec<TableRows>,
    /// Safety backup of a non-empty target.
    pub safety_backup: Option<String>,
}

/// Copies every row of the database at `from` into `to` (e.g. SQLite → PostgreSQL): a backup
/// into a temporary folder restored into the target, then row counts compared.
///
/// # Errors
/// As [`backup`] and [`restore`]; [`AdminError::Refused`] when the counts differ.
pub async fn copy(
    from: &DbUrl,
    to: &DbUrl,
    set: &MigrationSet,
    force: bool,
    safety_dir: &Path,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    if from == to {
        return Err(AdminError::Refused(
            "source and target are the same database".into(),
        ));
    }
    let tmp = tempfile::tempdir().map_err(|e| AdminError::io(std::env::temp_dir(), e))?;
    let info = backup(
        from,
        set,
        BackupOptions {
            dir: tmp.path(),
            label: Some("copy"),
            compression: Compression::None,
            progress,
        },
    )
    .await?;
    let report = restore(
        &info.path,
        to,
        set,
        RestoreOptions {
            force,
            safety_dir,
            progress,
        },
    )
    .await?;
    let source = info.manifest.row_counts();
    for s in &source {
        let got = report
            .tables
            .iter()
            .find(|t| t.name == s.name)
            .map_or(0, |t| t.rows);
        if got != s.rows {
            return Err(AdminError::Refused(format!(
                "copy check failed: {} has {got} rows in the target, {} in the source",
                s.name, s.rows
            )));
        }
    }
    Ok(CopyReport {
        source,
        target: report.tables,
        safety_backup: report.safety_backup,
    })
}

/// One backup found by [`list`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupSummary {
    /// Folder name.
    pub id: String,
    /// Folder path.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl BackupSummary {
    /// The label of the backup (`scheduled`, `pre-restore`, a `--name`), read from its id
    /// `<database>-<UTC timestamp>[-<label>]` (the timestamp holds no `-`); `None` without one.
    pub fn label(&self) -> Option<&str> {
        let rest = self
            .id
            .strip_prefix(&format!("{}-", self.manifest.database))?;
        rest.split_once('-')
            .map(|(_, label)| label)
            .filter(|l| !l.is_empty())
    }
}

/// Backups under `dir` (of `database` only, if given), newest first. Folders without a valid
/// manifest are skipped; a missing `dir` is an empty list.
///
/// # Errors
/// [`AdminError::Io`] when `dir` exists but cannot be read.
pub fn list(dir: &Path, database: Option<&str>) -> Result<Vec<BackupSummary>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AdminError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.filter_map(std::result::Result::ok) {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        if let Ok(manifest) = Manifest::read(&e.path())
            && database.is_none_or(|d| d == manifest.database)
        {
            out.push(BackupSummary {
                id,
                path: e.path(),
                manifest,
            });
        }
    }
    out.sort_by(|a, b| b.manifest.created_at.cmp(&a.manifest.created_at));
    Ok(out)
}

/// What [`prune`] removed (or would remove in a dry run) and kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    /// Whether anything was deleted.
    pub dry_run: bool,
    /// Ids removed (or to remove).
    pub removed: Vec<String>,
    /// Ids kept.
    pub kept: Vec<String>,
}

/// Applies retention to the backups under `dir` — of `database` only if given, and only those
/// labelled `label` if given (scheduled backups prune `scheduled` ones and never touch manual or
/// `pre-restore` safety backups). The rules hold per database (grouped by the manifest's
/// `database`): each keeps its newest `keep_last`, those younger than `keep_days` days, and
/// always its newest backup that verifies. Everything else considered is removed, unless
/// `dry_run`.
///
/// # Errors
/// [`AdminError::Io`] when the folder cannot be read or a backup cannot be deleted.
pub async fn prune(
    dir: &Path,
    database: Option<&str>,
    label: Option<&str>,
    keep_last: usize,
    keep_days: Option<u64>,
    dry_run: bool,
) -> Result<PruneReport> {
    let all: Vec<BackupSummary> = list(dir, database)?
        .into_iter()
        .filter(|b| label.is_none_or(|l| b.label() == Some(l)))
        .collect();
    // Newest first within each database, as `list` orders them.
    let mut by_database: std::collections::BTreeMap<&str, Vec<&BackupSummary>> =
        std::collections::BTreeMap::new();
    for b in &all {
        by_database
            .entry(b.manifest.database.as_str())
            .or_default()
            .push(b);
    }
    let cutoff = keep_days.map(|d| {
        chrono::Utc::now()
            - chrono::Duration::days(i64::try_from(d).unwrap_or(i64::MAX / 86_400_000))
    });
    let mut keep = std::collections::HashSet::new();
    for backups in by_database.values() {
        for (i, b) in backups.iter().enumerate() {
            let young = cutoff.is_some_and(|c| {
                chrono::DateTime::parse_from_rfc3339(&b.manifest.created_at).is_ok_and(|t| t > c)
            });
            if i < keep_last || young {
                keep.insert(b.id.as_str());
            }
        }
        for b in backups {
            if verify(&b.path, None, false).await.is_ok_and(|r| r.ok) {
                keep.insert(b.id.as_str());
                break;
            }
        }
    }
    let mut report = PruneReport {
        dry_run,
        removed: Vec::new(),
        kept: Vec::new(),
    };
    for b in &all {
        if keep.contains(b.id.as_str()) {
            report.kept.push(b.id.clone());
            continue;
        }
        if !dry_run {
            std::fs::remove_dir_all(&b.path).map_err(|e| AdminError::io(&b.path, e))?;
        }
        report.removed.push(b.id.clone());
    }
    Ok(report)
}

/// The backup folder for `id_or_path`: an existing path as given, else `<dir>/<id>`.
pub fn resolve(dir: &Path, id_or_path: &str) -> PathBuf {
    let p = PathBuf::from(id_or_path);
    if p.is_dir() || id_or_path.contains('/') {
        p
    } else {
        dir.join(id_or_path)
    }
}
