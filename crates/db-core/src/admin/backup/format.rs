//! The backup format: the manifest ([`Manifest`], [`TableEntry`]), the compression of table
//! files, and how a row becomes one JSON line ([`row_expression`]). See the parent module for
//! the folder's layout.

use crate::Backend;
use crate::admin::schema;
use crate::admin::{AdminError, Result, TableRows};
use crate::direct::{ident, ident_list};
use std::path::Path;

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "manifest.json";
/// The file holding the manifest's sha256.
pub(crate) const MANIFEST_SUM: &str = "manifest.json.sha256";

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "codelab-backup/1";

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
    /// The table files' extension (`jsonl.zst`).
    pub(crate) fn extension(self) -> &'static str {
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
    /// recorded). Reading a file refuses to decompress more ([`limits`](super::limits)).
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
        let text =
            std::fs::read(backup.join(MANIFEST)).map_err(|e| bad(format!("manifest.json: {e}")))?;
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

/// Whether a column's values are JSON numbers or booleans in a backup (else their text form).
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

/// The `SELECT` expression producing one JSON array per row (see the parent module for the
/// spelling of each value).
///
/// # Errors
/// [`AdminError::Refused`] for a PostgreSQL table of more than 100 columns (the argument limit
/// of `json_build_array`).
pub(crate) fn row_expression(backend: Backend, table: &schema::Table) -> Result<String> {
    match backend {
        Backend::Sqlite => Ok(format!(
            "json_array({})",
            ident_list(table.columns.iter().map(|c| &c.name))
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
