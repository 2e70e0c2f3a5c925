//! SQLite specifics of the pool: the per-connection setup and the `BEGIN IMMEDIATE`
//! transaction [`transaction!`](crate::transaction) opens.

use crate::SqliteConn;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use std::time::{Duration, Instant};

/// `BEGIN IMMEDIATE` on `c`: the start of [`transaction!`](crate::transaction) on SQLite
/// (diesel-async's own `immediate_transaction` exists only for its default runtime).
#[doc(hidden)]
pub async fn sqlite_begin_immediate(c: &mut SqliteConn) -> diesel::QueryResult<()> {
    c.spawn_blocking(|conn| {
        diesel::connection::AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
    })
    .await
}

/// Commits (`commit`) or rolls back the transaction [`sqlite_begin_immediate`] opened.
#[doc(hidden)]
pub async fn sqlite_finish(c: &mut SqliteConn, commit: bool) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager as _;
    type Manager = <SqliteConn as AsyncConnection>::TransactionManager;
    if commit {
        Manager::commit_transaction(c).await
    } else {
        Manager::rollback_transaction(c).await
    }
}

/// Runs a new SQLite connection's setup `pragmas`, retrying for up to `patience` while the
/// file is locked. `PRAGMA journal_mode = WAL` answers "database is locked" at once, without
/// waiting on `busy_timeout`, when another connection is converting the file or holds an
/// exclusive lock (several processes opening a fresh database together).
///
/// # Errors
/// The last error once `patience` has passed, or any other error at once.
pub(crate) async fn sqlite_setup(
    conn: &mut SqliteConn,
    pragmas: &str,
    patience: Duration,
) -> diesel::QueryResult<()> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(5);
    loop {
        match conn.batch_execute(pragmas).await {
            Err(e) if e.to_string().contains("locked") && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}
