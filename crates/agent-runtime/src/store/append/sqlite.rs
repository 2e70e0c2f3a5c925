//! The first transaction of a batch on SQLite: every call whose session exists, is live, is the
//! caller's and has room, appended with synchronous Diesel on the writer's own thread.

use super::call::{Call, Outcome};
use crate::error::{Error, Result};
use crate::schema::{messages, sessions};
use crate::store::rows::SessionRow;
use chrono::NaiveDateTime;
use db_core::{BlockingConn, Pool};
use diesel::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Appends the calls of `calls` whose session can take them, in one `BEGIN IMMEDIATE … COMMIT`
/// on this thread (fsync included); one outcome per call, in order, `None` for a call left for
/// the next step (its counter UPDATE matched nothing: the session is absent, soft-deleted,
/// someone else's or full), which wrote nothing.
///
/// The transaction is synchronous Diesel on the connection's own handle
/// ([`db_core::DbConn::sqlite_write`]): no hop to a thread and back per statement, and
/// statements found in Diesel's cache by type without building their SQL. That work must own
/// what it uses, so the calls go in and come back out.
///
/// # Errors
/// The transaction's error, when nothing was committed; the calls are then back in `calls`,
/// unless the work could not run at all.
pub(super) async fn append_existing(
    pool: &Pool,
    calls: &mut Vec<Call>,
    at: NaiveDateTime,
) -> Result<Vec<Option<Outcome>>> {
    let mut conn = pool.get_inline().await?;
    let mut owned = std::mem::take(calls);
    let (back, outcomes) = conn
        .sqlite_write(move |c| {
            // Caught here so that the calls always come back. A panic leaves the transaction
            // open, and the pool drops the connection as broken when it is returned.
            let outcomes = catch_unwind(AssertUnwindSafe(|| {
                c.immediate_transaction(|c| append_in_transaction(c, &mut owned, at))
            }))
            .unwrap_or_else(|_| Err(Error::Internal("the SQLite append panicked".into())));
            (owned, outcomes)
        })
        .await?;
    *calls = back;
    outcomes
}

/// The transaction's statements. For each call, in `session_id` order: the counter UPDATE of
/// its live session without `RETURNING` (see `BumpSession::returning`: no temporary b-tree, no
/// statement journal), then the updated row read back by `session_id` — nothing writes between
/// the two, since this connection holds SQLite's write lock, and readers do not see the row
/// before the commit. Then the rows of every call that took, with one prepared single-row
/// INSERT reused from the statement cache.
fn append_in_transaction(
    c: &mut BlockingConn,
    calls: &mut [Call],
    at: NaiveDateTime,
) -> Result<Vec<Option<Outcome>>> {
    let mut outcomes = Vec::with_capacity(calls.len());
    for call in calls.iter_mut() {
        if call.live_bump(at).execute_blocking(c)? == 0 {
            outcomes.push(None);
            continue;
        }
        let updated: SessionRow = sessions::table
            .filter(sessions::session_id.eq(&call.session_id))
            .select(SessionRow::as_select())
            .first(c)?;
        outcomes.push(Some(Ok(call.number_from(updated))));
    }
    for (call, outcome) in calls.iter().zip(&outcomes) {
        if outcome.is_some() {
            for row in &call.rows {
                diesel::insert_into(messages::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(outcomes)
}
