//! Every workload against a real agent-runtime on `127.0.0.1:0` with its own database (SQLite
//! file or fresh PostgreSQL database), through the functions the subcommands run; and the load
//! generator's own gRPC caller against the real server.

use codelab_proto::agent::v1::{GetSessionStatsRequest, ListSessionsRequest};
use db_core::testing::TestDb;
use tokio::net::TcpListener;

use crate::services;
use crate::{cli, short_run};

async fn bench_smoke(db: TestDb) {
    let server = services::agent_runtime_without_auth(db).await;
    services::connect(&server.url).await;
    let addr = server.url.clone();
    let args = short_run("append", "2", "1", "0.2", &["--addr", &addr]);
    let report = codelab_bench::measure(cli(&args).command)
        .await
        .expect("bench append");
    let row = &report.results[0];
    assert!(row.ops > 0, "{report:?}");
    assert_eq!(row.error_count, 0, "{report:?}");
    assert!(
        row.latency_ms.p50 > 0.0 && row.latency_ms.max >= row.latency_ms.p99,
        "{report:?}"
    );

    // The mixed workload: every kind of call succeeds, and its sessions are gone afterwards.
    let args = short_run("mixed", "2", "1", "0", &["--addr", &addr]);
    let report = codelab_bench::measure(cli(&args).command)
        .await
        .expect("bench mixed");
    let row = &report.results[0];
    assert!(row.ops >= 10, "{report:?}");
    assert_eq!(row.error_count, 0, "{report:?}");
    assert_eq!(report.workload, "mixed");

    let messages = services::conversation_file("fastchat_dummy_conversation.json");
    let args = short_run(
        "list",
        "2",
        "0.5",
        "0",
        &[
            "--addr",
            &addr,
            "--seed-messages",
            "300",
            "--pages",
            "1,6",
            "--messages-from",
            messages.to_str().unwrap(),
        ],
    );
    let report = codelab_bench::measure(cli(&args).command)
        .await
        .expect("bench list");
    assert_eq!(report.results.len(), 2);
    assert!(
        report
            .results
            .iter()
            .all(|r| r.ops > 0 && r.error_count == 0),
        "{report:?}"
    );

    let args = short_run(
        "stats",
        "1",
        "0.5",
        "0",
        &["--addr", &addr, "--seed-messages", "300"],
    );
    let report = codelab_bench::measure(cli(&args).command)
        .await
        .expect("bench stats");
    assert!(
        report.results[0].ops > 0 && report.results[0].error_count == 0,
        "{report:?}"
    );

    let mut session_args = args.clone();
    session_args[0] = "session";
    let report = codelab_bench::measure(cli(&session_args).command)
        .await
        .expect("bench session");
    assert_eq!(report.workload, "session");
    assert!(
        report.results[0].ops > 0 && report.results[0].error_count == 0,
        "{report:?}"
    );

    // Past the end of the seeded session is an error, not a fast empty benchmark.
    let args = [
        "list",
        "--addr",
        &addr,
        "--duration",
        "0.1",
        "--seed-messages",
        "300",
        "--pages",
        "7",
    ];
    assert!(codelab_bench::measure(cli(&args).command).await.is_err());

    // Append and mixed sessions were removed; the seeded one stays for the next run.
    let conn = services::connect(&server.url).await;
    let list = conn
        .sessions()
        .list_sessions(ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = list
        .sessions
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(ids, ["bench-list-300"]);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_sqlite() {
    bench_smoke(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_postgres() {
    bench_smoke(TestDb::postgres().await).await;
}

#[tokio::test]
async fn bench_refuses_remote_addresses() {
    let args = [
        "append",
        "--addr",
        "http://10.1.2.3:50051",
        "--duration",
        "1",
    ];
    let e = codelab_bench::measure(cli(&args).command)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("not a loopback address"), "{e:#}");
}

/// The load generator's own gRPC caller against the real server: a response of many HTTP/2
/// frames decodes whole, and the server's statuses arrive with their codes and messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_client_reads_large_responses_and_reports_statuses() {
    use codelab_bench::wire::{MethodPath, WireClient};
    use codelab_proto::agent::v1::{
        AppendMessagesRequest, AppendMessagesResponse, ListMessagesRequest, ListMessagesResponse,
        Message, Role, SessionStats,
    };

    let server = services::agent_runtime_without_auth(TestDb::sqlite()).await;
    services::connect(&server.url).await;
    let mut wire = WireClient::connect(&server.url, None).await.unwrap();

    // 100 messages of 16 KiB: a 1.6 MB page, far more than one HTTP/2 frame.
    let messages: Vec<Message> = (0..100)
        .map(|i| Message {
            role: Role::User as i32,
            content: Some(format!("{i:05} {}", "x".repeat(16 * 1024))),
            ..Message::default()
        })
        .collect();
    let append = codelab_bench::session_method("AppendMessages").unwrap();
    let appended: AppendMessagesResponse = wire
        .unary(
            &append,
            &AppendMessagesRequest {
                session_id: "wire".into(),
                messages: messages.clone(),
                create_if_missing: true,
            },
        )
        .await
        .unwrap();
    assert_eq!((appended.first_seq, appended.last_seq), (1, 100));

    let page: ListMessagesResponse = wire
        .unary(
            &codelab_bench::session_method("ListMessages").unwrap(),
            &ListMessagesRequest {
                session_id: "wire".into(),
                page_size: 100,
                ..ListMessagesRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total_size, 100);
    let contents: Vec<_> = page.messages.iter().map(|m| m.content.clone()).collect();
    let sent: Vec<_> = messages.iter().map(|m| m.content.clone()).collect();
    assert_eq!(contents, sent);

    // The server's refusal, with its code and message.
    let missing = wire
        .unary::<_, SessionStats>(
            &codelab_bench::session_method("GetSessionStats").unwrap(),
            &GetSessionStatsRequest {
                session_id: "no-such-session".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("no-such-session"), "{missing:?}");

    // A method the server does not have.
    let unknown = wire
        .unary::<_, SessionStats>(
            &MethodPath::new("codelab.agent.v1.SessionService", "NoSuchMethod").unwrap(),
            &GetSessionStatsRequest::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented, "{unknown:?}");

    // The connection still works after the failures.
    let stats: SessionStats = wire
        .unary(
            &codelab_bench::session_method("GetSessionStats").unwrap(),
            &GetSessionStatsRequest {
                session_id: "wire".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(stats.message_count, 100);
    // The client services its connection only inside calls: close it before the server's
    // graceful shutdown, which waits for its clients to acknowledge.
    drop(wire);
    server.stop().await;

    // Nothing listening: a clear error naming the address.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let refused = WireClient::connect(&closed, None).await.unwrap_err();
    assert!(format!("{refused:#}").contains(&closed), "{refused:#}");
}
