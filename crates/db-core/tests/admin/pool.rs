//! The connection pool: checkout order and SQLite connection settings.

use crate::backend_tests;
use db_core::testing::TestDb;
use db_core::{Backend, Pool, PoolConfig};
use diesel_async::SimpleAsyncConnection;

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

/// Every pooled SQLite connection checkpoints at `SQLITE_WAL_AUTOCHECKPOINT_PAGES` (not
/// SQLite's 1,000) and truncates its WAL to `SQLITE_JOURNAL_SIZE_LIMIT_BYTES`.
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
    assert_eq!(pages, i64::from(db_core::SQLITE_WAL_AUTOCHECKPOINT_PAGES));
    assert_eq!(limit as u64, db_core::SQLITE_JOURNAL_SIZE_LIMIT_BYTES);
}
