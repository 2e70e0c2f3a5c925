//! Sessions: create, read, list, soft delete and undelete, fork, stats, retention cleanup.

use super::{Counters, SessionRow, Store, already_exists_on_conflict, check_visible, now};
use crate::error::{Error, Result};
use crate::model::{Access, CleanupReport, NewSession, Role, Session, SessionStats};
use crate::schema::{messages, sessions};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use db_core::sql_types::JsonText;
use db_core::timestamp::DbTimestamp;
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

#[derive(Insertable)]
#[diesel(table_name = sessions)]
#[diesel(treat_none_as_default_value = false)]
pub(super) struct NewSessionRow {
    session_id: String,
    owner: String,
    title: String,
    description: String,
    metadata_json: Option<JsonText>,
    created_at: NaiveDateTime,
    last_activity: NaiveDateTime,
    is_active: bool,
    message_count: i64,
    total_tokens: i64,
    user_messages: i64,
    assistant_messages: i64,
    system_messages: i64,
    tool_messages: i64,
}

impl NewSessionRow {
    pub(super) fn empty(new: NewSession, owner: String, at: NaiveDateTime) -> NewSessionRow {
        NewSessionRow {
            session_id: new.session_id,
            owner,
            title: new.title,
            description: new.description,
            metadata_json: new.metadata_json.map(JsonText),
            created_at: at,
            last_activity: at,
            is_active: true,
            message_count: 0,
            total_tokens: 0,
            user_messages: 0,
            assistant_messages: 0,
            system_messages: 0,
            tool_messages: 0,
        }
    }
}

