//! The row lock that orders a user's token changes on PostgreSQL.
//!
//! Under READ COMMITTED a statement only sees what was committed when it started, so a refresh
//! or a login running next to a revocation (ChangePassword, DisableUser, RevokeToken) could read
//! the family as live, wait for nothing, and store a successor the revocation never saw. Every
//! operation that creates, rotates or revokes a user's refresh tokens therefore first takes the
//! user's row with `SELECT … FOR NO KEY UPDATE` (the lock an `UPDATE users` takes too) and reads
//! what it decides on only after that: the later of two such transactions waits for the earlier
//! one's commit and then sees its effect. On SQLite every write transaction already holds the
//! database's write lock from its `BEGIN IMMEDIATE`, so the plain read is enough there.

use super::UserRecord;
use crate::schema::users;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel_async::RunQueryDsl;

/// Locks a user row for the rest of the current transaction (see the module documentation).
pub(crate) trait LockUser {
    /// User row `id`, locked, as committed once the lock is held; `None` when it is gone.
    async fn lock_user(&mut self, id: i64) -> QueryResult<Option<UserRecord>>;
}

impl LockUser for db_core::PgConn {
    async fn lock_user(&mut self, id: i64) -> QueryResult<Option<UserRecord>> {
        users::table
            .find(id)
            .select(UserRecord::as_select())
            .for_no_key_update()
            .first(self)
            .await
            .optional()
    }
}

impl LockUser for db_core::SqliteConn {
    async fn lock_user(&mut self, id: i64) -> QueryResult<Option<UserRecord>> {
        users::table
            .find(id)
            .select(UserRecord::as_select())
            .first(self)
            .await
            .optional()
    }
}
