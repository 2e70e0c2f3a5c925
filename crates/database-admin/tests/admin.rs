//! The shared `DatabaseAdmin` edge on a real SQLite file: scheduled backups prune only their
//! own backups, and an executed `CleanupData` gives the freed pages back (`VACUUM`).
//!
//! Rows are written and inspected with the `sqlite3` command-line tool, so the test needs no
//! database crate of its own.
#![allow(missing_docs)]

use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_server::DatabaseAdmin as _;
use database_admin::{BackupSettings, DatabaseAdminService, DatabaseOps, ServiceHooks};
use db_core::DbUrl;
use db_core::admin::NoProgress;
use db_core::admin::backup::{self, RestoreOptions};
use db_core::migrate::{Migration, MigrationSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::{Request, Status};

const NOTES_UP: Migration = Migration {
    dir: "2026-01-01-000000_notes",
    up: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    down: "DROP TABLE notes",
};

static NOTES: MigrationSet = MigrationSet {
    name: "notes",
    postgres: &[NOTES_UP],
    sqlite: &[NOTES_UP],
};

/// A fresh folder under the system's temporary folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "database-admin-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sql` with the `sqlite3` tool on `db`; its stdout, trimmed.
fn sqlite3(db: &Path, sql: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 command-line tool");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A migrated `notes` database in `dir` holding `rows` rows of 1 KB each.
async fn notes_db(dir: &Path, rows: u32) -> (PathBuf, DbUrl) {
    let path = dir.join("notes.db");
    let url = DbUrl::SqliteFile(path.clone());
    db_core::migrate::migrate(&url, &NOTES, None).await.unwrap();
    sqlite3(
        &path,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO notes (body) SELECT hex(randomblob(512)) FROM n"
        ),
    );
    (path, url)
}

/// Scheduled backups every second with KEEP = 2: the schedule keeps its own newest two, and
/// never removes a manual backup, an unlabelled one or a restore's `pre-restore` safety backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_prune_only_scheduled_ones() {
    const KEEP: usize = 2;
    let scratch = Scratch::new("scheduled");
    let (_, url) = notes_db(&scratch.0, 10).await;
    let dir = scratch.0.join("backups");
    let ops = DatabaseOps::new(url.clone(), dir.clone(), &NOTES, "test");
    let manual = ops.create_backup("manual", "zstd").await.unwrap().id;
    let unlabelled = ops.create_backup("", "zstd").await.unwrap().id;
    let restored = backup::restore(
        &dir.join(&manual),
        &url,
        &NOTES,
        RestoreOptions {
            force: true,
            safety_dir: &dir,
            progress: &NoProgress,
        },
    )
    .await
    .unwrap();
    let safety = restored.safety_backup.expect("a safety backup of the rows");
    assert!(safety.ends_with("-pre-restore"), "{safety}");

    let settings = BackupSettings {
        dir: dir.clone(),
        interval: 1,
        keep: KEEP,
    };
    let task = database_admin::spawn_scheduled_backups(&ops, &settings).expect("interval > 0");
    let scheduled_now = || -> Vec<String> {
        backup::list(&dir, Some("notes"))
            .unwrap()
            .into_iter()
            .filter(|b| b.label() == Some(database_admin::SCHEDULED))
            .map(|b| b.id)
            .collect()
    };
    // Watch until at least KEEP + 2 scheduled backups were made and the last prune is done.
    let mut seen: Vec<String> = Vec::new();
    let started = Instant::now();
    let current = loop {
        let now = scheduled_now();
        for id in &now {
            if !seen.contains(id) {
                seen.push(id.clone());
            }
        }
        if seen.len() >= KEEP + 2 && now.len() == KEEP {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scheduled backups seen: {seen:?}, now: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    task.abort();
    seen.sort();
    let mut newest: Vec<String> = seen[seen.len() - KEEP..].to_vec();
    newest.reverse();
    assert_eq!(
        current, newest,
        "the newest {KEEP} scheduled backups are kept"
    );
    for id in [&manual, &unlabelled, &safety] {
        assert!(dir.join(id).is_dir(), "{id} was pruned by the schedule");
    }
}

/// Hooks whose retention deletes every note (counting them on a dry run).
struct DeleteNotes {
    db: PathBuf,
}

#[tonic::async_trait]
impl ServiceHooks for DeleteNotes {
    async fn authorize(&self, _: &Request<()>) -> Result<(), Status> {
        Ok(())
    }

    async fn cleanup(&self, _days: u32, dry_run: bool) -> Result<Vec<(String, u64)>, Status> {
        let n: u64 = sqlite3(&self.db, "SELECT count(*) FROM notes")
            .parse()
            .unwrap();
        if !dry_run {
            sqlite3(&self.db, "DELETE FROM notes");
        }
        Ok(vec![("notes".to_owned(), n)])
    }
}

/// A dry run changes nothing; an executed `CleanupData` deletes and then VACUUMs the SQLite
/// file, so no free page is left behind (without it ~1 MB of pages would stay on the freelist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executed_cleanup_vacuums_sqlite() {
    let scratch = Scratch::new("vacuum");
    let (path, url) = notes_db(&scratch.0, 2_000).await;
    let ops = DatabaseOps::new(url, scratch.0.join("backups"), &NOTES, "test");
    let service = DatabaseAdminService::new(ops, DeleteNotes { db: path.clone() });
    let pages = |what: &str| -> u64 { sqlite3(&path, &format!("PRAGMA {what}")).parse().unwrap() };
    let full = pages("page_count");
    assert!(full > 250, "{full} pages");

    let dry = service
        .cleanup_data(Request::new(pb::CleanupDataRequest {
            days: 1,
            dry_run: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.dry_run);
    assert_eq!(dry.removed.get("notes"), Some(&2_000));
    assert_eq!(sqlite3(&path, "SELECT count(*) FROM notes"), "2000");

    let done = service
        .cleanup_data(Request::new(pb::CleanupDataRequest {
            days: 1,
            dry_run: Some(false),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!done.dry_run);
    assert_eq!(done.removed.get("notes"), Some(&2_000));
    assert_eq!(sqlite3(&path, "SELECT count(*) FROM notes"), "0");
    assert_eq!(pages("freelist_count"), 0, "VACUUM gave the pages back");
    assert!(
        pages("page_count") < full / 10,
        "{} of {full} pages left",
        pages("page_count")
    );
}
