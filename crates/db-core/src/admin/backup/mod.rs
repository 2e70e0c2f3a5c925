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
//! Restore ([`restore`]) verifies first, then replaces the target's rows in ONE
//! transaction; [`copy`] is a backup into a temporary folder restored into another database.
//!
//! Where things are: `format.rs` (the manifest, compression, how a row becomes a JSON line),
//! `write.rs` ([`backup`]), `verify.rs` ([`verify`]), `catalog.rs` ([`list`], [`prune`],
//! [`resolve`]), `limits.rs` (bounded reading of table files); the restore engine is
//! `admin/restore/`, the copy `admin/copy.rs`. This module only names the public API.

mod catalog;
pub(crate) mod format;
pub mod limits;
pub(crate) mod verify;
pub(crate) mod write;

pub use super::copy::{CopyReport, copy};
pub use super::restore::{RestoreOptions, RestoreReport, restore};
pub use catalog::{BackupSummary, PruneReport, list, prune, resolve};
pub use format::{Compression, FORMAT, Manifest, TableEntry};
pub use verify::{VerifyReport, verify};
pub use write::{BackupInfo, BackupOptions, backup};
