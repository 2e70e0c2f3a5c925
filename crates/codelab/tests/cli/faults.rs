//! Faults injected into real processes on real databases: agent-runtime killed with SIGKILL
//! while clients append, and (PostgreSQL) the database server stopped under load. Every
//! message the server acknowledged must be there afterwards, numbered without gap or
//! duplicate, and the service must recover without a restart when the database comes back.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codelab_proto::agent::v1::session_service_client::SessionServiceClient;
use codelab_proto::agent::v1::{
    AppendMessagesRequest, GetSessionStatsRequest, ListMessagesRequest, Message, Role,
};
use db_core::Backend;
use db_core::testing::PgCluster;
use support::{Process, free_port, healthcheck, wait_serving};
use tonic::transport::Channel;

/// Appending clients, as in the crash scenario.
const CLIENTS: usize = 8;

/// `(session, seq) → content` of every append the server acknowledged.
type Acked = Arc<Mutex<BTreeMap<(String, i64), String>>>;

/// agent-runtime on `port` over `db_url`, authentication off (durability is the point here),
/// health probed every 200 ms, at most 2 s waiting for the database.
fn runtime_env(db_url: &str, port: u16) -> Vec<(String, String)> {
    vec![
        (
            "AGENT_RUNTIME__GRPC_ADDR".into(),
            format!("127.0.0.1:{port}"),
        ),
        ("AGENT_RUNTIME__DB_URL".into(), db_url.to_owned()),
        ("AGENT_RUNTIME__AUTH__DISABLED".into(), "true".into()),
        (
            "AGENT_RUNTIME__HEALTH_CHECK_INTERVAL_MS".into(),
            "200".into(),
        ),
        ("AGENT_RUNTIME__DB__WAIT_TIMEOUT_MS".into(), "2000".into()),
        (
            "AGENT_RUNTIME__DB__CONNECT_TIMEOUT_MS".into(),
            "2000".into(),
        ),
    ]
}

fn start_runtime(dir: &Path, db_url: &str, port: u16) -> Process {
    Process::start("agent-runtime", dir, &runtime_env(db_url, port))
}

async fn client(port: u16) -> SessionServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect to agent-runtime");
    SessionServiceClient::new(channel)
}

fn message(text: String) -> Message {
    Message {
        role: Role::User as i32,
        content: Some(text),
        ..Message::default()
    }
}

/// Each client appends one message at a time to its own session until `stop`, recording
/// what was acknowledged. Calls may fail (the server is being killed): failures are counted,
/// never recorded as acknowledged.
fn spawn_appenders(
    port: u16,
    round: usize,
    acked: &Acked,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    spawn_n_appenders(CLIENTS, port, round, acked, stop)
}

fn spawn_n_appenders(
    clients: usize,
    port: u16,
    round: usize,
    acked: &Acked,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..clients)
        .map(|i| {
            let acked = acked.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sessions = client(port).await;
                let session = format!("crash-{i}");
                let mut failures = 0;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let text = format!("round {round} client {i} message {n}");
                    let result = sessions
                        .append_messages(AppendMessagesRequest {
                            session_id: session.clone(),
                            messages: vec![message(text.clone())],
                            create_if_missing: true,
                        })
                        .await;
                    match result {
                        Ok(r) => {
                            let r = r.into_inner();
                            assert_eq!(r.first_seq, r.last_seq);
                            let previous = acked
                                .lock()
                                .unwrap()
                                .insert((session.clone(), r.first_seq), text);
                            assert!(
                                previous.is_none(),
                                "seq {} of {session} acknowledged twice",
                                r.first_seq
                            );
                        }
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                failures
            })
        })
        .collect()
}

