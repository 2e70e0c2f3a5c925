//! Owner-only files: under the common umask 022 (which makes a plain `File::create` 0644), every
//! file db-core creates — SQLite database, `-wal`, `-shm`, backup folders and their files,
//! a restored database, a safety backup — is 0600 and every folder 0700; a symbolic link is
//! never written through.

use super::*;
use db_core::admin::backup::RestoreOptions;
use db_core::migrate;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;

/// Set in the child process [`in_umask_022_child`] starts.
const CHILD: &str = "CODELAB_TEST_UMASK_022_CHILD";

/// Runs test `name` (its path in this test binary) again in a child process whose umask is 022
/// (the umask is per process, so the parent's and other tests' are left alone) and checks it
/// passed. Returns `true` in the parent, `false` in the child, which then runs the test body.
fn in_umask_022_child(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" --exact \"$1\" --nocapture --test-threads 1")
        .arg(std::env::current_exe().unwrap())
        .arg(name)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child under umask 022 failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
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

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_and_backups_are_owner_only_under_umask_022() {
    if in_umask_022_child("owner_only::sqlite_files_and_backups_are_owner_only_under_umask_022") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The test's premise: this process's umask leaves group and others read access.
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    assert_eq!(mode(&plain), 0o644, "umask 022 in the child");

    // The database, its WAL and shared-memory files, and the folders made for it.
    let db = dir.path().join("data/nested/app.db");
    let url = DbUrl::SqliteFile(db.clone());
    migrate::migrate(&url, &SET, None).await.unwrap();
    seed(&url).await;
    let pool = Pool::connect(&url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(
            c,
            "INSERT INTO authors (id, name, active) VALUES (99, 'x', TRUE)",
        )
        .await
        .unwrap()
    });
    for path in [
        db.clone(),
        with_suffix(&db, "-wal"),
        with_suffix(&db, "-shm"),
    ] {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/nested")), 0o700);
    drop(conn);
    drop(pool);

    // A backup: its folder (and the backups folder made for it) 0700, every file 0600.
    let backups = dir.path().join("backups");
    let info = backup_to(&url, &backups, Compression::Zstd).await;
    assert_owner_only_tree(&backups);
    assert!(info.path.join("manifest.json.sha256").is_file());

    // A restore into a new file, then over it with a safety backup into a new folder.
    let restored = dir.path().join("restored/new.db");
    let target = DbUrl::SqliteFile(restored.clone());
    let safety = dir.path().join("safety");
    let opts = RestoreOptions {
        force: true,
        safety_dir: &safety,
        progress: &NoProgress,
    };
    backup::restore(&info.path, &target, &SET, opts)
        .await
        .unwrap();
    assert_eq!(mode(&restored), 0o600);
    assert_eq!(mode(&dir.path().join("restored")), 0o700);
    let report = backup::restore(&info.path, &target, &SET, opts)
        .await
        .unwrap();
    assert!(report.safety_backup.is_some());
    assert_owner_only_tree(&safety);
    for suffix in ["", "-wal", "-shm"] {
        let path = with_suffix(&restored, suffix);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

/// A database an older codelab left 0644 is narrowed to 0600 when it is next opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_is_narrowed_to_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let url = DbUrl::SqliteFile(db.clone());
    migrate::migrate(&url, &SET, None).await.unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    counts(&url).await;
    assert_eq!(mode(&db), 0o600);
}

/// Files that may already exist are opened with `O_NOFOLLOW`: a link planted in their place is
/// refused, and the file it points at is untouched.
#[test]
fn a_symbolic_link_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let e = db_core::owner_only::open_for_write(&link, true).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(db_core::owner_only::create_new_file(&link).is_err());
    assert!(db_core::owner_only::create_new_dir(&link).is_err());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}
