//! DatabaseAdmin: every RPC through a real server, admin-only, on both backends.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::admin::v1 as pb;
use codelab_proto::agent::v1 as agent;
use db_core::Backend;
use service_kit::testing::admin::*;
use tonic::Code;

backend_tests!(database_admin_round_trip, database_admin_needs_api_admin);

async fn database_admin_round_trip(backend: Backend) {
    let backups = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(backend, |c| c.backup.dir = backups.path().to_owned()).await;
    let mut s = app.sessions(&alice());
    for id in ["a", "b"] {
        s.append_messages(agent::AppendMessagesRequest {
            session_id: id.into(),
            messages: vec![user("hello"), assistant("hi")],
            create_if_missing: true,
        })
        .await
        .unwrap();
    }
    let mut admin = admin_client(&app.channel, &admin());
    let info = admin
        .get_database_info(pb::GetDatabaseInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.database, "agent_runtime");
    assert_eq!(info.backend, backend.to_string());
    assert_eq!(table_rows(&info.tables, "sessions"), Some(2));
    assert_eq!(table_rows(&info.tables, "messages"), Some(4));
    assert!(!info.schema_version.is_empty());

    assert_migrations_current(&mut admin).await;

    let backup = admin
        .create_backup(pb::CreateBackupRequest {
            name: "before".into(),
            compression: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(table_rows(&backup.row_counts, "messages"), Some(4));
    assert_eq!(backup.sha256.len(), 64);
    let listed = admin
        .list_backups(pb::ListBackupsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.backups.len(), 1);
    assert_eq!(listed.backups[0].id, backup.id);
    assert_backup_verifies(&mut admin, &backup.id).await;

    // More data, then restore: refused without force, restored with it.
    s.append_messages(agent::AppendMessagesRequest {
        session_id: "c".into(),
        messages: vec![user("later")],
        create_if_missing: true,
    })
    .await
    .unwrap();
    let (refused, restored) = restore_needs_force(&mut admin, &backup.id).await;
    assert_status(Err::<(), _>(refused), Code::FailedPrecondition, None);
    assert_eq!(
        table_rows(&restored.restored_row_counts, "sessions"),
        Some(2)
    );
    let missing = s
        .get_session(agent::GetSessionRequest {
            session_id: "c".into(),
            include_deleted: true,
        })
        .await;
    assert_status(missing, Code::NotFound, None);
    // Ids survived: appending continues the sequence.
    let r = s
        .append_messages(agent::AppendMessagesRequest {
            session_id: "a".into(),
            messages: vec![user("again")],
            create_if_missing: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.first_seq, 3);

    let unknown = admin
        .verify_backup(pb::VerifyBackupRequest {
            backup_id: "nope".into(),
            deep: false,
        })
        .await;
    assert_status(unknown, Code::NotFound, None);
    let unsafe_id = admin
        .restore_backup(pb::RestoreBackupRequest {
            backup_id: "../x".into(),
            force: true,
        })
        .await;
    // DatabaseAdmin's errors come from the shared database-admin crate, whose bad-field reason
    // is INVALID_ARGUMENT; the field is named the same way.
    let status = assert_status(unsafe_id, Code::InvalidArgument, None);
    let details = tonic_types::StatusExt::get_error_details(&status);
    assert_eq!(
        details.bad_request().expect("BadRequest").field_violations[0].field,
        "backup_id"
    );

    let removed = dry_run_cleanup(&mut admin, 30).await;
    assert_eq!(removed.get("sessions_purged"), Some(&0));

    assert_no_schema_drift(&mut admin).await;
    app.shutdown().await;
}

async fn database_admin_needs_api_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let denied = admin_client(&app.channel, &alice())
        .get_database_info(pb::GetDatabaseInfoRequest {})
        .await;
    assert_status(denied, Code::PermissionDenied, None);
    let anonymous = admin_client(&app.channel, "")
        .list_backups(pb::ListBackupsRequest {})
        .await;
    assert_status(anonymous, Code::Unauthenticated, None);
}
