//! `codelab.admin.v1.DatabaseAdmin` for one service's own database, shared by agent-runtime
//! and auth-service, and the scheduled backups both run.
//!
//! The work is db-core's admin engine ([`db_core::admin`]); this crate is its gRPC edge:
//! request validation, error → status mapping (one `google.rpc.ErrorInfo` with the serving
//! service's domain, AIP-193), proto conversion, and running the long operations (backup,
//! verify, restore, drift) on the blocking pool so they never stall other RPCs. What differs
//! per service — who may call (scope `api:admin`) and what "cleanup" removes — comes in
//! through [`ServiceHooks`].

use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_server::{self, DatabaseAdminServer};
use db_core::DbUrl;
use db_core::admin::backup::{self, BackupOptions, Compression, Manifest, RestoreOptions};
use db_core::admin::{AdminError, NoProgress, TableRows};
use db_core::migrate::{MigrationSet, MigrationState, MigrationStatus};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `<PREFIX>__BACKUP__*`: where a service keeps backups and the optional schedule.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BackupSettings {
    /// Folder of backups (the `DatabaseAdmin` RPCs and scheduled backups). Default `backups`.
    pub dir: PathBuf,
    /// Seconds between scheduled backups; 0 (default) = no scheduled backups.
    pub interval: u64,
    /// Scheduled backups kept (older scheduled ones of this database are pruned after each
    /// backup; the newest verified scheduled backup is always kept; manual and pre-restore
    /// backups are never pruned by the schedule). Default 7.
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

/// What one service adds to the shared `DatabaseAdmin`.
#[tonic::async_trait]
pub trait ServiceHooks: Send + Sync + 'static {
    /// Checks that the caller of `request` (metadata and extensions of the real request) may
    /// administer the database (scope `api:admin`).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` without a valid token, `PERMISSION_DENIED` without the scope.
    async fn authorize(&self, request: &Request<()>) -> Result<(), Status>;

    /// Applies the database's retention rule with `days` (≥ 1), counting only when `dry_run`
    /// (in short batches otherwise, so the service keeps writing). Returns what was (or would
    /// be) removed, by kind, e.g. `("sessions_purged", 3)`. After a real cleanup the shared
    /// service runs `VACUUM` on a SQLite database.
    ///
    /// # Errors
    /// The service's own status for a database failure.
    async fn cleanup(&self, days: u32, dry_run: bool) -> Result<Vec<(String, u64)>, Status>;
}