/// Every acknowledged message is stored with its seq and content; each session's messages are
/// numbered 1..=n without gap or duplicate and its stats count exactly them.
async fn check_nothing_lost(port: u16, acked: &Acked) -> usize {
    let mut sessions = client(port).await;
    let acked = acked.lock().unwrap().clone();
    for i in 0..CLIENTS {
        let session = format!("crash-{i}");
        let mut stored = Vec::new();
        let mut token = String::new();
        loop {
            let page = sessions
                .list_messages(ListMessagesRequest {
                    session_id: session.clone(),
                    page_size: 1000,
                    page_token: token.clone(),
                    ..ListMessagesRequest::default()
                })
                .await
                .expect("list after restart")
                .into_inner();
            stored.extend(page.messages);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        let expected: Vec<i64> = (1..=stored.len() as i64).collect();
        assert_eq!(
            seqs, expected,
            "{session}: seqs 1..=n without gap or duplicate"
        );
        for m in &stored {
            if let Some(text) = acked.get(&(session.clone(), m.seq)) {
                assert_eq!(
                    m.content.as_deref(),
                    Some(text.as_str()),
                    "{session} seq {}",
                    m.seq
                );
            }
        }
        for ((s, seq), text) in acked.range((session.clone(), 0)..(session.clone(), i64::MAX)) {
            let found = stored.iter().find(|m| m.seq == *seq);
            assert_eq!(
                found.and_then(|m| m.content.as_deref()),
                Some(text.as_str()),
                "acknowledged {s} seq {seq} lost"
            );
        }
        let stats = sessions
            .get_session_stats(GetSessionStatsRequest {
                session_id: session.clone(),
            })
            .await
            .expect("stats")
            .into_inner();
        assert_eq!(
            stats.message_count,
            stored.len() as i64,
            "{session} counters"
        );
    }
    acked.len()
}

db_core::backend_tests!(
    kill_9_while_appending_loses_no_acknowledged_message,
    kill_9_during_backup_and_restore_never_leaves_a_mixed_state
);

async fn kill_9_while_appending_loses_no_acknowledged_message(backend: Backend) {
    let db = db_core::testing::TestDb::new(backend).await;
    let url = match db.url().sqlite_path() {
        Some(path) => format!("sqlite:///{}", path.display()),
        None => db.url().connection_string(),
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let acked: Acked = Arc::default();
    for round in 0..3 {
        let mut runtime = start_runtime(dir.path(), &url, port);
        wait_serving(&mut runtime, &addr);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let appenders = spawn_appenders(port, round, &acked, &stop);
        let before = acked.lock().unwrap().len();
        // Let the clients get going, then kill the server mid-flight.
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < before + 200 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        runtime.kill9();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut failures = 0;
        for a in appenders {
            failures += a.await.unwrap();
        }
        assert!(
            acked.lock().unwrap().len() >= before + 200,
            "the clients appended before the kill"
        );
        assert!(failures > 0, "calls in flight or after the kill failed");

        let mut runtime = start_runtime(dir.path(), &url, port);
        wait_serving(&mut runtime, &addr);
        let checked = check_nothing_lost(port, &acked).await;
        assert!(checked >= 200 * (round + 1));
        eprintln!(
            "[{backend}] kill -9 round {round}: {checked} acknowledged messages checked after \
             restart, 0 lost; {failures} calls failed around the kill"
        );
        assert!(runtime.stop(), "clean stop: {}", runtime.log());
    }
    if backend == Backend::Sqlite {
        let path = db.url().sqlite_path().unwrap().to_owned();
        let out = Command::new("sqlite3")
            .arg(&path)
            .arg("PRAGMA integrity_check")
            .output()
            .expect("the sqlite3 command-line tool (Debian package sqlite3)");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}

// ----- PostgreSQL outage on a throwaway cluster ----------------------------------------------

/// The throwaway cluster's server options: durable, as a production server.
const CLUSTER_OPTIONS: &str = "-c fsync=on";

/// A PostgreSQL cluster of its own (never the machine's shared server), started.
fn cluster() -> PgCluster {
    let cluster = PgCluster::init();
    cluster.start(CLUSTER_OPTIONS);
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_fails_fast_and_recovers_without_restart() {
    let cluster = cluster();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let mut runtime = start_runtime(dir.path(), &cluster.url("127.0.0.1", "postgres", ""), port);
    wait_serving(&mut runtime, &addr);

    let acked: Acked = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appenders = spawn_appenders(port, 0, &acked, &stop);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_outage = acked.lock().unwrap().len();
    assert!(before_outage > 0, "appends went through before the outage");

    cluster.stop();
    // Calls fail fast with UNAVAILABLE: none hangs (each has at most the pool's 2 s wait).
    let mut probe = client(port).await;
    let started = Instant::now();
    let failed = probe
        .append_messages(AppendMessagesRequest {
            session_id: "outage-probe".into(),
            messages: vec![message("during outage".into())],
            create_if_missing: true,
        })
        .await
        .expect_err("no database, no append");
    assert_eq!(failed.code(), tonic::Code::Unavailable, "{failed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "failed fast: {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthcheck(&addr) {
        assert!(Instant::now() < deadline, "health went NOT_SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;

    cluster.start(CLUSTER_OPTIONS);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthcheck(&addr) {
        assert!(
            Instant::now() < deadline,
            "health SERVING again without a restart: {}",
            runtime.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < during + 50 {
        assert!(
            Instant::now() < deadline,
            "appends resumed after the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failures = 0;
    for a in appenders {
        failures += a.await.unwrap();
    }
    assert!(failures > 0, "the outage was felt by the clients");
    let checked = check_nothing_lost(port, &acked).await;
    eprintln!(
        "[postgres] 10 s outage: {checked} acknowledged messages checked, 0 lost; {failures} \
         calls failed fast during it; recovered without restart"
    );
    assert!(runtime.stop(), "clean stop: {}", runtime.log());
}

/// Many more writers than SQLite has write locks (one): the service queues them, so no
/// `database is locked` (or any other error) reaches a client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_under_many_concurrent_writers_never_reports_locked() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let url = format!("sqlite:///{}/many.db", dir.path().display());
    let mut runtime = start_runtime(dir.path(), &url, port);
    wait_serving(&mut runtime, &addr);
    let acked: Acked = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = spawn_n_appenders(32, port, 0, &acked, &stop);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failures = 0;
    for w in writers {
        failures += w.await.unwrap();
    }
    assert_eq!(failures, 0, "no call failed: {}", runtime.log());
    eprintln!(
        "[sqlite] 32 concurrent writers for 3 s: {} appends, 0 errors",
        acked.lock().unwrap().len()
    );
    let n = acked.lock().unwrap().len();
    assert!(n >= 32, "every writer got through: {n}");
    assert!(
        !runtime.log().contains("database is locked"),
        "{}",
        runtime.log()
    );
    assert!(runtime.stop());
}

/// Two replicas starting at the same moment on one empty PostgreSQL database: one applies the
/// migrations, the other waits for the lock and finds nothing left to do; both serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_migrating_one_empty_postgres_database_both_serve() {
    let db = db_core::testing::TestDb::new(Backend::Postgres).await;
    let url = db.url().connection_string();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (free_port(), free_port());
    let mut first = start_runtime(dir.path(), &url, a);
    let mut second = start_runtime(dir.path(), &url, b);
    wait_serving(&mut first, &format!("http://127.0.0.1:{a}"));
    wait_serving(&mut second, &format!("http://127.0.0.1:{b}"));
    for port in [a, b] {
        client(port)
            .await
            .append_messages(AppendMessagesRequest {
                session_id: format!("replica-{port}"),
                messages: vec![message("hello".into())],
                create_if_missing: true,
            })
            .await
            .expect("both replicas serve");
    }
    let status = db_core::migrate::status(db.url(), &agent_runtime::migrations::MIGRATIONS)
        .await
        .unwrap();
    assert!(
        status
            .in_state(db_core::migrate::MigrationState::Pending)
            .is_empty()
    );
    assert_eq!(
        status.applied().len(),
        agent_runtime::migrations::MIGRATIONS.postgres.len(),
        "each migration applied once"
    );
    assert!(first.stop() && second.stop());
}

// ----- SIGKILL during backup and restore ------------------------------------------------------

/// Appends `sessions` × `per_session` messages of ~600 bytes through a running agent-runtime.
async fn seed(dir: &Path, url: &str, prefix: &str, sessions: usize, per_session: usize) {
    let port = free_port();
    let mut runtime = start_runtime(dir, url, port);
    wait_serving(&mut runtime, &format!("http://127.0.0.1:{port}"));
    let mut c = client(port).await;
    for s in 0..sessions {
        for chunk in 0..per_session.div_ceil(500) {
            let n = 500.min(per_session - chunk * 500);
            c.append_messages(AppendMessagesRequest {
                session_id: format!("{prefix}-{s}"),
                messages: (0..n)
                    .map(|i| {
                        message(format!(
                            "{prefix} {s} {chunk} {i} {}",
                            "lorem ipsum ".repeat(50)
                        ))
                    })
                    .collect(),
                create_if_missing: true,
            })
            .await
            .expect("seed append");
        }
    }
    assert!(runtime.stop(), "{}", runtime.log());
}

/// Runs `codelab args…` to completion; true on success.
fn codelab_ok(args: &[&str]) -> bool {
    Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts `codelab args…`, SIGKILLs it after `after`; true when it was still running then.
fn codelab_killed_after(args: &[&str], after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("codelab runs");
    std::thread::sleep(after);
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    running
}

/// The shorter wall time of two runs of `run`.
fn fastest_of_two(run: impl Fn()) -> Duration {
    (0..2)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Rows of `table` in the database at `url`, read with `codelab db stats`.
fn rows(url: &str, table: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["db", "stats", "agent_runtime", "--url", url, "--json"])
        .output()
        .expect("codelab runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    support::table_rows(&stats, table)
}

/// Every backup `codelab db backups` lists verifies (a killed backup is never listed).
fn listed_backups_all_verify(backups: &str) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["db", "backups", "--backup-dir", backups, "--json"])
        .output()
        .expect("codelab runs");
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert!(
            codelab_ok(&["db", "verify", id, "--backup-dir", backups]),
            "listed backup {id} verifies"
        );
    }
    ids.len()
}

fn sqlite_integrity_ok(url: &str) {
    if let Some(path) = url.strip_prefix("sqlite:///") {
        let out = Command::new("sqlite3")
            .arg(format!("/{}", path.trim_start_matches('/')))
            .arg("PRAGMA integrity_check")
            .output()
            .expect("the sqlite3 command-line tool (Debian package sqlite3)");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}

async fn kill_9_during_backup_and_restore_never_leaves_a_mixed_state(backend: Backend) {
    let db = db_core::testing::TestDb::new(backend).await;
    let scratch = db_core::testing::TestDb::new(backend).await;
    let url_of = |db: &db_core::testing::TestDb| match db.url().sqlite_path() {
        Some(path) => format!("sqlite:///{}", path.display()),
        None => db.url().connection_string(),
    };
    let (url, scratch_url) = (url_of(&db), url_of(&scratch));
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups").display().to_string();
    seed(dir.path(), &url, "seed", 20, 1000).await;
    let seeded = rows(&url, "messages");
    assert_eq!(seeded, 20_000);

    // How long a whole backup takes (the faster of two runs, so a slow first run on a busy
    // machine does not push the kills past the end), then kills at fractions of it.
    let backup_args = [
        "db",
        "backup",
        "agent_runtime",
        "--url",
        url.as_str(),
        "--backup-dir",
        backups.as_str(),
    ];
    let backup_time = fastest_of_two(|| assert!(codelab_ok(&backup_args)));
    let mut interrupted = 0;
    for fraction in [0.1, 0.3, 0.5, 0.7, 0.9] {
        let after = backup_time.mul_f64(fraction);
        if codelab_killed_after(&backup_args, after) {
            interrupted += 1;
        }
        listed_backups_all_verify(&backups);
    }
    assert!(
        interrupted >= 3,
        "most kills hit a running backup ({interrupted} of 5)"
    );
    eprintln!(
        "[{backend}] kill -9 during backup: {interrupted} of 5 kills mid-backup, no partial listed"
    );
    let complete = listed_backups_all_verify(&backups);
    assert!(complete >= 1);

    // The newest complete backup holds 20,000 messages; the target gets more after it.
    let list: serde_json::Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_codelab"))
            .args(["db", "backups", "--backup-dir", &backups, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let backup_id = list[0]["id"].as_str().unwrap().to_owned();

    // How long a whole restore takes (into a scratch database of the same backend; the faster
    // of two runs).
    let restore_time = fastest_of_two(|| {
        assert!(codelab_ok(&[
            "db",
            "restore",
            &backup_id,
            "--to",
            &scratch_url,
            "--force",
            "--backup-dir",
            &backups,
        ]))
    });
    assert_eq!(rows(&scratch_url, "messages"), seeded);

    seed(dir.path(), &url, "later", 1, 700).await;
    let mut before = rows(&url, "messages");
    assert_eq!(before, seeded + 700);
    let mut interrupted = 0;
    for fraction in [0.1, 0.3, 0.5, 0.7, 0.9] {
        let after = restore_time.mul_f64(fraction);
        if codelab_killed_after(
            &[
                "db",
                "restore",
                &backup_id,
                "--to",
                &url,
                "--force",
                "--backup-dir",
                &backups,
            ],
            after,
        ) {
            interrupted += 1;
        }
        let now = rows(&url, "messages");
        assert!(
            now == before || now == seeded,
            "after a kill the target is untouched ({before}) or restored ({seeded}), not {now}"
        );
        sqlite_integrity_ok(&url);
        if now == seeded {
            // Restored: make the states distinguishable again.
            seed(dir.path(), &url, &format!("again-{fraction}"), 1, 300).await;
            before = rows(&url, "messages");
        }
    }
    assert!(
        interrupted >= 3,
        "most kills hit a running restore ({interrupted} of 5)"
    );
    eprintln!(
        "[{backend}] kill -9 during restore: {interrupted} of 5 kills mid-restore, target never mixed"
    );
    // Safety backups of interrupted restores are never listed half-written.
    listed_backups_all_verify(&backups);
}

// ----- full disk -------------------------------------------------------------------------------

/// agent-runtime's SQLite file hits a file-size limit (a full disk as the process sees it):
/// appends fail with a clear retryable status, nothing acknowledged is lost, the service keeps
/// serving reads, and appends work again once space is back — without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_during_appends_is_reported_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let url = format!("sqlite:///{}/full.db", dir.path().display());
    let mut runtime =
        Process::start_with_file_limit("agent-runtime", dir.path(), &runtime_env(&url, port), 2048);
    wait_serving(&mut runtime, &addr);
    let mut c = client(port).await;
    let mut acked = 0usize;
    let failure = loop {
        let result = c
            .append_messages(AppendMessagesRequest {
                session_id: "full".into(),
                messages: (0..20)
                    .map(|i| message(format!("{i} {}", "x".repeat(4000))))
                    .collect(),
                create_if_missing: true,
            })
            .await;
        match result {
            Ok(r) => {
                acked = r.into_inner().last_seq as usize;
                assert!(acked < 20 * 200, "the limit was never reached");
            }
            Err(status) => break status,
        }
    };
    assert!(acked > 0, "appends worked before the disk filled");
    eprintln!(
        "[sqlite] full disk after {acked} acknowledged messages: {:?}, service up",
        failure.code()
    );
    assert_eq!(failure.code(), tonic::Code::Unavailable, "{failure:?}");
    assert!(failure.message().contains("retry"), "{failure:?}");
    // Reads still work and see exactly the acknowledged messages.
    let stats = c
        .get_session_stats(GetSessionStatsRequest {
            session_id: "full".into(),
        })
        .await
        .expect("reads keep working")
        .into_inner();
    assert_eq!(stats.message_count as usize, acked);
    assert!(
        runtime.log().contains("database unavailable"),
        "the cause is logged"
    );

    // Space comes back: appends work again, same process.
    let ok = Command::new("prlimit")
        .args([
            "--pid",
            &runtime.child.id().to_string(),
            "--fsize=unlimited:",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prlimit");
    let r = c
        .append_messages(AppendMessagesRequest {
            session_id: "full".into(),
            messages: vec![message("after".into())],
            create_if_missing: false,
        })
        .await
        .expect("appends work again")
        .into_inner();
    assert_eq!(
        r.first_seq as usize,
        acked + 1,
        "no gap, no half-written batch"
    );
    assert!(runtime.stop(), "{}", runtime.log());
    sqlite_integrity_ok(&url);
}
