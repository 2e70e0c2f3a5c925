//! `codelab db …` end to end: the real binary on real databases (SQLite files and fresh
//! PostgreSQL databases), checking output and exit codes.

use crate::support;

use agent_runtime::model::{Access, NewMessage, Role};
use agent_runtime::store::Store;
use db_core::testing::TestDb;
use db_core::{Backend, DbUrl, Pool, PoolConfig};
use std::path::Path;
use std::process::Output;

db_core::backend_tests!(
    migrations_stats_backup_restore_drift,
    auth_database_through_the_cli
);

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
    db_env(Some(url), None, backups, args)
}

/// Runs `codelab db <args>` with the agent_runtime database at `agent` and the auth database at
/// `auth` (each variable unset when `None`), backups in `backups`.
fn db_env(agent: Option<&DbUrl>, auth: Option<&DbUrl>, backups: &Path, args: &[&str]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_codelab"));
    command
        .arg("db")
        .args(args)
        .env_remove("AGENT_RUNTIME__DB_URL")
        .env_remove("AUTH_SERVICE__DB_URL")
        .env("CODELAB_BACKUP_DIR", backups)
        .env_remove("RUST_LOG")
        .current_dir(backups);
    for (var, url) in [
        ("AGENT_RUNTIME__DB_URL", agent),
        ("AUTH_SERVICE__DB_URL", auth),
    ] {
        if let Some(url) = url {
            command.env(var, url.expose_url());
        }
    }
    Run {
        out: command.output().expect("run codelab"),
    }
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
    exec(dirty.url(), "CREATE INDEX idx_stray ON messages (content)").await;
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
    exec(
        &url,
        "UPDATE sessions SET last_activity = '2000-01-01 00:00:00'",
    )
    .await;
    // `db cleanup --inactive-hours 24 …`.
    let cleanup_idle = |rest: &[&str]| {
        let mut args = vec!["cleanup", "--inactive-hours", "24"];
        args.extend_from_slice(rest);
        db(&url, backups, &args).ok()
    };
    let out = cleanup_idle(&["--batch", "3", "--execute", "--json"]);
    let r = json(&out);
    assert_eq!(r["soft_deleted"], 7);
    assert_eq!(
        (r["batches"].as_u64(), r["purged"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(r["vacuumed"], true);
    let out = cleanup_idle(&["--purge-deleted-days", "1"]);
    assert!(out.contains("soft-delete 0"), "{out}");

    // Purging stops each batch at its message budget: 2 messages a session, at most 5 a batch,
    // so 7 sessions go 2 + 2 + 2 + 1.
    exec(
        &url,
        "UPDATE sessions SET deleted_at = '2000-01-01 00:00:00'",
    )
    .await;
    let purge = |budget: &'static str| {
        let args = [
            "cleanup",
            "--purge-deleted-days",
            "1",
            "--batch",
            "3",
            "--batch-messages",
            budget,
            "--execute",
            "--json",
        ];
        db(&url, backups, &args)
    };
    purge("0").fails_with("--batch-messages must be ≥ 1");
    let r = json(&purge("5").ok());
    assert_eq!(
        (r["purged"].as_u64(), r["batches"].as_u64()),
        (Some(7), Some(4))
    );
    let stats = json(&db(&url, backups, &["stats", "--json"]).ok());
    assert_eq!((rows(&stats, "sessions"), rows(&stats, "messages")), (0, 0));
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

/// Runs `sql` on `url` through a pool of its own, closed before returning (so a SQLite file is
/// not held open by the test while the command under test runs).
async fn exec(url: &DbUrl, sql: &str) {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(c, sql)
            .await
            .unwrap()
    });
    drop(conn);
    pool.close();
}

/// Migrates the auth database at `url` and inserts two users, one client, three refresh tokens
/// (two expired long ago), two audit entries (one 400 days old) and one stale login counter.
async fn seed_auth(url: &DbUrl) {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    db_core::migrate::run_pending(&pool, &auth_service::migrations::MIGRATIONS)
        .await
        .unwrap();
    pool.close();
    let now = db_core::timestamp::now().format("%Y-%m-%d %H:%M:%S");
    let later =
        (db_core::timestamp::now() + chrono::Duration::days(30)).format("%Y-%m-%d %H:%M:%S");
    exec(
        url,
        &format!(
            "INSERT INTO users (id, user_id, username, email, password_hash, scopes, is_active, \
             is_verified, created_at, updated_at, password_changed_at) VALUES \
             (1, 'u-1', 'alice', 'alice@example.com', 'h1', 'api:read', TRUE, TRUE, '{now}', '{now}', '{now}'), \
             (2, 'u-2', 'bob', NULL, 'h2', 'api:read api:write', FALSE, FALSE, '{now}', '{now}', '{now}'); \
             INSERT INTO oauth_clients (id, client_id, name, is_confidential, allowed_scopes, \
             allowed_grant_types, access_token_lifetime_secs, refresh_token_lifetime_secs, \
             created_at, updated_at) VALUES \
             (1, 'cli', 'CLI', FALSE, 'api:read', 'password refresh_token', 900, 86400, '{now}', '{now}'); \
             INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, scope, \
             created_at, expires_at) VALUES \
             (1, 'old', 'f1', 1, 'cli', 'api:read', '2000-01-01 00:00:00', '2000-01-02 00:00:00'), \
             (2, 'new', 'f2', 1, 'cli', 'api:read', '{now}', '{later}'), \
             (3, 'older', 'f3', 2, 'cli', 'api:read', '2000-01-01 00:00:00', '2000-01-03 00:00:00'); \
             INSERT INTO audit_logs (id, event_type, user_id, username, success, details, created_at) VALUES \
             (1, 'login_failed', 1, 'alice', FALSE, '{{}}', '2000-01-01 00:00:00'), \
             (2, 'login_success', 1, 'alice', TRUE, '{{\"ip\":\"::1\"}}', '{now}'); \
             INSERT INTO login_attempts (attempt_key, failures, window_started_at, updated_at) VALUES \
             ('user:alice', 2, '2000-01-01 00:00:00', '2000-01-01 00:00:00');"
        ),
    )
    .await;
}

fn other_backend(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

/// The `auth` database through the CLI: stats, backup, verify, restore (in place and into the
/// other backend), cleanup; and a backup of `auth` can never be restored over `agent_runtime`,
/// however the target is given.
async fn auth_database_through_the_cli(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let auth = TestDb::new(backend).await;
    let agent = TestDb::new(backend).await;
    seed_auth(auth.url()).await;
    seed(agent.url(), 2).await;
    let both = |args: &[&str]| db_env(Some(agent.url()), Some(auth.url()), backups, args);

    let stats = json(&both(&["stats", "auth", "--json"]).ok());
    assert_eq!(stats[0]["name"], "auth");
    let latest = auth_service::migrations::MIGRATIONS
        .latest_version()
        .unwrap();
    assert_eq!(stats[0]["schema_version"], latest.as_str());
    assert_eq!(rows(&stats, "users"), 2);
    assert_eq!(rows(&stats, "refresh_tokens"), 3);
    assert_eq!(rows(&stats, "audit_logs"), 2);
    assert!(both(&["health"]).ok().contains("auth"));

    let made = json(&both(&["backup", "auth", "--json"]).ok());
    let id = made[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("auth-"), "{id}");
    assert_eq!(made[0]["manifest"]["database"], "auth");
    assert!(
        both(&["verify", &id, "--deep"])
            .ok()
            .contains("deep check passed")
    );

    // Data loss refused: the auth backup over the agent_runtime database, by configured URL,
    // by a URL no variable names (the ledger tells), by name; and with the name forced to
    // `auth`, by the engine (the target's ledger and tables are agent_runtime's).
    let agent_before = json(&both(&["stats", "agent_runtime", "--json"]).ok());
    let agent_url = agent.url().expose_url();
    both(&["restore", &id, "--to", &agent_url, "--force"])
        .fails_with("is of database `auth`, but the target");
    db_env(
        None,
        Some(auth.url()),
        backups,
        &["restore", &id, "--to", &agent_url, "--force"],
    )
    .fails_with("is the `agent_runtime` database");
    both(&["restore", &id, "--database", "agent_runtime", "--force"])
        .fails_with("is of database `auth`");
    both(&[
        "restore",
        &id,
        "--database",
        "auth",
        "--to",
        &agent_url,
        "--force",
    ])
    .fails_with("is not a `auth` database");
    let agent_after = json(&both(&["stats", "agent_runtime", "--json"]).ok());
    assert_eq!(agent_after[0]["tables"], agent_before[0]["tables"]);
    assert_eq!(
        agent_after[0]["schema_version"],
        agent_before[0]["schema_version"]
    );
    assert!(
        !json(&both(&["backups", "--json"]).ok())
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["id"].as_str().unwrap().contains("pre-restore")),
        "refused before any safety backup"
    );

    // In place: a deleted user comes back, after a safety backup.
    exec(
        auth.url(),
        "DELETE FROM audit_logs; DELETE FROM refresh_tokens; DELETE FROM users WHERE id = 2",
    )
    .await;
    both(&["restore", &id]).fails_with("--force");
    let out = both(&["restore", &id, "--force"]).ok();
    assert!(out.contains("safety backup"), "{out}");
    let stats = json(&both(&["stats", "auth", "--json"]).ok());
    assert_eq!(rows(&stats, "users"), 2);
    assert_eq!(rows(&stats, "audit_logs"), 2);

    // Into a fresh database of the other backend, given by URL only.
    let moved = TestDb::new(other_backend(backend)).await;
    let moved_url = moved.url().expose_url();
    both(&["restore", &id, "--to", &moved_url]).ok();
    let stats = json(&both(&["stats", "auth", "--url", &moved_url, "--json"]).ok());
    assert_eq!(rows(&stats, "users"), 2);
    assert_eq!(rows(&stats, "login_attempts"), 1);

    // Cleanup: a dry run counts, --execute removes and VACUUMs SQLite.
    let plan = both(&["cleanup", "auth"]).ok();
    assert!(
        plan.contains("would remove 2 refresh tokens, 1 login counters, 1 audit entries")
            && plan.contains("dry run"),
        "{plan}"
    );
    // One row of each kind per transaction: the two old tokens take two batches.
    let done = json(&both(&["cleanup", "auth", "--execute", "--batch", "1", "--json"]).ok());
    assert_eq!(done["refresh_tokens"], 2);
    assert_eq!(done["login_attempts"], 1);
    assert_eq!(done["audit_logs"], 1);
    assert_eq!(done["vacuumed"], backend == Backend::Sqlite);
    let stats = json(&both(&["stats", "auth", "--json"]).ok());
    assert_eq!(rows(&stats, "refresh_tokens"), 1);
    assert_eq!(rows(&stats, "login_attempts"), 0);
    assert_eq!(rows(&stats, "audit_logs"), 1);
    assert_eq!(rows(&stats, "users"), 2);
}

/// Runs the `sqlite3` command-line tool on `path` with `args`; its stdout.
fn sqlite3(path: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(path)
        .args(args)
        .output()
        .expect("the sqlite3 command-line tool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A text value holding a JSON object or array, parsed (PostgreSQL's `JSONB` keeps the
/// document but not its spacing or key order); other values as they are.
fn documents(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
        }
        serde_json::Value::Object(o) => {
            serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, documents(v))).collect())
        }
        other => other,
    }
}

