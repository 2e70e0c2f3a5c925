//! One connection pool type over both backends, and the macros that run one query body on
//! whichever backend the pool holds.

use crate::sqlite_conn::{PooledSqlite, SqliteManager};
use crate::{Backend, DbError, DbUrl, SqliteConn};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool as Deadpool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures::FutureExt as _;
use std::sync::Arc;
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

/// SQLite `PRAGMA journal_size_limit` of every pooled connection, in bytes (64 MiB).
///
/// SQLite reuses its WAL file from the start after each checkpoint and never shrinks it on its
/// own: one large transaction (a retention purge, a restore, deleting a session of millions of
/// messages) would leave a WAL of that size on disk until the service stops. With the limit,
/// the first commit after the WAL restarts truncates it back to at most this size. Steady
/// writes keep the WAL near SQLite's automatic checkpoint mark (1,000 pages, ~4 MiB).
/// Source: <https://www.sqlite.org/pragma.html#pragma_journal_size_limit>.
pub const SQLITE_JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// The synchronous SQLite connection behind a [`SqliteConn`], as
/// [`DbConn::sqlite_write`] hands it out: for the one hot path that writes its statements as
/// synchronous Diesel calls (agent-runtime's append batch). Service code names it only there.
pub type BlockingConn = SqliteConnection;
/// The async PostgreSQL connection (tokio-postgres underneath; no libpq).
pub type PgConn = AsyncPgConnection;

/// SQLite's `PRAGMA synchronous` level.
///
/// `Full` (the default) fsyncs the WAL on every commit, so an acknowledged write survives a
/// power cut. On Linux the sync is `fdatasync(2)`: the bundled SQLite is built with
/// `HAVE_FDATASYNC` (`LIBSQLITE3_FLAGS` in `.cargo/config.toml`), as SQLite's own configure
/// builds it. `Normal` may lose the last commits on power loss (never on a process crash) and
/// is several times faster on slow disks. Source: <https://www.sqlite.org/pragma.html#pragma_synchronous>.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// No fsync at all (tests and throwaway data only).
    Off,
    /// fsync at WAL checkpoints only.
    Normal,
    /// fsync the WAL on every commit (default).
    #[default]
    Full,
    /// Like `Full`, and also fsync the directory after deleting a journal.
    Extra,
}

impl SqliteSynchronous {
    /// The setting as written in configuration: `off`, `normal`, `full` or `extra`.
    pub fn name(self) -> &'static str {
        match self {
            SqliteSynchronous::Off => "off",
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Full => "full",
            SqliteSynchronous::Extra => "extra",
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Off => "OFF",
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Extra => "EXTRA",
        }
    }
}

/// Pool and per-connection settings (the `…__DB__*` variables of each service).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct PoolConfig {
    /// Most connections open at once. SQLite in-memory databases always use 1.
    pub max_size: usize,
    /// How long a caller waits for a free connection before `DbError::Unavailable`, in ms.
    pub wait_timeout_ms: u64,
    /// How long establishing one connection may take, in ms.
    pub connect_timeout_ms: u64,
    /// SQLite `busy_timeout`: how long a writer waits for the lock, in ms.
    pub busy_timeout_ms: u64,
    /// SQLite `PRAGMA synchronous`.
    pub synchronous: SqliteSynchronous,
    /// PostgreSQL `statement_timeout` in ms (0 = none).
    pub statement_timeout_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 16,
            wait_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            busy_timeout_ms: 5_000,
            synchronous: SqliteSynchronous::Full,
            statement_timeout_ms: 30_000,
        }
    }
}

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

