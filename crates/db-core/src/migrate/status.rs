//! Where each migration stands in a database: [`status`], read from the ledger and compared
//! with the binary's list.

use super::ledger::read_ledger;
use super::set::MigrationSet;
use crate::direct::Direct;
use crate::{Backend, DbError, DbUrl};

/// Where a migration stands in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Applied, and its file still hashes to the recorded checksum.
    Applied,
    /// Applied before checksums were recorded; adopted (hashed) on the next `migrate`.
    Unverified,
    /// Known to this binary, not applied.
    Pending,
    /// Applied, but its `up.sql` changed since: a loud error for every operation.
    Modified,
    /// Applied, but this binary does not know it (a newer binary applied it).
    Missing,
}

/// One line of [`status`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    /// `20261121000000`.
    pub version: String,
    /// `conversation_store` (empty for a [`MigrationState::Missing`] one).
    pub name: String,
    /// See [`MigrationState`].
    pub state: MigrationState,
    /// When it was applied (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC), if it was.
    pub applied_at: Option<String>,
    /// Recorded checksum, if any.
    pub recorded_checksum: Option<String>,
    /// Checksum of the file this binary embeds, if it knows the migration.
    pub file_checksum: Option<String>,
}

/// Every migration of a database and of the binary, by version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusReport {
    /// Newest applied version (`None`: nothing applied).
    pub current: Option<String>,
    /// Newest version the binary knows.
    pub latest: Option<String>,
    /// One entry per version, oldest first.
    pub migrations: Vec<MigrationStatus>,
}

impl StatusReport {
    /// Versions applied to the database, oldest first (including missing ones).
    pub fn applied(&self) -> Vec<&MigrationStatus> {
        self.migrations
            .iter()
            .filter(|m| m.state != MigrationState::Pending)
            .collect()
    }

    /// Entries in `state`.
    pub fn in_state(&self, state: MigrationState) -> Vec<&MigrationStatus> {
        self.migrations
            .iter()
            .filter(|m| m.state == state)
            .collect()
    }

    /// The error every operation raises when an applied migration was modified.
    pub(super) fn modified_error(&self) -> Option<DbError> {
        let modified = self.in_state(MigrationState::Modified);
        if modified.is_empty() {
            return None;
        }
        let list: Vec<String> = modified
            .iter()
            .map(|m| {
                format!(
                    "{}_{} (applied with sha256 {}, file now {})",
                    m.version,
                    m.name,
                    m.recorded_checksum.as_deref().unwrap_or("?"),
                    m.file_checksum.as_deref().unwrap_or("?")
                )
            })
            .collect();
        Some(DbError::Migration(format!(
            "applied migration(s) changed since they ran: {}; restore the original up.sql \
             (an applied migration must never be edited: add a new one)",
            list.join(", ")
        )))
    }
}

/// Builds the status report from a ledger and the binary's list.
fn report(
    set: &MigrationSet,
    backend: Backend,
    ledger: &[(String, Option<String>, Option<String>)],
) -> StatusReport {
    let known = set.for_backend(backend);
    let mut out = Vec::new();
    for m in known {
        let version = m.version();
        let file_checksum = Some(m.checksum());
        let entry = ledger.iter().find(|(v, _, _)| *v == version);
        let (state, applied_at, recorded) = match entry {
            None => (MigrationState::Pending, None, None),
            Some((_, run_on, None)) => (MigrationState::Unverified, run_on.clone(), None),
            Some((_, run_on, Some(sum))) if Some(sum) == file_checksum.as_ref() => {
                (MigrationState::Applied, run_on.clone(), Some(sum.clone()))
            }
            Some((_, run_on, Some(sum))) => {
                (MigrationState::Modified, run_on.clone(), Some(sum.clone()))
            }
        };
        out.push(MigrationStatus {
            version,
            name: m.name().to_owned(),
            state,
            applied_at,
            recorded_checksum: recorded,
            file_checksum,
        });
    }
    for (version, run_on, sum) in ledger {
        if !known.iter().any(|m| m.version() == *version) {
            out.push(MigrationStatus {
                version: version.clone(),
                name: String::new(),
                state: MigrationState::Missing,
                applied_at: run_on.clone(),
                recorded_checksum: sum.clone(),
                file_checksum: None,
            });
        }
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    StatusReport {
        current: ledger.iter().map(|(v, _, _)| v.clone()).max(),
        latest: set.latest_version(),
        migrations: out,
    }
}

/// The status of every migration of `set` in the database at `url` (read-only; takes no lock).
///
/// # Errors
/// [`DbError::Unavailable`] when the database cannot be opened (a SQLite file that does not
/// exist included); query errors.
pub async fn status(url: &DbUrl, set: &MigrationSet) -> Result<StatusReport, DbError> {
    let mut conn = Direct::open_existing(url).await?;
    status_on(&mut conn, set).await
}

pub(crate) async fn status_on(
    conn: &mut Direct,
    set: &MigrationSet,
) -> Result<StatusReport, DbError> {
    let ledger = read_ledger(conn).await?;
    Ok(report(set, conn.backend(), &ledger))
}
