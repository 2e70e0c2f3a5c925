//! Backup, verify, restore, copy, retention — and every bad input of the issue.

use super::*;
use db_core::admin::AdminError;
use db_core::admin::backup::{Manifest, RestoreOptions};
use db_core::migrate;
use db_core::testing::TestDb;

async fn migrated(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    migrate::migrate(db.url(), &SET, None).await.unwrap();
    db
}

async fn restore(
    backup: &Path,
    url: &DbUrl,
    force: bool,
    safety: &Path,
) -> Result<backup::RestoreReport, AdminError> {
    backup::restore(
        backup,
        url,
        &SET,
        RestoreOptions {
            force,
            safety_dir: safety,
            progress: &NoProgress,
        },
    )
    .await
}

/// [`backup::copy`] of `from` onto `to` with the fixture's migrations, a safety backup (when
/// `force` replaces data) in `safety`.
async fn copy(
    from: &DbUrl,
    to: &DbUrl,
    force: bool,
    safety: &Path,
) -> Result<backup::CopyReport, AdminError> {
    backup::copy(from, to, &SET, force, safety, &NoProgress).await
}

fn other(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

async fn backup_restores_identically_on_both_backends(backend: Backend) {
    let src = migrated(backend).await;
    seed(src.url()).await;
    let expected = dump(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
        let info = backup_to(src.url(), dir.path(), compression).await;
        let m = &info.manifest;
        assert_eq!(m.database, "library");
        assert_eq!(m.backend, backend.to_string());
        assert_eq!(m.schema_version.as_deref(), Some(V3));
        assert_eq!(m.compression, compression);
        let order: Vec<(&str, u64)> = m.tables.iter().map(|t| (t.name.as_str(), t.rows)).collect();
        assert_eq!(order, [("authors", 3), ("books", 3)], "parents first");
        assert!(info.path.join("manifest.json").is_file());
        assert!(
            backup::verify(&info.path, Some(&SET), true)
                .await
                .unwrap()
                .ok
        );
        // Into an empty, never-migrated database of each backend.
        for target_backend in [backend, other(backend)] {
            let target = TestDb::new(target_backend).await;
            let report = restore(&info.path, target.url(), false, dir.path())
                .await
                .unwrap();
            assert!(report.safety_backup.is_none());
            assert_eq!(
                dump(target.url()).await,
                expected,
                "{compression:?} into {target_backend}"
            );
            // Sequences continue after the restored ids.
            exec(target.url(), "INSERT INTO authors (name) VALUES ('next')").await;
            assert!(
                dump(target.url())
                    .await
                    .0
                    .iter()
                    .any(|a| a.0 == 8 && a.1 == "next")
            );
        }
    }
    assert_eq!(backup::list(dir.path(), Some("library")).unwrap().len(), 3);
}

async fn round_trip_through_the_other_backend_gives_identical_rows(backend: Backend) {
    let src = migrated(backend).await;
    seed(src.url()).await;
    let mid = TestDb::new(other(backend)).await;
    let back = TestDb::new(backend).await;
    let safety = tempfile::tempdir().unwrap();
    let r = copy(src.url(), mid.url(), false, safety.path())
        .await
        .unwrap();
    assert_eq!(r.source, r.target);
    copy(mid.url(), back.url(), false, safety.path())
        .await
        .unwrap();
    assert_eq!(dump(back.url()).await, dump(src.url()).await);
    // Copying onto data needs force, and then keeps a safety backup.
    let e = copy(src.url(), back.url(), false, safety.path())
        .await
        .unwrap_err();
    assert!(matches!(e, AdminError::Refused(_)), "{e}");
    let r = copy(src.url(), back.url(), true, safety.path())
        .await
        .unwrap();
    assert!(r.safety_backup.is_some());
}

async fn backup_while_writing_is_consistent(backend: Backend) {
    let src = migrated(backend).await;
    exec(src.url(), "INSERT INTO authors (id, name) VALUES (1, 'w')").await;
    let url = src.url().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !std::sync::atomic::AtomicBool::load(&stop, std::sync::atomic::Ordering::Relaxed)
            {
                n += 1;
                // A parent and its child in one transaction: a torn snapshot would show one
                // without the other.
                exec(
                    &url,
                    &format!(
                        "BEGIN; INSERT INTO authors (id, name) VALUES ({id}, 'a{id}'); \
                         INSERT INTO books (author_id, title) VALUES ({id}, 't'); COMMIT;",
                        id = n + 1
                    ),
                )
                .await;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    let rows: Vec<u64> = info.manifest.tables.iter().map(|t| t.rows).collect();
    assert_eq!(
        rows[0],
        rows[1] + 1,
        "authors = books + 1 in one snapshot: {rows:?}"
    );
    assert!(rows[1] > 0 && rows[1] <= written as u64);
    let target = TestDb::new(backend).await;
    restore(&info.path, target.url(), false, dir.path())
        .await
        .unwrap();
    let c = counts(target.url()).await;
    assert_eq!(c, [("authors".into(), rows[0]), ("books".into(), rows[1])]);
}

async fn bad_backups_are_refused_and_leave_the_target_unchanged(backend: Backend) {
    let src = migrated(backend).await;
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let safety = tempfile::tempdir().unwrap();
    let good = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    let target = migrated(backend).await;
    exec(
        target.url(),
        "INSERT INTO authors (id, name) VALUES (99, 'keep me')",
    )
    .await;
    let before = dump(target.url()).await;
    let copy_of = |name: &str| {
        let p = dir.path().join(name);
        let _ = std::fs::remove_dir_all(&p);
        copy_backup(&good.path, &p);
        p
    };
    // A consistent backup with other contents: the manifest and its checksum both rewritten,
    // so the semantic checks (not the checksum) must refuse it.
    let edit_manifest = |p: &Path, f: &dyn Fn(&mut Manifest)| {
        let mut m = Manifest::read(p).unwrap();
        f(&mut m);
        write_signed_manifest(p, &m);
    };
    let expect = |r: Result<backup::RestoreReport, AdminError>, what: &str, needle: &str| {
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{what}: restore succeeded"));
        assert!(e.to_string().contains(needle), "{what}: {e}");
    };

    // Missing backup.
    expect(
        restore(&dir.path().join("nope"), target.url(), true, safety.path()).await,
        "missing",
        "no such backup folder",
    );
    // Truncated file.
    let p = copy_of("truncated");
    let f = p.join(&good.manifest.tables[1].file);
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "truncated",
        "truncated",
    );
    let v = backup::verify(&p, Some(&SET), true).await.unwrap();
    assert!(!v.ok && v.problems.len() == 1, "{v:?}");
    // Tampered file of the same size.
    let p = copy_of("tampered");
    let f = p.join(&good.manifest.tables[0].file);
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&f, bytes).unwrap();
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "tampered",
        "sha256 mismatch",
    );
    // A manifest from another database.
    let p = copy_of("other-db");
    edit_manifest(&p, &|m| m.database = "auth".into());
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "other database",
        "backup is of database `auth`",
    );
    // A newer schema.
    let p = copy_of("newer");
    edit_manifest(&p, &|m| m.schema_version = Some("20990101000000".into()));
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "newer schema",
        "unknown to this binary",
    );
    // Not a manifest at all.
    let p = copy_of("garbage");
    std::fs::write(p.join("manifest.json"), b"{ not json").unwrap();
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "garbage manifest",
        "not a valid manifest",
    );
    // A non-empty target without force.
    expect(
        restore(&good.path, target.url(), false, safety.path()).await,
        "non-empty",
        "--force",
    );
    // A failure half way (a row breaking a foreign key in the last table, with hashes
    // recomputed so verification passes) rolls the whole restore back.
    let p = copy_of("bad-row");
    break_books(&p);
    assert!(backup::verify(&p, Some(&SET), false).await.unwrap().ok);
    let deep = backup::verify(&p, Some(&SET), true).await.unwrap();
    assert!(!deep.ok, "deep check catches it");
    assert!(
        deep.problems.iter().any(|p| p.contains("foreign_key_check")
            && p.contains("1 row(s)")
            && p.contains("books row 11 → authors")),
        "the deep check names the dangling row: {deep:?}"
    );
    expect(
        restore(&p, target.url(), true, safety.path()).await,
        "bad row",
        "books",
    );
    assert_eq!(
        dump(target.url()).await,
        before,
        "target unchanged after every failure"
    );
    assert!(
        admin::drift(target.url(), &SET).await.unwrap().is_empty(),
        "indexes dropped for the load came back with the rollback"
    );
    // The good backup restores with force, after a safety backup of the target.
    let r = restore(&good.path, target.url(), true, safety.path())
        .await
        .unwrap();
    let safety_id = r.safety_backup.unwrap();
    assert_eq!(dump(target.url()).await, dump(src.url()).await);
    // ...which restores the previous state.
    restore(
        &safety.path().join(safety_id),
        target.url(),
        true,
        safety.path(),
    )
    .await
    .unwrap();
    assert_eq!(dump(target.url()).await, before);
}

