//! The second transaction of a batch, the same on both backends: the calls the first one left
//! — a session to create, or an error to name (absent, soft-deleted, someone else's, full),
//! and on PostgreSQL calls too long for one statement — one after another.

use super::call::{Call, Outcome};
use crate::error::Result;
use crate::schema::sessions;
use crate::store::bump::BumpTarget;
use crate::store::queries::{find_or_create_session, insert_messages};
use crate::store::rows::SessionRow;
use chrono::NaiveDateTime;
use db_core::Conn;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Appends `calls` one after another on `c`, inside the caller's transaction, creating
/// sessions where asked; one outcome per call, in order. A call that fails for a client reason
/// (unknown, foreign, deleted or full session) gets that error and writes nothing; any other
/// error fails the transaction. Sessions are updated in the order of `calls` (sorted by
/// `session_id`), so concurrent writers cannot deadlock.
pub(super) async fn append_one_by_one(
    c: &mut impl Conn,
    calls: &mut [Call],
    at: NaiveDateTime,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(calls.len());
    let mut rows = Vec::new();
    for call in calls.iter_mut() {
        match reserve(c, call, at).await {
            Ok(updated) => {
                outcomes.push(Ok(call.number_from(updated)));
                // Owned copies: SQLite inserts them as blocking work that must own its data.
                rows.extend(call.rows.iter().cloned());
            }
            Err(e) if e.is_client_error() => outcomes.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    insert_messages(c, rows).await?;
    Ok(outcomes)
}

/// Checks the call's session, creating it when asked, and reserves its `seq` range: the
/// session row after the call's counter UPDATE.
async fn reserve(c: &mut impl Conn, call: &Call, at: NaiveDateTime) -> Result<SessionRow> {
    if let Some(updated) = call.live_bump(at).returning_row(c).await? {
        return Ok(updated);
    }
    let session = find_or_create_session(
        c,
        &call.access,
        &call.session_id,
        call.create_if_missing,
        at,
    )
    .await?;
    let by_row = call.bump(BumpTarget::Row(session.id), at);
    if let Some(updated) = by_row.returning_row(c).await? {
        return Ok(updated);
    }
    let holds: Option<i64> = db_core::on_conn!(c, |c| {
        sessions::table
            .find(session.id)
            .select(sessions::message_count)
            .first(c)
            .await
            .optional()
    })?;
    Err(call.no_room(holds))
}
