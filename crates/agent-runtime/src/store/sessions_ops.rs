//! Sessions: create, read, list, soft delete and undelete, stats.

use super::Store;
use super::queries::{insert_session, purge_sessions, session_by_key, visible_session};
use super::rows::{NewSessionRow, SessionRow, check_live, check_visible};
use crate::error::{Error, Result};
use crate::model::{Access, NewSession, Role, Session, SessionStats};
use crate::schema::sessions;
use chrono::{DateTime, NaiveDateTime, Utc};
use db_core::timestamp::{naive, now, utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Position after the last session of a page: ListSessions orders by `last_activity` DESC, then
/// row id DESC, so the next page starts strictly below this pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// `last_activity` of the last session returned.
    pub last_activity: DateTime<Utc>,
    /// Row id of the last session returned.
    pub id: i64,
}

/// What ListSessions asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// Sessions per page (1–1000, already clamped by the edge).
    pub page_size: i64,
    /// Continue after this position; first page when `None`.
    pub after: Option<SessionCursor>,
    /// Include soft-deleted sessions.
    pub include_deleted: bool,
    /// Only sessions with `is_active`.
    pub active_only: bool,
}

/// One page of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    /// Newest activity first.
    pub sessions: Vec<Session>,
    /// Sessions matching the filters, all pages together.
    pub total_size: i64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<SessionCursor>,
}

impl Store {
    /// Creates an empty session owned by `access.subject`.
    ///
    /// # Errors
    /// `AlreadyExists` when the id is taken (by anyone); `Unavailable` when the database is down.
    pub async fn create_session(&self, access: Access, new: NewSession) -> Result<Session> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            let row = NewSessionRow::empty(new, access.subject, now());
            db_core::transaction!(conn, |c| Ok::<_, Error>(
                insert_session(c, row).await?.into_session()
            ))
        })
        .await
    }

    /// Reads a session; a soft-deleted one only with `include_deleted`.
    ///
    /// # Errors
    /// `NotFound` when it does not exist, is another user's, or is deleted without
    /// `include_deleted`.
    pub async fn get_session(
        &self,
        access: Access,
        session_id: String,
        include_deleted: bool,
    ) -> Result<Session> {
        let row = self
            .session_row(access, session_id.clone(), check_visible)
            .await?;
        if row.deleted_at.is_some() && !include_deleted {
            return Err(Error::session_not_found(&session_id));
        }
        Ok(row.into_session())
    }

    /// Lists the caller's sessions (every session for admins), newest `last_activity` first.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn list_sessions(&self, access: Access, query: SessionQuery) -> Result<SessionPage> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let mut page = sessions::table.select(SessionRow::as_select()).into_boxed();
                let mut count = sessions::table.count().into_boxed();
                if !access.admin {
                    page = page.filter(sessions::owner.eq(&access.subject));
                    count = count.filter(sessions::owner.eq(&access.subject));
                }
                if !query.include_deleted {
                    page = page.filter(sessions::deleted_at.is_null());
                    count = count.filter(sessions::deleted_at.is_null());
                }
                if query.active_only {
                    page = page.filter(sessions::is_active.eq(true));
                    count = count.filter(sessions::is_active.eq(true));
                }
                if let Some(after) = query.after {
                    let t = naive(after.last_activity);
                    page = page.filter(
                        sessions::last_activity
                            .lt(t)
                            .or(sessions::last_activity.eq(t).and(sessions::id.lt(after.id))),
                    );
                }
                let mut rows: Vec<SessionRow> = page
                    .order((sessions::last_activity.desc(), sessions::id.desc()))
                    .limit(query.page_size + 1)
                    .load(c)
                    .await?;
                let total_size: i64 = count.get_result(c).await?;
                let next = db_core::page::cut_page(&mut rows, query.page_size, |r| SessionCursor {
                    last_activity: utc(r.last_activity.0),
                    id: r.id,
                });
                Ok::<_, Error>(SessionPage {
                    sessions: rows.into_iter().map(SessionRow::into_session).collect(),
                    total_size,
                    next,
                })
            })
        })
        .await
    }

    /// Soft-deletes (sets `deleted_at`, clears `is_active`) or, with `hard`, removes the session
    /// and, by cascade, its messages, agent context, switches and approvals. Returns the
    /// soft-deleted session, `None` after a hard delete. Soft-deleting a deleted session
    /// changes nothing (AIP-164).
    ///
    /// # Errors
    /// `NotFound` when it does not exist or is another user's.
    pub async fn delete_session(
        &self,
        access: Access,
        session_id: String,
        hard: bool,
    ) -> Result<Option<Session>> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let row = visible_session(c, &access, &session_id).await?;
                if hard {
                    purge_sessions(c, &[row.id]).await?;
                    return Ok::<_, Error>(None);
                }
                if row.deleted_at.is_some() {
                    return Ok(Some(row.into_session()));
                }
                let row: SessionRow = diesel::update(sessions::table.find(row.id))
                    .set((
                        sessions::deleted_at.eq(Some(now())),
                        sessions::is_active.eq(false),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(c)
                    .await?;
                Ok(Some(row.into_session()))
            })
        })
        .await
    }

    /// Reverses a soft delete (AIP-164 Undelete).
    ///
    /// # Errors
    /// `NotFound` when it does not exist or is another user's; `FailedPrecondition`
    /// (`SESSION_NOT_DELETED`) when it is not deleted.
    pub async fn undelete_session(&self, access: Access, session_id: String) -> Result<Session> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let row = visible_session(c, &access, &session_id).await?;
                if row.deleted_at.is_none() {
                    return Err(Error::FailedPrecondition {
                        reason: "SESSION_NOT_DELETED",
                        message: format!("session `{session_id}` is not deleted"),
                    });
                }
                let row: SessionRow = diesel::update(sessions::table.find(row.id))
                    .set((
                        sessions::deleted_at.eq(None::<NaiveDateTime>),
                        sessions::is_active.eq(true),
                        sessions::last_activity.eq(now()),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(c)
                    .await?;
                Ok(row.into_session())
            })
        })
        .await
    }

    /// Counters of a live session, read from its row (no scan: O(1) in session length).
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` for a soft-deleted session.
    pub async fn session_stats(&self, access: Access, session_id: String) -> Result<SessionStats> {
        let row = self.session_row(access, session_id, check_live).await?;
        let messages_by_role = Role::ALL.iter().map(|&r| (r, row.role_count(r))).collect();
        Ok(SessionStats {
            total_tokens: row.total_tokens,
            last_message_at: row.last_message_at.map(|t| utc(t.0)),
            messages_by_role,
            session: row.into_session(),
        })
    }

    /// The row of session `session_id` as `check` lets `access` see it ([`check_visible`] or
    /// [`check_live`]). One indexed row: read inline (no blocking-pool hop on SQLite), on a
    /// task of its own.
    ///
    /// # Errors
    /// `check`'s error; `Unavailable`.
    async fn session_row(
        &self,
        access: Access,
        session_id: String,
        check: fn(Option<SessionRow>, &Access, &str) -> Result<SessionRow>,
    ) -> Result<SessionRow> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get_inline().await?;
            let row = db_core::with_connection!(conn, |c| session_by_key(c, &session_id).await?);
            check(row, &access, &session_id)
        })
        .await
    }
}
