//! Checking a connection out of a [`Pool`]: [`DbConn`] and where its SQLite work runs.

use super::{Inner, PgConn, Pool};
use crate::DbError;
use crate::sqlite_conn::PooledSqlite;
use std::sync::Arc;

/// A connection checked out of a [`Pool`]; returned to it on drop.
///
/// Service code does not match on it: use [`transaction!`](crate::transaction),
/// [`read_transaction!`](crate::read_transaction) or [`with_connection!`](crate::with_connection).
// A checked-out connection lives on the stack for one operation; boxing the larger PostgreSQL
// variant would add an allocation to every checkout for no gain.
#[allow(clippy::large_enum_variant)]
pub enum DbConn {
    /// A PostgreSQL connection.
    Postgres(diesel_async::pooled_connection::deadpool::Object<PgConn>),
    /// A SQLite connection, with the pool's writer lock (taken by `transaction!`).
    Sqlite(PooledSqlite, Arc<tokio::sync::Mutex<()>>),
}

impl Pool {
    /// Checks a connection out of the pool. A SQLite connection runs each statement on tokio's
    /// blocking pool (a hop there and back), so the caller's async worker stays free.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the database is unreachable or every connection stays
    /// busy for `wait_timeout_ms`.
    pub async fn get(&self) -> Result<DbConn, DbError> {
        self.checkout(false).await
    }

    /// Checks a connection out of the pool whose SQLite statements run at once on the thread
    /// that polls it, without a hop to the blocking pool and back: for short reads of bounded
    /// size (one row, one page), since the caller's async worker is blocked while each
    /// statement runs, and for work on a thread of its own (agent-runtime's append writer).
    /// The same as [`Pool::get`] for PostgreSQL.
    ///
    /// # Errors
    /// As [`Pool::get`].
    pub async fn get_inline(&self) -> Result<DbConn, DbError> {
        self.checkout(true).await
    }

    /// A connection of the pool; SQLite's runs its work on the caller's thread when `inline`.
    async fn checkout(&self, inline: bool) -> Result<DbConn, DbError> {
        Ok(match &self.inner {
            Inner::Postgres(p) => DbConn::Postgres(p.get().await?),
            Inner::Sqlite { pool, writer } => {
                DbConn::Sqlite(PooledSqlite::new(pool.get().await?, inline), writer.clone())
            }
        })
    }
}
