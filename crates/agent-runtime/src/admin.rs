//! Database administration of agent-runtime's own database: what the `DatabaseAdmin` gRPC
//! service calls (through `db_core::admin`), and the scheduled backups.
//!
//! Plain Rust types only; [`crate::grpc`] converts them.

use crate::error::{Error, Result};
use crate::migrations::MIGRATIONS;
use crate::model::CleanupReport;
use crate::store::Store;
use db_core::DbUrl;
use db_core::admin::backup::{
    self, BackupInfo, BackupOptions, BackupSummary, Compression, RestoreOptions, RestoreReport,
    VerifyReport,
};
use db_core::admin::{AdminError, DatabaseInfo, Difference, NoProgress};
use db_core::migrate::StatusReport;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `AGENT_RUNTIME__BACKUP__*`: where backups go and the optional schedule.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BackupSettings {
    /// Folder of backups (also used by the `DatabaseAdmin` RPCs).
    pub dir: PathBuf,
    /// Seconds between scheduled backups; 0 (default) = no scheduled backups.
    pub interval: u64,
    /// Scheduled backups kept (older ones of this database are pruned after each backup;
    /// the newest verified backup is always kept).
    pub keep: usize,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from("backups"),
            interval: 0,
            keep: 7,
        }
    }
}

/// The admin operations over one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    url: DbUrl,
    dir: PathBuf,
    store: Store,
}

/// Maps admin-engine errors to service errors (and so to gRPC codes).
fn map(e: AdminError) -> Error {
    match e {
        AdminError::Db(db) => Error::from(db),
        AdminError::BadBackup { backup, problem } => Error::FailedPrecondition {
            reason: "BACKUP_INVALID",
            message: format!("backup {}: {problem}", short(&backup)),
        },
        AdminError::Refused(message) => Error::FailedPrecondition {
            reason: "ADMIN_REFUSED",
            message,
        },
        AdminError::Io { path, source } => Error::Internal(format!("{path}: {source}")),
    }
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Admin {
    /// Admin over the database at `url`, backups in `dir`; `store` runs the retention rule.
    pub fn new(url: DbUrl, dir: PathBuf, store: Store) -> Admin {
        Admin { url, dir, store }
    }

    /// The backup folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stats of the database.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn info(&self) -> Result<DatabaseInfo> {
        db_core::admin::stats(MIGRATIONS.name, &self.url, &MIGRATIONS)
            .await
            .map_err(map)
    }

    /// Migration status.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn migration_status(&self) -> Result<StatusReport> {
        db_core::migrate::status(&self.url, &MIGRATIONS)
            .await
            .map_err(|e| map(e.into()))
    }

    /// A new backup.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for an unknown compression; `Unavailable`; `Internal` when the
    /// folder cannot be written.
    pub async fn create_backup(&self, label: &str, compression: &str) -> Result<BackupInfo> {
        let compression: Compression = compression
            .parse()
            .map_err(|e: String| Error::invalid("compression", e))?;
        backup::backup(
            &self.url,
            &MIGRATIONS,
            BackupOptions {
                dir: &self.dir,
                label: Some(label),
                compression,
                progress: &NoProgress,
            },
        )
        .await
        .map_err(map)
    }

    /// Backups of this database, newest first.
    ///
    /// # Errors
    /// `Internal` when the folder cannot be read.
    pub fn list_backups(&self) -> Result<Vec<BackupSummary>> {
        backup::list(&self.dir, Some(MIGRATIONS.name)).map_err(map)
    }

    fn backup_path(&self, id: &str) -> Result<PathBuf> {
        if id.is_empty() || id.contains('/') || id.contains('\\') || id.starts_with('.') {
            return Err(Error::invalid(
                "backup_id",
                "must be a backup id from ListBackups",
            ));
        }
        let path = self.dir.join(id);
        if !path.is_dir() {
            return Err(Error::NotFound {
                resource: "backup",
                id: id.to_owned(),
            });
        }
        Ok(path)
    }

    /// Verifies a backup.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown id; `FAILED_PRECONDITION` for an unreadable manifest.
    pub async fn verify_backup(&self, id: &str, deep: bool) -> Result<VerifyReport> {
        let path = self.backup_path(id)?;
        backup::verify(&path, Some(&MIGRATIONS), deep)
            .await
            .map_err(map)
    }

    /// Restores a backup into the database.
    ///
    /// # Errors
    /// `NOT_FOUND`; `FAILED_PRECONDITION` for a bad backup, another database's backup, a
    /// newer schema, or rows present without `force`. The database is unchanged then.
    pub async fn restore_backup(&self, id: &str, force: bool) -> Result<RestoreReport> {
        let path = self.backup_path(id)?;
        backup::restore(
            &path,
            &self.url,
            &MIGRATIONS,
            RestoreOptions {
                force,
                safety_dir: &self.dir,
                progress: &NoProgress,
            },
        )
        .await
        .map_err(map)
    }

    /// Retention: sessions soft-deleted more than `days` ago are purged, sessions idle more
    /// than `days` are soft-deleted; batched when not a dry run.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for `days = 0`; `Unavailable`.
    pub async fn cleanup(&self, days: u32, dry_run: bool) -> Result<CleanupReport> {
        if days == 0 {
            return Err(Error::invalid("days", "must be at least 1"));
        }
        let days = i64::from(days);
        if dry_run {
            return self.store.cleanup_sessions(days * 24, days, true).await;
        }
        let mut total = CleanupReport::default();
        loop {
            let step = self
                .store
                .cleanup_sessions_batch(days * 24, days, 500)
                .await?;
            total.purged += step.purged;
            total.soft_deleted += step.soft_deleted;
            if step.purged == 0 && step.soft_deleted == 0 {
                return Ok(total);
            }
        }
    }

    /// Schema drift.
    ///
    /// # Errors
    /// `Unavailable`; `Internal` when the expected schema cannot be built.
    pub async fn drift(&self) -> Result<Vec<Difference>> {
        db_core::admin::drift(&self.url, &MIGRATIONS)
            .await
            .map_err(map)
    }
}

/// Takes a backup every `settings.interval` seconds and prunes to `settings.keep`, until the
/// task is aborted. Failures are logged and retried at the next tick.
pub async fn scheduled_backups(admin: Admin, settings: BackupSettings) {
    let every = Duration::from_secs(settings.interval.max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match admin.create_backup("scheduled", "zstd").await {
            Ok(info) => {
                tracing::info!(id = %info.id, bytes = info.manifest.size_bytes, "scheduled backup done")
            }
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                continue;
            }
        }
        match backup::prune(
            &settings.dir,
            Some(MIGRATIONS.name),
            settings.keep.max(1),
            None,
            false,
        )
        .await
        {
            Ok(r) if !r.removed.is_empty() => {
                tracing::info!(removed = ?r.removed, "pruned old backups")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning backups failed"),
        }
    }
}
