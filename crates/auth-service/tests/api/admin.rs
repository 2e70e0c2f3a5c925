//! codelab.admin.v1.DatabaseAdmin on auth-service's own database: every RPC through a real
//! server, admin-only, on both backends.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::admin::v1 as pb;
use db_core::Backend;
use service_kit::testing::admin::*;
use tonic::Code;

backend_tests!(database_admin_round_trip, database_admin_needs_api_admin);

async fn database_admin_round_trip(backend: Backend) {
    let backups = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(backend, |c| c.backup.dir = backups.path().to_owned()).await;
    let token = app.admin().await;
    app.create_user("carol", "carol-password-1").await;
    let mut admin = admin_client(&app.channel, &token);

    let info = admin
        .get_database_info(pb::GetDatabaseInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.database, "auth");
    assert_eq!(info.backend, backend.to_string());
    assert_eq!(table_rows(&info.tables, "users"), Some(2));
    assert!(table_rows(&info.tables, "oauth_clients").is_some_and(|n| n >= 2));
    assert!(!info.url.contains("password"), "{}", info.url);

    assert_migrations_current(&mut admin).await;

    let backup = admin
        .create_backup(pb::CreateBackupRequest {
            name: "before-dave".into(),
            compression: "gzip".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(backup.id.starts_with("auth-"), "{}", backup.id);
    assert_eq!(table_rows(&backup.row_counts, "users"), Some(2));
    let bad = admin
        .create_backup(pb::CreateBackupRequest {
            name: String::new(),
            compression: "rar".into(),
        })
        .await;
    assert_status(bad, Code::InvalidArgument, "compression");
    let listed = admin
        .list_backups(pb::ListBackupsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .backups
            .iter()
            .map(|b| b.id.as_str())
            .collect::<Vec<_>>(),
        vec![backup.id.as_str()]
    );
    assert_backup_verifies(&mut admin, &backup.id).await;

    // A user created after the backup is gone once it is restored (with force).
    app.create_user("dave", "dave-password-1").await;
    let (_, restored) = restore_needs_force(&mut admin, &backup.id).await;
    assert_eq!(table_rows(&restored.restored_row_counts, "users"), Some(2));
    assert!(app.login("dave", "dave-password-1").await.is_err());
    assert!(app.login("carol", "carol-password-1").await.is_ok());

    let unsafe_id = admin
        .verify_backup(pb::VerifyBackupRequest {
            backup_id: "../etc".into(),
            deep: false,
        })
        .await;
    assert_status(unsafe_id, Code::InvalidArgument, "backup_id");
    let unknown = admin
        .verify_backup(pb::VerifyBackupRequest {
            backup_id: "auth-missing".into(),
            deep: false,
        })
        .await
        .expect_err("unknown backup");
    assert_eq!(unknown.code(), Code::NotFound);

    let removed = dry_run_cleanup(&mut admin, 7).await;
    for kind in ["refresh_tokens", "login_attempts", "audit_logs"] {
        assert!(removed.contains_key(kind), "{removed:?}");
    }
    let zero = admin
        .cleanup_data(pb::CleanupDataRequest {
            days: 0,
            dry_run: Some(false),
        })
        .await;
    assert_status(zero, Code::InvalidArgument, "days");

    assert_no_schema_drift(&mut admin).await;
    app.shutdown().await;
}

async fn database_admin_needs_api_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("erin", "erin-password-1").await;
    let erin = app.login("erin", "erin-password-1").await.unwrap();
    let denied = admin_client(&app.channel, &erin.access_token)
        .get_database_info(pb::GetDatabaseInfoRequest {})
        .await;
    expect_err(denied, Code::PermissionDenied, "MISSING_SCOPE");
    let anonymous = admin_client(&app.channel, "")
        .list_backups(pb::ListBackupsRequest {})
        .await;
    expect_err(anonymous, Code::Unauthenticated, "MISSING_TOKEN");
    app.shutdown().await;
}

/// Asserts `result` failed with `code`, and for `INVALID_ARGUMENT` that the BadRequest names
/// `field`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, field: &str) {
    use tonic_types::StatusExt as _;
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        details.error_info().expect("ErrorInfo").domain,
        "auth-service"
    );
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert_eq!(violations[0].field, field, "{status:?}");
}
