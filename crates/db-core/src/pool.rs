//! One connection pool type over both backends, and the macros that run one query body on
//! whichever backend the pool holds.

use crate::{Backend, DbError, DbUrl};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool as Deadpool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures::FutureExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The async SQLite connection: diesel's `SqliteConnection`, its statements run on tokio's
/// blocking pool, or on the calling thread inside [`run_inline`] / [`inline`] (see
/// [`SqliteRuntime`]).
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, SqliteRuntime>;

/// Where [`SqliteConn`] runs its blocking work (diesel-async's `SpawnBlocking`).
///
/// By default every statement is a hop to tokio's blocking pool and back: a thread wake-up
/// each way, which on a small machine costs more than a cached statement. Inside
/// [`run_inline`] (and [`inline`], for a whole operation) the work runs at once on the calling
/// thread instead: [`split_transaction!`](crate::split_transaction) uses it for its bounded
/// hot-path transactions, services for short bounded reads and for work on a thread of its own
/// (agent-runtime's append writer). A panic in inline work becomes an error of that call, as it
/// does on the pool.
#[derive(Debug)]
pub enum SqliteRuntime {
    /// Tokio's blocking pool of the runtime the connection was opened on.
    Blocking(tokio::runtime::Handle),
    /// Opened outside any runtime: everything runs on the calling thread.
    Inline,
}

thread_local! {
    static INLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (which starts SQLite work and returns its future) so that the work runs on this
/// thread, to completion, before `f` returns, instead of on the blocking pool. It blocks the
/// caller's async worker for as long as the work takes (fsync included).
#[doc(hidden)]
pub fn run_inline<T>(f: impl FnOnce() -> T) -> T {
    /// Puts the flag back however `f` ends, a panic included.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            INLINE.set(self.0);
        }
    }
    let _restore = Restore(INLINE.replace(true));
    f()
}

/// Runs `operation` with every piece of SQLite work it starts done at once on the thread that
/// polls it (as [`run_inline`] does for one call), instead of a hop to the blocking pool and
/// back per statement. For short reads of bounded size (one row, one page), since the caller's
/// async worker is blocked while each statement runs, or for an operation driven by
/// `Handle::block_on` on a thread that is no runtime worker. PostgreSQL work is unaffected.
pub async fn inline<F: std::future::Future>(operation: F) -> F::Output {
    let mut operation = std::pin::pin!(operation);
    std::future::poll_fn(|cx| run_inline(|| operation.as_mut().poll(cx))).await
}

impl diesel_async::sync_connection_wrapper::SpawnBlocking for SqliteRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures::future::BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        match self {
            SqliteRuntime::Blocking(handle) if !INLINE.get() => {
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
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => SqliteRuntime::Blocking(handle),
            Err(_) => SqliteRuntime::Inline,
        }
    }
}

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

