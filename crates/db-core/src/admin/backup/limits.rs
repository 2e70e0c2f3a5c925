//! Bounded reading of a backup's table files: a crafted file cannot make verify, restore or copy
//! hold a huge row in memory or decompress without end.
//!
//! A few kilobytes of zstd or gzip expand to gigabytes (a run of one byte compresses more than
//! 1,000:1), so every read of a table file goes through `Rows`:
//!
//! - one row (one line) is at most [`MAX_ROW_BYTES`]; a longer one is refused after reading
//!   `MAX_ROW_BYTES + 1` bytes of it, never more;
//! - the decompressed file is at most its manifest's `uncompressed_bytes` (written since this
//!   field exists, and checked exactly at the end), or for an older manifest without it
//!   [`LEGACY_RATIO`] times its compressed size (at least [`LEGACY_FLOOR_BYTES`]).

use super::format::{Compression, TableEntry};
use crate::admin::{AdminError, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Longest row (JSON line, newline included) a table file may hold: 64 MiB. A row of the
/// largest message agent-runtime accepts (its 4 MiB request limit, every byte escaped as
/// `\u00XX`: 24 MiB) fits with room to spare.
pub const MAX_ROW_BYTES: usize = 64 << 20;

/// For a manifest written before `uncompressed_bytes` existed: a table file may decompress to at
/// most this many times its compressed size (JSON rows compress 5–50:1 with zstd level 3).
pub const LEGACY_RATIO: u64 = 1024;

/// For a manifest without `uncompressed_bytes`: the decompressed size allowed whatever the
/// compressed size (64 MiB).
pub const LEGACY_FLOOR_BYTES: u64 = 64 << 20;

/// The rows of one table file, decompressed, read line by line within the limits above.
/// `'a`: how long the compressed bytes' reader lives (`'static` for a file of its own).
pub(crate) struct Rows<'a> {
    inner: BufReader<Box<dyn Read + Send + 'a>>,
    /// Decompressed bytes read so far.
    read: u64,
    /// Most decompressed bytes allowed.
    limit: u64,
    /// The manifest's `uncompressed_bytes`, checked exactly at the end.
    exact: Option<u64>,
}

/// The decompressed rows of table `entry` of `backup`, buffered by 1 MiB and bounded (see the
/// module doc).
///
/// # Errors
/// [`AdminError::Io`] when the file cannot be opened.
pub(crate) fn open_table(
    backup: &Path,
    compression: Compression,
    entry: &TableEntry,
) -> Result<Rows<'static>> {
    let path = backup.join(&entry.file);
    let f = std::fs::File::open(&path).map_err(|e| AdminError::io(&path, e))?;
    Rows::new(f, compression, entry).map_err(|e| AdminError::io(&path, e))
}

impl<'a> Rows<'a> {
    /// The decompressed rows of table `entry` whose file's bytes `file` yields, buffered by
    /// 1 MiB and bounded (see the module doc). Whatever `file` wraps sees the bytes as they are
    /// decompressed (verify hashes them on the way).
    ///
    /// # Errors
    /// The decompressor's error when it cannot be set up.
    pub(crate) fn new(
        file: impl Read + Send + 'a,
        compression: Compression,
        entry: &TableEntry,
    ) -> std::io::Result<Rows<'a>> {
        let reader: Box<dyn Read + Send + 'a> = match compression {
            Compression::Zstd => Box::new(zstd::Decoder::new(file)?),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::new(file))),
            Compression::None => Box::new(file),
        };
        let limit = entry.uncompressed_bytes.unwrap_or_else(|| {
            entry
                .bytes
                .saturating_mul(LEGACY_RATIO)
                .max(LEGACY_FLOOR_BYTES)
        });
        Ok(Rows {
            inner: BufReader::with_capacity(1 << 20, reader),
            read: 0,
            limit,
            exact: entry.uncompressed_bytes,
        })
    }

    /// Reads the next row into `line` (appended, newline included, as
    /// [`BufRead::read_until`]); returns its length, 0 at the end of the file.
    ///
    /// # Errors
    /// `InvalidData` naming the limit when a row is longer than [`MAX_ROW_BYTES`], when the file
    /// decompresses to more than allowed, or (at the end) to another size than the manifest
    /// records; the decoder's error for a corrupt file.
    pub(crate) fn read_row(&mut self, line: &mut Vec<u8>) -> std::io::Result<usize> {
        let left = self.limit - self.read;
        // One byte past each limit, to tell "exactly at" from "beyond".
        let cap = (MAX_ROW_BYTES as u64 + 1).min(left.saturating_add(1));
        let start = line.len();
        let n = (&mut self.inner).take(cap).read_until(b'\n', line)?;
        self.read += n as u64;
        if self.read > self.limit {
            line.truncate(start);
            return Err(invalid(match self.exact {
                Some(m) => {
                    format!("decompresses to more than the {m} bytes the manifest records; refused")
                }
                None => format!(
                    "decompresses to more than {} bytes ({LEGACY_RATIO} times its size, the \
                     limit for a manifest without uncompressed sizes); refused",
                    self.limit
                ),
            }));
        }
        if n as u64 == cap && line.last() != Some(&b'\n') {
            line.truncate(start);
            return Err(invalid(format!(
                "a row is longer than {MAX_ROW_BYTES} bytes; refused"
            )));
        }
        if n == 0
            && let Some(m) = self.exact
            && self.read != m
        {
            return Err(invalid(format!(
                "decompresses to {} bytes, the manifest records {m} (truncated or replaced)",
                self.read
            )));
        }
        Ok(n)
    }

    /// Reads every row and returns how many there are (for `verify`), within the limits.
    ///
    /// # Errors
    /// As [`Rows::read_row`].
    pub(crate) fn count(&mut self) -> std::io::Result<u64> {
        let mut line = Vec::new();
        let mut rows = 0;
        loop {
            line.clear();
            if self.read_row(&mut line)? == 0 {
                return Ok(rows);
            }
            rows += 1;
        }
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}
