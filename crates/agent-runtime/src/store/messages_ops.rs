//! Messages: append, keyset pages, pop, and the old clients' whole-snapshot save/load.

use super::bump::{BumpAndInsert, BumpSession, BumpTarget, with_shape};
use super::sessions_ops::NewSessionRow;
use super::{
    Counters, MessageRow, NewMessageRow, SessionRow, Store, check_live, naive, now, title_from,
};
use crate::error::{Error, Result};
use crate::model::{Access, Message, NewMessage, NewSession, Role, Session, ToolCall};
use crate::schema::{messages, sessions};
use chrono::{DateTime, NaiveDateTime, Utc};
use db_core::timestamp::DbTimestamp;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

/// What AppendMessages stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// `seq` of the first appended message.
    pub first_seq: i64,
    /// `seq` of the last appended message (= the session's new `message_count`).
    pub last_seq: i64,
    /// The session after the append.
    pub session: Session,
}

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

/// The SELECT of session `$id` (by its public id, deleted or not).
macro_rules! session_by_key {
    ($id:expr) => {
        sessions::table
            .filter(sessions::session_id.eq($id))
            .select(SessionRow::as_select())
    };
}

/// The INSERT of an empty session `$id` owned by `$access`'s subject, doing nothing when the id
/// is taken (concurrent creators converge on one row), `RETURNING` the new row.
macro_rules! insert_empty_session {
    ($access:expr, $id:expr, $at:expr) => {
        diesel::insert_into(sessions::table)
            .values(NewSessionRow::empty(
                NewSession {
                    session_id: $id.to_owned(),
                    ..NewSession::default()
                },
                $access.subject.clone(),
                $at,
            ))
            .on_conflict(sessions::session_id)
            .do_nothing()
            .returning(SessionRow::as_returning())
    };
}

/// Finds session `$id` for a write, creating it for the caller when `$create` is set and it
/// does not exist (concurrent creators converge on one row). Evaluates to the live row.
macro_rules! find_or_create_session {
    ($c:expr, $access:expr, $id:expr, $create:expr, $at:expr) => {{
        let existing: Option<SessionRow> = session_by_key!($id).first($c).await.optional()?;
        match existing {
            None if $create => {
                let inserted: Option<SessionRow> = insert_empty_session!($access, $id, $at)
                    .get_result($c)
                    .await
                    .optional()?;
                match inserted {
                    Some(row) => row,
                    None => {
                        let raced: Option<SessionRow> =
                            session_by_key!($id).first($c).await.optional()?;
                        check_live(raced, $access, $id)?
                    }
                }
            }
            other => check_live(other, $access, $id)?,
        }
    }};
}

