//! Conversions from db-core's admin types to the `codelab.admin.v1` messages.

use codelab_proto::admin::v1 as pb;
use db_core::admin::TableRows;
use db_core::admin::backup::Manifest;
use db_core::migrate::{MigrationState, MigrationStatus};
use std::path::Path;

/// Row counts per table as the proto message.
pub(crate) fn rows(tables: &[TableRows]) -> Vec<pb::TableRowCount> {
    tables
        .iter()
        .map(|t| pb::TableRowCount {
            name: t.name.clone(),
            rows: t.rows,
        })
        .collect()
}

/// An RFC 3339 or `YYYY-MM-DD HH:MM:SS[.f]` (UTC) time as a protobuf timestamp.
fn timestamp(text: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()?
        .and_utc();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// A backup's id, folder, manifest sha256 and manifest as a `Backup` message.
pub(crate) fn backup_to_proto(id: &str, path: &Path, sha256: String, m: &Manifest) -> pb::Backup {
    pb::Backup {
        id: id.to_owned(),
        path: path.display().to_string(),
        size_bytes: m.size_bytes,
        sha256,
        created_at: timestamp(&m.created_at),
        row_counts: rows(&m.row_counts()),
        schema_version: m.schema_version.clone().unwrap_or_default(),
        backend: m.backend.clone(),
    }
}

/// One migration's status as a `Migration` message.
pub(crate) fn migration(m: &MigrationStatus) -> pb::Migration {
    pb::Migration {
        version: m.version.clone(),
        name: m.name.clone(),
        state: format!("{:?}", m.state).to_lowercase(),
        applied_at: m.applied_at.as_deref().and_then(timestamp),
        checksum_ok: !matches!(m.state, MigrationState::Modified),
    }
}

/// sha256 (hex) of a backup's `manifest.json`, which holds the sha256 of every other file.
pub(crate) fn manifest_sha(path: &Path) -> String {
    use sha2::Digest as _;
    std::fs::read(path.join("manifest.json"))
        .map(|b| {
            sha2::Sha256::digest(&b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_both_spellings() {
        let a = timestamp("2026-11-22T10:00:00Z").unwrap();
        let b = timestamp("2026-11-22 10:00:00.000").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.seconds % 86_400, 10 * 3_600);
        assert!(timestamp("yesterday").is_none());
    }
}
