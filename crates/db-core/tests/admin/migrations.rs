//! The migration engine: up, down, up again; targets; checksums; the lock; drift.

use super::*;
use db_core::migrate::{self, MigrationState, RollbackTarget};
use db_core::testing::TestDb;

async fn every_migration_up_down_up_gives_the_same_schema(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url();
    let mut after = Vec::new();
    for v in [V1, V2, V3] {
        assert_eq!(migrate::migrate(url, &SET, Some(v)).await.unwrap(), vec![v]);
        after.push(admin::live_schema(url).await.unwrap());
    }
    assert_eq!(after[2].tables.len(), 2);
    // Down one at a time: each step gives back the schema the previous up produced.
    for i in (0..3).rev() {
        let reverted = migrate::rollback(url, &SET, RollbackTarget::Steps(1))
            .await
            .unwrap();
        assert_eq!(reverted.len(), 1);
        let now = admin::live_schema(url).await.unwrap();
        if i == 0 {
            assert!(now.tables.is_empty(), "{now:?}");
        } else {
            assert_eq!(now, after[i - 1], "after reverting step {i}");
        }
    }
    // And up again.
    assert_eq!(
        migrate::migrate(url, &SET, None).await.unwrap(),
        vec![V1, V2, V3]
    );
    assert_eq!(admin::live_schema(url).await.unwrap(), after[2]);
    assert!(admin::drift(url, &SET).await.unwrap().is_empty());
}

async fn status_targets_and_redo(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url();
    migrate::migrate(url, &SET, Some(V2)).await.unwrap();
    let s = migrate::status(url, &SET).await.unwrap();
    assert_eq!(s.current.as_deref(), Some(V2));
    assert_eq!(s.latest.as_deref(), Some(V3));
    let states: Vec<_> = s
        .migrations
        .iter()
        .map(|m| (m.version.as_str(), m.state))
        .collect();
    assert_eq!(
        states,
        [
            (V1, MigrationState::Applied),
            (V2, MigrationState::Applied),
            (V3, MigrationState::Pending)
        ]
    );
    assert!(s.migrations[0].applied_at.is_some());
    assert_eq!(s.migrations[1].name, "create_books");
    // Going back with migrate is refused; an unknown version is named.
    let e = migrate::migrate(url, &SET, Some(V1)).await.unwrap_err();
    assert!(e.to_string().contains("rollback"), "{e}");
    let e = migrate::migrate(url, &SET, Some("123")).await.unwrap_err();
    assert!(
        e.to_string().contains("unknown migration version `123`"),
        "{e}"
    );
    // Rollback to V1 keeps V1.
    migrate::migrate(url, &SET, None).await.unwrap();
    assert_eq!(
        migrate::rollback(url, &SET, RollbackTarget::To(V1.into()))
            .await
            .unwrap(),
        vec![V3, V2]
    );
    assert_eq!(
        migrate::status(url, &SET).await.unwrap().current.as_deref(),
        Some(V1)
    );
    migrate::migrate(url, &SET, None).await.unwrap();
    assert_eq!(migrate::redo(url, &SET).await.unwrap().as_deref(), Some(V3));
    assert_eq!(
        migrate::status(url, &SET).await.unwrap().current.as_deref(),
        Some(V3)
    );
    // The diesel ledger is kept, so the diesel CLI sees the same state.
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    assert_eq!(
        migrate::run_pending(&pool, &SET).await.unwrap(),
        Vec::<String>::new()
    );
}

async fn modified_and_missing_migrations_are_reported(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url();
    migrate::migrate(url, &SET, Some(V2)).await.unwrap();
    // Simulate an edited up.sql: the recorded checksum no longer matches the file.
    exec(
        url,
        &format!("UPDATE __codelab_migrations SET checksum = 'abc' WHERE version = '{V1}'"),
    )
    .await;
    let s = migrate::status(url, &SET).await.unwrap();
    assert_eq!(s.migrations[0].state, MigrationState::Modified);
    let e = migrate::migrate(url, &SET, None).await.unwrap_err();
    assert!(e.to_string().contains("changed since they ran"), "{e}");
    assert!(e.to_string().contains(V1), "{e}");
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    assert!(
        migrate::run_pending(&pool, &SET).await.is_err(),
        "service start must refuse"
    );
    assert!(
        migrate::rollback(url, &SET, RollbackTarget::Steps(1))
            .await
            .is_err()
    );
    assert!(!admin::health("library", url, &SET).await.ok);
    // Nothing was applied while refusing.
    assert_eq!(
        migrate::status(url, &SET).await.unwrap().current.as_deref(),
        Some(V2)
    );
    // Rows applied before checksums existed are unverified, then adopted.
    exec(url, "DELETE FROM __codelab_migrations").await;
    let s = migrate::status(url, &SET).await.unwrap();
    assert_eq!(s.migrations[0].state, MigrationState::Unverified);
    migrate::migrate(url, &SET, None).await.unwrap();
    let s = migrate::status(url, &SET).await.unwrap();
    assert!(
        s.migrations
            .iter()
            .all(|m| m.state == MigrationState::Applied),
        "{s:?}"
    );
    // A version applied by a newer binary is missing here, and cannot be rolled back.
    exec(
        url,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20990101000000')",
    )
    .await;
    let s = migrate::status(url, &SET).await.unwrap();
    assert_eq!(s.migrations.last().unwrap().state, MigrationState::Missing);
    let e = migrate::rollback(url, &SET, RollbackTarget::Steps(1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown to this binary"), "{e}");
}

async fn concurrent_migrators_apply_each_migration_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url().clone();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { migrate::migrate(&url, &SET, None).await })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().unwrap().len();
    }
    assert_eq!(total, 3);
}