/// The synchronous connection the blocking body of [`split_transaction!`](crate::split_transaction)
/// runs on (the embedded, single-writer backend's), for the one hot path that writes its
/// statements a second time as synchronous Diesel calls. Service code names it only there.
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
        pool: Deadpool<SqliteConn>,
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
    Postgres(Object<PgConn>),
    /// A SQLite connection, with the pool's writer lock (taken by `transaction!`).
    Sqlite(Object<SqliteConn>, Arc<tokio::sync::Mutex<()>>),
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
                let patience = Duration::from_millis(config.busy_timeout_ms);
                let mut manager_config = ManagerConfig::<SqliteConn>::default();
                manager_config.custom_setup = Box::new(move |path| {
                    let path = path.to_owned();
                    let pragmas = pragmas.clone();
                    async move {
                        let mut conn = SqliteConn::establish(&path).await?;
                        sqlite_setup(&mut conn, &pragmas, patience)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                // A local file cannot go away under us: skip the round trip on checkout.
                manager_config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(
                    url.connection_string(),
                    manager_config,
                );
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

    /// Checks a connection out of the pool.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the database is unreachable or every connection stays
    /// busy for `wait_timeout_ms`.
    pub async fn get(&self) -> Result<DbConn, DbError> {
        Ok(match &self.inner {
            Inner::Postgres(p) => DbConn::Postgres(p.get().await?),
            Inner::Sqlite { pool, writer } => DbConn::Sqlite(pool.get().await?, writer.clone()),
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

fn build<C>(
    manager: AsyncDieselConnectionManager<C>,
    max_size: usize,
    wait: Option<Duration>,
    create: Option<Duration>,
) -> Result<Deadpool<C>, DbError>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Deadpool::builder(manager)
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

/// Runs a read-write transaction whose body is written once per execution model: async for
/// PostgreSQL, synchronous for SQLite, where the whole body (`BEGIN IMMEDIATE`, every
/// statement, `COMMIT` and its fsync) runs at once on the calling thread ([`run_inline`]),
/// without a hop to the blocking pool and back.
///
/// Use it only on hot paths of several statements whose work is bounded: under
/// [`transaction!`](crate::transaction) each SQLite statement is a hop of its own (a thread
/// wake-up there and back), which costs more than the statement, while here the caller's async
/// worker is blocked for the whole transaction. Both bodies evaluate to `Result<T, E>` with
/// `E: From<diesel::result::Error>`; an `Err` rolls back. The SQLite body sees
/// `&mut` [`BlockingConn`] and must use diesel's synchronous `RunQueryDsl`; it must be
/// `Send + 'static`. Same writer lock as `transaction!`. A panic in the SQLite body becomes
/// an `Err` (diesel's `UnableToSendCommand`), as on the blocking pool.
///
/// ```ignore
/// let mut conn = pool.get().await?;
/// let n = db_core::split_transaction!(conn,
///     postgres: |c| diesel::delete(t::table).execute(c).await,
///     sqlite: |c| diesel::RunQueryDsl::execute(diesel::delete(t::table), c))?;
/// ```
#[macro_export]
macro_rules! split_transaction {
    ($conn:expr, postgres: |$pc:ident| $pbody:expr, sqlite: |$sc:ident| $sbody:expr $(,)?) => {
        match $conn {
            $crate::DbConn::Postgres(ref mut __conn) => {
                $crate::__private::AsyncConnection::transaction(&mut **__conn, async move |$pc| {
                    $pbody
                })
                .await
            }
            $crate::DbConn::Sqlite(ref mut __conn, ref __writer) => {
                let _writer = __writer.lock().await;
                match $crate::__private::run_inline(|| {
                    __conn.spawn_blocking(move |__inner| {
                        Ok(__inner.immediate_transaction(|$sc| $sbody))
                    })
                })
                .await
                {
                    Ok(result) => result,
                    Err(e) => Err(e.into()),
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

/// A connection of either backend, as seen inside a query body.
#[doc(hidden)]
pub enum AnyConn<'a> {
    Postgres(&'a mut PgConn),
    Sqlite(&'a mut SqliteConn),
}

/// Which backend the connection `c` of a query body is (the body is compiled once per backend;
/// this lets a macro pick the statement form a backend supports).
#[doc(hidden)]
pub fn any_conn<C: std::any::Any>(c: &mut C) -> AnyConn<'_> {
    let any = c as &mut dyn std::any::Any;
    if any.is::<PgConn>() {
        AnyConn::Postgres(
            any.downcast_mut::<PgConn>()
                .expect("checked with is::<PgConn>"),
        )
    } else {
        AnyConn::Sqlite(
            any.downcast_mut::<SqliteConn>()
                .expect("a pool connection is PgConn or SqliteConn"),
        )
    }
}

/// Inserts `$rows` (a `Vec` of `Insertable` structs, `'static` and `Send`) into `$table` as
/// multi-row INSERTs of at most `$chunk` rows, on either backend. Evaluates to a
/// `QueryResult<()>`.
///
/// PostgreSQL gets `INSERT … VALUES (…), (…)` through diesel-async (one round trip per chunk).
/// diesel-async cannot build multi-row INSERTs for SQLite; there all rows are inserted in one
/// hop to the blocking thread that owns the connection, with one cached single-row statement
/// (`$chunk` is not needed: nothing crosses a network). Inside the caller's transaction either
/// way.
#[macro_export]
macro_rules! insert_batch {
    ($c:expr, $table:expr, $rows:expr, $chunk:expr) => {{
        let rows = $rows;
        let chunk: usize = $chunk;
        match $crate::__private::any_conn($c) {
            $crate::__private::AnyConn::Postgres(pg) => {
                let mut result = Ok(());
                for part in rows.chunks(chunk) {
                    if let Err(e) = $crate::__private::RunQueryDsl::execute(
                        diesel::insert_into($table).values(part),
                        pg,
                    )
                    .await
                    {
                        result = Err(e);
                        break;
                    }
                }
                result
            }
            $crate::__private::AnyConn::Sqlite(sqlite) => {
                sqlite
                    .spawn_blocking(move |conn| {
                        // One prepared single-row INSERT, reused from the statement cache for
                        // every row: cheaper than parsing a fresh multi-row statement (those
                        // are never cached) each time.
                        for row in &rows {
                            $crate::__private::SyncRunQueryDsl::execute(
                                diesel::insert_into($table).values(row),
                                conn,
                            )?;
                        }
                        Ok(())
                    })
                    .await
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::{SqliteConn, run_inline};
    use diesel_async::AsyncConnection;

    async fn connection() -> SqliteConn {
        SqliteConn::establish(":memory:").await.unwrap()
    }

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_on_the_blocking_pool_except_inline() {
        let mut conn = connection().await;
        let here = std::thread::current().id();
        let pooled = conn
            .spawn_blocking(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(
            pooled, here,
            "outside run_inline the work hops to the blocking pool"
        );
        let inline = run_inline(|| conn.spawn_blocking(|_| Ok(std::thread::current().id())));
        assert_eq!(
            inline.await.unwrap(),
            here,
            "inside run_inline it runs on the caller"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inline_runs_every_statement_of_an_operation_on_the_polling_thread() {
        let mut conn = connection().await;
        let (here, first, second) = super::inline(async {
            let here = std::thread::current().id();
            let first = conn
                .spawn_blocking(|_| Ok(std::thread::current().id()))
                .await;
            let second = conn
                .spawn_blocking(|_| Ok(std::thread::current().id()))
                .await;
            (here, first.unwrap(), second.unwrap())
        })
        .await;
        assert_eq!(first, here);
        assert_eq!(second, here);
        let after = conn
            .spawn_blocking(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(
            after,
            std::thread::current().id(),
            "outside inline: the blocking pool"
        );
    }

    #[tokio::test]
    async fn a_panic_in_inline_work_is_an_error_and_the_connection_still_works() {
        let mut conn = connection().await;
        let failed =
            run_inline(|| conn.spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") }))
                .await;
        let err = failed.expect_err("the panic must come back as an error");
        assert!(err.to_string().contains("panicked"), "{err}");
        let answer: i32 = conn.spawn_blocking(|_| Ok(42)).await.unwrap();
        assert_eq!(answer, 42);
    }

    #[test]
    fn run_inline_puts_the_flag_back_after_a_panic() {
        let panicked = std::panic::catch_unwind(|| run_inline(|| panic!("boom")));
        assert!(panicked.is_err());
        assert!(
            !super::INLINE.get(),
            "later work on this thread must not run inline"
        );
        assert!(run_inline(|| super::INLINE.get()));
        assert!(!super::INLINE.get());
    }
}
