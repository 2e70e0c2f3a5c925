//! The connection pool: checkout order, and the SQLite connection settings with what they do.

use crate::backend_tests;
use db_core::testing::TestDb;
use db_core::{Backend, DbUrl, Pool, PoolConfig};
use diesel_async::SimpleAsyncConnection;
use std::path::Path;

/// The pool hands out the connection returned last (LIFO), whose caches are warm: a SQLite
/// connection keeps its page cache only while no other connection has written.
async fn the_pool_hands_out_the_connection_returned_last(backend: Backend) {
    let db = TestDb::new(backend).await;
    let pool = Pool::connect(db.url(), &PoolConfig::default())
        .await
        .unwrap();
    let older = pool.get().await.unwrap();
    let mut newer = pool.get().await.unwrap();
    // A temporary table lives and dies with its connection: it marks `newer`.
    db_core::with_connection!(newer, |c| {
        c.batch_execute("CREATE TEMP TABLE marker (x INTEGER)")
            .await
            .unwrap()
    });
    drop(older);
    drop(newer);
    let mut next = pool.get().await.unwrap();
    let marked = db_core::with_connection!(next, |c| {
        c.batch_execute("SELECT count(*) FROM marker").await.is_ok()
    });
    assert!(marked, "the pool handed out the connection returned first");
}

backend_tests!(the_pool_hands_out_the_connection_returned_last);

#[derive(diesel::QueryableByName)]
struct AutoCheckpoint {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    wal_autocheckpoint: i64,
}

#[derive(diesel::QueryableByName)]
struct JournalSizeLimit {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    journal_size_limit: i64,
}

/// Every pooled SQLite connection checkpoints at SQLite's default of 1,000 pages and truncates
/// its WAL to `SQLITE_JOURNAL_SIZE_LIMIT_BYTES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connections_get_the_checkpoint_and_wal_limits() {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new(Backend::Sqlite).await;
    let pool = Pool::connect(db.url(), &PoolConfig::default())
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let (pages, limit) = db_core::with_connection!(conn, |c| {
        let pages = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result::<AutoCheckpoint>(c)
            .await
            .unwrap()
            .wal_autocheckpoint;
        let limit = diesel::sql_query("PRAGMA journal_size_limit")
            .get_result::<JournalSizeLimit>(c)
            .await
            .unwrap()
            .journal_size_limit;
        (pages, limit)
    });
    assert_eq!(pages, 1_000);
    assert_eq!(limit as u64, db_core::SQLITE_JOURNAL_SIZE_LIMIT_BYTES);
}

/// Size of the WAL file beside the SQLite database `db`, in bytes (0 when there is none).
fn wal_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_wal_shrinks_back_to_the_journal_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let pool = Pool::connect(&DbUrl::SqliteFile(db.clone()), &PoolConfig::default())
        .await
        .unwrap();
    // One connection held throughout: closing the last one would checkpoint and delete the WAL.
    let mut conn = pool.get().await.unwrap();
    let mut run = async |sql: String| {
        db_core::with_connection!(conn, |c| {
            diesel_async::SimpleAsyncConnection::batch_execute(c, &sql)
                .await
                .unwrap()
        })
    };
    let limit = db_core::SQLITE_JOURNAL_SIZE_LIMIT_BYTES;
    let rows = limit / 4_000 + 2_000; // ~8 MB more than the limit, in one transaction
    run(format!(
        "CREATE TABLE t (b BLOB); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO t SELECT randomblob(4000) FROM n;"
    ))
    .await;
    let grown = wal_bytes(&db);
    assert!(
        grown > limit,
        "the transaction should leave a WAL above the limit: {grown}"
    );
    // The next commits restart the WAL from its start; the first of them truncates it.
    run("PRAGMA wal_checkpoint(PASSIVE); DELETE FROM t;".into()).await;
    run("INSERT INTO t VALUES (x'00');".into()).await;
    let after = wal_bytes(&db);
    assert!(after <= limit, "WAL still {after} bytes, limit {limit}");
}
