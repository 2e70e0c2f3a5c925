//! The statements several operations share, as plain functions over the connection of a query
//! body (`c: &mut impl Conn`, inside `db_core::transaction!` and its siblings): each is written
//! once and compiled for both backends by `db_core::on_conn!`.

use super::rows::{
    MessageRow, NewMessageRow, NewSessionRow, SessionRow, check_live, check_visible,
};
use crate::error::{Error, Result};
use crate::model::{Access, NewSession};
use crate::schema::{messages, sessions};
use chrono::NaiveDateTime;
use db_core::Conn;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Rows per multi-row INSERT: 11 columns × 1,000 rows stays below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// Rows per `DELETE` when sessions are purged ([`purge_sessions`]): messages (a `seq` range)
/// per statement, and session ids per statement (under both backends' bind-parameter limits).
pub(crate) const PURGE_CHUNK: usize = 1_000;

/// The session row with public id `id`, deleted or not, whoever owns it.
pub(crate) async fn session_by_key(c: &mut impl Conn, id: &str) -> Result<Option<SessionRow>> {
    let row = db_core::on_conn!(c, |c| {
        sessions::table
            .filter(sessions::session_id.eq(id))
            .select(SessionRow::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// The session row `id` if `access` may see it, soft-deleted or not.
///
/// # Errors
/// `NotFound` when it does not exist or is another user's; `Unavailable`.
pub(crate) async fn visible_session(
    c: &mut impl Conn,
    access: &Access,
    id: &str,
) -> Result<SessionRow> {
    let row = session_by_key(c, id).await?;
    check_visible(row, access, id)
}

/// The visible, not soft-deleted session row `id` for `access`, or the error the client should
/// see (`NOT_FOUND`, or `FAILED_PRECONDITION` for a soft-deleted session).
pub(crate) async fn live_session(
    c: &mut impl Conn,
    access: &Access,
    id: &str,
) -> Result<SessionRow> {
    let row = session_by_key(c, id).await?;
    check_live(row, access, id)
}

/// Takes the row lock of session `db_id` (PostgreSQL) and bumps its `last_activity` to `at`.
pub(crate) async fn touch_session(c: &mut impl Conn, db_id: i64, at: NaiveDateTime) -> Result<()> {
    db_core::on_conn!(c, |c| {
        diesel::update(sessions::table.find(db_id))
            .set(sessions::last_activity.eq(at))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Inserts the empty session `row` and returns it.
///
/// # Errors
/// `AlreadyExists` when its id is taken (by anyone).
pub(crate) async fn insert_session(c: &mut impl Conn, row: NewSessionRow) -> Result<SessionRow> {
    let id = row.session_id.clone();
    db_core::on_conn!(c, |c| {
        diesel::insert_into(sessions::table)
            .values(row)
            .returning(SessionRow::as_returning())
            .get_result::<SessionRow>(c)
            .await
    })
    .map_err(already_exists_on_conflict("session", &id))
}

/// The live session `id` for a write, created for `access` (empty, created at `at`) when
/// `create` is set and it does not exist. Concurrent creators converge on one row: the INSERT
/// does nothing when the id was taken meanwhile, and the row is read again.
///
/// # Errors
/// As [`live_session`]: `NOT_FOUND` (absent without `create`, or someone else's),
/// `FAILED_PRECONDITION` (soft-deleted).
pub(crate) async fn find_or_create_session(
    c: &mut impl Conn,
    access: &Access,
    id: &str,
    create: bool,
    at: NaiveDateTime,
) -> Result<SessionRow> {
    let existing = session_by_key(c, id).await?;
    if existing.is_some() || !create {
        return check_live(existing, access, id);
    }
    let empty = NewSessionRow::empty(
        NewSession {
            session_id: id.to_owned(),
            ..NewSession::default()
        },
        access.subject.clone(),
        at,
    );
    let inserted = db_core::on_conn!(c, |c| {
        diesel::insert_into(sessions::table)
            .values(empty)
            .on_conflict(sessions::session_id)
            .do_nothing()
            .returning(SessionRow::as_returning())
            .get_result::<SessionRow>(c)
            .await
            .optional()
    })?;
    match inserted {
        Some(row) => Ok(row),
        None => live_session(c, access, id).await,
    }
}

/// Inserts message rows inside the caller's transaction, in multi-row INSERTs of at most
/// [`INSERT_CHUNK`] rows on PostgreSQL (see `db_core::insert_rows`).
pub(crate) async fn insert_messages(c: &mut impl Conn, rows: Vec<NewMessageRow>) -> Result<()> {
    db_core::insert_rows::<_, NewMessageRow>(c, messages::table, rows, INSERT_CHUNK).await?;
    Ok(())
}

/// At most `limit` messages of session row `db_id` after `seq` `after`, in `seq` order (one
/// keyset page of a whole-session read).
pub(crate) async fn messages_after(
    c: &mut impl Conn,
    db_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let rows = db_core::on_conn!(c, |c| {
        messages::table
            .filter(messages::session_db_id.eq(db_id))
            .filter(messages::seq.gt(after))
            .order(messages::seq.asc())
            .limit(limit)
            .select(MessageRow::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Removes the sessions whose row ids are in `ids` for good, inside the caller's transaction,
/// and returns how many were removed: first each session's messages, one `seq` range of
/// [`PURGE_CHUNK`] per `DELETE` up to its highest `seq`, then the session rows, whose
/// `ON DELETE CASCADE` takes the agent context, its switches and the approvals.
///
/// One `DELETE` of a whole session, direct or by cascade, makes SQLite collect the rowid of
/// every row it removes first (about 18–24 bytes a row, held until the statement ends): a
/// session of a million messages would cost its deleter some 20 MB. In chunks the statement's
/// memory stays bounded and the transaction is still one: a reader sees the session whole or
/// gone. Each chunk is an index range on `(session_db_id, seq)` that starts past the rows
/// already deleted, so the work stays linear on PostgreSQL too, whose index still holds the
/// entries of rows deleted earlier in the same transaction.
pub(crate) async fn purge_sessions(c: &mut impl Conn, ids: &[i64]) -> Result<usize> {
    for &id in ids {
        let last: Option<i64> = db_core::on_conn!(c, |c| {
            messages::table
                .filter(messages::session_db_id.eq(id))
                .select(diesel::dsl::max(messages::seq))
                .first(c)
                .await
        })?;
        let mut below = 0i64;
        while below < last.unwrap_or(0) {
            let upto = below + PURGE_CHUNK as i64;
            db_core::on_conn!(c, |c| {
                diesel::delete(
                    messages::table
                        .filter(messages::session_db_id.eq(id))
                        .filter(messages::seq.gt(below))
                        .filter(messages::seq.le(upto)),
                )
                .execute(c)
                .await
            })?;
            below = upto;
        }
    }
    let mut purged = 0usize;
    for group in ids.chunks(PURGE_CHUNK) {
        purged += db_core::on_conn!(c, |c| {
            diesel::delete(sessions::table.filter(sessions::id.eq_any(group)))
                .execute(c)
                .await
        })?;
    }
    Ok(purged)
}

/// Maps a unique violation to `AlreadyExists`, passing every other error through.
pub(crate) fn already_exists_on_conflict<'a>(
    resource: &'static str,
    id: &'a str,
) -> impl Fn(diesel::result::Error) -> Error + 'a {
    move |e| match db_core::classify(e) {
        db_core::DbError::UniqueViolation { .. } => Error::AlreadyExists {
            resource,
            id: id.to_owned(),
        },
        other => Error::from(other),
    }
}
