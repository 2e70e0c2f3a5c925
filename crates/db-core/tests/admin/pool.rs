//! The connection pool's checkout order.

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
