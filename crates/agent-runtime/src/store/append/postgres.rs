//! The first transaction of a batch on PostgreSQL: every call whose session exists, is live, is
//! the caller's and has room, appended with one statement per call that updates the session
//! and inserts the messages ([`BumpAndInsert`]).

use super::call::{Call, Outcome, appended};
use crate::error::{Error, Result};
use crate::store::bump::BumpAndInsert;
use crate::store::rows::SessionRow;
use chrono::NaiveDateTime;
use db_core::{DbConn, PgConn, Pool};
use diesel::OptionalExtension;
use diesel_async::{AsyncConnection, RunQueryDsl};

/// Most messages of a call appended as one [`BumpAndInsert`] statement. Its text (and so its
/// prepared statement, cached per connection) differs per message count and it binds 9
/// values per message: larger calls are left for the next step, whose INSERTs are chunked.
const ONE_STATEMENT_MAX_MESSAGES: usize = 16;

/// Appends the calls of `calls` whose session can take them; one outcome per call, in order,
/// `None` for a call left for the next step (its statement's UPDATE matched nothing: the
/// session is absent, soft-deleted, someone else's or full; or it has more than
/// [`ONE_STATEMENT_MAX_MESSAGES`] messages), which wrote nothing. A batch of one call is its
/// statement alone ([`alone`]); a larger one pipelines them in one transaction
/// ([`pipelined`]).
///
/// # Errors
/// The transaction's error, when nothing was committed.
pub(super) async fn append_existing(
    pool: &Pool,
    calls: &[Call],
    at: NaiveDateTime,
) -> Result<Vec<Option<Outcome>>> {
    let mut conn = pool.get().await?;
    let DbConn::Postgres(c) = &mut conn else {
        return Err(Error::Internal("PostgreSQL append on a SQLite pool".into()));
    };
    let c: &mut PgConn = c;
    if let [call] = calls {
        return Ok(vec![alone(c, call, at).await?]);
    }
    c.transaction(async move |c| pipelined(c, calls, at).await)
        .await
}

/// One call's statement alone, outside any transaction: atomic on its own, one round trip.
/// Its implicit transaction commits at the protocol's Sync, after the row has been sent, so
/// the outcome is read to the end (`load`, which waits for ReadyForQuery): `get_result` would
/// return on the row and acknowledge an append whose commit then failed.
async fn alone(c: &mut PgConn, call: &Call, at: NaiveDateTime) -> Result<Option<Outcome>> {
    let Some(statement) = in_one_statement(call, at) else {
        return Ok(None);
    };
    let updated: Vec<SessionRow> = statement.load(c).await?;
    Ok(updated
        .into_iter()
        .next()
        .map(|row| Ok(appended(row, call.delta.count))))
}

/// Every call's statement, pipelined inside the caller's transaction: sent together, one
/// round trip. PostgreSQL runs them in order, so row locks are still taken in `session_id`
/// order.
async fn pipelined(
    c: &mut PgConn,
    calls: &[Call],
    at: NaiveDateTime,
) -> Result<Vec<Option<Outcome>>> {
    let shared: &PgConn = c;
    let updated: Vec<Option<SessionRow>> =
        futures::future::try_join_all(calls.iter().map(|call| {
            let mut conn = shared;
            let statement = in_one_statement(call, at);
            async move {
                match statement {
                    Some(statement) => statement
                        .get_result::<SessionRow>(&mut conn)
                        .await
                        .optional(),
                    None => Ok(None),
                }
            }
        }))
        .await?;
    Ok(calls
        .iter()
        .zip(updated)
        .map(|(call, row)| row.map(|row| Ok(appended(row, call.delta.count))))
        .collect())
}

/// The call's whole append as one statement, or `None` for a call of more than
/// [`ONE_STATEMENT_MAX_MESSAGES`] messages.
fn in_one_statement(call: &Call, at: NaiveDateTime) -> Option<BumpAndInsert<'_>> {
    (call.rows.len() <= ONE_STATEMENT_MAX_MESSAGES).then(|| BumpAndInsert {
        bump: call.live_bump(at),
        rows: &call.rows,
    })
}