/// Every row of every table of the SQLite file `path` (ledger excluded), by table, in id
/// order, as `sqlite3 -json` prints it: every column's stored value, text exactly as stored
/// (JSON documents compared as documents, see [`documents`]).
fn sqlite_rows(path: &Path) -> Vec<(String, Vec<serde_json::Value>)> {
    let tables = sqlite3(
        path,
        &[
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 2) <> '__' \
           ORDER BY name",
        ],
    );
    tables
        .lines()
        .map(|t| {
            let out = sqlite3(
                path,
                &["-json", &format!("SELECT * FROM \"{t}\" ORDER BY rowid")],
            );
            let rows: Vec<serde_json::Value> = if out.trim().is_empty() {
                Vec::new()
            } else {
                serde_json::from_str(&out).unwrap()
            };
            (t.to_owned(), rows.into_iter().map(documents).collect())
        })
        .collect()
}

/// `sqlite3 .schema` of `path` without the ledger, lines sorted (a restore rebuilds indexes,
/// which moves them in the catalogue).
fn sqlite_schema(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = sqlite3(path, &[".schema"])
        .lines()
        .filter(|l| !l.contains("__"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// `copy` SQLite → PostgreSQL → SQLite gives back exactly the rows it started with: every
/// column of every row (text with tabs, newlines, quotes and non-ASCII, NULLs, JSON, timestamps,
/// ids), not only the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sqlite_to_postgres_and_back_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path();
    let src = DbUrl::SqliteFile(backups.join("src.db"));
    seed(&src, 4).await;
    let pool = Pool::connect(&src, &PoolConfig::default()).await.unwrap();
    let store = Store::new(pool.clone());
    store
        .append_messages(
            Access {
                subject: "bob".into(),
                admin: false,
            },
            "odd".into(),
            vec![
                NewMessage {
                    role: Role::Tool,
                    content: Some(
                        "tab\there\nnew line \"quoted\" back\\slash ünïcødé ✓ \\N".into(),
                    ),
                    name: Some("grep".into()),
                    tool_call_id: Some("call-1".into()),
                    tool_calls: vec![],
                    token_count: 11,
                    metadata_json: Some(r#"{"nested":{"a":[1,2.5,null,true]},"s":"x\ty"}"#.into()),
                    // Trailing zeros in the fraction, and a whole second: PostgreSQL's text drops
                    // them; the SQLite text must come back as Diesel wrote it.
                    timestamp: Some(
                        chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.347800Z")
                            .unwrap()
                            .to_utc(),
                    ),
                },
                NewMessage {
                    role: Role::User,
                    content: None,
                    name: None,
                    tool_call_id: None,
                    tool_calls: vec![],
                    token_count: 0,
                    metadata_json: None,
                    timestamp: Some(
                        chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:08Z")
                            .unwrap()
                            .to_utc(),
                    ),
                },
            ],
            true,
        )
        .await
        .unwrap();
    drop(store);
    pool.close();
    let expected = sqlite_rows(&backups.join("src.db"));
    let messages = &expected.iter().find(|(t, _)| t == "messages").unwrap().1;
    assert_eq!(messages.len(), 10);
    assert!(
        messages
            .iter()
            .any(|m| m["timestamp"] == "2026-03-04 05:06:07.347800"),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["content"].as_str().is_some_and(|c| c.contains("ünïcødé"))),
        "{messages:#?}"
    );

    let mid = TestDb::new(Backend::Postgres).await;
    let mid_url = mid.url().expose_url();
    let back = DbUrl::SqliteFile(backups.join("back.db"));
    let out = db(
        &src,
        backups,
        &["copy", "--from", &src.expose_url(), "--to", &mid_url],
    )
    .ok();
    assert!(out.contains("row counts match"), "{out}");
    let stats = json(&db(&src, backups, &["stats", "--url", &mid_url, "--json"]).ok());
    assert_eq!(rows(&stats, "messages"), 10);
    db(
        &src,
        backups,
        &["copy", "--from", &mid_url, "--to", &back.expose_url()],
    )
    .ok();
    assert_eq!(sqlite_rows(&backups.join("back.db")), expected);
    assert_eq!(
        sqlite_schema(&backups.join("back.db")),
        sqlite_schema(&backups.join("src.db")),
        "same tables, columns and indexes"
    );
}
