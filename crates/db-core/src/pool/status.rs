//! What a [`Pool`] reports about itself: the ping, occupancy, and closing it.

use super::{Inner, Pool};
use crate::DbError;
use std::time::{Duration, Instant};

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
        let s = match &self.inner {
            Inner::Postgres(p) => p.status(),
            Inner::Sqlite { pool, .. } => pool.status(),
        };
        PoolStatus {
            max_size: s.max_size,
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
