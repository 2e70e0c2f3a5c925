//! Scheduled backups: one every `interval` seconds, older scheduled ones pruned.

use crate::{BackupSettings, DatabaseOps};
use db_core::admin::backup;
use std::time::Duration;

/// Starts [`scheduled_backups`] in a task when `settings.interval` is above 0 (logging the
/// schedule); `None` when scheduled backups are off. Abort the task to stop them.
pub fn spawn_scheduled_backups(
    ops: &DatabaseOps,
    settings: &BackupSettings,
) -> Option<tokio::task::JoinHandle<()>> {
    (settings.interval > 0).then(|| {
        tracing::info!(
            every_secs = settings.interval,
            keep = settings.keep,
            dir = %settings.dir.display(),
            "scheduled backups on"
        );
        tokio::spawn(scheduled_backups(ops.clone(), settings.clone()))
    })
}

/// Label of the backups [`scheduled_backups`] takes (ids end in `-scheduled`).
pub const SCHEDULED: &str = "scheduled";

/// Takes a backup labelled [`SCHEDULED`] every `settings.interval` seconds and prunes the
/// scheduled backups of this database to the newest `settings.keep` (and the newest that
/// verifies), until the task is aborted. Manual backups and the `pre-restore` safety backups
/// of restores are never pruned here. Failures are logged and retried at the next tick.
pub async fn scheduled_backups(ops: DatabaseOps, settings: BackupSettings) {
    let every = Duration::from_secs(settings.interval.max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match ops.create_backup(SCHEDULED, "zstd").await {
            Ok(b) => tracing::info!(id = %b.id, bytes = b.size_bytes, "scheduled backup done"),
            Err(e) => {
                tracing::error!(error = %e.message(), "scheduled backup failed");
                continue;
            }
        }
        let name = ops.migrations.name;
        match backup::prune(
            &ops.dir,
            Some(name),
            Some(SCHEDULED),
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