/// The admin operations over one database, backups in one folder. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DatabaseOps {
    url: DbUrl,
    dir: PathBuf,
    migrations: &'static MigrationSet,
    domain: &'static str,
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
    fn backup_path(&self, id: &str) -> Result<PathBuf, Status> {
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
    async fn blocking<T, F, Fut>(&self, operation: F) -> Result<T, Status>
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

/// The `DatabaseAdmin` gRPC service of one database.
#[derive(Debug)]
pub struct DatabaseAdminService<H> {
    ops: DatabaseOps,
    hooks: H,
}

impl<H: ServiceHooks> DatabaseAdminService<H> {
    /// The service over `ops`, asking `hooks` who may call and how to clean up.
    pub fn new(ops: DatabaseOps, hooks: H) -> DatabaseAdminService<H> {
        DatabaseAdminService { ops, hooks }
    }

    /// The tonic server for it.
    pub fn into_server(self) -> DatabaseAdminServer<Self> {
        DatabaseAdminServer::new(self)
    }

    /// Authorizes the caller, runs `body` on the request message, and logs the outcome
    /// (`code`, `duration_ms`) as the services log their own RPCs.
    async fn rpc<Q, T, F, Fut>(&self, request: Request<Q>, body: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(Q) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let (metadata, extensions, message) = request.into_parts();
        let probe = Request::from_parts(metadata, extensions, ());
        let result = match self.hooks.authorize(&probe).await {
            Ok(()) => body(message).await,
            Err(status) => Err(status),
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(body) => {
                tracing::debug!(code = "OK", duration_ms, "rpc finished");
                Ok(Response::new(body))
            }
            Err(status) => {
                tracing::info!(code = ?status.code(), duration_ms, message = status.message(), "rpc failed");
                Err(status)
            }
        }
    }
}

#[tonic::async_trait]
impl<H: ServiceHooks> database_admin_server::DatabaseAdmin for DatabaseAdminService<H> {
    async fn get_database_info(
        &self,
        request: Request<pb::GetDatabaseInfoRequest>,
    ) -> Result<Response<pb::DatabaseInfo>, Status> {
        self.rpc(request, |_| async {
            let i = self
                .ops
                .blocking(|ops| async move {
                    db_core::admin::stats(ops.migrations.name, &ops.url, ops.migrations).await
                })
                .await?;
            Ok(pb::DatabaseInfo {
                database: i.name,
                backend: i.backend,
                url: i.url,
                size_bytes: i.size_bytes,
                tables: rows(&i.tables),
                schema_version: i.schema_version.unwrap_or_default(),
            })
        })
        .await
    }

    async fn get_migration_status(
        &self,
        request: Request<pb::GetMigrationStatusRequest>,
    ) -> Result<Response<pb::MigrationStatus>, Status> {
        self.rpc(request, |_| async {
            let s = db_core::migrate::status(&self.ops.url, self.ops.migrations)
                .await
                .map_err(|e| admin_status(self.ops.domain, e.into()))?;
            Ok(pb::MigrationStatus {
                current_version: s.current.clone().unwrap_or_default(),
                latest_version: s.latest.clone().unwrap_or_default(),
                applied: s.applied().into_iter().map(migration).collect(),
                pending: s
                    .in_state(MigrationState::Pending)
                    .into_iter()
                    .map(migration)
                    .collect(),
            })
        })
        .await
    }

    async fn create_backup(
        &self,
        request: Request<pb::CreateBackupRequest>,
    ) -> Result<Response<pb::Backup>, Status> {
        self.rpc(request, |req| async move {
            self.ops.create_backup(&req.name, &req.compression).await
        })
        .await
    }

    async fn list_backups(
        &self,
        request: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        self.rpc(request, |_| async {
            let backups = self
                .ops
                .blocking(|ops| async move {
                    let all = backup::list(&ops.dir, Some(ops.migrations.name))?;
                    Ok(all
                        .iter()
                        .map(|b| {
                            backup_to_proto(&b.id, &b.path, manifest_sha(&b.path), &b.manifest)
                        })
                        .collect())
                })
                .await?;
            Ok(pb::ListBackupsResponse { backups })
        })
        .await
    }

    async fn verify_backup(
        &self,
        request: Request<pb::VerifyBackupRequest>,
    ) -> Result<Response<pb::VerifyBackupResponse>, Status> {
        self.rpc(request, |req| async move {
            let path = self.ops.backup_path(&req.backup_id)?;
            let deep = req.deep;
            let report = self
                .ops
                .blocking(move |ops| async move {
                    backup::verify(&path, Some(ops.migrations), deep).await
                })
                .await?;
            Ok(pb::VerifyBackupResponse {
                ok: report.ok,
                problems: report.problems,
            })
        })
        .await
    }

    async fn restore_backup(
        &self,
        request: Request<pb::RestoreBackupRequest>,
    ) -> Result<Response<pb::RestoreBackupResponse>, Status> {
        self.rpc(request, |req| async move {
            let path = self.ops.backup_path(&req.backup_id)?;
            let force = req.force;
            let report = self
                .ops
                .blocking(move |ops| async move {
                    backup::restore(
                        &path,
                        &ops.url,
                        ops.migrations,
                        RestoreOptions {
                            force,
                            safety_dir: &ops.dir,
                            progress: &NoProgress,
                        },
                    )
                    .await
                })
                .await?;
            Ok(pb::RestoreBackupResponse {
                pre_restore_backup_id: report.safety_backup.unwrap_or_default(),
                restored_row_counts: rows(&report.tables),
            })
        })
        .await
    }

    async fn cleanup_data(
        &self,
        request: Request<pb::CleanupDataRequest>,
    ) -> Result<Response<pb::CleanupDataResponse>, Status> {
        self.rpc(request, |req| async move {
            if req.days == 0 {
                return Err(invalid(self.ops.domain, "days", "must be at least 1"));
            }
            let dry_run = req.dry_run.unwrap_or(true);
            let removed = self.hooks.cleanup(req.days, dry_run).await?;
            if !dry_run {
                // As `codelab db cleanup --execute`: give the freed pages back to the file system
                // (SQLite only; PostgreSQL is left to autovacuum).
                let vacuumed = self
                    .ops
                    .blocking(|ops| async move { db_core::admin::vacuum(&ops.url).await })
                    .await?;
                if vacuumed {
                    tracing::info!("VACUUM after cleanup done");
                }
            }
            Ok(pb::CleanupDataResponse {
                dry_run,
                removed: removed.into_iter().collect(),
            })
        })
        .await
    }

    async fn check_schema_drift(
        &self,
        request: Request<pb::CheckSchemaDriftRequest>,
    ) -> Result<Response<pb::CheckSchemaDriftResponse>, Status> {
        self.rpc(request, |_| async {
            let differences = self
                .ops
                .blocking(
                    |ops| async move { db_core::admin::drift(&ops.url, ops.migrations).await },
                )
                .await?;
            Ok(pb::CheckSchemaDriftResponse {
                drift_found: !differences.is_empty(),
                differences: differences
                    .into_iter()
                    .map(|x| pb::SchemaDifference {
                        kind: x.kind,
                        object: x.object,
                        detail: x.detail,
                    })
                    .collect(),
            })
        })
        .await
    }
}

// ----- errors ------------------------------------------------------------------------------

fn info(domain: &str, reason: &str, meta: &[(&str, &str)]) -> ErrorDetails {
    let metadata: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ErrorDetails::with_error_info(reason, domain, metadata)
}

/// `INVALID_ARGUMENT` with a `BadRequest` naming `field`.
fn invalid(domain: &str, field: &str, description: &str) -> Status {
    let mut details = info(domain, "INVALID_ARGUMENT", &[("field", field)]);
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        details,
    )
}