/// Inserts an empty session; `ALREADY_EXISTS` if the id is taken. Evaluates to its row.
macro_rules! insert_session {
    ($c:expr, $row:expr) => {{
        let row: NewSessionRow = $row;
        let id = row.session_id.clone();
        diesel::insert_into(sessions::table)
            .values(row)
            .returning(SessionRow::as_returning())
            .get_result::<SessionRow>($c)
            .await
            .map_err(already_exists_on_conflict("session", &id))?
    }};
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
                insert_session!(c, row).into_session()
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
        let pool = self.pool.clone();
        // One indexed row: read inline (no blocking-pool hop on SQLite).
        db_core::detach(db_core::inline(async move {
            let mut conn = pool.get().await?;
            let row = db_core::with_connection!(conn, |c| {
                sessions::table
                    .filter(sessions::session_id.eq(&session_id))
                    .select(SessionRow::as_select())
                    .first::<SessionRow>(c)
                    .await
                    .optional()?
            });
            let row = check_visible(row, &access, &session_id)?;
            if row.deleted_at.is_some() && !include_deleted {
                return Err(Error::session_not_found(&session_id));
            }
            Ok(row.into_session())
        }))
        .await
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
                    let t = super::naive(after.last_activity);
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
                let next = if rows.len() as i64 > query.page_size {
                    rows.truncate(query.page_size as usize);
                    rows.last().map(|r| SessionCursor {
                        last_activity: super::utc(r.last_activity.0),
                        id: r.id,
                    })
                } else {
                    None
                };
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
                let row: Option<SessionRow> = sessions::table
                    .filter(sessions::session_id.eq(&session_id))
                    .select(SessionRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                let row = check_visible(row, &access, &session_id)?;
                if hard {
                    purge_sessions!(c, &[row.id]);
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
                let row: Option<SessionRow> = sessions::table
                    .filter(sessions::session_id.eq(&session_id))
                    .select(SessionRow::as_select())
                    .first(c)
                    .await
                    .optional()?;
                let row = check_visible(row, &access, &session_id)?;
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
        let pool = self.pool.clone();
        // One indexed row: read inline (no blocking-pool hop on SQLite).
        db_core::detach(db_core::inline(async move {
            let mut conn = pool.get().await?;
            let row = db_core::with_connection!(conn, |c| live_session!(c, &access, &session_id));
            let messages_by_role = Role::ALL.iter().map(|&r| (r, row.role_count(r))).collect();
            Ok(SessionStats {
                total_tokens: row.total_tokens,
                last_message_at: row.last_message_at.map(|t| super::utc(t.0)),
                messages_by_role,
                session: row.into_session(),
            })
        }))
        .await
    }

    /// Copies messages `1..=up_to_seq` (all when 0) and the agent context with its switches
    /// into a new session with the same owner, title, description and metadata. The rows are
    /// copied inside the database (`INSERT … SELECT`), never loaded here.
    ///
    /// # Errors
    /// `NotFound` for the source; `InvalidArgument` (`up_to_seq`) beyond the last message or
    /// negative; `AlreadyExists` when `new_session_id` is taken.
    pub async fn fork_session(
        &self,
        access: Access,
        session_id: String,
        up_to_seq: i64,
        new_session_id: String,
    ) -> Result<Session> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            db_core::transaction!(conn, |c| {
                let source = live_session!(c, &access, &session_id);
                if up_to_seq < 0 || up_to_seq > source.message_count {
                    return Err(Error::invalid(
                        "up_to_seq",
                        format!(
                            "must be between 0 and {} (the last seq)",
                            source.message_count
                        ),
                    ));
                }
                let upto = if up_to_seq == 0 {
                    source.message_count
                } else {
                    up_to_seq
                };
                let at = now();
                let new = NewSession {
                    session_id: new_session_id,
                    title: source.title.clone(),
                    description: source.description.clone(),
                    metadata_json: source.metadata_json.clone().map(|j| j.0),
                };
                let fork = insert_session!(c, NewSessionRow::empty(new, source.owner.clone(), at));

                // Copied inside the database (INSERT … SELECT): no message passes through
                // this process, whatever the session's length.
                let copied = messages::table
                    .filter(messages::session_db_id.eq(source.id))
                    .filter(messages::seq.le(upto))
                    .select((
                        fork.id.into_sql::<diesel::sql_types::BigInt>(),
                        messages::seq,
                        messages::role,
                        messages::content,
                        messages::name,
                        messages::tool_call_id,
                        messages::tool_calls,
                        messages::token_count,
                        messages::metadata_json,
                        messages::timestamp,
                    ));
                diesel::insert_into(messages::table)
                    .values(copied)
                    .into_columns((
                        messages::session_db_id,
                        messages::seq,
                        messages::role,
                        messages::content,
                        messages::name,
                        messages::tool_call_id,
                        messages::tool_calls,
                        messages::token_count,
                        messages::metadata_json,
                        messages::timestamp,
                    ))
                    .execute(c)
                    .await?;

                // The copy's counters: the source's for a whole copy, else one aggregate per
                // role over the copied range.
                let mut counters = Counters::default();
                let last_at: Option<DbTimestamp>;
                if upto == source.message_count {
                    counters = Counters {
                        count: source.message_count,
                        tokens: source.total_tokens,
                        user: source.user_messages,
                        assistant: source.assistant_messages,
                        system: source.system_messages,
                        tool: source.tool_messages,
                    };
                    last_at = source.last_message_at;
                } else {
                    let per_role: Vec<(String, i64, Option<i64>)> = messages::table
                        .filter(messages::session_db_id.eq(source.id))
                        .filter(messages::seq.le(upto))
                        .group_by(messages::role)
                        .select((
                            messages::role,
                            diesel::dsl::count_star(),
                            diesel::dsl::sum(messages::token_count),
                        ))
                        .load(c)
                        .await?;
                    for (role, count, tokens) in per_role {
                        let role = Role::parse(&role).ok_or_else(|| {
                            Error::Internal(format!("unknown stored role `{role}`"))
                        })?;
                        counters.add(role, 0, count);
                        counters.tokens += tokens.unwrap_or(0);
                    }
                    last_at = messages::table
                        .filter(messages::session_db_id.eq(source.id))
                        .filter(messages::seq.eq(upto))
                        .select(messages::timestamp)
                        .first::<DbTimestamp>(c)
                        .await
                        .optional()?;
                }

                let fork: SessionRow = diesel::update(sessions::table.find(fork.id))
                    .set((
                        sessions::message_count.eq(counters.count),
                        sessions::total_tokens.eq(counters.tokens),
                        sessions::user_messages.eq(counters.user),
                        sessions::assistant_messages.eq(counters.assistant),
                        sessions::system_messages.eq(counters.system),
                        sessions::tool_messages.eq(counters.tool),
                        sessions::last_message_at.eq(last_at),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(c)
                    .await?;

                super::agents::copy_agent_context!(c, source.id, fork.id);
                Ok(fork.into_session())
            })
        })
        .await
    }

    /// Retention: purges sessions soft-deleted more than `purge_deleted_days` ago, then
    /// soft-deletes live sessions idle more than `inactive_hours`. A zero skips that step;
    /// `dry_run` only counts. Covers every owner (the edge requires `api:admin`).
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn cleanup_sessions(
        &self,
        inactive_hours: i64,
        purge_deleted_days: i64,
        dry_run: bool,
    ) -> Result<CleanupReport> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            let at = now();
            let idle_cutoff = at - Duration::hours(inactive_hours);
            let purge_cutoff = at - Duration::days(purge_deleted_days);
            db_core::transaction!(conn, |c| {
                let mut report = CleanupReport::default();
                if purge_deleted_days > 0 {
                    let doomed = sessions::table.filter(sessions::deleted_at.lt(purge_cutoff));
                    report.purged = if dry_run {
                        doomed.count().get_result(c).await?
                    } else {
                        let ids: Vec<i64> = doomed.select(sessions::id).load(c).await?;
                        purge_sessions!(c, &ids) as i64
                    };
                }
                if inactive_hours > 0 {
                    let idle = sessions::table
                        .filter(sessions::deleted_at.is_null())
                        .filter(sessions::last_activity.lt(idle_cutoff));
                    report.soft_deleted = if dry_run {
                        idle.count().get_result(c).await?
                    } else {
                        diesel::update(idle)
                            .set((
                                sessions::deleted_at.eq(Some(at)),
                                sessions::is_active.eq(false),
                            ))
                            .execute(c)
                            .await? as i64
                    };
                }
                Ok::<_, Error>(report)
            })
        })
        .await
    }

    /// One batch of retention: like [`Store::cleanup_sessions`] with `dry_run = false`, but
    /// each step (purge, then soft delete) is its own transaction and touches at most
    /// `batch.sessions` sessions; the purge also stops before its sessions' messages (their
    /// `message_count`) sum past `batch.messages`. So a cleanup holds the write lock one bounded
    /// batch at a time; only a session longer than `batch.messages` is purged alone in one
    /// longer step. Call it until it returns zeros.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn cleanup_sessions_batch(
        &self,
        inactive_hours: i64,
        purge_deleted_days: i64,
        batch: CleanupBatch,
    ) -> Result<CleanupReport> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let at = now();
            let idle_cutoff = at - Duration::hours(inactive_hours);
            let purge_cutoff = at - Duration::days(purge_deleted_days);
            let mut report = CleanupReport::default();
            if purge_deleted_days > 0 {
                let mut conn = pool.get().await?;
                report.purged = db_core::transaction!(conn, |c| {
                    let due: Vec<(i64, i64)> = sessions::table
                        .filter(sessions::deleted_at.lt(purge_cutoff))
                        .select((sessions::id, sessions::message_count))
                        .limit(batch.sessions)
                        .load(c)
                        .await?;
                    let ids = batch.purge_prefix(&due);
                    Ok::<_, Error>(purge_sessions!(c, &ids) as i64)
                })?;
            }
            if inactive_hours > 0 {
                let mut conn = pool.get().await?;
                report.soft_deleted = db_core::transaction!(conn, |c| {
                    let ids: Vec<i64> = sessions::table
                        .filter(sessions::deleted_at.is_null())
                        .filter(sessions::last_activity.lt(idle_cutoff))
                        .select(sessions::id)
                        .limit(batch.sessions)
                        .load(c)
                        .await?;
                    let n = diesel::update(sessions::table.filter(sessions::id.eq_any(ids)))
                        .set((
                            sessions::deleted_at.eq(Some(at)),
                            sessions::is_active.eq(false),
                        ))
                        .execute(c)
                        .await?;
                    Ok::<_, Error>(n as i64)
                })?;
            }
            Ok(report)
        })
        .await
    }
}

