//! Writing a backup: [`backup`] reads one snapshot of the source and streams each table, in
//! primary-key pages, into a compressed file whose size and sha256 are counted as it is
//! written; the folder is written as `.<id>.partial` and renamed when complete.

use super::format::{
    Compression, FORMAT, MANIFEST, MANIFEST_SUM, Manifest, TableEntry, row_expression,
};
use crate::admin::schema;
use crate::admin::{AdminError, Progress, Result};
use crate::direct::{Direct, ident, ident_list};
use crate::migrate::{self, MigrationSet, hex};
use crate::{Backend, DbUrl};
use sha2::Digest as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rows per page read from the source.
const PAGE_ROWS: i64 = 1_000;

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
/// [`DbError::Unavailable`](crate::DbError::Unavailable) for a wrong URL, missing file or locked database; [`AdminError::Io`]
/// when the folder cannot be written (a full disk: the partial folder is removed).
pub async fn backup(
    url: &DbUrl,
    set: &MigrationSet,
    opts: BackupOptions<'_>,
) -> Result<BackupInfo> {
    let mut conn = Direct::open_existing(url).await?;
    backup_on(&mut conn, url, set, opts).await
}

/// [`backup`] on an open connection (a restore's safety backup of its target).
pub(crate) async fn backup_on(
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
            plain += write_lines(&mut enc, page.iter().map(|r| r.line.as_str())).map_err(io)?;
            rows += page.len() as u64;
            progress.advance(page.len() as u64);
            match page.last() {
                Some(r) if page.len() as i64 == PAGE_ROWS => last = r.k,
                _ => break,
            }
        }
    } else {
        let order = if table.primary_key.is_empty() {
            ident_list(table.columns.iter().map(|c| &c.name))
        } else {
            ident_list(&table.primary_key)
        };
        let mut offset = 0i64;
        loop {
            let page: Vec<Line> = conn
                .rows(&format!(
                    "SELECT {expr} AS line FROM {t} ORDER BY {order} LIMIT {PAGE_ROWS} OFFSET {offset}"
                ))
                .await?;
            plain += write_lines(&mut enc, page.iter().map(|r| r.line.as_str())).map_err(io)?;
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

/// Writes `lines` to `enc`, each followed by a newline; returns the bytes written before
/// compression.
fn write_lines<'l>(
    enc: &mut Encoder,
    lines: impl Iterator<Item = &'l str>,
) -> std::io::Result<u64> {
    let w = enc.writer();
    let mut plain = 0;
    for line in lines {
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        plain += line.len() as u64 + 1;
    }
    Ok(plain)
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
