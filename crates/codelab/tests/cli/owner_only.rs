//! The real `codelab` binary under the common umask 022 (a plain `File::create` gives 0644)
//! creates every file that holds data or secrets owner-only: `codelab up`'s data folder (0700),
//! both services' SQLite databases with their `-wal` and `-shm`, and the credentials file
//! (0600); `codelab db backup`/`restore` folders (0700) and files (0600), safety backups
//! included. And a database password given as `?password=` never shows in `codelab config
//! check` or a backup manifest.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use db_core::testing::TestDb;
use db_core::{Backend, DbUrl};

use crate::support::{self, Guard, free_port};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `codelab <args>` under `sh -c 'umask 022; exec codelab …'`, in `dir`, without the
/// developer's database variables.
fn codelab_umask_022(dir: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_codelab"))
        .current_dir(dir)
        .env_remove("AGENT_RUNTIME__DB_URL")
        .env_remove("AUTH_SERVICE__DB_URL")
        .env_remove("CODELAB_BACKUP_DIR")
        .env_remove("RUST_LOG");
    command
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Every entry of `dir` (recursively): folders 0700, files 0600.
fn assert_owner_only_tree(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            assert_owner_only_tree(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_creates_owner_only_files_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("up.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    assert_eq!(mode(&log_path) & 0o044, 0o044, "the test's own umask");
    let addr = format!("127.0.0.1:{}", free_port());
    let auth_addr = format!("127.0.0.1:{}", free_port());
    let child = support::up_on(&mut codelab_umask_022(dir.path()), &addr, &auth_addr)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("start codelab up");
    let mut guard = Guard(child);
    let state = dir.path().join("state");
    let mut files = vec![state.join("auth-credentials.txt")];
    for db in ["agent_runtime.db", "auth.db"] {
        for suffix in ["", "-wal", "-shm"] {
            files.push(with_suffix(&state.join(db), suffix));
        }
    }
    // Both services hold their databases open in WAL mode once they have served a call:
    // auth-service's first start writes; agent-runtime gets a session imported.
    let started = Instant::now();
    let mut imported = false;
    while !files.iter().all(|f| f.exists()) {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !imported && log.contains("agent-runtime serving") {
            import_a_session(&log, &addr, &auth_addr, dir.path()).await;
            imported = true;
        }
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!(
                "codelab up exited with {status}:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "missing {:?} after 60 s:\n{}",
            files.iter().filter(|f| !f.exists()).collect::<Vec<_>>(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(mode(&state), 0o700);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

/// Logs in as the admin with the password `codelab up` printed in `log` and imports one
/// session into agent-runtime at `addr`.
async fn import_a_session(log: &str, addr: &str, auth_addr: &str, dir: &Path) {
    let token = support::admin_token_from_up_log(log, auth_addr).await;
    let file = dir.join("chat.jsonl");
    std::fs::write(
        &file,
        "{\"id\": \"perm-test\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    support::import_with_token(&file, &format!("http://{addr}"), &token).await;
}

/// `db migrate`, `db backup`, `db restore` into a new file and `db restore --force` over it
/// (taking a safety backup), all under umask 022.
#[test]
fn db_backup_and_restore_are_owner_only_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().canonicalize().unwrap();
    let url = format!("sqlite:///{}/data/agent_runtime.db", abs.display());
    let restored = abs.join("restored/new.db");
    let to = format!("sqlite:///{}", restored.display());
    let backups = abs.join("backups");
    let backup_dir = backups.to_str().unwrap();
    let run = |args: &[&str]| {
        ok(codelab_umask_022(&abs)
            .arg("db")
            .args(args)
            .output()
            .unwrap())
    };
    run(&["migrate", "agent_runtime", "--url", &url]);
    // One row, so that restoring over the restored copy takes a safety backup.
    let inserted = Command::new("sqlite3")
        .arg(abs.join("data/agent_runtime.db"))
        .arg(
            "INSERT INTO sessions (session_id, owner, created_at, last_activity) \
             VALUES ('s-1', 'alice', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .status()
        .expect("the sqlite3 command-line tool");
    assert!(inserted.success());
    run(&[
        "backup",
        "agent_runtime",
        "--url",
        &url,
        "--backup-dir",
        backup_dir,
    ]);
    let id = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.starts_with('.'))
        .expect("a backup");
    run(&["restore", &id, "--to", &to, "--backup-dir", backup_dir]);
    run(&[
        "restore",
        &id,
        "--to",
        &to,
        "--force",
        "--backup-dir",
        backup_dir,
    ]);
    assert_owner_only_tree(&backups);
    assert_eq!(
        std::fs::read_dir(&backups).unwrap().count(),
        2,
        "with the safety backup"
    );
    for db in [abs.join("data/agent_runtime.db"), restored.clone()] {
        assert_eq!(mode(db.parent().unwrap()), 0o700, "{}", db.display());
        for suffix in ["", "-wal", "-shm"] {
            let path = with_suffix(&db, suffix);
            if suffix.is_empty() || path.exists() {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
    }
}

/// A password given as a query parameter (and a JWKS URL's credentials) never shows in `config
/// check` or in a backup manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_password_never_shows() {
    let db = TestDb::new(Backend::Postgres).await;
    // Trust authentication on the test server: the password is carried, not needed.
    let secret = "s3cret-in-query-Zq7";
    let jwks_secret = "jwks-pw-Zq7";
    let jwks_token = "jwks-token-Zq7";
    let url = format!("{}?password={secret}", db.url().expose_url());
    let parsed = DbUrl::parse(&url).unwrap();
    assert!(!parsed.to_string().contains(secret));
    let dir = tempfile::tempdir().unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_codelab"))
        .args(["config", "check", "--service", "agent-runtime", "--json"])
        .current_dir(dir.path())
        .env("AGENT_RUNTIME__DB_URL", &url)
        .env(
            "AGENT_RUNTIME__AUTH__JWKS_URL",
            format!("https://reader:{jwks_secret}@jwks.example/keys?access_token={jwks_token}"),
        )
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(shown.contains("password=***"), "{shown}");
    for s in [secret, jwks_secret, jwks_token] {
        assert!(!shown.contains(s), "{s} shown: {shown}");
    }

    let backups = dir.path().join("backups");
    let run = |args: &[&str]| {
        ok(Command::new(env!("CARGO_BIN_EXE_codelab"))
            .arg("db")
            .args(args)
            .current_dir(dir.path())
            .env_remove("AGENT_RUNTIME__DB_URL")
            .env_remove("AUTH_SERVICE__DB_URL")
            .env_remove("RUST_LOG")
            .output()
            .unwrap())
    };
    let out = run(&["migrate", "agent_runtime", "--url", &url]);
    assert!(!out.contains(secret), "{out}");
    let out = run(&[
        "backup",
        "agent_runtime",
        "--url",
        &url,
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    assert!(!out.contains(secret), "{out}");
    let backup = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("a backup");
    let manifest = std::fs::read_to_string(backup.join("manifest.json")).unwrap();
    assert!(manifest.contains("password=***"), "{manifest}");
    assert!(!manifest.contains(secret), "{manifest}");
    let out = run(&["stats", "agent_runtime", "--url", &url, "--json"]);
    assert!(!out.contains(secret), "{out}");
}
