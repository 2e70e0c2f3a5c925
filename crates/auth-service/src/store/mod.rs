//! auth-service's database: every read and write, one transaction per operation, written once
//! for both backends through `db_core::transaction!`. Functions take and return the plain
//! types of [`crate::model`] (plus the few internal records the token logic needs).
//!
//! Invariants kept here:
//! - a refresh token is stored only as the hex sha256 of its value; a family shares one
//!   absolute `expires_at`; rotating sets `rotated_at` with one conditional UPDATE, so two
//!   concurrent refreshes of one token cannot both rotate it;
//! - lockout counters change only through single-statement upserts and updates, so parallel
//!   attempts (on any number of replicas) are counted exactly;
//! - usernames and emails are stored lower-case, which makes their UNIQUE constraints
//!   case-insensitive on both backends.

/// Runs `$body` (a `Result<T, Error>` using connection `$c`) in one read-write transaction,
/// detached from the caller (a client hanging up cannot leave it half done).
macro_rules! write_op {
    ($store:expr, |$c:ident| $body:expr) => {{
        let pool = $store.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |$c| $body)
        })
        .await
    }};
}

/// Like [`write_op!`] in a read-only snapshot.
macro_rules! read_op {
    ($store:expr, |$c:ident| $body:expr) => {{
        let pool = $store.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |$c| $body)
        })
        .await
    }};
}

/// Inserts one audit entry inside the current transaction.
macro_rules! audit {
    ($c:expr, $entry:expr) => {{
        diesel::insert_into($crate::schema::audit_logs::table)
            .values($crate::store::AuditRow::from($entry))
            .execute($c)
            .await?
    }};
}

mod audit_ops;
mod cleanup;
mod clients;
mod keys;
mod lockout;
mod locks;
mod refresh;
mod successor;
mod users;

pub use audit_ops::AuditEntry;
pub use cleanup::{Cleaned, Retention};
pub use clients::ClientRecord;
pub use keys::{KeyRecord, NewKey, Reseal, SealError, Sealed};
pub use lockout::Attempt;
pub use refresh::{FamilyOwner, NewRefreshToken, RefreshOutcome, RefreshRecord};
pub use users::UserRecord;

use crate::model::Audit;
use crate::schema::audit_logs;
use chrono::NaiveDateTime;
use db_core::Pool;
use db_core::sql_types::JsonText;
use diesel::prelude::*;

/// auth-service's store over one (migrated) database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// A store over `pool`.
    pub fn new(pool: Pool) -> Store {
        Store { pool }
    }

    /// The pool (health checks).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_logs)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct AuditRow {
    event_type: &'static str,
    user_id: Option<i64>,
    username: Option<String>,
    client_id: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    success: bool,
    details: JsonText,
    created_at: NaiveDateTime,
}

impl From<Audit> for AuditRow {
    fn from(a: Audit) -> AuditRow {
        AuditRow {
            event_type: a.event.as_str(),
            user_id: a.user_db_id,
            username: a.username,
            client_id: a.client_id,
            ip_address: a.context.ip.map(|ip| ip.chars().take(45).collect()),
            user_agent: a
                .context
                .user_agent
                .map(|ua| ua.chars().take(255).collect()),
            success: a.success,
            details: JsonText(a.details.to_string()),
            created_at: db_core::timestamp::now(),
        }
    }
}

/// Maps a unique violation to `AlreadyExists`, passing every other error through. The
/// constraint name (PostgreSQL) or column list (SQLite) tells which value clashed when
/// `resource_of` recognizes it.
pub(crate) fn conflict(
    resource_of: impl Fn(&str) -> (&'static str, String),
) -> impl Fn(diesel::result::Error) -> crate::error::Error {
    move |e| match db_core::classify(e) {
        db_core::DbError::UniqueViolation { constraint } => {
            let (resource, id) = resource_of(&constraint);
            crate::error::Error::AlreadyExists { resource, id }
        }
        other => crate::error::Error::from(other),
    }
}
