//! Messages: append, keyset pages, pop, and the old clients' whole-snapshot save/load.

use super::Store;
use super::bump::{BumpSession, BumpTarget};
use super::limits::{READ_CHUNK, ResponseBudget};
use super::queries::{find_or_create_session, insert_messages, live_session, messages_after};
use super::rows::{Counters, MessageRow, NewMessageRow, SessionRow};
use super::title::title_from;
use crate::error::{Error, Result};
use crate::model::{Access, Message, NewMessage, Role, Session, ToolCall};
use crate::schema::{messages, sessions};
use chrono::{DateTime, NaiveDateTime, Utc};
use db_core::timestamp::{DbTimestamp, naive, now};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

/// Where a page of messages starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagePosition {
    /// The first page.
    Start,
    /// Strictly after `seq` in the page direction (from a page token).
    After(i64),
    /// 1-based page number, for old clients. Without a role filter it maps to a `seq` range
    /// (seq has no gaps), so a deep page costs what page 1 costs.
    Page(i64),
}

/// What ListMessages asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    /// Messages per page (1–1000, clamped by the edge).
    pub page_size: i64,
    /// Start of the page.
    pub position: PagePosition,
    /// Newest first.
    pub reverse: bool,
    /// Only this role.
    pub role: Option<Role>,
}

/// One page of messages.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePage {
    /// In page order.
    pub messages: Vec<Message>,
    /// Messages matching the filter, all pages together.
    pub total_size: i64,
    /// `seq` of the last message when another page follows.
    pub next_after: Option<i64>,
}

/// The session after a snapshot save, with how much of it was kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The session.
    pub session: Session,
    /// Leading messages that were already stored unchanged and kept their `seq`/`timestamp`.
    pub kept: i64,
}

impl Store {
    /// One page of a session's messages in `seq` order (newest first with `reverse`), read
    /// from the `(session, seq)` index: cost does not grow with the page's depth.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`); `Unavailable`.
    pub async fn list_messages(
        &self,
        access: Access,
        session_id: String,
        query: MessageQuery,
    ) -> Result<MessagePage> {
        let pool = self.pool.clone();
        // At most 1,000 rows of one session from an index: read inline (no blocking-pool hop
        // per statement on SQLite).
        db_core::detach(async move {
            let mut conn = pool.get_inline().await?;
            db_core::read_transaction!(conn, |c| {
                let session = live_session(c, &access, &session_id).await?;
                let total_size = match query.role {
                    None => session.message_count,
                    Some(r) => session.role_count(r),
                };
                let mut q = messages::table
                    .filter(messages::session_db_id.eq(session.id))
                    .select(MessageRow::as_select())
                    .into_boxed();
                if let Some(role) = query.role {
                    q = q.filter(messages::role.eq(role.as_str()));
                }
                let mut offset = 0;
                match query.position {
                    PagePosition::Start => {}
                    PagePosition::After(seq) if query.reverse => {
                        q = q.filter(messages::seq.lt(seq))
                    }
                    PagePosition::After(seq) => q = q.filter(messages::seq.gt(seq)),
                    PagePosition::Page(page) => {
                        let skip = (page - 1).saturating_mul(query.page_size);
                        match (query.role, query.reverse) {
                            (None, false) => q = q.filter(messages::seq.gt(skip)),
                            (None, true) => {
                                q = q.filter(messages::seq.le(session.message_count - skip))
                            }
                            (Some(_), _) => offset = skip,
                        }
                    }
                }
                q = if query.reverse {
                    q.order(messages::seq.desc())
                } else {
                    q.order(messages::seq.asc())
                };
                let mut rows: Vec<MessageRow> =
                    q.limit(query.page_size + 1).offset(offset).load(c).await?;
                let next_after = db_core::page::cut_page(&mut rows, query.page_size, |r| r.seq);
                let messages = rows
                    .into_iter()
                    .map(MessageRow::into_message)
                    .collect::<Result<Vec<_>>>()?;
                Ok::<_, Error>(MessagePage {
                    messages,
                    total_size,
                    next_after,
                })
            })
        })
        .await
    }

