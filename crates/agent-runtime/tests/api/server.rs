//! The server around the services: health, reflection, request limits, outages, shutdown.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

backend_tests!(
    health_reflection_and_size_limit,
    start_refuses_an_edited_migration_and_honours_auto_migrate_off
);

/// With auto-migration off the schema is left alone; an applied migration whose file changed
/// stops the start either way.
async fn start_refuses_an_edited_migration_and_honours_auto_migrate_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.db.auto_migrate = false).await;
    let status = db_core::migrate::status(app.db.url(), &agent_runtime::migrations::MIGRATIONS)
        .await
        .unwrap();
    assert_eq!(
        status.current, None,
        "nothing applied with AUTO_MIGRATE=false"
    );
    let url = app.db.url().clone();
    db_core::migrate::migrate(&url, &agent_runtime::migrations::MIGRATIONS, None)
        .await
        .unwrap();
    let pool = db_core::Pool::connect(&url, &db_core::PoolConfig::default())
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(
            c,
            "UPDATE __codelab_migrations SET checksum = 'edited'",
        )
        .await
        .unwrap()
    });
    for auto_migrate in [true, false] {
        let mut config = test_config(&app.db);
        config.db.auto_migrate = auto_migrate;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = agent_runtime::serve(config, listener, async {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("changed since they ran"), "{err}");
    }
}

async fn health_reflection_and_size_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.limits.max_request_bytes = 64 * 1024).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "codelab.agent.v1.SessionService",
        "codelab.agent.v1.ApprovalService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, 1, "{service} SERVING");
    }

    // Reflection, both protocol versions.
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(app.channel.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::once(req))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            stream.message().await.unwrap().unwrap().message_response
        else {
            panic!("expected a service list");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        for expected in [
            "codelab.agent.v1.SessionService",
            "codelab.agent.v1.AgentContextService",
            "codelab.agent.v1.ApprovalService",
            "grpc.health.v1.Health",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
    }
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        let mut client = ServerReflectionClient::new(app.channel.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "codelab.agent.v1.SessionService".into(),
            )),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::once(req))
            .await
            .unwrap()
            .into_inner();
        assert!(
            stream
                .message()
                .await
                .unwrap()
                .unwrap()
                .message_response
                .is_some()
        );
    }

    // An oversized request is refused with RESOURCE_EXHAUSTED and an ErrorInfo naming the
    // limit, on every service; the server keeps serving on the same connection.
    let mut s = app.sessions(&alice());
    let huge = user(&"x".repeat(100 * 1024));
    let refused = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "big".into(),
            messages: vec![huge],
            create_if_missing: true,
        })
        .await;
    assert_too_large(refused, 64 * 1024);
    let refused = app
        .agents(&alice())
        .switch_agent(pb::SwitchAgentRequest {
            session_id: "big".into(),
            to_agent: "coder".into(),
            reason: "r".repeat(70 * 1024),
            ..Default::default()
        })
        .await;
    assert_too_large(refused, 64 * 1024);
    let refused = app
        .approvals(&alice())
        .create_pending_approval(pb::CreatePendingApprovalRequest {
            session_id: "big".into(),
            call_id: "c".into(),
            tool_name: "t".into(),
            reason: "r".repeat(70 * 1024),
            ..Default::default()
        })
        .await;
    assert_too_large(refused, 64 * 1024);
    // DatabaseAdmin gets the configured limit too (not tonic's 4 MiB default).
    let mut db_admin =
        codelab_proto::admin::v1::database_admin_client::DatabaseAdminClient::with_interceptor(
            app.channel.clone(),
            bearer(&admin()),
        );
    let refused = db_admin
        .create_backup(codelab_proto::admin::v1::CreateBackupRequest {
            name: "n".repeat(70 * 1024),
            ..Default::default()
        })
        .await;
    assert_too_large(refused, 64 * 1024);
    let refused = health
        .check(HealthCheckRequest {
            service: "s".repeat(70 * 1024),
        })
        .await;
    assert_too_large(refused, 64 * 1024);

    append(&mut s, "big", vec![user("small")]).await;
    assert_eq!(
        walk(&mut s, "big", 10).await.len(),
        1,
        "the oversized message was not stored"
    );
    app.shutdown().await;
}

/// `result` is RESOURCE_EXHAUSTED with ErrorInfo `REQUEST_TOO_LARGE` and `limit_bytes`.
#[track_caller]
fn assert_too_large<T: std::fmt::Debug>(result: Result<T, tonic::Status>, limit: usize) {
    use tonic_types::StatusExt;
    let status = assert_status(result, Code::ResourceExhausted, None);
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "REQUEST_TOO_LARGE");
    assert_eq!(info.metadata["limit_bytes"], limit.to_string());
    let size: usize = info.metadata["size_bytes"].parse().unwrap();
    assert!(size > limit, "size_bytes {size} over the limit {limit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_database() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let health = HealthClient::new(app.channel.clone());
    assert_eq!(overall_status(&health).await, 1);

    // Take the database away under the running server.
    let name = app.db.url().postgres_database().unwrap();
    let admin_url = db_core::testing::admin_url();
    let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();

    assert!(
        wait_for_status(&health, 2).await,
        "health must turn NOT_SERVING while the database is gone"
    );
    let (_, body) = crate::web::wait_for_health(&app, 503).await;
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let failed = app
        .sessions(&alice())
        .list_sessions(pb::ListSessionsRequest::default())
        .await;
    assert_eq!(
        failed.expect_err("database is gone").code(),
        Code::Unavailable
    );

    // Bring it back (empty): health recovers without a restart.
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    assert!(
        wait_for_status(&health, 1).await,
        "health must return to SERVING"
    );
    assert_eq!(
        crate::web::wait_for_health(&app, 200).await.1["status"],
        "healthy"
    );
}

/// The overall grpc.health.v1 status (1 = SERVING, 2 = NOT_SERVING).
async fn overall_status(health: &HealthClient<tonic::transport::Channel>) -> i32 {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    health
        .clone()
        .check(request)
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Polls the overall status every 100 ms for up to 5 s; true once it equals `status`.
async fn wait_for_status(health: &HealthClient<tonic::transport::Channel>, status: i32) -> bool {
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if overall_status(health).await == status {
            return true;
        }
    }
    false
}
