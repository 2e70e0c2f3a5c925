//! [`DatabaseOps`]: the admin operations over one database, run on the blocking pool.

use crate::convert::backup_to_proto;
use crate::errors::{admin_status, info, internal, invalid};
use codelab_proto::admin::v1 as pb;
use db_core::DbUrl;
use db_core::admin::backup::{self, BackupOptions, Compression};
use db_core::admin::{AdminError, NoProgress};
use db_core::migrate::MigrationSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The admin operations over one database, backups in one folder. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DatabaseOps {
    pub(crate) url: DbUrl,
    pub(crate) dir: PathBuf,
    pub(crate) migrations: &'static MigrationSet,
    pub(crate) domain: &'static str,
}

impl DatabaseOps {
    /// Operations on the database at `url` whose schema is `migrations`, backups in `dir`;
    /// errors carry `ErrorInfo.domain = domain` (the service's name).
    pub fn new(
        url: DbUrl,
        dir: PathBuf,
        migrations: &'static MigrationSet,
        domain: &'static str,
    ) -> DatabaseOps {
        DatabaseOps {
            url,
            dir,
            migrations,
            domain,
        }
    }

    /// The backup folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes a backup labelled `label` with `compression` (`zstd`, `gzip`, `none`; empty =
    /// `zstd`) on the blocking pool.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` (field `compression`), `UNAVAILABLE`, `INTERNAL` when the folder
    /// cannot be written.
    pub async fn create_backup(
        &self,
        label: &str,
        compression: &str,
    ) -> Result<pb::Backup, Status> {
        let compression: Compression = if compression.is_empty() {
            Compression::Zstd
        } else {
            compression
                .parse()
                .map_err(|e: String| invalid(self.domain, "compression", &e))?
        };
        let label = label.to_owned();
        let info = self
            .blocking(move |ops| async move {
                backup::backup(
                    &ops.url,
                    ops.migrations,
                    BackupOptions {
                        dir: &ops.dir,
                        label: Some(&label),
                        compression,
                        progress: &NoProgress,
                    },
                )
                .await
            })
            .await?;
        Ok(backup_to_proto(
            &info.id,
            &info.path,
            info.sha256,
            &info.manifest,
        ))
    }

    /// The path of backup `id`, refusing anything but a plain folder name under the folder.
    pub(crate) fn backup_path(&self, id: &str) -> Result<PathBuf, Status> {
        if id.is_empty() || id.contains('/') || id.contains('\\') || id.starts_with('.') {
            return Err(invalid(
                self.domain,
                "backup_id",
                "must be a backup id from ListBackups",
            ));
        }
        let path = self.dir.join(id);
        if !path.is_dir() {
            let mut details = info(self.domain, "BACKUP_NOT_FOUND", &[("id", id)]);
            details.set_resource_info("backup", id, "", "not found");
            return Err(Status::with_error_details(
                Code::NotFound,
                format!("backup `{id}` not found"),
                details,
            ));
        }
        Ok(path)
    }

    /// Runs `operation` (which gets a clone of `self`) on the blocking pool, so the file I/O
    /// and hashing of backups never hold an async worker; maps its error.
    pub(crate) async fn blocking<T, F, Fut>(&self, operation: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(DatabaseOps) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, AdminError>>,
    {
        let ops = self.clone();
        let domain = self.domain;
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(operation(ops)))
            .await
            .map_err(|e| internal(domain, &format!("admin task failed: {e}")))?
            .map_err(|e| admin_status(domain, e))
    }
}
