//! `codelab.admin.v1.DatabaseAdmin` for agent-runtime's database (scope `api:admin`).

use super::{Shared, rpc};
use crate::admin::Admin;
use crate::auth::Scope;
use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_server::DatabaseAdmin;
use db_core::admin::TableRows;
use db_core::admin::backup::Manifest;
use db_core::migrate::{MigrationState, MigrationStatus};
use tonic::{Request, Response, Status};

/// The DatabaseAdmin implementation.
#[derive(Clone, Debug)]
pub struct AdminApi {
    shared: Shared,
    admin: Admin,
}

impl AdminApi {
    /// The service over `shared` (authentication) and `admin` (the database).
    pub fn new(shared: Shared, admin: Admin) -> AdminApi {
        AdminApi { shared, admin }
    }
}

fn rows(tables: &[TableRows]) -> Vec<pb::TableRowCount> {
    tables
        .iter()
        .map(|t| pb::TableRowCount {
            name: t.name.clone(),
            rows: t.rows,
        })
        .collect()
}

fn timestamp(text: &str) -> Option<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()?;
    let t = t.and_utc();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

fn backup_to_proto(id: &str, path: &std::path::Path, sha256: String, m: &Manifest) -> pb::Backup {
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

fn manifest_sha(path: &std::path::Path) -> String {
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

#[tonic::async_trait]
impl DatabaseAdmin for AdminApi {
    async fn get_database_info(
        &self,
        request: Request<pb::GetDatabaseInfoRequest>,
    ) -> Result<Response<pb::DatabaseInfo>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, _req| {
            let i = self.admin.info().await?;
            Ok(pb::DatabaseInfo {
                database: i.name,
                backend: i.backend,
                url: i.url,
                size_bytes: i.size_bytes,
                tables: rows(&i.tables),
                schema_version: i.schema_version.unwrap_or_default(),
            })
        })
    }

    async fn get_migration_status(
        &self,
        request: Request<pb::GetMigrationStatusRequest>,
    ) -> Result<Response<pb::MigrationStatus>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, _req| {
            let s = self.admin.migration_status().await?;
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
    }

    async fn create_backup(
        &self,
        request: Request<pb::CreateBackupRequest>,
    ) -> Result<Response<pb::Backup>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, req| {
            let info = self
                .admin
                .create_backup(&req.name, &req.compression)
                .await?;
            Ok(backup_to_proto(
                &info.id,
                &info.path,
                info.sha256,
                &info.manifest,
            ))
        })
    }

    async fn list_backups(
        &self,
        request: Request<pb::ListBackupsRequest>,
    ) -> Result<Response<pb::ListBackupsResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, _req| {
            let all = self.admin.list_backups()?;
            Ok(pb::ListBackupsResponse {
                backups: all
                    .iter()
                    .map(|b| backup_to_proto(&b.id, &b.path, manifest_sha(&b.path), &b.manifest))
                    .collect(),
            })
        })
    }

    async fn verify_backup(
        &self,
        request: Request<pb::VerifyBackupRequest>,
    ) -> Result<Response<pb::VerifyBackupResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, req| {
            let r = self.admin.verify_backup(&req.backup_id, req.deep).await?;
            Ok(pb::VerifyBackupResponse {
                ok: r.ok,
                problems: r.problems,
            })
        })
    }

    async fn restore_backup(
        &self,
        request: Request<pb::RestoreBackupRequest>,
    ) -> Result<Response<pb::RestoreBackupResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, req| {
            let r = self.admin.restore_backup(&req.backup_id, req.force).await?;
            Ok(pb::RestoreBackupResponse {
                pre_restore_backup_id: r.safety_backup.unwrap_or_default(),
                restored_row_counts: rows(&r.tables),
            })
        })
    }

    async fn cleanup_data(
        &self,
        request: Request<pb::CleanupDataRequest>,
    ) -> Result<Response<pb::CleanupDataResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, req| {
            let dry_run = req.dry_run.unwrap_or(true);
            let r = self.admin.cleanup(req.days, dry_run).await?;
            Ok(pb::CleanupDataResponse {
                dry_run,
                removed: [
                    (
                        "sessions_purged".to_owned(),
                        u64::try_from(r.purged).unwrap_or(0),
                    ),
                    (
                        "sessions_soft_deleted".to_owned(),
                        u64::try_from(r.soft_deleted).unwrap_or(0),
                    ),
                ]
                .into_iter()
                .collect(),
            })
        })
    }

    async fn check_schema_drift(
        &self,
        request: Request<pb::CheckSchemaDriftRequest>,
    ) -> Result<Response<pb::CheckSchemaDriftResponse>, Status> {
        rpc!(self.shared, request, Scope::Admin, |_access, _req| {
            let d = self.admin.drift().await?;
            Ok(pb::CheckSchemaDriftResponse {
                drift_found: !d.is_empty(),
                differences: d
                    .into_iter()
                    .map(|x| pb::SchemaDifference {
                        kind: x.kind,
                        object: x.object,
                        detail: x.detail,
                    })
                    .collect(),
            })
        })
    }
}
