//! `codelab db …` end to end: the real binary on real databases (SQLite files and fresh
//! PostgreSQL databases), checking output and exit codes.

mod support;

use agent_runtime::model::{Access, NewMessage, Role};
use agent_runtime::store::Store;
use db_core::testing::TestDb;
use db_core::{Backend, DbUrl, Pool, PoolConfig};
use std::path::Path;
use std::process::Output;

struct Run {
    out: Output,
}

impl Run {
    fn ok(self) -> String {
        let stdout = String::from_utf8_lossy(&self.out.stdout).into_owned();
        assert!(
            self.out.status.success(),
            "status {:?}\nstdout: {stdout}\nstderr: {}",
            self.out.status,
            String::from_utf8_lossy(&self.out.stderr)
        );
        stdout
    }

    /// Asserts exit status 1 and that stderr contains `needle`.
    fn fails_with(self, needle: &str) -> String {
        let stderr = String::from_utf8_lossy(&self.out.stderr).into_owned();
        assert_eq!(self.out.status.code(), Some(1), "stderr: {stderr}");
        assert!(
            stderr.contains(needle),
            "expected `{needle}` in stderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }
}

/// Runs `codelab db <args>` with the agent_runtime database at `url` and backups in `backups`.
fn db(url: &DbUrl, backups: &Path, args: &[&str]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codelab"))
        .arg("db")
        .args(args)
        .env("AGENT_RUNTIME__DB_URL", url.expose_url())
        .env("CODELAB_BACKUP_DIR", backups)
        .env_remove("RUST_LOG")
        .current_dir(backups)
        .output()
        .expect("run codelab");
    Run { out }
}

async fn seed(url: &DbUrl, sessions: usize) {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    db_core::migrate::run_pending(&pool, &agent_runtime::migrations::MIGRATIONS)
        .await
        .unwrap();
    let store = Store::new(pool);
    for i in 0..sessions {
        let msg = |role, text: &str| NewMessage {
            role,
            content: Some(text.to_owned()),
            name: None,
            tool_call_id: None,
            tool_calls: vec![],
            token_count: 3,
            metadata_json: Some(r#"{"k":"v"}"#.into()),
            timestamp: None,
        };
        store
            .append_messages(
                Access {
                    subject: "alice".into(),
                    admin: false,
                },
                format!("s-{i}"),
                vec![msg(Role::User, "hello"), msg(Role::Assistant, "hi")],
                true,
            )
            .await
            .unwrap();
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

use support::table_rows as rows;

async fn migrations_stats_backup_restore_drift(backend: Backend) {
    let src = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let url = src.url();

    let out = db(url, backups, &["migrate"]).ok();
    assert!(out.contains("applied 20261121000000"), "{out}");
    assert!(
        db(url, backups, &["migrate"])
            .ok()
            .contains("nothing to apply")
    );
    let status = db(url, backups, &["status"]).ok();
    assert!(
        status.contains("conversation_store") && status.contains("applied"),
        "{status}"
    );
    seed(url, 3).await;

    let stats = json(&db(url, backups, &["stats", "--json"]).ok());
    assert_eq!(stats[0]["name"], "agent_runtime");
    assert_eq!(stats[0]["backend"], backend.to_string());
    assert_eq!(rows(&stats, "sessions"), 3);
    assert_eq!(rows(&stats, "messages"), 6);
    let table = db(url, backups, &["stats"]).ok();
    assert!(table.contains("messages") && table.contains('6'), "{table}");
    assert!(db(url, backups, &["health"]).ok().contains("up to date"));
    assert!(db(url, backups, &["drift"]).ok().contains("no drift"));

    let made = json(&db(url, backups, &["backup", "--name", "first", "--json"]).ok());
    let id = made[0]["id"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("agent_runtime-") && id.ends_with("-first"),
        "{id}"
    );
    let listed = db(url, backups, &["backups"]).ok();
    assert!(listed.contains(&id), "{listed}");
    assert!(
        db(url, backups, &["verify", &id, "--deep"])
            .ok()
            .contains("deep check passed")
    );

    // Into the same, non-empty database: refused without --force, then restored with it.
    seed(url, 5).await; // adds s-3, s-4
    db(url, backups, &["restore", &id]).fails_with("--force");
    let out = db(url, backups, &["restore", &id, "--force"]).ok();
    assert!(out.contains("safety backup"), "{out}");
    let stats = json(&db(url, backups, &["stats", "--json"]).ok());
    assert_eq!(rows(&stats, "sessions"), 3);

    // Into a fresh database of the other backend, then everything back.
    let other = TestDb::new(match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    })
    .await;
    let to = other.url().expose_url();
    db(url, backups, &["restore", &id, "--to", &to]).ok();
    let stats = json(&db(url, backups, &["stats", "--url", &to, "--json"]).ok());
    assert_eq!(rows(&stats, "messages"), 6);

    // Drift is exit status 1 with the difference named.
    let dirty = TestDb::new(backend).await;
    let dirty_url = dirty.url().expose_url();
    db(
        url,
        backups,
        &["copy", "--from", &url.expose_url(), "--to", &dirty_url],
    )
    .ok();
    let pool = Pool::connect(dirty.url(), &PoolConfig::default())
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(
            c,
            "CREATE INDEX idx_stray ON messages (content)",
        )
        .await
        .unwrap()
    });
    let err = db(url, backups, &["drift", "--url", &dirty_url]).fails_with("schema drift");
    assert!(err.contains("agent_runtime"), "{err}");

    // Rollback and redo.
    assert!(
        db(
            url,
            backups,
            &["rollback", "--url", &dirty_url, "--steps", "1"]
        )
        .ok()
        .contains("reverted")
    );
    assert!(
        db(url, backups, &["migrate", "--url", &dirty_url])
            .ok()
            .contains("applied")
    );
    assert!(
        db(url, backups, &["redo", "--url", &dirty_url])
            .ok()
            .contains("redid")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_stats_backup_restore_drift() {
    migrations_stats_backup_restore_drift(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_stats_backup_restore_drift() {
    migrations_stats_backup_restore_drift(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_with_a_message_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let db_file = DbUrl::SqliteFile(backups.join("agent_runtime.db"));
    db(&db_file, backups, &["stats"]).fails_with("does not exist");
    db(&db_file, backups, &["stats", "nope"]).fails_with("unknown database `nope`");
    let wrong = DbUrl::parse("postgres://postgres@127.0.0.1:1/x").unwrap();
    db(&wrong, backups, &["stats"]).fails_with("cannot connect");
    db(&wrong, backups, &["health"]).fails_with("unhealthy");
    db(&db_file, backups, &["stats", "--url", "mysql://x/y"])
        .fails_with("unsupported database URL scheme");
    db(&db_file, backups, &["restore", "missing-backup"]).fails_with("no such backup folder");
    db(&db_file, backups, &["verify", "missing-backup"]).fails_with("no such backup folder");
    // A usage error is clap's status 2, naming the missing option.
    let usage = db(&db_file, backups, &["rollback"]).out;
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--steps"));

    db(&db_file, backups, &["migrate"]).ok();
    seed(&db_file, 2).await;
    let made = json(
        &db(
            &db_file,
            backups,
            &["backup", "--compression", "gzip", "--json"],
        )
        .ok(),
    );
    let id = made[0]["id"].as_str().unwrap().to_owned();
    // Tampered backup.
    let file = made[0]["manifest"]["tables"][0]["file"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(backups.join(&id).join(file), b"tampered").unwrap();
    db(&db_file, backups, &["verify", &id]).fails_with("failed verification");
    let fresh = DbUrl::SqliteFile(backups.join("fresh.db"));
    db(
        &db_file,
        backups,
        &["restore", &id, "--to", &fresh.expose_url()],
    )
    .fails_with("truncated or replaced");

    // Retention and cleanup are dry runs unless told.
    for _ in 0..2 {
        db(&db_file, backups, &["backup"]).ok();
    }
    let dry = db(&db_file, backups, &["prune", "--keep-last", "1"]).ok();
    assert!(
        dry.contains("would remove") && dry.contains("dry run"),
        "{dry}"
    );
    assert_eq!(
        json(&db(&db_file, backups, &["backups", "--json"]).ok())
            .as_array()
            .unwrap()
            .len(),
        3
    );
    db(
        &db_file,
        backups,
        &["prune", "--keep-last", "1", "--execute"],
    )
    .ok();
    assert_eq!(
        json(&db(&db_file, backups, &["backups", "--json"]).ok())
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let plan = db(
        &db_file,
        backups,
        &[
            "cleanup",
            "agent_runtime",
            "--inactive-hours",
            "1",
            "--purge-deleted-days",
            "1",
        ],
    )
    .ok();
    assert!(
        plan.contains("would purge 0") && plan.contains("dry run"),
        "{plan}"
    );
    db(&db_file, backups, &["cleanup", "agent_runtime"]).fails_with("nothing to do");
    assert!(
        !backups.join("fresh.db").exists(),
        "a refused restore must not create its target"
    );
    std::fs::create_dir_all(backups.join("data/old")).unwrap();
    std::fs::write(backups.join("data/old/legacy.sqlite3"), b"").unwrap();
    let listed = db(&db_file, backups, &["list"]).ok();
    assert!(
        listed.contains("agent_runtime") && listed.contains("legacy.sqlite3"),
        "{listed}"
    );
    assert!(listed.contains("1 backup(s)"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_executes_in_batches_and_vacuums() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let url = DbUrl::SqliteFile(backups.join("agent_runtime.db"));
    seed(&url, 7).await;
    // Everything idle for more than 0 hours... make them old by moving the clock back.
    let pool = Pool::connect(&url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(
            c,
            "UPDATE sessions SET last_activity = '2000-01-01 00:00:00'",
        )
        .await
        .unwrap()
    });
    drop(conn);
    pool.close();
    let out = db(
        &url,
        backups,
        &[
            "cleanup",
            "--inactive-hours",
            "24",
            "--batch",
            "3",
            "--execute",
            "--json",
        ],
    )
    .ok();
    let r = json(&out);
    assert_eq!(r["soft_deleted"], 7);
    assert_eq!(r["vacuumed"], true);
    let out = db(
        &url,
        backups,
        &[
            "cleanup",
            "--inactive-hours",
            "24",
            "--purge-deleted-days",
            "1",
        ],
    )
    .ok();
    assert!(out.contains("soft-delete 0"), "{out}");
}

/// Runs `codelab db <args>` under a file-size limit of `kib` KiB (a full disk, as the process
/// sees it: writes past the limit fail with EFBIG; SIGXFSZ is ignored so the error is returned).
fn db_limited(url: &DbUrl, backups: &Path, kib: u32, args: &[&str]) -> Run {
    let mut script = format!(
        "trap '' XFSZ; ulimit -f {kib}; exec \"{}\" db",
        env!("CARGO_BIN_EXE_codelab")
    );
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("AGENT_RUNTIME__DB_URL", url.expose_url())
        .env("CODELAB_BACKUP_DIR", backups)
        .current_dir(backups)
        .output()
        .expect("run bash");
    Run { out }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_cleanly_and_leaves_the_target_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let url = DbUrl::SqliteFile(backups.join("agent_runtime.db"));
    seed(&url, 1000).await;
    // Backup: the table files outgrow the limit; nothing half-written is left.
    let err = db_limited(&url, backups, 64, &["backup", "--compression", "none"])
        .fails_with("File too large");
    assert!(err.contains("backing up agent_runtime"), "{err}");
    let left: Vec<_> = std::fs::read_dir(backups)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("agent_runtime-"))
        .collect();
    assert!(left.is_empty(), "partial backup left behind: {left:?}");
    // Restore into a database that cannot grow: refused by the disk, rolled back.
    let made = json(&db(&url, backups, &["backup", "--json"]).ok());
    let id = made[0]["id"].as_str().unwrap().to_owned();
    let target = DbUrl::SqliteFile(backups.join("small.db"));
    db(&target, backups, &["migrate"]).ok();
    let before = std::fs::metadata(backups.join("small.db")).unwrap().len();
    db_limited(
        &target,
        backups,
        (before / 1024 + 8) as u32,
        &["restore", &id],
    )
    .fails_with("restoring");
    let stats = json(&db(&target, backups, &["stats", "--json"]).ok());
    assert_eq!(rows(&stats, "sessions"), 0);
    assert_eq!(rows(&stats, "messages"), 0);
}
