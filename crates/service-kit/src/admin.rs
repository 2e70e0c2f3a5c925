//! The DatabaseAdmin wiring both services share: operations on the service's own database
//! (backups in `…__BACKUP__DIR`), the scheduled backups, and the tonic service around the
//! service's [`ServiceHooks`] (who may call, what `CleanupData` removes).

use codelab_proto::admin::v1::database_admin_server::DatabaseAdminServer;
use database_admin::{BackupSettings, DatabaseAdminService, DatabaseOps, ServiceHooks};
use db_core::DbUrl;
use db_core::migrate::MigrationSet;
use tokio::task::AbortHandle;

/// DatabaseAdmin of one service's database, its scheduled backups started.
pub struct Admin {
    ops: DatabaseOps,
    scheduled: Option<AbortHandle>,
}

impl Admin {
    /// Operations on the database at `url` whose schema is `migrations`, errors in `domain`,
    /// and the backup schedule of `backup` started (none when its interval is 0).
    pub fn start(
        url: DbUrl,
        backup: &BackupSettings,
        migrations: &'static MigrationSet,
        domain: &'static str,
    ) -> Admin {
        let ops = DatabaseOps::new(url, backup.dir.clone(), migrations, domain);
        let scheduled =
            database_admin::spawn_scheduled_backups(&ops, backup).map(|task| task.abort_handle());
        Admin { ops, scheduled }
    }

    /// The scheduled backups' task, to stop with the server.
    pub fn scheduled(&self) -> Option<AbortHandle> {
        self.scheduled.clone()
    }

    /// The `DatabaseAdmin` service with `hooks`, refusing requests over `max_request_bytes`.
    pub fn server<H: ServiceHooks>(
        &self,
        hooks: H,
        max_request_bytes: usize,
    ) -> DatabaseAdminServer<DatabaseAdminService<H>> {
        DatabaseAdminService::new(self.ops.clone(), hooks)
            .into_server()
            .max_decoding_message_size(max_request_bytes)
    }
}

/// `CleanupData`'s `removed` counts from `(kind, rows)` pairs; a negative count is 0.
pub fn removed<const N: usize>(counts: [(&str, i64); N]) -> Vec<(String, u64)> {
    counts
        .into_iter()
        .map(|(kind, n)| (kind.to_owned(), u64::try_from(n).unwrap_or(0)))
        .collect()
}