async fn drift_reports_changes_but_not_pending(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url();
    migrate::migrate(url, &SET, Some(V2)).await.unwrap();
    assert!(
        admin::drift(url, &SET).await.unwrap().is_empty(),
        "pending is not drift"
    );
    exec(
        url,
        "ALTER TABLE books ADD COLUMN extra TEXT; CREATE INDEX idx_extra ON books (title); \
         CREATE TABLE stray (id INTEGER PRIMARY KEY); DROP INDEX idx_books_author;",
    )
    .await;
    let d = admin::drift(url, &SET).await.unwrap();
    let objects: Vec<(&str, &str, &str)> = d
        .iter()
        .map(|x| (x.kind.as_str(), x.object.as_str(), x.detail.as_str()))
        .collect();
    assert!(
        objects.contains(&("column", "books.extra", "unexpected")),
        "{objects:?}"
    );
    assert!(
        objects.contains(&("index", "books.idx_extra", "unexpected")),
        "{objects:?}"
    );
    assert!(
        objects.contains(&("index", "books.idx_books_author", "missing")),
        "{objects:?}"
    );
    assert!(
        objects.contains(&("table", "stray", "unexpected")),
        "{objects:?}"
    );
    assert_eq!(d.len(), 4, "{objects:?}");
    // A NOT NULL dropped is a column difference.
    let db2 = TestDb::new(backend).await;
    migrate::migrate(db2.url(), &SET, None).await.unwrap();
    let nullable = match backend {
        Backend::Postgres => "ALTER TABLE books ALTER COLUMN title DROP NOT NULL",
        Backend::Sqlite => "ALTER TABLE authors ADD COLUMN x INTEGER",
    };
    exec(db2.url(), nullable).await;
    assert_eq!(admin::drift(db2.url(), &SET).await.unwrap().len(), 1);
}

async fn stats_and_health(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url();
    migrate::migrate(url, &SET, Some(V2)).await.unwrap();
    exec(
        url,
        "INSERT INTO authors (id, name) VALUES (1, 'a'), (2, 'b')",
    )
    .await;
    let info = admin::stats("library", url, &SET).await.unwrap();
    assert_eq!(info.backend, backend.to_string());
    assert_eq!(info.schema_version.as_deref(), Some(V2));
    assert_eq!(info.pending, 1);
    assert!(info.size_bytes > 0);
    let tables: Vec<(&str, u64)> = info
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.rows))
        .collect();
    assert_eq!(tables, [("authors", 2), ("books", 0)]);
    let h = admin::health("library", url, &SET).await;
    assert!(h.ok, "{h:?}");
    assert!(h.connect_ms.is_some() && h.round_trip_ms.is_some());
    assert!(h.schema.contains("1 pending"), "{}", h.schema);
    // A PostgreSQL server without autovacuum gets a warning; SQLite never does.
    let autovacuum_off = match backend {
        Backend::Sqlite => false,
        Backend::Postgres => {
            let mut conn = db_core::Pool::connect(url, &db_core::PoolConfig::default())
                .await
                .unwrap()
                .get()
                .await
                .unwrap();
            #[derive(diesel::QueryableByName)]
            struct Setting {
                #[diesel(sql_type = diesel::sql_types::Text)]
                autovacuum: String,
            }
            db_core::with_connection!(conn, |c| {
                use diesel_async::RunQueryDsl;
                let s: Setting = diesel::sql_query("SHOW autovacuum")
                    .get_result(c)
                    .await
                    .unwrap();
                s.autovacuum == "off"
            })
        }
    };
    let expected: Vec<String> = if autovacuum_off {
        vec![admin::AUTOVACUUM_OFF.to_owned()]
    } else {
        Vec::new()
    };
    assert_eq!(h.warnings, expected);
}

backend_tests!(
    every_migration_up_down_up_gives_the_same_schema,
    status_targets_and_redo,
    modified_and_missing_migrations_are_reported,
    concurrent_migrators_apply_each_migration_once,
    drift_reports_changes_but_not_pending,
    stats_and_health,
);

#[tokio::test]
async fn wrong_urls_fail_clearly() {
    let url = DbUrl::parse("postgres://postgres@127.0.0.1:1/nope").unwrap();
    let e = admin::stats("library", &url, &SET).await.unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
    let h = admin::health("library", &url, &SET).await;
    assert!(!h.ok);
    let dir = tempfile::tempdir().unwrap();
    let missing = DbUrl::SqliteFile(dir.path().join("absent.db"));
    let e = migrate::status(&missing, &SET).await.unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(
        !dir.path().join("absent.db").exists(),
        "a read must not create the file"
    );
}

#[tokio::test]
async fn a_locked_sqlite_database_is_reported_not_hung() {
    let db = db_core::testing::TestDb::sqlite();
    migrate::migrate(db.url(), &SET, None).await.unwrap();
    // Another process holds the write lock for longer than the busy timeout.
    let path = db.url().sqlite_path().unwrap().to_owned();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut c, "BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(std::time::Duration::from_secs(12));
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let e = migrate::rollback(db.url(), &SET, RollbackTarget::Steps(1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("locked"), "{e}");
    holder.join().unwrap();
    assert_eq!(
        migrate::status(db.url(), &SET)
            .await
            .unwrap()
            .current
            .as_deref(),
        Some(V3)
    );
}
