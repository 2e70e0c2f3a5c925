//! One connection pool type over both backends, and the macros that run one query body on
//! whichever backend the pool holds.
//!
//! - `config`: [`PoolConfig`] and the SQLite settings;
//! - `connect`: building the pool and setting up each new connection;
//! - `checkout`: [`DbConn`], the connection handed out;
//! - `status`: ping, occupancy, close;
//! - `sqlite`: SQLite's connection setup and `BEGIN IMMEDIATE` transaction;
//! - `detach`: running an operation that outlives its caller;
//! - `macros`: [`transaction!`](crate::transaction), [`read_transaction!`](crate::read_transaction),
//!   [`with_connection!`](crate::with_connection).

mod checkout;
mod config;
mod connect;
mod detach;
mod macros;
mod sqlite;
mod status;
#[cfg(test)]
mod tests;

pub use checkout::DbConn;
pub use config::{PoolConfig, SQLITE_JOURNAL_SIZE_LIMIT_BYTES, SqliteSynchronous};
pub use detach::detach;
pub(crate) use sqlite::sqlite_setup;
pub use sqlite::{sqlite_begin_immediate, sqlite_finish};
pub use status::PoolStatus;

use crate::DbUrl;
use crate::sqlite_conn::SqliteManager;
use diesel::SqliteConnection;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool as Deadpool;
use std::sync::Arc;

/// The synchronous SQLite connection behind a [`SqliteConn`](crate::SqliteConn), as
/// [`DbConn::sqlite_write`] hands it out: for the one hot path that writes its statements as
/// synchronous Diesel calls (agent-runtime's append batch). Service code names it only there.
pub type BlockingConn = SqliteConnection;
/// The async PostgreSQL connection (tokio-postgres underneath; no libpq).
pub type PgConn = AsyncPgConnection;

#[derive(Clone)]
enum Inner {
    Postgres(Deadpool<PgConn>),
    /// SQLite allows one writer at a time. Writers of this process queue on `writer` instead
    /// of colliding on the database lock, where SQLite's busy handler would put them to sleep
    /// for milliseconds at a time.
    Sqlite {
        pool: deadpool::managed::Pool<SqliteManager>,
        writer: Arc<tokio::sync::Mutex<()>>,
    },
}

/// A pool of connections to one database, SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Inner,
    url: Arc<DbUrl>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// The engine behind this pool.
    pub fn backend(&self) -> crate::Backend {
        self.url.backend()
    }

    /// True when the backend admits one writer at a time (SQLite): callers gain by coalescing
    /// writes into fewer transactions (group commit) instead of queueing for the lock.
    pub fn serializes_writes(&self) -> bool {
        matches!(self.inner, Inner::Sqlite { .. })
    }

    /// The database URL (prints redacted).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }
}