/// Pool occupancy, for health output and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Configured maximum.
    pub max_size: usize,
    /// Connections currently open.
    pub size: usize,
    /// Open connections not checked out.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl Pool {
    /// Builds a pool for `url`. Connections open lazily; call [`Pool::ping`] to check the
    /// database answers. Creates the folder of a SQLite file.
    ///
    /// # Errors
    /// [`DbError::Io`] when the SQLite folder cannot be created or the CA file of a PostgreSQL
    /// URL's `sslrootcert` cannot be read; [`DbError::Url`] for invalid TLS parameters of a
    /// PostgreSQL URL (`sslmode`, `sslrootcert`).
    pub fn new(url: &DbUrl, config: &PoolConfig) -> Result<Pool, DbError> {
        crate::owner_only::prepare_sqlite_url(url)?;
        let wait = Some(Duration::from_millis(config.wait_timeout_ms));
        let create = Some(Duration::from_millis(config.connect_timeout_ms));
        let inner = match url.backend() {
            Backend::Postgres => {
                let statement_timeout = config.statement_timeout_ms;
                // `sslmode`/`sslrootcert` are read (and the CA file loaded) once, here.
                let connector = crate::pg_tls::PgConnector::new(url)?;
                let mut manager_config = ManagerConfig::<PgConn>::default();
                manager_config.custom_setup = Box::new(move |_url| {
                    let connector = connector.clone();
                    async move {
                        let mut conn = connector.connect_diesel().await?;
                        conn.batch_execute(&format!(
                            "SET statement_timeout = {statement_timeout}; SET TIME ZONE 'UTC'"
                        ))
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                // A dead connection shows as an error on its next use and is then dropped (its
                // transaction manager is marked broken); a test query on every checkout would
                // add a round trip to every operation.
                manager_config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(
                    url.connection_string(),
                    manager_config,
                );
                Inner::Postgres(build(manager, config.max_size, wait, create)?)
            }
            Backend::Sqlite => {
                let pragmas = format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
                     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
                     PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT_BYTES};",
                    config.busy_timeout_ms,
                    config.synchronous.pragma()
                );
                let manager = SqliteManager {
                    path: url.connection_string(),
                    pragmas,
                    patience: Duration::from_millis(config.busy_timeout_ms),
                };
                let max = if matches!(url, DbUrl::SqliteMemory) {
                    1
                } else {
                    config.max_size
                };
                Inner::Sqlite {
                    pool: build(manager, max, wait, create)?,
                    writer: Arc::default(),
                }
            }
        };
        Ok(Pool {
            inner,
            url: Arc::new(url.clone()),
        })
    }

    /// Builds the pool and checks that the database answers.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when no connection can be made within `connect_timeout_ms`.
    pub async fn connect(url: &DbUrl, config: &PoolConfig) -> Result<Pool, DbError> {
        let pool = Pool::new(url, config)?;
        pool.ping().await?;
        Ok(pool)
    }

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

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
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

    /// Runs `SELECT 1` and returns the round-trip time including checkout.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the database does not answer.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        use diesel::IntoSql;
        let started = Instant::now();
        let mut conn = self.get().await?;
        crate::with_connection!(conn, |c| {
            diesel_async::RunQueryDsl::get_result::<i32>(
                diesel::select(1_i32.into_sql::<diesel::sql_types::Integer>()),
                c,
            )
            .await?;
        });
        Ok(started.elapsed())
    }

    /// Current occupancy.
    pub fn status(&self) -> PoolStatus {
        let (s, max) = match &self.inner {
            Inner::Postgres(p) => (p.status(), p.status().max_size),
            Inner::Sqlite { pool, .. } => (pool.status(), pool.status().max_size),
        };
        PoolStatus {
            max_size: max,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    /// Closes the pool: waiting callers get `Unavailable`, idle connections are dropped and
    /// checked-out ones close when returned.
    pub fn close(&self) {
        match &self.inner {
            Inner::Postgres(p) => p.close(),
            Inner::Sqlite { pool, .. } => pool.close(),
        }
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

fn build<M: deadpool::managed::Manager>(
    manager: M,
    max_size: usize,
    wait: Option<Duration>,
    create: Option<Duration>,
) -> Result<deadpool::managed::Pool<M>, DbError> {
    deadpool::managed::Pool::builder(manager)
        .max_size(max_size.max(1))
        // The most recently used connection first: its page cache (SQLite) or backend's caches
        // (PostgreSQL) are warm. Taken in turn (deadpool's default FIFO), every SQLite write
        // made the next checkout start on a connection whose whole page cache was stale.
        .queue_mode(deadpool::managed::QueueMode::Lifo)
        .wait_timeout(wait)
        .create_timeout(create)
        .recycle_timeout(create)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Unavailable(format!("cannot build connection pool: {e}")))
}

/// Runs a database operation on its own task and waits for it.
///
/// A gRPC handler's future is dropped when its client goes away; a transaction dropped half way
/// would leave its connection with an open transaction. Running the operation detached lets it
/// commit or roll back whatever happens to the caller.
///
/// # Errors
/// The operation's own error, or `DbError::Unavailable` (converted into `E`) when the runtime
/// is shutting down. A panic inside the operation is resumed in the caller.
pub async fn detach<T, E, F>(operation: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    match tokio::spawn(operation).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(E::from(DbError::Unavailable(
            "runtime is shutting down".into(),
        ))),
    }
}

/// Runs `body` in a read-write transaction, with `conn` bound to the backend's connection type.
///
/// SQLite transactions begin `IMMEDIATE` (the write lock is taken up front, so two writers never
/// deadlock upgrading a read lock); PostgreSQL uses the default `READ COMMITTED`. The body is an
/// expression of type `Result<T, E>` where `E: From<diesel::result::Error>`; an `Err` rolls
/// back. It is compiled once per backend, so it may only use queries both support.
///
/// ```ignore
/// let mut conn = pool.get().await?;
/// let n = db_core::transaction!(conn, |c| {
///     diesel::delete(sessions::table).execute(c).await
/// })?;
/// ```
#[macro_export]
macro_rules! transaction {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                $crate::__private::AsyncConnection::transaction(&mut **__conn, async move |$c| {
                    $body
                })
                .await
            }
            $crate::DbConn::Sqlite(ref mut __conn, ref __writer) => {
                let _writer = __writer.lock().await;
                let __c: &mut $crate::__private::SqliteConn = &mut **__conn;
                match $crate::__private::sqlite_begin_immediate(__c).await {
                    Err(e) => Err(e.into()),
                    Ok(()) => {
                        let __result = {
                            let $c = &mut *__c;
                            async move { $body }.await
                        };
                        match $crate::__private::sqlite_finish(__c, __result.is_ok()).await {
                            Ok(()) => __result,
                            Err(e) => Err(e.into()),
                        }
                    }
                }
            }
        }
    };
}

