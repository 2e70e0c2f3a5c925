//! db-core: the one crate of codelab that knows databases.
//!
//! - [`DbUrl`] parses every URL spelling codelab accepts and redacts passwords when printed;
//!   PostgreSQL connections honour its `sslmode` and `sslrootcert` as libpq does
//!   ([`PgTlsSettings`]; rustls).
//! - [`Pool`] pools connections to SQLite (default, embedded) or PostgreSQL (production) behind
//!   one type; [`transaction!`], [`read_transaction!`] and [`with_connection!`] let service code
//!   write each query body once and compile it for both backends; a query function called from
//!   such a body takes `&mut impl` [`Conn`] and writes its statements once with [`on_conn!`].
//! - [`migrate`] is the migration engine: status, up/down to a target, redo, checksums, lock.
//! - [`admin`] is the admin engine: stats, health, drift, backup/verify/restore/copy, retention.
//! - [`service`] holds what both services share at start and stop: the `…__DB__*` settings,
//!   the layered configuration loader, logging, the database health watch, the shutdown signal.
//! - [`timestamp`]: UTC microsecond timestamps as both backends store them.
//! - [`sql_types::Json`] is `JSONB` on PostgreSQL and `TEXT` on SQLite.
//! - With the `testing` feature, [`testing::TestDb`] gives every test its own database.
//!
//! Invariant: this crate knows nothing of prost, tonic or either service's tables.

pub mod admin;
mod conn;
mod direct;
mod error;
pub mod metrics;
pub mod migrate;
pub mod owner_only;
pub mod page;
mod pg_tls;
mod pool;
pub mod redact;
pub mod service;
pub mod sql_types;
mod sqlite_conn;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamp;
mod url;

pub use conn::{AnyConn, Conn, insert_rows};
pub use error::{DbError, classify};
pub use pg_tls::{PgRootCert, PgSslMode, PgTlsSettings};
pub use pool::{
    BlockingConn, DbConn, PgConn, Pool, PoolConfig, PoolStatus, SQLITE_JOURNAL_SIZE_LIMIT_BYTES,
    SqliteSynchronous, detach,
};
pub use service::DbSettings;
pub use sqlite_conn::{PooledSqlite, SqliteConn, SqliteRuntime};
pub use url::{Backend, DbUrl, UrlError};

/// Re-exports used by the query macros, so service crates name one dependency path.
#[doc(hidden)]
pub mod __private {
    pub use crate::pool::{PgConn, sqlite_begin_immediate, sqlite_finish};
    pub use crate::sqlite_conn::SqliteConn;
    pub use diesel_async::AsyncConnection;
}