impl Store {
    /// Appends `new` to the session in one transaction; creates the session (owned by the
    /// caller) first when `create_if_missing` and it does not exist. Messages get consecutive
    /// `seq` numbers after the current last one; `last_activity` moves to now; an empty title
    /// becomes the first user message's first 500 characters. Answers only once the commit is
    /// durable.
    ///
    /// Concurrent calls are coalesced into one transaction and one commit (group commit, see
    /// [`AppendQueue`]); each caller still gets its own outcome, and a caller's error does not
    /// affect the others: when a statement of the shared transaction fails, its calls are run
    /// again one by one, so only the call that caused the error sees it.
    ///
    /// # Errors
    /// `NotFound` (absent without `create_if_missing`, or another user's); `FailedPrecondition`
    /// (`SESSION_DELETED`); `SessionTooLarge` when the session would pass
    /// [`SessionLimits::max_session_messages`](super::SessionLimits); `Unavailable`. Nothing is
    /// written on error.
    pub async fn append_messages(
        &self,
        access: Access,
        session_id: String,
        new: Vec<NewMessage>,
        create_if_missing: bool,
    ) -> Result<Appended> {
        let max_messages = self.limits.max_session_messages;
        if new.len() as i64 > max_messages {
            // Refused before anything is queued: no session is created for it either.
            return Err(Error::SessionTooLarge {
                session_id,
                messages: new.len() as i64,
                limit: max_messages,
            });
        }
        self.appends
            .submit(AppendJob {
                access,
                session_id,
                new,
                create_if_missing,
                max_messages,
            })
            .await
    }

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
        db_core::detach(db_core::inline(async move {
            let mut conn = pool.get().await?;
            db_core::read_transaction!(conn, |c| {
                let session = live_session!(c, &access, &session_id);
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
                let next_after = if rows.len() as i64 > query.page_size {
                    rows.truncate(query.page_size as usize);
                    rows.last().map(|r| r.seq)
                } else {
                    None
                };
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
        }))
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
                let session = live_session!(c, &access, &session_id);
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
                with_shape!(bump, |q| q.get_result::<SessionRow>(c).await).optional()?;
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
    /// The stored messages are compared [`READ_CHUNK`](super::READ_CHUNK) at a time and only as
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
                let session = find_or_create_session!(c, &access, &session_id, true, at);
                let mut totals = Counters::default();
                let mut last_ts = None;
                let mut title = String::new();
                // `seq` has no gap: stored message `kept + 1` faces `new[kept]`.
                let mut kept = 0usize;
                'compare: while kept < new.len() && (kept as i64) < session.message_count {
                    let want = (new.len() - kept).min(super::READ_CHUNK as usize) as i64;
                    let stored: Vec<MessageRow> = messages::table
                        .filter(messages::session_db_id.eq(session.id))
                        .filter(messages::seq.gt(kept as i64))
                        .order(messages::seq.asc())
                        .limit(want)
                        .select(MessageRow::as_select())
                        .load(c)
                        .await?;
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
                insert_messages!(c, rows);
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
    /// [`READ_CHUNK`](super::READ_CHUNK) at a time in one snapshot.
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
                let session = live_session!(c, &access, &session_id);
                let mut messages =
                    Vec::with_capacity(session.message_count.clamp(0, super::READ_CHUNK) as usize);
                let mut budget = super::ResponseBudget::new(budget, 0, "page with ListMessages");
                let mut after = 0i64;
                loop {
                    let rows: Vec<MessageRow> = messages::table
                        .filter(messages::session_db_id.eq(session.id))
                        .filter(messages::seq.gt(after))
                        .order(messages::seq.asc())
                        .limit(super::READ_CHUNK)
                        .select(MessageRow::as_select())
                        .load(c)
                        .await?;
                    let read = rows.len() as i64;
                    for row in rows {
                        budget.spend(row.payload_bytes())?;
                        after = row.seq;
                        messages.push(row.into_message()?);
                    }
                    if read < super::READ_CHUNK {
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

/// One AppendMessages call.
#[derive(Debug)]
pub(crate) struct AppendJob {
    access: Access,
    session_id: String,
    new: Vec<NewMessage>,
    create_if_missing: bool,
    /// The session cap ([`SessionLimits::max_session_messages`](super::SessionLimits)); the
    /// call is never queued with more messages than this.
    max_messages: i64,
}

/// The error of a job whose session UPDATE by row id matched nothing, given the session's
/// `message_count` read afterwards (`None`: the row is gone): the UPDATE checks nothing else,
/// so a session still there had no room left for the job's `count` messages.
fn no_room(job: &AppendJob, message_count: Option<i64>, count: i64) -> Error {
    match message_count {
        Some(message_count) => Error::SessionTooLarge {
            session_id: job.session_id.clone(),
            messages: message_count + count,
            limit: job.max_messages,
        },
        None => Error::session_not_found(&job.session_id),
    }
}

/// Whether `e` is a statement's error (a value or constraint the database refused, a bug)
/// rather than an outage: a shared batch that failed with it is run again call by call, so the
/// one call that caused it fails alone. An outage fails the batch without retry (retrying each
/// call would wait for the database once per call).
fn is_statement_error(e: &Error) -> bool {
    matches!(e, Error::Internal(_))
}

/// Most messages of a call appended as one [`BumpAndInsert`] statement. Its text (and so its
/// prepared statement, cached per connection) differs per message count and it binds 9
/// values per message: larger calls take the sequential path, whose INSERTs are chunked.
const ONE_STATEMENT_MAX_MESSAGES: usize = 16;

/// One call with what its session update needs — counter deltas, the title an untitled session
/// takes — and its message rows, built by the caller before the call is queued, so the append
/// writer (the serial resource) only stamps and writes them. Until the session is reserved, a
/// row's `session_db_id` is 0 and its `seq` is its distance from the call's last message (n - k
/// for the k-th of n; what [`BumpAndInsert`] binds). A message sent without a timestamp takes
/// its batch's (see [`Prepared::stamp`]): every call of one batch, and every message of a
/// session, is stamped in commit order.
pub(crate) struct Prepared {
    /// The call; its `new` has been moved into `rows`.
    job: AppendJob,
    delta: Counters,
    title: String,
    rows: Vec<NewMessageRow>,
    /// Positions in `rows` of the messages sent without a timestamp.
    untimed: Vec<usize>,
}

impl Prepared {
    /// Builds the call's counters, title and rows (on the caller's task).
    ///
    /// # Errors
    /// `Internal` when tool calls cannot be serialised.
    pub(crate) fn new(mut job: AppendJob) -> Result<Prepared> {
        let mut delta = Counters::default();
        for m in &job.new {
            delta.add(m.role, m.token_count, 1);
        }
        let title = job
            .new
            .iter()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.as_deref())
            .map(title_from)
            .unwrap_or_default();
        let untimed = (job.new.iter().enumerate())
            .filter_map(|(i, m)| m.timestamp.is_none().then_some(i))
            .collect();
        let n = job.new.len() as i64;
        // Overwritten by `stamp` for each message without a timestamp of its own.
        let unset = NaiveDateTime::default();
        let rows = std::mem::take(&mut job.new)
            .into_iter()
            .zip(1..)
            .map(|(m, k)| NewMessageRow::from_new(0, n - k, m, unset))
            .collect::<Result<Vec<_>>>()?;
        Ok(Prepared {
            job,
            delta,
            title,
            rows,
            untimed,
        })
    }

    /// Puts the rows back as [`Prepared::new`] built them (`session_db_id` 0, `seq` the
    /// distance from the last message), after a failed attempt gave them a session's numbers,
    /// so the call can be tried again.
    fn reset(&mut self) {
        let n = self.rows.len() as i64;
        for (row, k) in self.rows.iter_mut().zip(1..) {
            row.session_db_id = 0;
            row.seq = n - k;
        }
    }

    /// Gives `at`, the batch's timestamp, to every message sent without one.
    fn stamp(&mut self, at: NaiveDateTime) {
        for &i in &self.untimed {
            self.rows[i].timestamp = DbTimestamp(at);
        }
    }

    /// The counter UPDATE of this job on `target`.
    fn bump<'a>(&'a self, target: BumpTarget<'a>, at: NaiveDateTime) -> BumpSession<'a> {
        BumpSession {
            target,
            delta: self.delta,
            title: &self.title,
            at: DbTimestamp(at),
            last_ts: self.rows.last().map(|row| row.timestamp),
            count_at_most: self.job.max_messages - self.delta.count,
            returning: true,
        }
    }

    /// The whole fast-path append of this job as one statement (PostgreSQL), for a job of at
    /// most [`ONE_STATEMENT_MAX_MESSAGES`] messages; `None` for a larger one.
    fn bump_and_insert(&self, at: NaiveDateTime) -> Option<BumpAndInsert<'_>> {
        (self.rows.len() <= ONE_STATEMENT_MAX_MESSAGES).then(|| BumpAndInsert {
            bump: self.bump(BumpTarget::live(&self.job.access, &self.job.session_id), at),
            rows: &self.rows,
        })
    }
}

/// Appends `$prepared` (an iterator of `&mut Prepared`) one job after another on `$c`, inside
/// the caller's transaction, creating sessions where asked; evaluates to the outcomes in order
/// (`Result`, `Err` for a database error). Sessions are updated in the order of `$prepared`
/// (sorted by `session_id`), so concurrent writers cannot deadlock. Written once for both
/// backends. The jobs' rows keep the numbers they were given (see [`Prepared::reset`]).
macro_rules! append_sequential {
    ($c:expr, $prepared:expr, $at:expr) => {{
        let at = $at;
        let mut outcomes = Vec::new();
        let mut rows: Vec<NewMessageRow> = Vec::new();
        for p in $prepared {
            let p: &mut Prepared = p;
            let reserved = async {
                let job = &p.job;
                let live = p.bump(BumpTarget::live(&job.access, &job.session_id), at);
                match with_shape!(live, |q| q.get_result::<SessionRow>($c).await).optional()? {
                    Some(row) => Ok::<SessionRow, Error>(row),
                    None => {
                        let row = find_or_create_session!(
                            $c,
                            &job.access,
                            &job.session_id,
                            job.create_if_missing,
                            at
                        );
                        let bump = p.bump(BumpTarget::Row(row.id), at);
                        match with_shape!(bump, |q| q.get_result::<SessionRow>($c).await)
                            .optional()?
                        {
                            Some(row) => Ok(row),
                            None => {
                                let now_holds: Option<i64> = sessions::table
                                    .find(row.id)
                                    .select(sessions::message_count)
                                    .first($c)
                                    .await
                                    .optional()?;
                                Err(no_room(job, now_holds, p.delta.count))
                            }
                        }
                    }
                }
            }
            .await;
            if record(reserved, p, &mut outcomes)? {
                // Owned copies: the insert may run on another thread (SQLite).
                rows.extend(p.rows.iter().cloned());
            }
        }
        insert_messages!($c, rows);
        Ok::<_, Error>(outcomes)
    }};
}

/// Appends every job and returns each job's outcome, in order. A job that fails for a client
/// reason (unknown or deleted session, no room left) writes nothing and leaves the others
/// alone. A database error fails the shared transaction; `Err` is returned only when nothing of
/// `prepared` was committed (so [`append_isolating`] may run the jobs again), and a failure of
/// the second transaction below is isolated here, call by call.
///
/// On SQLite the whole batch is one transaction run inline on the writer's thread
/// ([`db_core::split_transaction!`]: no hop to the blocking pool and back). On PostgreSQL each
/// job is first tried as one [`BumpAndInsert`] statement — alone and outside a transaction for
/// a batch of one call (one round trip), or all pipelined in one transaction
/// ([`pipelined_fast_path`]); jobs whose session must first be created, or that fail, wrote
/// nothing there and follow in a second transaction, one after another (`append_sequential!`).
async fn append_batch(
    pool: &db_core::Pool,
    prepared: &mut Vec<Prepared>,
) -> Result<Vec<Result<Appended>>> {
    let mut conn = pool.get().await?;
    let at = now();
    for p in prepared.iter_mut() {
        p.stamp(at);
    }
    if !pool.serializes_writes()
        && let [only] = &prepared[..]
        && let Some(statement) = only.bump_and_insert(at)
    {
        // PostgreSQL, one call: one statement, atomic on its own, one round trip. Its implicit
        // transaction commits at the protocol's Sync, after the row has been sent, so the
        // outcome is read to the end (`load`, which waits for ReadyForQuery): `get_result`
        // would return on the row and acknowledge an append whose commit then failed.
        let row = db_core::with_connection!(conn, |c| {
            statement
                .load::<SessionRow>(c)
                .await
                .map(|rows| rows.into_iter().next())
        })?;
        return match row {
            Some(row) => Ok(vec![Ok(appended(row, only.delta.count))]),
            // Absent (to be created), deleted, someone else's or full: nothing was written.
            None => db_core::transaction!(conn, |c| append_sequential!(c, prepared.iter_mut(), at)),
        };
    }
    // The SQLite body runs on the writer's thread and owns what it uses: the jobs go in
    // behind a lock and come back out after the transaction, whatever its outcome.
    let sqlite_jobs = std::sync::Arc::new(std::sync::Mutex::new(if pool.serializes_writes() {
        std::mem::take(prepared)
    } else {
        Vec::new()
    }));
    let inside = sqlite_jobs.clone();
    let pg_jobs = &mut *prepared;
    let first = db_core::split_transaction!(conn,
        postgres: |c| pipelined_fast_path(c, pg_jobs, at).await,
        sqlite: |c| {
            let mut jobs = inside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sqlite_side::append_jobs(c, &mut jobs, at)
                .map(|done| (done.into_iter().map(Some).collect::<Vec<_>>(), Vec::new()))
        },
    );
    if pool.serializes_writes() {
        let mut back = sqlite_jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *prepared = std::mem::take(&mut *back);
    }
    let (mut outcomes, missed) = first?;
    if missed.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }
    // PostgreSQL: the first transaction has committed; the rest is isolated here.
    let mut left = vec![false; prepared.len()];
    for &i in &missed {
        left[i] = true;
    }
    let together = {
        let rest = prepared
            .iter_mut()
            .zip(&left)
            .filter_map(|(p, &l)| l.then_some(p));
        db_core::transaction!(conn, |c| append_sequential!(c, rest, at))
    };
    let done = match together {
        Ok(done) => done,
        Err(e) if missed.len() > 1 && is_statement_error(&e) => {
            tracing::warn!(error = %e, calls = missed.len(), "append transaction failed; running its calls one by one");
            let mut done = Vec::with_capacity(missed.len());
            for &i in &missed {
                let p = &mut prepared[i];
                p.reset();
                done.push(
                    match db_core::transaction!(conn, |c| append_sequential!(
                        c,
                        std::iter::once(&mut *p),
                        at
                    )) {
                        Ok(mut one) => one.pop().unwrap_or_else(|| {
                            Err(Error::Internal("append produced no outcome".into()))
                        }),
                        Err(e) => Err(e),
                    },
                );
            }
            done
        }
        Err(e) => missed.iter().map(|_| Err(e.replicate())).collect(),
    };
    for (i, outcome) in missed.into_iter().zip(done) {
        outcomes[i] = Some(outcome);
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Outcomes by job position (`None` for a job left for later), and the positions of the jobs
/// left for later.
type FastPath = (Vec<Option<Result<Appended>>>, Vec<usize>);

/// The PostgreSQL fast path, inside the caller's transaction: every job's [`BumpAndInsert`]
/// (counter UPDATE and message INSERTs in one statement), pipelined in one round trip; a job
/// of more than [`ONE_STATEMENT_MAX_MESSAGES`] messages is left for `append_sequential!`.
/// PostgreSQL runs them in order, so row locks are still taken in `session_id` order. A job
/// whose UPDATE matched nothing (session absent, soft-deleted or someone else's) wrote nothing
/// and is returned for `append_sequential!`, which runs after this transaction has committed,
/// so no lock is held while sessions are created.
async fn pipelined_fast_path(
    c: &mut db_core::PgConn,
    prepared: &[Prepared],
    at: NaiveDateTime,
) -> Result<FastPath> {
    let shared: &db_core::PgConn = c;
    let bumped: Vec<Option<SessionRow>> = futures::future::try_join_all(prepared.iter().map(|p| {
        let mut conn = shared;
        let statement = p.bump_and_insert(at);
        async move {
            match statement {
                Some(statement) => statement
                    .get_result::<SessionRow>(&mut conn)
                    .await
                    .optional(),
                // Too many messages for one statement: the sequential path takes it.
                None => Ok(None),
            }
        }
    }))
    .await?;
    let mut outcomes = Vec::with_capacity(prepared.len());
    let mut missed = Vec::new();
    for (i, (p, row)) in prepared.iter().zip(bumped).enumerate() {
        match row {
            Some(row) => outcomes.push(Some(Ok(appended(row, p.delta.count)))),
            None => {
                outcomes.push(None);
                missed.push(i);
            }
        }
    }
    Ok((outcomes, missed))
}

/// The outcome of a job of `count` messages whose session UPDATE returned `updated` (the
/// session after the append: its `message_count` is the job's last `seq`).
fn appended(updated: SessionRow, count: i64) -> Appended {
    Appended {
        first_seq: updated.message_count - count + 1,
        last_seq: updated.message_count,
        session: updated.into_session(),
    }
}

/// Gives one job's rows their final `session_db_id` and `seq` from its reserved session row,
/// and records its outcome; `true` when its rows are to be inserted. A client error (unknown,
/// foreign, deleted or full session) becomes that job's outcome and writes nothing; any other
/// error is returned and fails the batch.
fn record(
    reserved: Result<SessionRow>,
    p: &mut Prepared,
    outcomes: &mut Vec<Result<Appended>>,
) -> Result<bool> {
    match reserved {
        Ok(updated) => {
            let first_seq = updated.message_count - p.delta.count + 1;
            for (row, seq) in p.rows.iter_mut().zip(first_seq..) {
                row.session_db_id = updated.id;
                row.seq = seq;
            }
            outcomes.push(Ok(appended(updated, p.delta.count)));
            Ok(true)
        }
        Err(e) if e.is_client_error() => {
            outcomes.push(Err(e));
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The SQLite side of [`append_batch`]: the PostgreSQL side's statements, except that the
/// session UPDATE runs without `RETURNING` and its row is read back by `session_id` (see
/// `reserve`), run synchronously on the writer's thread inside the caller's `BEGIN IMMEDIATE`.
/// Only diesel's synchronous `RunQueryDsl` is in scope here.
mod sqlite_side {
    use super::{Prepared, no_room, record};
    use crate::error::Result;
    use crate::model::{Access, NewSession};
    use crate::schema::{messages, sessions};
    use crate::store::bump::{BumpSession, BumpTarget, with_shape};
    use crate::store::sessions_ops::NewSessionRow;
    use crate::store::{Appended, SessionRow, check_live};
    use chrono::NaiveDateTime;
    use db_core::BlockingConn;
    use diesel::prelude::*;

    /// Appends `prepared` on `c` (already in a transaction); outcomes in order. The jobs'
    /// rows keep the numbers they were given (see [`Prepared::reset`]).
    pub(super) fn append_jobs(
        c: &mut BlockingConn,
        prepared: &mut [Prepared],
        at: NaiveDateTime,
    ) -> Result<Vec<Result<Appended>>> {
        let mut outcomes = Vec::with_capacity(prepared.len());
        let mut reserved_jobs = Vec::with_capacity(prepared.len());
        for (i, p) in prepared.iter_mut().enumerate() {
            let reserved = reserve(c, p, at);
            if record(reserved, p, &mut outcomes)? {
                reserved_jobs.push(i);
            }
        }
        // One prepared single-row INSERT, reused from the statement cache for every row.
        for &i in &reserved_jobs {
            for row in &prepared[i].rows {
                diesel::insert_into(messages::table)
                    .values(row)
                    .execute(c)?;
            }
        }
        Ok(outcomes)
    }

    /// Checks the job's session and reserves its `seq` range: on the fast path one UPDATE
    /// without `RETURNING` (see [`BumpSession::returning`]: no temporary b-tree, no statement
    /// journal) and the updated row read back by `session_id`. Nothing else writes between
    /// the two: the caller holds SQLite's write lock (`BEGIN IMMEDIATE`), and readers never
    /// see the row before the commit.
    fn reserve(c: &mut BlockingConn, p: &Prepared, at: NaiveDateTime) -> Result<SessionRow> {
        let job = &p.job;
        let update = |target| BumpSession {
            returning: false,
            ..p.bump(target, at)
        };
        let live = update(BumpTarget::live(&job.access, &job.session_id));
        if with_shape!(live, |q| q.execute(c))? == 0 {
            let row = find_or_create(c, &job.access, &job.session_id, job.create_if_missing, at)?;
            if with_shape!(update(BumpTarget::Row(row.id)), |q| q.execute(c))? == 0 {
                // Nothing else writes meanwhile (the write lock is held): `row` is current.
                return Err(no_room(job, Some(row.message_count), p.delta.count));
            }
        }
        Ok(session_by_key!(&job.session_id).first(c)?)
    }

    /// The live session `id`, created for `access` when `create` is set and it is absent.
    fn find_or_create(
        c: &mut BlockingConn,
        access: &Access,
        id: &str,
        create: bool,
        at: NaiveDateTime,
    ) -> Result<SessionRow> {
        let existing: Option<SessionRow> = session_by_key!(id).first(c).optional()?;
        match existing {
            None if create => {
                let inserted: Option<SessionRow> = insert_empty_session!(access, id, at)
                    .get_result(c)
                    .optional()?;
                match inserted {
                    Some(row) => Ok(row),
                    None => check_live(session_by_key!(id).first(c).optional()?, access, id),
                }
            }
            other => check_live(other, access, id),
        }
    }
}

/// Most AppendMessages calls coalesced into one transaction.
const MAX_BATCH_JOBS: usize = 128;
/// Most messages in one coalesced transaction.
const MAX_BATCH_MESSAGES: usize = 4_096;

type Reply = tokio::sync::oneshot::Sender<Result<Appended>>;

/// Group commit of appends.
///
/// Writers own the appends: each takes every append waiting in the queue (up to
/// [`MAX_BATCH_JOBS`] calls or [`MAX_BATCH_MESSAGES`] messages), runs them in one transaction —
/// one BEGIN, one UPDATE per call (on SQLite followed by a read of the updated row), the
/// INSERTs, one commit and fsync — and only then answers each caller. Under load the batch
/// grows by itself; an idle service commits each call alone, with no added delay. Durability
/// is unchanged: nobody is answered before the commit that holds their messages.
///
/// On SQLite the one writer is a thread of its own (on tokio's blocking pool) that runs every
/// statement of a batch inline ([`db_core::inline`]), fsync included, so no tokio worker is
/// ever blocked by a commit and the callers it answers can run on any worker at once. On
/// PostgreSQL the writers are [`POSTGRES_APPEND_WRITERS`] tokio tasks: each batch updates its
/// sessions in `session_id` order, so two batches touching the same sessions wait for each
/// other instead of deadlocking.
#[derive(Debug, Clone)]
pub(crate) struct AppendQueue {
    tx: tokio::sync::mpsc::Sender<(Prepared, Reply)>,
}

/// Group-commit writers on PostgreSQL: each runs one coalesced transaction at a time on its own
/// connection, so commits of different batches still overlap (PostgreSQL shares their WAL
/// flushes), while each batch pays BEGIN/COMMIT once for all its calls. Four measured 7 %
/// faster than two with 8 clients and 2 % slower with 32 (BENCHMARKS.md).
const POSTGRES_APPEND_WRITERS: usize = 4;

impl AppendQueue {
    /// Starts the writers over `pool` (see [`AppendQueue`]); they stop when the last queue
    /// handle is dropped. Must be called inside a tokio runtime.
    pub(crate) fn start(pool: db_core::Pool) -> AppendQueue {
        let (tx, rx) = tokio::sync::mpsc::channel::<(Prepared, Reply)>(4 * MAX_BATCH_JOBS);
        if pool.serializes_writes() {
            let runtime = tokio::runtime::Handle::current();
            // Ends when every queue handle is gone; the runtime's shutdown waits for it.
            drop(tokio::task::spawn_blocking(move || {
                let mut rx = rx;
                while let Some(first) = rx.blocking_recv() {
                    let batch = fill_batch(first, &mut rx);
                    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        runtime.block_on(db_core::inline(write_batch(&pool, batch)))
                    }));
                    if written.is_err() {
                        // The batch's callers see their reply dropped (`Internal`); the writer
                        // goes on with the next batch.
                        tracing::error!("append writer panicked; its batch was not committed");
                    }
                }
            }));
            return AppendQueue { tx };
        }
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..POSTGRES_APPEND_WRITERS {
            let rx = rx.clone();
            let pool = pool.clone();
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx).await {
                    write_batch(&pool, batch).await;
                }
            });
        }
        AppendQueue { tx }
    }

    /// Prepares `job` here, on the caller's task, queues it and waits for its durable outcome.
    ///
    /// # Errors
    /// The job's own (see [`Store::append_messages`]); `Internal` when its tool calls cannot
    /// be serialised (nothing queued); `Unavailable` once the writers have stopped.
    async fn submit(&self, job: AppendJob) -> Result<Appended> {
        let prepared = Prepared::new(job)?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.tx
            .send((prepared, reply))
            .await
            .map_err(|_| Error::Unavailable("append writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| Error::Internal("append writer dropped a request".into()))?
    }
}

/// Commits `batch` and answers each caller with its outcome.
async fn write_batch(pool: &db_core::Pool, mut batch: Vec<(Prepared, Reply)>) {
    batch.sort_by(|a, b| a.0.job.session_id.cmp(&b.0.job.session_id));
    let (mut jobs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let outcomes = append_isolating(pool, &mut jobs).await;
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}

/// Appends `jobs` together ([`append_batch`]); when that fails with a statement error (see
/// [`is_statement_error`]), nothing was committed and each job runs again alone, in a
/// transaction of its own, so only the job that caused the error fails. One outcome per job,
/// in order.
async fn append_isolating(pool: &db_core::Pool, jobs: &mut Vec<Prepared>) -> Vec<Result<Appended>> {
    let err = match append_batch(pool, jobs).await {
        Ok(outcomes) => return outcomes,
        Err(e) => e,
    };
    if jobs.len() <= 1 {
        return vec![Err(err)];
    }
    if !is_statement_error(&err) {
        return jobs.iter().map(|_| Err(err.replicate())).collect();
    }
    tracing::warn!(error = %err, calls = jobs.len(), "append batch failed; running its calls one by one");
    let mut outcomes = Vec::with_capacity(jobs.len());
    for mut job in std::mem::take(jobs) {
        job.reset();
        let mut one = vec![job];
        outcomes.push(match append_batch(pool, &mut one).await {
            Ok(mut done) => done
                .pop()
                .unwrap_or_else(|| Err(Error::Internal("append produced no outcome".into()))),
            Err(e) => Err(e),
        });
    }
    outcomes
}

/// The next batch: waits for one append, then takes whatever else is already queued. `None`
/// once every queue handle is gone.
async fn next_batch(
    rx: &tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(Prepared, Reply)>>,
) -> Option<Vec<(Prepared, Reply)>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    Some(fill_batch(first, &mut rx))
}

/// `first` and whatever else is already queued on `rx`, up to [`MAX_BATCH_JOBS`] calls or
/// [`MAX_BATCH_MESSAGES`] messages.
fn fill_batch(
    first: (Prepared, Reply),
    rx: &mut tokio::sync::mpsc::Receiver<(Prepared, Reply)>,
) -> Vec<(Prepared, Reply)> {
    let mut messages = first.0.rows.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_JOBS && messages < MAX_BATCH_MESSAGES {
        match rx.try_recv() {
            Ok(next) => {
                messages += next.0.rows.len();
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    batch
}
