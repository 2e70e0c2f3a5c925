//! How a pooled SQLite connection runs its work, and the pool's manager of SQLite connections.
//!
//! A [`SqliteConn`] is diesel's synchronous `SqliteConnection` behind diesel-async's wrapper:
//! every statement is a piece of blocking work. Where it runs is the connection's kind,
//! chosen at each checkout: [`Pool::get`](crate::Pool::get) hops to tokio's blocking pool and
//! back for each piece, [`Pool::get_inline`](crate::Pool::get_inline) runs it at once on the
//! thread that polls the connection. Nothing else changes how a connection runs.

use diesel::{Connection, SqliteConnection};
use diesel_async::pooled_connection::{PoolError, PoolableConnection};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use futures::FutureExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The async SQLite connection: diesel's `SqliteConnection`, its statements run where its
/// [`SqliteRuntime`] says.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, SqliteRuntime>;

/// Where a [`SqliteConn`] runs its blocking work (diesel-async's `SpawnBlocking`).
///
/// On tokio's blocking pool by default: every statement is a hop there and back, a thread
/// wake-up each way, which on a small machine costs more than a cached statement. For a
/// connection checked out with [`Pool::get_inline`](crate::Pool::get_inline), at once on the
/// calling thread instead: for short bounded reads (one row, one page), whose caller's async
/// worker is blocked while each statement runs, and for work on a thread of its own
/// (agent-runtime's append writer). A panic in work run on the calling thread becomes an
/// error of that call, as it does on the blocking pool.
#[derive(Debug)]
pub struct SqliteRuntime {
    /// The blocking pool of the runtime the connection was opened on; `None` when it was
    /// opened outside any runtime, and everything runs on the calling thread.
    blocking: Option<tokio::runtime::Handle>,
    /// Run on the calling thread: set for the time of a [`Pool::get_inline`] checkout.
    ///
    /// [`Pool::get_inline`]: crate::Pool::get_inline
    on_caller: Arc<AtomicBool>,
}

impl SpawnBlocking for SqliteRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures::future::BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        match &self.blocking {
            Some(handle) if !self.on_caller.load(Ordering::Relaxed) => {
                let task = handle.spawn_blocking(task);
                async move { task.await.map_err(Into::into) }.boxed()
            }
            _ => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
                    .map_err(|_| "SQLite work panicked".into());
                futures::future::ready(outcome).boxed()
            }
        }
    }

    fn get_runtime() -> Self {
        SqliteRuntime {
            blocking: tokio::runtime::Handle::try_current().ok(),
            on_caller: Arc::default(),
        }
    }
}

/// A SQLite connection of the pool, with the switch of where it runs its work.
pub struct SqliteSlot {
    conn: SqliteConn,
    on_caller: Arc<AtomicBool>,
}

/// A SQLite connection checked out of a [`Pool`](crate::Pool) (it derefs to [`SqliteConn`]);
/// returned to the pool on drop.
pub struct PooledSqlite(deadpool::managed::Object<SqliteManager>);

impl PooledSqlite {
    /// Checks `slot` out as a connection that runs its work on the calling thread
    /// (`on_caller`) or on tokio's blocking pool.
    pub(crate) fn new(slot: deadpool::managed::Object<SqliteManager>, on_caller: bool) -> Self {
        slot.on_caller.store(on_caller, Ordering::Relaxed);
        PooledSqlite(slot)
    }
}

impl std::ops::Deref for PooledSqlite {
    type Target = SqliteConn;
    fn deref(&self) -> &SqliteConn {
        &self.0.conn
    }
}

impl std::ops::DerefMut for PooledSqlite {
    fn deref_mut(&mut self) -> &mut SqliteConn {
        &mut self.0.conn
    }
}

/// Opens the pool's SQLite connections: the file at `path`, then its setup `pragmas` (retried
/// for up to `patience` while the file is locked, see [`crate::pool::sqlite_setup`]).
pub struct SqliteManager {
    pub(crate) path: String,
    pub(crate) pragmas: String,
    pub(crate) patience: Duration,
}

impl deadpool::managed::Manager for SqliteManager {
    type Type = SqliteSlot;
    type Error = PoolError;

    async fn create(&self) -> Result<SqliteSlot, PoolError> {
        let path = self.path.clone();
        // Opening the file is blocking work too.
        let conn = tokio::task::spawn_blocking(move || SqliteConnection::establish(&path))
            .await
            .map_err(|e| {
                PoolError::ConnectionError(diesel::ConnectionError::BadConnection(e.to_string()))
            })?
            .map_err(PoolError::ConnectionError)?;
        let on_caller = Arc::new(AtomicBool::new(false));
        let runtime = SqliteRuntime {
            blocking: tokio::runtime::Handle::try_current().ok(),
            on_caller: on_caller.clone(),
        };
        let mut conn = SqliteConn::with_runtime(conn, runtime);
        crate::pool::sqlite_setup(&mut conn, &self.pragmas, self.patience)
            .await
            .map_err(|e| {
                PoolError::ConnectionError(diesel::ConnectionError::CouldntSetupConfiguration(e))
            })?;
        Ok(SqliteSlot { conn, on_caller })
    }

    /// A local file cannot go away under us: no round trip on checkout, only the check that
    /// the connection was not left inside a transaction (a panic, a dropped future). Work that
    /// panicked poisons the connection's lock, and diesel-async's check then panics in turn:
    /// such a connection counts as broken too.
    async fn recycle(
        &self,
        slot: &mut SqliteSlot,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<PoolError> {
        let broken =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.conn.is_broken()))
                .unwrap_or(true);
        if std::thread::panicking() || broken {
            return Err(deadpool::managed::RecycleError::message(
                "Broken connection",
            ));
        }
        Ok(())
    }
}
