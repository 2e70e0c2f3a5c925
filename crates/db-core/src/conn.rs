//! The connection a query body runs on, as a value a plain function can take.
//!
//! [`transaction!`](crate::transaction), [`read_transaction!`](crate::read_transaction) and
//! [`with_connection!`](crate::with_connection) compile their body once per backend, with the
//! body's connection bound to [`PgConn`] or [`SqliteConn`]. A service's query function called
//! from such a body takes `c: &mut impl Conn` and runs its statements inside
//! [`on_conn!`](crate::on_conn), which compiles them once per backend in the same way: the
//! function is a plain one that go-to-definition finds, and its statements are written once.
//!
//! Also here: [`insert_rows`], the multi-row INSERT of both backends, and
//! [`DbConn::sqlite_write`], the one way to run synchronous Diesel code on a pooled SQLite
//! connection.

use crate::pool::{BlockingConn, PgConn};
use crate::sqlite_conn::SqliteConn;
use crate::{DbConn, DbError};
use diesel::query_builder::{InsertStatement, QueryFragment, QueryId};
use diesel::{Insertable, Table};

/// A connection of either backend, as a query body holds it. Implemented for [`PgConn`] and
/// [`SqliteConn`] only.
pub trait Conn: Send + sealed::Sealed {
    /// The connection as its backend's type.
    fn any(&mut self) -> AnyConn<'_>;
}

/// A connection as its backend's type (see [`Conn`]).
pub enum AnyConn<'a> {
    /// A PostgreSQL connection.
    Postgres(&'a mut PgConn),
    /// A SQLite connection.
    Sqlite(&'a mut SqliteConn),
}

impl Conn for PgConn {
    fn any(&mut self) -> AnyConn<'_> {
        AnyConn::Postgres(self)
    }
}

impl Conn for SqliteConn {
    fn any(&mut self) -> AnyConn<'_> {
        AnyConn::Sqlite(self)
    }
}

mod sealed {
    /// Keeps [`Conn`](super::Conn) to the two connection types.
    pub trait Sealed {}
    impl Sealed for super::PgConn {}
    impl Sealed for super::SqliteConn {}
}

/// Evaluates `body` with `c` bound to the backend's connection behind `conn` (a
/// `&mut impl Conn`): the body is compiled once per backend, like the body of
/// [`transaction!`](crate::transaction), so it may only use queries both support.
///
/// ```ignore
/// async fn count(c: &mut impl db_core::Conn) -> diesel::QueryResult<i64> {
///     db_core::on_conn!(c, |c| sessions::table.count().get_result(c).await)
/// }
/// ```
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $crate::Conn::any($conn) {
            $crate::AnyConn::Postgres($c) => $body,
            $crate::AnyConn::Sqlite($c) => $body,
        }
    };
}

/// Inserts `rows` into `table` inside the caller's transaction, on either backend.
///
/// PostgreSQL gets `INSERT … VALUES (…), (…)` of at most `chunk` rows each (one round trip per
/// chunk; keep `chunk` × columns under 65,535 bind parameters). diesel-async cannot build
/// multi-row INSERTs for SQLite; there every row is inserted in one piece of blocking work on
/// the connection, with one cached single-row statement (nothing crosses a network, and a
/// cached statement is cheaper than parsing a fresh multi-row one each time).
///
/// # Errors
/// The first statement's error; nothing is inserted after it.
pub async fn insert_rows<T, R>(
    c: &mut impl Conn,
    table: T,
    rows: Vec<R>,
    chunk: usize,
) -> diesel::QueryResult<()>
where
    T: Table + Copy + Send + 'static,
    R: Send + Sync + 'static,
    for<'a> &'a [R]: Insertable<T>,
    for<'a> InsertStatement<T, <&'a [R] as Insertable<T>>::Values>:
        QueryFragment<diesel::pg::Pg> + QueryId + Send,
    for<'a> &'a R: Insertable<T>,
    for<'a> InsertStatement<T, <&'a R as Insertable<T>>::Values>:
        diesel::query_dsl::methods::ExecuteDsl<BlockingConn>,
{
    match c.any() {
        AnyConn::Postgres(pg) => {
            for part in rows.chunks(chunk.max(1)) {
                diesel_async::RunQueryDsl::execute(diesel::insert_into(table).values(part), pg)
                    .await?;
            }
            Ok(())
        }
        AnyConn::Sqlite(sqlite) => {
            sqlite
                .spawn_blocking(move |conn| {
                    for row in &rows {
                        diesel::RunQueryDsl::execute(diesel::insert_into(table).values(row), conn)?;
                    }
                    Ok(())
                })
                .await
        }
    }
}

impl DbConn {
    /// Runs `work` with this SQLite connection's synchronous handle ([`BlockingConn`]), holding
    /// the pool's writer lock, so `work` may write: it opens its own transaction
    /// (`immediate_transaction`), which waits for no other writer of this process. `work` runs
    /// on the calling thread for a connection from [`Pool::get_inline`](crate::Pool::get_inline),
    /// on tokio's blocking pool otherwise. A panic in `work` becomes an error, as it does on
    /// the blocking pool.
    ///
    /// For the one hot path that writes its statements as synchronous Diesel calls
    /// (agent-runtime's append batch); everything else uses
    /// [`transaction!`](crate::transaction).
    ///
    /// # Errors
    /// [`DbError::Query`] for a PostgreSQL connection (it has no synchronous handle) or when
    /// `work` panicked; [`DbError::Unavailable`] when the runtime is shutting down.
    pub async fn sqlite_write<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut BlockingConn) -> T + Send + 'static,
    ) -> Result<T, DbError> {
        match self {
            DbConn::Postgres(_) => Err(DbError::Query(diesel::result::Error::QueryBuilderError(
                "sqlite_write on a PostgreSQL connection".into(),
            ))),
            DbConn::Sqlite(conn, writer) => {
                let _writer = writer.lock().await;
                let conn: &mut SqliteConn = conn;
                conn.spawn_blocking(move |c| Ok(work(c)))
                    .await
                    .map_err(crate::classify)
            }
        }
    }
}
