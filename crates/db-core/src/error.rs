//! The one error type of db-core.
//!
//! Policy: every driver, pool and migration error is classified here once, into what a caller
//! can act on (retry later, report a conflict, report a bug). Service crates map [`DbError`] to
//! their own error enums and never inspect driver errors themselves.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached right now: connection refused or lost, pool wait timeout,
    /// SQLite busy beyond `busy_timeout`. Callers may retry; gRPC maps it to `UNAVAILABLE`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A UNIQUE or PRIMARY KEY constraint rejected the write. `constraint` is the index or
    /// constraint name when the backend reports it (PostgreSQL does; SQLite reports columns).
    #[error("unique constraint violated ({constraint})")]
    UniqueViolation {
        /// Constraint name (PostgreSQL) or `table.column` list (SQLite).
        constraint: String,
    },
    /// A FOREIGN KEY constraint rejected the write.
    #[error("foreign key constraint violated: {0}")]
    ForeignKeyViolation(String),
    /// A CHECK or NOT NULL constraint rejected the write.
    #[error("check constraint violated: {0}")]
    CheckViolation(String),
    /// A query that must return a row returned none.
    #[error("row not found")]
    NotFound,
    /// Applying or reading migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database URL is invalid.
    #[error(transparent)]
    Url(#[from] crate::UrlError),
    /// File-system error (creating the SQLite folder, temp files).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other driver error: a bug or an unexpected database state.
    #[error("database error: {0}")]
    Query(DieselError),
}

impl DbError {
    /// True for errors worth retrying after a pause (database down, pool exhausted, busy).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// Classifies a Diesel error (see [`DbError`] for the classes) and counts it in
/// [`crate::metrics::db_error_counts`].
pub fn classify(err: DieselError) -> DbError {
    counted(classify_uncounted(err))
}

/// Counts `err` in the process's database error counters and returns it.
fn counted(err: DbError) -> DbError {
    crate::metrics::count_db_error(&err);
    err
}

fn classify_uncounted(err: DieselError) -> DbError {
    match err {
        DieselError::NotFound => DbError::NotFound,
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_owned();
            match kind {
                DatabaseErrorKind::UniqueViolation => DbError::UniqueViolation {
                    constraint: info
                        .constraint_name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            message
                                .trim_start_matches("UNIQUE constraint failed: ")
                                .to_owned()
                        }),
                },
                DatabaseErrorKind::ForeignKeyViolation => DbError::ForeignKeyViolation(message),
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    DbError::CheckViolation(message)
                }
                DatabaseErrorKind::ClosedConnection => DbError::Unavailable(message),
                _ if is_busy_or_gone(&message) => DbError::Unavailable(message),
                _ => DbError::Query(DieselError::DatabaseError(kind, info)),
            }
        }
        DieselError::BrokenTransactionManager => {
            DbError::Unavailable("connection left in a broken transaction state".into())
        }
        other => {
            let text = other.to_string();
            if is_busy_or_gone(&text) {
                DbError::Unavailable(text)
            } else {
                DbError::Query(other)
            }
        }
    }
}

/// Messages that mean "try again later" rather than "bad query": locks, lost connections,
/// and storage that is full or failing (SQLite `SQLITE_FULL`/`SQLITE_IOERR`, PostgreSQL's
/// "could not extend file … No space left on device") — the operator frees space and clients
/// retry; nothing was written.
fn is_busy_or_gone(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked")
        || m.contains("database is busy")
        || m.contains("connection closed")
        || m.contains("connection refused")
        || m.contains("broken pipe")
        || m.contains("connection reset")
        || m.contains("terminating connection")
        || m.contains("the database system is shutting down")
        || m.contains("the database system is starting up")
        || m.contains("disk i/o error")
        || m.contains("database or disk is full")
        || m.contains("no space left on device")
        || m.contains("could not extend file")
        || m.contains("could not write")
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        classify(err)
    }
}

impl From<diesel::ConnectionError> for DbError {
    fn from(err: diesel::ConnectionError) -> Self {
        counted(DbError::Unavailable(err.to_string()))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for DbError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        use deadpool::managed::PoolError as P;
        use diesel_async::pooled_connection::PoolError as Backend;
        let err = match err {
            P::Timeout(kind) => DbError::Unavailable(format!(
                "timed out waiting for a database connection ({kind:?})"
            )),
            P::Backend(Backend::ConnectionError(e)) => DbError::Unavailable(e.to_string()),
            P::Backend(Backend::QueryError(e)) => classify_uncounted(e),
            P::Closed => DbError::Unavailable("connection pool is closed".into()),
            P::NoRuntimeSpecified => {
                DbError::Unavailable("pool has no runtime for timeouts".into())
            }
            P::PostCreateHook(e) => DbError::Unavailable(format!("connection setup failed: {e}")),
        };
        counted(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_and_closed_are_classified() {
        assert!(matches!(classify(DieselError::NotFound), DbError::NotFound));
        assert!(classify(DieselError::BrokenTransactionManager).is_unavailable());
        assert!(!DbError::NotFound.is_unavailable());
    }

    #[test]
    fn busy_messages_are_unavailable() {
        assert!(is_busy_or_gone("database is locked"));
        assert!(is_busy_or_gone("Connection refused (os error 111)"));
        assert!(is_busy_or_gone("database or disk is full"));
        assert!(is_busy_or_gone(
            "could not extend file \"base/16384/16385\": No space left on device"
        ));
        assert!(!is_busy_or_gone("syntax error at or near"));
    }
}
