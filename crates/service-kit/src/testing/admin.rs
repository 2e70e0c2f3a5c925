//! `codelab.admin.v1.DatabaseAdmin` from a test: a client carrying a bearer token, and the
//! checks both services' admin tests end with.

use super::server::{Bearer, bearer};
use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_client::DatabaseAdminClient;
use std::collections::HashMap;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// A DatabaseAdmin client whose calls carry a bearer token.
pub type AdminClient = DatabaseAdminClient<InterceptedService<Channel, Bearer>>;

/// A DatabaseAdmin client over `channel` sending `token` (none when empty).
pub fn admin_client(channel: &Channel, token: &str) -> AdminClient {
    DatabaseAdminClient::with_interceptor(channel.clone(), bearer(token))
}

/// `CleanupData` for `days` without `dry_run`, which must default to a dry run; returns what
/// it would remove.
///
/// # Panics
/// When the call fails or was not a dry run.
pub async fn dry_run_cleanup(admin: &mut AdminClient, days: u32) -> HashMap<String, u64> {
    let cleanup = admin
        .cleanup_data(pb::CleanupDataRequest {
            days,
            dry_run: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(cleanup.dry_run);
    cleanup.removed
}

/// Asserts `CheckSchemaDrift` finds the live schema equal to the migrations'.
///
/// # Panics
/// When the call fails or drift is found.
pub async fn assert_no_schema_drift(admin: &mut AdminClient) {
    let drift = admin
        .check_schema_drift(pb::CheckSchemaDriftRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!drift.drift_found, "{:?}", drift.differences);
}

/// The row count of table `name` in `tables`, if listed.
pub fn table_rows(tables: &[pb::TableRowCount], name: &str) -> Option<u64> {
    tables.iter().find(|t| t.name == name).map(|t| t.rows)
}

/// Asserts `GetMigrationStatus` shows every migration applied, with its checksum intact.
///
/// # Panics
/// When the call fails or a migration is pending, modified or undated.
pub async fn assert_migrations_current(admin: &mut AdminClient) {
    let status = admin
        .get_migration_status(pb::GetMigrationStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.current_version, status.latest_version);
    assert!(status.pending.is_empty());
    assert!(
        status
            .applied
            .iter()
            .all(|m| m.checksum_ok && m.applied_at.is_some())
    );
}

/// Asserts a deep `VerifyBackup` of `backup_id` finds no problem.
///
/// # Panics
/// When the call fails or the backup has problems.
pub async fn assert_backup_verifies(admin: &mut AdminClient, backup_id: &str) {
    let verified = admin
        .verify_backup(pb::VerifyBackupRequest {
            backup_id: backup_id.to_owned(),
            deep: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{:?}", verified.problems);
}

/// Restores `backup_id` over a database that has rows: first without `force`, which must be
/// refused with `FAILED_PRECONDITION` (returned, for the service's own checks), then with it,
/// which must succeed after a safety backup.
///
/// # Panics
/// When the first call is not refused that way, or the second fails or took no safety backup.
pub async fn restore_needs_force(
    admin: &mut AdminClient,
    backup_id: &str,
) -> (Status, pb::RestoreBackupResponse) {
    let refused = admin
        .restore_backup(pb::RestoreBackupRequest {
            backup_id: backup_id.to_owned(),
            force: false,
        })
        .await
        .expect_err("a database with rows needs force");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let restored = admin
        .restore_backup(pb::RestoreBackupRequest {
            backup_id: backup_id.to_owned(),
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!restored.pre_restore_backup_id.is_empty());
    (refused, restored)
}