/// How much one step of [`Store::cleanup_sessions_batch`] may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupBatch {
    /// Sessions per step (purged or soft-deleted); at least 1.
    pub sessions: i64,
    /// Messages per purge step, summed over its sessions' `message_count`; a session longer
    /// than this is purged alone.
    pub messages: i64,
}

impl CleanupBatch {
    /// 500 sessions or 20,000 messages per step. Purging takes about 3.6 µs a message on
    /// SQLite (BENCHMARKS.md: a 700k-message session in 2.5 s), so a full purge step holds the
    /// write lock for about 70 ms.
    pub const DEFAULT: CleanupBatch = CleanupBatch {
        sessions: 500,
        messages: 20_000,
    };

    /// The ids of the longest prefix of `due` (`(id, message_count)` pairs) whose messages fit
    /// in `self.messages`, and always at least the first, so every step makes progress.
    fn purge_prefix(&self, due: &[(i64, i64)]) -> Vec<i64> {
        let mut total = 0_i64;
        due.iter()
            .enumerate()
            .take_while(|(i, (_, count))| {
                total = total.saturating_add((*count).max(0));
                *i == 0 || total <= self.messages
            })
            .map(|(_, (id, _))| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::CleanupBatch;

    #[test]
    fn a_purge_step_stops_at_its_message_budget_but_always_takes_one() {
        let batch = CleanupBatch {
            sessions: 500,
            messages: 10,
        };
        assert_eq!(batch.purge_prefix(&[]), Vec::<i64>::new());
        assert_eq!(batch.purge_prefix(&[(1, 50), (2, 1)]), vec![1]);
        assert_eq!(batch.purge_prefix(&[(1, 4), (2, 6), (3, 1)]), vec![1, 2]);
        assert_eq!(
            batch.purge_prefix(&[(1, 0), (2, 0), (3, 10)]),
            vec![1, 2, 3]
        );
        assert_eq!(batch.purge_prefix(&[(1, 3), (2, i64::MAX)]), vec![1]);
    }
}
