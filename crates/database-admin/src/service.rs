//! [`DatabaseAdminService`]: the `DatabaseAdmin` gRPC service over [`DatabaseOps`].

use crate::convert::{backup_to_proto, manifest_sha, migration, rows};
use crate::errors::{admin_status, invalid};
use crate::{DatabaseOps, ServiceHooks};
use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_server::{self, DatabaseAdminServer};
use db_core::admin::NoProgress;
use db_core::admin::backup::{self, RestoreOptions};
use db_core::migrate::MigrationState;
use std::future::Future;
use std::time::Instant;
use tonic::{Request, Response, Status};

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
