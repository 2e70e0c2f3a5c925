//! Building a [`Pool`]: one deadpool per backend, each new connection set up once.

use super::{Inner, PgConn, Pool, PoolConfig, SQLITE_JOURNAL_SIZE_LIMIT_BYTES};
use crate::sqlite_conn::SqliteManager;
use crate::{Backend, DbError, DbUrl};
use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures::FutureExt as _;
use std::sync::Arc;
use std::time::Duration;

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
