//! The SQLite build options and where a checked-out connection runs its work.

use super::{DbConn, Pool, PoolConfig};
use crate::SqliteConn;

/// The bundled SQLite syncs a commit with fdatasync(2), not fsync(2): `.cargo/config.toml`
/// passes `HAVE_FDATASYNC` to libsqlite3-sys's build (see the comment there). This checks
/// the flag reached this build, whose SQLite is compiled in the same cargo invocation.
#[test]
fn the_bundled_sqlite_is_built_to_commit_with_fdatasync() {
    let flags = option_env!("LIBSQLITE3_FLAGS").unwrap_or("");
    assert!(
        flags.split_whitespace().any(|f| f == "-DHAVE_FDATASYNC=1"),
        "LIBSQLITE3_FLAGS = {flags:?}: the bundled SQLite would fsync(2) every commit"
    );
}

/// The rest of `.cargo/config.toml`'s flags reached the SQLite this build links: no
/// memory-status mutex, multi-thread (not serialized) mode, and plans that do not depend on
/// bound values, so a cached `LIMIT ?` statement is not re-prepared on every run.
#[test]
fn the_bundled_sqlite_is_built_with_the_recommended_options() {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }
    let mut c = super::BlockingConn::establish(":memory:").unwrap();
    let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
        .load::<CompileOption>(&mut c)
        .unwrap()
        .into_iter()
        .map(|o| o.compile_options)
        .collect();
    for wanted in ["DEFAULT_MEMSTATUS=0", "THREADSAFE=2", "ENABLE_QPSG"] {
        assert!(
            options.iter().any(|o| o == wanted),
            "{wanted} missing from the bundled SQLite's compile options {options:?}"
        );
    }
}

/// A pool over one in-memory SQLite database (one connection).
async fn memory_pool() -> Pool {
    Pool::connect(&crate::DbUrl::SqliteMemory, &PoolConfig::default())
        .await
        .unwrap()
}

/// The SQLite connection of `conn`.
fn sqlite(conn: &mut DbConn) -> &mut SqliteConn {
    match conn {
        DbConn::Sqlite(c, _) => c,
        DbConn::Postgres(_) => unreachable!("a SQLite pool"),
    }
}

/// The thread one piece of blocking work of `conn` ran on.
async fn thread_of(conn: &mut DbConn) -> std::thread::ThreadId {
    sqlite(conn)
        .spawn_blocking(|_| Ok(std::thread::current().id()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_runs_on_the_blocking_pool_except_inline() {
    let pool = memory_pool().await;
    let here = std::thread::current().id();
    let mut conn = pool.get().await.unwrap();
    assert_ne!(
        thread_of(&mut conn).await,
        here,
        "a connection from get hops to the blocking pool"
    );
    drop(conn);
    let mut conn = pool.get_inline().await.unwrap();
    assert_eq!(
        thread_of(&mut conn).await,
        here,
        "a connection from get_inline runs on the caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_runs_every_statement_of_an_operation_on_the_polling_thread() {
    let pool = memory_pool().await;
    let here = std::thread::current().id();
    let mut conn = pool.get_inline().await.unwrap();
    let first = thread_of(&mut conn).await;
    let second = thread_of(&mut conn).await;
    assert_eq!(first, here);
    assert_eq!(second, here);
    drop(conn);
    let mut conn = pool.get().await.unwrap();
    assert_ne!(
        thread_of(&mut conn).await,
        std::thread::current().id(),
        "checked out with get: the blocking pool"
    );
}

#[tokio::test]
async fn a_panic_in_inline_work_is_an_error_and_the_connection_still_works() {
    let pool = memory_pool().await;
    let mut conn = pool.get_inline().await.unwrap();
    let failed = sqlite(&mut conn)
        .spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") })
        .await;
    let err = failed.expect_err("the panic must come back as an error");
    assert!(err.to_string().contains("panicked"), "{err}");
    let answer: i32 = sqlite(&mut conn).spawn_blocking(|_| Ok(42)).await.unwrap();
    assert_eq!(answer, 42);
}

/// Where a connection runs its work is set at each checkout: an inline checkout, even one
/// whose work panicked, leaves nothing behind for the next checkout of the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kind_of_a_connection_is_its_checkouts() {
    let pool = memory_pool().await;
    let mut conn = pool.get_inline().await.unwrap();
    let panicked = sqlite(&mut conn)
        .spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") })
        .await;
    assert!(panicked.is_err());
    drop(conn);
    let mut conn = pool.get().await.unwrap();
    assert_ne!(
        thread_of(&mut conn).await,
        std::thread::current().id(),
        "later work on this connection must not run inline"
    );
    drop(conn);
    let mut conn = pool.get_inline().await.unwrap();
    assert_eq!(thread_of(&mut conn).await, std::thread::current().id());
}