fn internal(domain: &str, cause: &str) -> Status {
    tracing::error!(%cause, "internal error");
    Status::with_error_details(
        Code::Internal,
        "internal error",
        info(domain, "INTERNAL", &[]),
    )
}

fn precondition(domain: &str, reason: &str, message: String) -> Status {
    let mut details = info(domain, reason, &[]);
    details.add_precondition_failure_violation(reason, "", message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// Maps the admin engine's errors: a bad backup or a refused restore → `FAILED_PRECONDITION`
/// (reasons `BACKUP_INVALID`, `ADMIN_REFUSED`), a database outage → `UNAVAILABLE` (with
/// `RetryInfo`), anything else → `INTERNAL` (logged, generic message).
fn admin_status(domain: &str, error: AdminError) -> Status {
    match error {
        AdminError::BadBackup { backup, problem } => precondition(
            domain,
            "BACKUP_INVALID",
            format!(
                "backup {}: {problem}",
                backup.rsplit('/').next().unwrap_or(&backup)
            ),
        ),
        AdminError::Refused(message) => precondition(domain, "ADMIN_REFUSED", message),
        AdminError::Db(e) if e.is_unavailable() => {
            tracing::warn!(cause = %e, "database unavailable");
            let mut details = info(domain, "DATABASE_UNAVAILABLE", &[]);
            details.set_retry_info(Some(Duration::from_secs(1)));
            Status::with_error_details(
                Code::Unavailable,
                "database unavailable, retry later",
                details,
            )
        }
        AdminError::Db(e) => internal(domain, &e.to_string()),
        AdminError::Io { path, source } => internal(domain, &format!("{path}: {source}")),
    }
}

// ----- proto conversion ---------------------------------------------------------------------

fn rows(tables: &[TableRows]) -> Vec<pb::TableRowCount> {
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

fn backup_to_proto(id: &str, path: &Path, sha256: String, m: &Manifest) -> pb::Backup {
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

fn migration(m: &MigrationStatus) -> pb::Migration {
    pb::Migration {
        version: m.version.clone(),
        name: m.name.clone(),
        state: format!("{:?}", m.state).to_lowercase(),
        applied_at: m.applied_at.as_deref().and_then(timestamp),
        checksum_ok: !matches!(m.state, MigrationState::Modified),
    }
}

/// sha256 (hex) of a backup's `manifest.json`, which holds the sha256 of every other file.
fn manifest_sha(path: &Path) -> String {
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

    #[test]
    fn admin_errors_keep_their_meaning_and_domain() {
        let s = admin_status(
            "auth-service",
            AdminError::BadBackup {
                backup: "/b/auth-2026".into(),
                problem: "sha256 mismatch".into(),
            },
        );
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(
            s.message().starts_with("backup auth-2026:"),
            "{}",
            s.message()
        );
        let details = s.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("BACKUP_INVALID", "auth-service")
        );
        let s = admin_status(
            "x",
            AdminError::Db(db_core::DbError::Unavailable("down".into())),
        );
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.get_error_details().retry_info().is_some());
        let s = admin_status(
            "x",
            AdminError::Io {
                path: "/secret/path".into(),
                source: std::io::Error::other("boom"),
            },
        );
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/secret/path"));
    }
}