async fn restore_refuses_a_target_newer_than_the_backup(backend: Backend) {
    let src = TestDb::new(backend).await;
    migrate::migrate(src.url(), &SET, Some(V2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    assert_eq!(info.manifest.schema_version.as_deref(), Some(V2));
    let target = migrated(backend).await;
    let e = restore(&info.path, target.url(), true, dir.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("newer than the backup"), "{e}");
    // An older backup restores into an empty database at its own version.
    let fresh = TestDb::new(backend).await;
    restore(&info.path, fresh.url(), false, dir.path())
        .await
        .unwrap();
    assert_eq!(
        migrate::status(fresh.url(), &SET)
            .await
            .unwrap()
            .current
            .as_deref(),
        Some(V2)
    );
}

/// A database with other tables and another migration history than [`SET`]'s.
static WIDGETS: MigrationSet = MigrationSet {
    name: "widgets",
    postgres: &[db_core::migrate::Migration {
        dir: "2025-05-05-000000_create_widgets",
        up: "CREATE TABLE widgets (id BIGINT PRIMARY KEY, label TEXT NOT NULL)",
        down: "DROP TABLE widgets",
    }],
    sqlite: &[db_core::migrate::Migration {
        dir: "2025-05-05-000000_create_widgets",
        up: "CREATE TABLE widgets (id BIGINT PRIMARY KEY, label TEXT NOT NULL)",
        down: "DROP TABLE widgets",
    }],
};

async fn widget_labels(url: &DbUrl) -> Vec<String> {
    dump_names(url, "SELECT label FROM widgets ORDER BY id").await
}

/// A `library` backup restored with force into another database — one migrated by another
/// set (its ledger holds versions `library` does not know), or one with foreign tables and no
/// ledger — is refused before anything is written: no safety backup, same schema, same rows.
async fn restore_refuses_a_target_of_another_database(backend: Backend) {
    let src = migrated(backend).await;
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let safety = tempfile::tempdir().unwrap();
    let good = backup_to(src.url(), dir.path(), Compression::Zstd).await;

    let other = TestDb::new(backend).await;
    migrate::migrate(other.url(), &WIDGETS, None).await.unwrap();
    exec(
        other.url(),
        "INSERT INTO widgets (id, label) VALUES (1, 'precious')",
    )
    .await;
    let schema_before = admin::live_schema(other.url()).await.unwrap();
    let e = restore(&good.path, other.url(), true, safety.path())
        .await
        .unwrap_err();
    assert!(matches!(e, AdminError::Refused(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("is not a `library` database") && msg.contains("20250505000000"),
        "{msg}"
    );
    assert_eq!(widget_labels(other.url()).await, ["precious"]);
    assert_eq!(
        admin::live_schema(other.url()).await.unwrap(),
        schema_before
    );
    let status = migrate::status(other.url(), &WIDGETS).await.unwrap();
    assert_eq!(status.current.as_deref(), Some("20250505000000"));

    // Foreign tables without any ledger.
    let bare = TestDb::new(backend).await;
    exec(
        bare.url(),
        "CREATE TABLE widgets (id BIGINT PRIMARY KEY, label TEXT NOT NULL); \
         INSERT INTO widgets (id, label) VALUES (7, 'mine');",
    )
    .await;
    let e = restore(&good.path, bare.url(), true, safety.path())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("table(s) widgets that no migration of `library` creates"),
        "{e}"
    );
    assert_eq!(widget_labels(bare.url()).await, ["mine"]);
    assert!(
        migrate::status(bare.url(), &SET)
            .await
            .unwrap()
            .current
            .is_none(),
        "no ledger created"
    );
    assert_eq!(
        std::fs::read_dir(safety.path()).unwrap().count(),
        0,
        "refused before the safety backup"
    );
}

/// Copies backup folder `from` to `to`.
pub(crate) fn copy_backup(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Replaces the `books` file of backup `p` (taken at V3) with a good row and a row whose
/// author does not exist, and re-signs the manifest so verification passes.
fn break_books(p: &Path) {
    let mut m = Manifest::read(p).unwrap();
    let books = m.tables.iter_mut().find(|t| t.name == "books").unwrap();
    let rows = "[10,1,\"ok\",1.0,null]\n[11,12345,\"orphan\",null,null]\n";
    let enc = zstd::encode_all(rows.as_bytes(), 3).unwrap();
    std::fs::write(p.join(&books.file), &enc).unwrap();
    books.rows = 2;
    books.bytes = enc.len() as u64;
    books.uncompressed_bytes = Some(rows.len() as u64);
    books.sha256 = sha256_hex(&enc);
    write_signed_manifest(p, &m);
}

async fn author_names(url: &DbUrl) -> Vec<String> {
    dump_names(url, "SELECT name AS label FROM authors ORDER BY id").await
}

async fn dump_names(url: &DbUrl, sql: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Label {
        #[diesel(sql_type = Text)]
        label: String,
    }
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let rows: Vec<Label> =
        db_core::with_connection!(conn, |c| diesel::sql_query(sql).load(c).await.unwrap());
    rows.into_iter().map(|r| r.label).collect()
}

/// A backup at V3 restored into a target at V1 (or never migrated) must apply V2 and V3 in
/// the load's transaction: when a row of the backup fails, the target is back at its own
/// version with its own schema and rows, not left migrated.
async fn failed_restore_into_an_older_target_keeps_its_schema_version(backend: Backend) {
    let src = migrated(backend).await;
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let safety = tempfile::tempdir().unwrap();
    let good = backup_to(src.url(), dir.path(), Compression::Zstd).await;
    assert_eq!(good.manifest.schema_version.as_deref(), Some(V3));
    let bad = dir.path().join("bad-row");
    copy_backup(&good.path, &bad);
    break_books(&bad);
    assert!(backup::verify(&bad, Some(&SET), false).await.unwrap().ok);

    let target = TestDb::new(backend).await;
    migrate::migrate(target.url(), &SET, Some(V1))
        .await
        .unwrap();
    exec(
        target.url(),
        "INSERT INTO authors (id, name) VALUES (99, 'keep me')",
    )
    .await;
    let schema_before = admin::live_schema(target.url()).await.unwrap();
    assert_eq!(schema_before.tables.len(), 1, "only authors at V1");
    let e = restore(&bad, target.url(), true, safety.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("books"), "{e}");
    let status = migrate::status(target.url(), &SET).await.unwrap();
    assert_eq!(status.current.as_deref(), Some(V1), "{status:?}");
    assert_eq!(
        admin::live_schema(target.url()).await.unwrap(),
        schema_before,
        "V2 and V3 rolled back with the rows"
    );
    assert_eq!(author_names(target.url()).await, ["keep me"]);
    assert!(admin::drift(target.url(), &SET).await.unwrap().is_empty());

    // Never migrated: no ledger, no tables afterwards.
    let fresh = TestDb::new(backend).await;
    // A file that exists, so SQLite takes the in-place path too.
    exec(fresh.url(), "SELECT 1").await;
    let e = restore(&bad, fresh.url(), false, safety.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("books"), "{e}");
    assert!(
        migrate::status(fresh.url(), &SET)
            .await
            .unwrap()
            .current
            .is_none()
    );
    assert!(
        admin::live_schema(fresh.url())
            .await
            .unwrap()
            .tables
            .is_empty(),
        "no table left behind"
    );

    // The good backup migrates the V1 target to V3 and loads, in one commit.
    restore(&good.path, target.url(), true, safety.path())
        .await
        .unwrap();
    let status = migrate::status(target.url(), &SET).await.unwrap();
    assert_eq!(status.current.as_deref(), Some(V3));
    assert!(
        status
            .migrations
            .iter()
            .all(|m| m.state == migrate::MigrationState::Applied)
    );
    assert_eq!(dump(target.url()).await, dump(src.url()).await);
    assert!(admin::drift(target.url(), &SET).await.unwrap().is_empty());
    // Migrating afterwards finds nothing to do (the ledger is the engine's).
    assert!(
        migrate::migrate(target.url(), &SET, None)
            .await
            .unwrap()
            .is_empty()
    );
}

backend_tests!(
    backup_restores_identically_on_both_backends,
    round_trip_through_the_other_backend_gives_identical_rows,
    backup_while_writing_is_consistent,
    bad_backups_are_refused_and_leave_the_target_unchanged,
    restore_refuses_a_target_newer_than_the_backup,
    restore_refuses_a_target_of_another_database,
    failed_restore_into_an_older_target_keeps_its_schema_version,
);

#[tokio::test]
async fn backup_of_a_missing_database_or_into_an_unwritable_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = DbUrl::SqliteFile(dir.path().join("absent.db"));
    let e = backup::backup(
        &missing,
        &SET,
        BackupOptions {
            dir: dir.path(),
            label: None,
            compression: Compression::Zstd,
            progress: &NoProgress,
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let db = migrated(Backend::Sqlite).await;
    seed(db.url()).await;
    // A "folder" that is a file: the backup cannot be written, and nothing is left behind.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let e = backup::backup(
        db.url(),
        &SET,
        BackupOptions {
            dir: &blocker,
            label: None,
            compression: Compression::Zstd,
            progress: &NoProgress,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AdminError::Io { .. }), "{e}");
}

#[tokio::test]
async fn prune_keeps_the_newest_and_the_newest_verified() {
    let db = migrated(Backend::Sqlite).await;
    seed(db.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(backup_to(db.url(), dir.path(), Compression::Zstd).await.id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    ids.reverse(); // newest first
    let listed: Vec<String> = backup::list(dir.path(), None)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(listed, ids);
    // Break the newest: the newest *verified* one must survive keep_last = 1.
    let newest = dir.path().join(&ids[0]);
    let f = backup::list(dir.path(), None).unwrap()[0].manifest.tables[0]
        .file
        .clone();
    std::fs::write(newest.join(f), b"garbage").unwrap();
    let dry = backup::prune(dir.path(), Some("library"), None, 1, None, true)
        .await
        .unwrap();
    assert_eq!(dry.kept, vec![ids[0].clone(), ids[1].clone()]);
    assert_eq!(dry.removed, vec![ids[2].clone(), ids[3].clone()]);
    assert_eq!(
        backup::list(dir.path(), None).unwrap().len(),
        4,
        "dry run deletes nothing"
    );
    let done = backup::prune(dir.path(), Some("library"), None, 1, None, false)
        .await
        .unwrap();
    assert_eq!(done.removed.len(), 2);
    assert_eq!(backup::list(dir.path(), None).unwrap().len(), 2);
    // keep_days keeps everything young.
    let r = backup::prune(dir.path(), None, None, 0, Some(1), true)
        .await
        .unwrap();
    assert!(r.removed.is_empty());
}

/// Retention holds per database: without a name, each database keeps its own newest
/// `keep_last` and its own newest verified backup; a label limits it to those backups.
#[tokio::test]
async fn prune_applies_the_rules_per_database_and_label() {
    let db = migrated(Backend::Sqlite).await;
    seed(db.url()).await;
    let archive = MigrationSet {
        name: "archive",
        postgres: SET.postgres,
        sqlite: SET.sqlite,
    };
    let dir = tempfile::tempdir().unwrap();
    let take = |set: &'static MigrationSet, label: Option<&'static str>| {
        let url = db.url().clone();
        let dir = dir.path().to_owned();
        async move {
            let id = backup::backup(
                &url,
                set,
                BackupOptions {
                    dir: &dir,
                    label,
                    compression: Compression::Zstd,
                    progress: &NoProgress,
                },
            )
            .await
            .unwrap()
            .id;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            id
        }
    };
    let archive: &'static MigrationSet = Box::leak(Box::new(archive));
    // Oldest first: library ×3 interleaved with archive ×2, the newest archive one broken.
    let l1 = take(&SET, None).await;
    let a1 = take(archive, None).await;
    let l2 = take(&SET, None).await;
    let a2 = take(archive, None).await;
    let l3 = take(&SET, None).await;
    let broken = dir.path().join(&a2);
    let file = Manifest::read(&broken).unwrap().tables[0].file.clone();
    std::fs::write(broken.join(file), b"garbage").unwrap();

    let r = backup::prune(dir.path(), None, None, 1, None, true)
        .await
        .unwrap();
    let mut kept = r.kept.clone();
    kept.sort();
    let mut want = vec![l3.clone(), a2.clone(), a1.clone()];
    want.sort();
    assert_eq!(
        kept, want,
        "newest library; newest archive, and archive's newest verified"
    );
    let mut removed = r.removed.clone();
    removed.sort();
    let mut want = vec![l1.clone(), l2.clone()];
    want.sort();
    assert_eq!(removed, want);

    // Labels: only `scheduled` backups are considered; the others survive any keep_last.
    let s1 = take(&SET, Some("scheduled")).await;
    let s2 = take(&SET, Some("scheduled")).await;
    let pre = take(&SET, Some("pre-restore")).await;
    let listed = backup::list(dir.path(), Some("library")).unwrap();
    let label_of = |id: &str| {
        listed
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.label().map(str::to_owned))
    };
    assert_eq!(label_of(&s1).as_deref(), Some("scheduled"));
    assert_eq!(label_of(&pre).as_deref(), Some("pre-restore"));
    assert_eq!(label_of(&l1), None);
    let r = backup::prune(
        dir.path(),
        Some("library"),
        Some("scheduled"),
        1,
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.removed, vec![s1]);
    assert_eq!(r.kept, vec![s2]);
    for id in [&l1, &l2, &l3, &pre, &a1, &a2] {
        assert!(dir.path().join(id).is_dir(), "{id} survives");
    }
}

/// A SQLite target that does not exist is built aside and renamed into place: afterwards the
/// file exists complete (WAL mode, identical rows, no leftovers); when the load fails it does
/// not exist at all.
#[tokio::test]
async fn restore_into_a_new_sqlite_file_is_all_or_nothing() {
    let src = TestDb::new(Backend::Sqlite).await;
    migrate::migrate(src.url(), &SET, None).await.unwrap();
    seed(src.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let info = backup_to(src.url(), dir.path(), Compression::Zstd).await;

    let target_dir = tempfile::tempdir().unwrap();
    let path = target_dir.path().join("new.db");
    let url = DbUrl::SqliteFile(path.clone());
    restore(&info.path, &url, false, dir.path()).await.unwrap();
    assert_eq!(dump(&url).await, dump(src.url()).await);
    let names: Vec<String> = std::fs::read_dir(target_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "no temporary file left: {names:?}");
    let out = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("PRAGMA journal_mode; PRAGMA integrity_check;")
        .output()
        .expect("the sqlite3 command-line tool");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wal\nok\n");

    // A backup whose manifest (consistently re-signed) promises more rows than its file holds
    // fails during the load: the new file must not appear.
    let broken = dir.path().join("broken");
    copy_backup(&info.path, &broken);
    let mut manifest = Manifest::read(&broken).unwrap();
    let books = manifest
        .tables
        .iter_mut()
        .find(|t| t.name == "books")
        .unwrap();
    books.rows += 1;
    write_signed_manifest(&broken, &manifest);
    let other = DbUrl::SqliteFile(target_dir.path().join("other.db"));
    let e = restore(&broken, &other, false, dir.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rows read"), "{e}");
    let left: Vec<String> = std::fs::read_dir(target_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["new.db"], "the failed restore left nothing");
}

/// Writes `manifest` into backup folder `dir` with a matching `manifest.json.sha256`: a
/// consistent backup with other contents, so checks past the checksum are what refuse it.
pub(crate) fn write_signed_manifest(dir: &Path, manifest: &Manifest) {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let sum = sha256_hex(&bytes);
    std::fs::write(dir.join("manifest.json"), bytes).unwrap();
    std::fs::write(
        dir.join("manifest.json.sha256"),
        format!("{sum}  manifest.json\n"),
    )
    .unwrap();
}

/// The sha256 of `bytes` in lowercase hex, as manifests record it.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
