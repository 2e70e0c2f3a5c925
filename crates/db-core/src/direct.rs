//! One dedicated (unpooled) connection, for work that must stay on one session: the migration
//! lock, a backup snapshot, a restore transaction.
//!
//! Transactions on it are opened with plain `BEGIN …`/`COMMIT` statements: the operations that
//! use it hold one transaction across many awaits and file writes, and dropping the connection
//! (on error or cancellation) rolls back whatever is open and releases session locks.

use crate::pool::PgConn;
use crate::{Backend, DbError, DbUrl, Pool};
use crate::{PooledSqlite, SqliteConn};
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};

/// A dedicated connection of either backend.
pub(crate) enum Direct {
    Postgres(Box<PgConn>),
    Sqlite(Box<SqliteConn>),
    /// An in-memory SQLite database exists only inside its pool's one connection.
    SqlitePooled(PooledSqlite),
}

/// Runs `$body` with `$c` bound to the concrete connection (compiled once per backend);
/// `$direct` is a `&mut Direct`.
macro_rules! on_direct {
    ($direct:expr, |$c:ident| $body:expr) => {
        match $direct {
            $crate::direct::Direct::Postgres(__c) => {
                let $c: &mut $crate::pool::PgConn = &mut **__c;
                $body
            }
            $crate::direct::Direct::Sqlite(__c) => {
                let $c: &mut $crate::SqliteConn = &mut **__c;
                $body
            }
            $crate::direct::Direct::SqlitePooled(__c) => {
                let $c: &mut $crate::SqliteConn = &mut **__c;
                $body
            }
        }
    };
}

impl Direct {
    /// Opens a connection to `url`. A SQLite file is created when missing (with its folder);
    /// use [`Direct::open_existing`] where a missing file is an error.
    pub(crate) async fn open(url: &DbUrl) -> Result<Direct, DbError> {
        match url {
            DbUrl::Postgres(_) => {
                let mut c = crate::pg_tls::PgConnector::new(url)?
                    .connect_diesel()
                    .await
                    .map_err(|e| DbError::Unavailable(format!("cannot connect to {url}: {e}")))?;
                c.batch_execute("SET TIME ZONE 'UTC'").await?;
                Ok(Direct::Postgres(Box::new(c)))
            }
            DbUrl::SqliteMemory => Err(DbError::Unavailable(
                "sqlite::memory: has no database a second connection could open".into(),
            )),
            DbUrl::SqliteFile(_) => {
                crate::owner_only::prepare_sqlite_url(url)?;
                let mut c = SqliteConn::establish(&url.connection_string())
                    .await
                    .map_err(|e| DbError::Unavailable(format!("cannot open {url}: {e}")))?;
                crate::pool::sqlite_setup(
                    &mut c,
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_mode = WAL;",
                    std::time::Duration::from_secs(10),
                )
                .await
                .map_err(|e| DbError::Unavailable(format!("cannot open {url}: {e}")))?;
                Ok(Direct::Sqlite(Box::new(c)))
            }
        }
    }

    /// Like [`Direct::open`], but a SQLite file that does not exist is an error instead of
    /// being created (for commands that read a database).
    pub(crate) async fn open_existing(url: &DbUrl) -> Result<Direct, DbError> {
        if let Some(path) = url.sqlite_path()
            && !path.is_file()
        {
            return Err(DbError::Unavailable(format!(
                "SQLite database file {} does not exist",
                path.display()
            )));
        }
        Direct::open(url).await
    }

    /// A dedicated connection for the database behind `pool`: a new one, except for an
    /// in-memory SQLite database, whose only connection is taken from the pool.
    pub(crate) async fn for_pool(pool: &Pool) -> Result<Direct, DbError> {
        if matches!(pool.url(), DbUrl::SqliteMemory) {
            match pool.get().await? {
                crate::DbConn::Sqlite(obj, _) => Ok(Direct::SqlitePooled(obj)),
                crate::DbConn::Postgres(_) => Err(DbError::Unavailable(
                    "in-memory URL gave a PostgreSQL connection".into(),
                )),
            }
        } else {
            Direct::open(pool.url()).await
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Direct::Postgres(_) => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// Runs one or more statements without results.
    pub(crate) async fn exec(&mut self, sql: &str) -> Result<(), DbError> {
        on_direct!(self, |c| c.batch_execute(sql).await.map_err(DbError::from))
    }

    /// Runs a query and loads every row.
    pub(crate) async fn rows<T>(&mut self, sql: &str) -> Result<Vec<T>, DbError>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + Send + 'static,
    {
        on_direct!(self, |c| diesel::sql_query(sql)
            .load::<T>(c)
            .await
            .map_err(DbError::from))
    }

    /// Runs a statement with one text parameter (`$1` on PostgreSQL, `?` on SQLite: write
    /// `{p}` in `sql`); returns the affected row count.
    pub(crate) async fn exec_text(&mut self, sql: &str, arg: String) -> Result<usize, DbError> {
        let sql = sql.replace("{p}", self.placeholder());
        on_direct!(self, |c| diesel::sql_query(&sql)
            .bind::<diesel::sql_types::Text, _>(arg)
            .execute(c)
            .await
            .map_err(DbError::from))
    }

    fn placeholder(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => "$1",
            Backend::Sqlite => "?",
        }
    }
}

/// A quoted SQL identifier (`"name"`, inner quotes doubled); valid on both backends.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `names` as quoted SQL identifiers separated by `, ` (a column list).
pub(crate) fn ident_list<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| ident(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A quoted SQL string literal (`'text'`, inner quotes doubled).
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