/// Runs `body` in a read-only snapshot: PostgreSQL `REPEATABLE READ READ ONLY`, SQLite a
/// deferred transaction (one WAL snapshot). Use it when one answer reads several queries (a
/// page and its total). Same body rules as [`transaction!`](crate::transaction).
#[macro_export]
macro_rules! read_transaction {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                __conn
                    .build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async move |$c| $body)
                    .await
            }
            $crate::DbConn::Sqlite(ref mut __conn, _) => {
                $crate::__private::AsyncConnection::transaction(&mut **__conn, async move |$c| {
                    $body
                })
                .await
            }
        }
    };
}

/// Runs `body` on the connection without opening a transaction (single statements).
///
/// On PostgreSQL each statement then runs in an implicit transaction that commits when the
/// server reaches the protocol's Sync, after the statement's rows have been sent. A statement
/// that writes must therefore be read to the end — `execute`, or `load` and take the row —
/// before its outcome is trusted: `get_result` and `first` return on the first row, so they
/// would report success for a write whose commit then failed (a deferred constraint, a
/// server shutting down). Reads may use them.
#[macro_export]
macro_rules! with_connection {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                let $c: &mut $crate::__private::PgConn = &mut **__conn;
                $body
            }
            $crate::DbConn::Sqlite(ref mut __conn, _) => {
                let $c: &mut $crate::__private::SqliteConn = &mut **__conn;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{DbConn, Pool, PoolConfig, SqliteConn};

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
}