    /// Removes and returns the session's last message, keeping the counters exact.
    ///
    /// # Errors
    /// `NotFound` for an unknown session or an empty one (resource `message`);
    /// `FailedPrecondition` (`SESSION_DELETED`).
    pub async fn pop_last_message(&self, access: Access, session_id: String) -> Result<Message> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let session = live_session(c, &access, &session_id).await?;
                if session.message_count == 0 {
                    return Err(Error::NotFound {
                        resource: "message",
                        id: format!("last message of session `{session_id}` (it is empty)"),
                    });
                }
                let last = messages::table
                    .filter(messages::session_db_id.eq(session.id))
                    .filter(messages::seq.eq(session.message_count));
                let row: MessageRow = last.select(MessageRow::as_select()).first(c).await?;
                diesel::delete(last).execute(c).await?;
                let previous_at: Option<NaiveDateTime> = messages::table
                    .filter(messages::session_db_id.eq(session.id))
                    .filter(messages::seq.eq(session.message_count - 1))
                    .select(messages::timestamp)
                    .first(c)
                    .await
                    .optional()?;
                let message = row.into_message()?;
                let mut delta = Counters::default();
                delta.add(message.role, message.token_count, -1);
                let at = now();
                let bump = BumpSession {
                    target: BumpTarget::Row(session.id),
                    delta,
                    title: "",
                    at: DbTimestamp(at),
                    last_ts: previous_at.map(DbTimestamp),
                    count_at_most: i64::MAX,
                    returning: true,
                };
                bump.returning_row(c).await?;
                Ok(message)
            })
        })
        .await
    }

    /// Old-client snapshot write: afterwards the session holds exactly `new`, in order.
    /// The longest prefix of already-stored messages equal to the snapshot (role, content,
    /// name, tool_call_id, tool_calls, metadata) is kept with its `seq` and `timestamp`; the
    /// rest is replaced. Creates the session for the caller when absent. `last_activity`
    /// becomes the given time, or now.
    ///
    /// The stored messages are compared [`READ_CHUNK`] at a time and only as
    /// far as they match, so memory holds the request and one chunk, whatever the session's
    /// length.
    ///
    /// # Errors
    /// `NotFound` (another user's); `FailedPrecondition` (`SESSION_DELETED`);
    /// `SessionTooLarge` for a snapshot of more than
    /// [`SessionLimits::max_session_messages`](super::SessionLimits); `Unavailable`.
    pub async fn save_session(
        &self,
        access: Access,
        session_id: String,
        new: Vec<NewMessage>,
        last_activity: Option<DateTime<Utc>>,
    ) -> Result<Saved> {
        let limit = self.limits.max_session_messages;
        if new.len() as i64 > limit {
            return Err(Error::SessionTooLarge {
                session_id,
                messages: new.len() as i64,
                limit,
            });
        }
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            let at = now();
            db_core::transaction!(conn, |c| {
                let session = find_or_create_session(c, &access, &session_id, true, at).await?;
                let mut totals = Counters::default();
                let mut last_ts = None;
                let mut title = String::new();
                // `seq` has no gap: stored message `kept + 1` faces `new[kept]`.
                let mut kept = 0usize;
                'compare: while kept < new.len() && (kept as i64) < session.message_count {
                    let want = (new.len() - kept).min(READ_CHUNK as usize) as i64;
                    let stored = messages_after(c, session.id, kept as i64, want).await?;
                    let read = stored.len() as i64;
                    for m in &stored {
                        if !same_message(m, &new[kept]) {
                            break 'compare;
                        }
                        let role = Role::parse(&m.role).ok_or_else(|| {
                            Error::Internal(format!("unknown stored role `{}`", m.role))
                        })?;
                        totals.add(role, m.token_count, 1);
                        last_ts = Some(m.timestamp);
                        if title.is_empty() && role == Role::User {
                            title = m.content.as_deref().map(title_from).unwrap_or_default();
                        }
                        kept += 1;
                    }
                    if read < want {
                        break;
                    }
                }
                diesel::delete(
                    messages::table
                        .filter(messages::session_db_id.eq(session.id))
                        .filter(messages::seq.gt(kept as i64)),
                )
                .execute(c)
                .await?;

                let mut rows = Vec::with_capacity(new.len() - kept);
                for (m, seq) in new.into_iter().skip(kept).zip(kept as i64 + 1..) {
                    totals.add(m.role, m.token_count, 1);
                    if title.is_empty() && m.role == Role::User {
                        title = m.content.as_deref().map(title_from).unwrap_or_default();
                    }
                    let row = NewMessageRow::from_new(session.id, seq, m, at)?;
                    last_ts = Some(row.timestamp);
                    rows.push(row);
                }
                insert_messages(c, rows).await?;
                let row: SessionRow = diesel::update(sessions::table.find(session.id))
                    .set((
                        sessions::message_count.eq(totals.count),
                        sessions::total_tokens.eq(totals.tokens),
                        sessions::user_messages.eq(totals.user),
                        sessions::assistant_messages.eq(totals.assistant),
                        sessions::system_messages.eq(totals.system),
                        sessions::tool_messages.eq(totals.tool),
                        sessions::last_activity.eq(last_activity.map(naive).unwrap_or(at)),
                        sessions::last_message_at.eq(last_ts),
                        sessions::title.eq(diesel::dsl::case_when::<_, _, Text>(
                            sessions::title.eq(""),
                            &title,
                        )
                        .otherwise(sessions::title)),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(c)
                    .await?;
                Ok::<_, Error>(Saved {
                    session: row.into_session(),
                    kept: kept as i64,
                })
            })
        })
        .await
    }

    /// Old-client whole read: the session and all its messages in `seq` order, read
    /// [`READ_CHUNK`] at a time in one snapshot.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` (`SESSION_DELETED`); `ResponseTooLarge` as soon as
    /// the messages read pass [`SessionLimits::max_response_bytes`](super::SessionLimits)
    /// (the client pages with ListMessages instead); `Unavailable`.
    pub async fn load_session(
        &self,
        access: Access,
        session_id: String,
    ) -> Result<(Session, Vec<Message>)> {
        let pool = self.pool.clone();
        let budget = self.limits.max_response_bytes;
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let session = live_session(c, &access, &session_id).await?;
                let mut messages =
                    Vec::with_capacity(session.message_count.clamp(0, READ_CHUNK) as usize);
                let mut budget = ResponseBudget::new(budget, 0, "page with ListMessages");
                let mut after = 0i64;
                loop {
                    let rows = messages_after(c, session.id, after, READ_CHUNK).await?;
                    if !budget.take_chunk(rows, &mut after, &mut messages)? {
                        break;
                    }
                }
                Ok::<_, Error>((session.into_session(), messages))
            })
        })
        .await
    }
}

/// Whether a stored message equals a snapshot message in everything a client sends (token
/// counts and timestamps are the server's and are not compared).
fn same_message(stored: &MessageRow, new: &NewMessage) -> bool {
    let tool_calls: Vec<ToolCall> = stored
        .tool_calls
        .as_ref()
        .and_then(|j| serde_json::from_str(&j.0).ok())
        .unwrap_or_default();
    stored.role == new.role.as_str()
        && stored.content == new.content
        && stored.name == new.name
        && stored.tool_call_id == new.tool_call_id
        && tool_calls == new.tool_calls
        && same_json(
            stored.metadata_json.as_ref().map(|j| j.0.as_str()),
            new.metadata_json.as_deref(),
        )
}

/// JSON equality by value (PostgreSQL normalises JSONB text).
fn same_json(a: Option<&str>, b: Option<&str>) -> bool {
    let parse = |s: Option<&str>| s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    parse(a) == parse(b)
}
