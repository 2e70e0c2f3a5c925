//! The conversation store: every read and write of agent-runtime's database.
//!
//! Each operation is one function of [`Store`], runs as one transaction (detached from the
//! caller, so a client hanging up cannot leave it half done), and is written once for both
//! backends through `db_core::transaction!`. Functions take and return the plain types of
//! [`crate::model`].
//!
//! Invariants kept here:
//! - a session's messages have `seq` 1..=`message_count` with no gap;
//! - the counters on `sessions` (`message_count`, `total_tokens`, per-role counts,
//!   `last_message_at`) always equal what a scan of `messages` would give;
//! - every write on a session first updates its row, which serialises writers of one session
//!   on PostgreSQL (row lock) as SQLite's `BEGIN IMMEDIATE` does for the whole database.

use crate::error::{Error, Result};
use crate::model::{Access, Message, Role, Session, ToolCall};
use crate::schema::{messages, sessions};
use chrono::NaiveDateTime;
use db_core::Pool;
use db_core::sql_types::JsonText;
use db_core::timestamp::DbTimestamp;
use diesel::prelude::*;

/// Loads the visible, not soft-deleted session row `$id` for `$access`, or returns the error
/// the client should see (`NOT_FOUND`, or `FAILED_PRECONDITION` for a soft-deleted session).
macro_rules! live_session {
    ($c:expr, $access:expr, $id:expr) => {{
        let row: Option<$crate::store::SessionRow> = $crate::store::sessions::table
            .filter($crate::store::sessions::session_id.eq($id))
            .select($crate::store::SessionRow::as_select())
            .first($c)
            .await
            .optional()?;
        $crate::store::check_live(row, $access, $id)?
    }};
}

/// Takes the row lock of session `$db_id` (PostgreSQL) and bumps its `last_activity`.
macro_rules! touch_session {
    ($c:expr, $db_id:expr, $now:expr) => {{
        diesel::update($crate::store::sessions::table.find($db_id))
            .set($crate::store::sessions::last_activity.eq($now))
            .execute($c)
            .await?
    }};
}

/// Inserts message rows in multi-row INSERTs that stay under both backends' bind-parameter
/// limits.
macro_rules! insert_messages {
    ($c:expr, $rows:expr) => {{
        db_core::insert_batch!(
            $c,
            $crate::store::messages::table,
            $rows,
            $crate::store::INSERT_CHUNK
        )?
    }};
}

/// Removes the sessions whose row ids are in `$ids` (`&[i64]`) for good, inside the caller's
/// transaction, and evaluates to the number of sessions removed (`usize`): first each
/// session's messages, one `seq` range of [`PURGE_CHUNK`] per `DELETE` up to its highest `seq`,
/// then the session rows, whose `ON DELETE CASCADE` takes the agent context, its switches and
/// the approvals.
///
/// One `DELETE` of a whole session, direct or by cascade, makes SQLite collect the rowid of
/// every row it removes first (about 18–24 bytes a row, held until the statement ends): a
/// session of a million messages would cost its deleter some 20 MB. In chunks the statement's
/// memory stays bounded and the transaction is still one: a reader sees the session whole or
/// gone. Each chunk is an index range on `(session_db_id, seq)` that starts past the rows
/// already deleted, so the work stays linear on PostgreSQL too, whose index still holds the
/// entries of rows deleted earlier in the same transaction.
macro_rules! purge_sessions {
    ($c:expr, $ids:expr) => {{
        let ids: &[i64] = $ids;
        for &id in ids {
            let last: Option<i64> = $crate::store::messages::table
                .filter($crate::store::messages::session_db_id.eq(id))
                .select(diesel::dsl::max($crate::store::messages::seq))
                .first($c)
                .await?;
            let mut below = 0i64;
            while below < last.unwrap_or(0) {
                let upto = below + $crate::store::PURGE_CHUNK as i64;
                diesel::delete(
                    $crate::store::messages::table
                        .filter($crate::store::messages::session_db_id.eq(id))
                        .filter($crate::store::messages::seq.gt(below))
                        .filter($crate::store::messages::seq.le(upto)),
                )
                .execute($c)
                .await?;
                below = upto;
            }
        }
        let mut purged = 0usize;
        for group in ids.chunks($crate::store::PURGE_CHUNK) {
            purged += diesel::delete(
                $crate::store::sessions::table.filter($crate::store::sessions::id.eq_any(group)),
            )
            .execute($c)
            .await?;
        }
        purged
    }};
}

mod agents;
mod approvals;
mod bump;
mod messages_ops;
mod sessions_ops;

pub use agents::SwitchRequest;
pub use messages_ops::{Appended, MessagePage, MessageQuery, PagePosition, Saved};
pub use sessions_ops::{CleanupBatch, SessionCursor, SessionPage, SessionQuery};

/// Rows per multi-row INSERT: 11 columns × 1,000 rows stays below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// Rows per `DELETE` when sessions are purged ([`purge_sessions!`]): messages (a `seq` range)
/// per statement, and session ids per statement (under both backends' bind-parameter limits).
pub(crate) const PURGE_CHUNK: usize = 1_000;

/// Rows read per query when a whole session (or a whole switch history) is read or compared:
/// keyset pages on `seq` (or `id`), so memory holds one page beyond what is kept.
pub(crate) const READ_CHUNK: i64 = 100;

/// The bytes one whole-session answer may still carry ([`SessionLimits::max_response_bytes`]).
pub(crate) struct ResponseBudget {
    used: usize,
    limit: usize,
    /// What the client should use instead, e.g. `page with ListMessages`.
    page_with: &'static str,
}

impl ResponseBudget {
    /// A budget of `limit` bytes, of which `used` are already spent.
    pub(crate) fn new(limit: usize, used: usize, page_with: &'static str) -> Self {
        ResponseBudget {
            used,
            limit,
            page_with,
        }
    }

    /// Spends `bytes`; [`Error::ResponseTooLarge`] once the total passes the limit.
    pub(crate) fn spend(&mut self, bytes: usize) -> crate::error::Result<()> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(Error::ResponseTooLarge {
                limit_bytes: self.limit,
                page_with: self.page_with,
            });
        }
        Ok(())
    }
}

/// Bounds on whole-session work (`AGENT_RUNTIME__LIMITS__MAX_SESSION_MESSAGES` and
/// `…__MAX_RESPONSE_BYTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most messages one session holds: an append or snapshot beyond it is refused with
    /// [`Error::SessionTooLarge`] and writes nothing.
    pub max_session_messages: i64,
    /// Most bytes of text and JSON (content, name, tool call id, tool calls, metadata; for
    /// switches agent names, reason and metadata) one LoadSession or LoadAgentContext answer
    /// carries; beyond it [`Error::ResponseTooLarge`]. The store stops reading as soon as the
    /// budget is passed, so a read holds at most the budget plus one [`READ_CHUNK`] of rows.
    pub max_response_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_session_messages: 100_000,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The conversation store over one database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Group commit of appends.
    appends: messages_ops::AppendQueue,
    /// Bounds on whole-session work.
    limits: SessionLimits,
}

impl Store {
    /// A store over `pool` (already migrated) with the default [`SessionLimits`]. Must be
    /// called inside a tokio runtime: it starts the group-commit writers for appends (one
    /// thread on SQLite, whose writers are serialised anyway; a few tasks on PostgreSQL).
    pub fn new(pool: Pool) -> Store {
        let appends = messages_ops::AppendQueue::start(pool.clone());
        Store {
            pool,
            appends,
            limits: SessionLimits::default(),
        }
    }

    /// The same store with `limits` instead.
    pub fn with_limits(mut self, limits: SessionLimits) -> Store {
        self.limits = limits;
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct SessionRow {
    pub id: i64,
    pub session_id: String,
    pub owner: String,
    pub title: String,
    pub description: String,
    pub metadata_json: Option<JsonText>,
    pub created_at: DbTimestamp,
    pub last_activity: DbTimestamp,
    pub is_active: bool,
    pub deleted_at: Option<DbTimestamp>,
    pub message_count: i64,
    pub total_tokens: i64,
    pub user_messages: i64,
    pub assistant_messages: i64,
    pub system_messages: i64,
    pub tool_messages: i64,
    pub last_message_at: Option<DbTimestamp>,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> Session {
        Session {
            session_id: self.session_id,
            owner: self.owner,
            title: self.title,
            description: self.description,
            metadata_json: self.metadata_json.map(|j| j.0),
            created_at: utc(self.created_at.0),
            last_activity: utc(self.last_activity.0),
            is_active: self.is_active,
            deleted_at: self.deleted_at.map(|t| utc(t.0)),
            message_count: self.message_count,
        }
    }

    fn role_count(&self, role: Role) -> i64 {
        match role {
            Role::User => self.user_messages,
            Role::Assistant => self.assistant_messages,
            Role::System => self.system_messages,
            Role::Tool => self.tool_messages,
        }
    }

    fn visible_to(&self, access: &Access) -> bool {
        access.admin || self.owner == access.subject
    }
}

/// Turns a looked-up row into a live session the caller may use, or the client's error.
pub(crate) fn check_live(row: Option<SessionRow>, access: &Access, id: &str) -> Result<SessionRow> {
    match row {
        Some(row) if row.visible_to(access) => {
            if row.deleted_at.is_some() {
                Err(Error::FailedPrecondition {
                    reason: "SESSION_DELETED",
                    message: format!("session `{id}` is deleted; undelete it first"),
                })
            } else {
                Ok(row)
            }
        }
        _ => Err(Error::session_not_found(id)),
    }
}

/// Turns a looked-up row into a session the caller may see (deleted ones included).
pub(crate) fn check_visible(
    row: Option<SessionRow>,
    access: &Access,
    id: &str,
) -> Result<SessionRow> {
    match row {
        Some(row) if row.visible_to(access) => Ok(row),
        _ => Err(Error::session_not_found(id)),
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct MessageRow {
    pub seq: i64,
    pub role: String,
    pub content: Option<String>,
    pub name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_calls: Option<JsonText>,
    pub token_count: i32,
    pub metadata_json: Option<JsonText>,
    pub timestamp: DbTimestamp,
}

impl MessageRow {
    /// Bytes of text and JSON this message carries (see [`SessionLimits::max_response_bytes`]).
    pub(crate) fn payload_bytes(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
        let json = |j: &Option<JsonText>| j.as_ref().map_or(0, |j| j.0.len());
        self.role.len()
            + text(&self.content)
            + text(&self.name)
            + text(&self.tool_call_id)
            + json(&self.tool_calls)
            + json(&self.metadata_json)
    }

    pub(crate) fn into_message(self) -> Result<Message> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            Error::Internal(format!("stored message has unknown role `{}`", self.role))
        })?;
        let tool_calls = match self.tool_calls {
            Some(json) => serde_json::from_str::<Vec<ToolCall>>(&json.0)
                .map_err(|e| Error::Internal(format!("stored tool_calls do not parse: {e}")))?,
            None => Vec::new(),
        };
        Ok(Message {
            seq: self.seq,
            role,
            content: self.content,
            name: self.name,
            tool_call_id: self.tool_call_id,
            tool_calls,
            token_count: self.token_count,
            metadata_json: self.metadata_json.map(|j| j.0),
            timestamp: utc(self.timestamp.0),
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewMessageRow {
    pub session_db_id: i64,
    pub seq: i64,
    pub role: &'static str,
    pub content: Option<String>,
    pub name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_calls: Option<JsonText>,
    pub token_count: i32,
    pub metadata_json: Option<JsonText>,
    pub timestamp: DbTimestamp,
}

impl NewMessageRow {
    pub(crate) fn from_new(
        session_db_id: i64,
        seq: i64,
        m: crate::model::NewMessage,
        now: NaiveDateTime,
    ) -> Result<NewMessageRow> {
        let tool_calls = if m.tool_calls.is_empty() {
            None
        } else {
            Some(JsonText(
                serde_json::to_string(&m.tool_calls).map_err(|e| Error::Internal(e.to_string()))?,
            ))
        };
        Ok(NewMessageRow {
            session_db_id,
            seq,
            role: m.role.as_str(),
            content: m.content,
            name: m.name,
            tool_call_id: m.tool_call_id,
            tool_calls,
            token_count: m.token_count,
            metadata_json: m.metadata_json.map(JsonText),
            timestamp: DbTimestamp(m.timestamp.map(naive).unwrap_or(now)),
        })
    }
}

/// Counter deltas of a batch of messages.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub count: i64,
    pub tokens: i64,
    pub user: i64,
    pub assistant: i64,
    pub system: i64,
    pub tool: i64,
}

impl Counters {
    pub(crate) fn add(&mut self, role: Role, tokens: i32, sign: i64) {
        self.count += sign;
        self.tokens += i64::from(tokens) * sign;
        match role {
            Role::User => self.user += sign,
            Role::Assistant => self.assistant += sign,
            Role::System => self.system += sign,
            Role::Tool => self.tool += sign,
        }
    }
}

pub(crate) use db_core::timestamp::{naive, now, utc};

/// Most characters (Unicode scalar values) in a title taken from a message.
const TITLE_MAX_CHARS: usize = 500;

/// The title a session gets from its first user message: its words (split on Unicode white
/// space) joined by single spaces, cut after [`TITLE_MAX_CHARS`] characters; one line.
///
/// Reads `content` only as far as the title reaches, so its cost does not grow with the
/// message: AppendMessages computes it for every call, before knowing whether the session
/// already has a title.
pub(crate) fn title_from(content: &str) -> String {
    let mut title = String::with_capacity(content.len().min(4 * TITLE_MAX_CHARS));
    let mut left = TITLE_MAX_CHARS;
    for word in content.split_whitespace() {
        if !title.is_empty() {
            if left == 0 {
                break;
            }
            title.push(' ');
            left -= 1;
        }
        let chars = word.chars().count();
        if chars > left {
            // Longer than what is left: cut it, and the title is full.
            let end = word.char_indices().nth(left).map_or(word.len(), |(i, _)| i);
            title.push_str(&word[..end]);
            break;
        }
        title.push_str(word);
        left -= chars;
    }
    title
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

#[cfg(test)]
mod tests {
    use super::{TITLE_MAX_CHARS, title_from};
    use proptest::prelude::*;

    /// The definition `title_from` must match: every word joined, then cut.
    fn joined_then_cut(content: &str) -> String {
        let line = content.split_whitespace().collect::<Vec<_>>().join(" ");
        line.chars().take(TITLE_MAX_CHARS).collect()
    }

    #[test]
    fn titles_are_one_line_of_at_most_500_characters() {
        assert_eq!(
            title_from("  Fix the\n\tbuild  please "),
            "Fix the build please"
        );
        assert_eq!(title_from(" \n\t "), "");
        let long = "é".repeat(600);
        assert_eq!(title_from(&long), "é".repeat(500));
        // A space that falls on the 500th character is kept, as the cut of the joined line.
        let words = format!("{} tail", "a".repeat(499));
        assert_eq!(title_from(&words), format!("{} ", "a".repeat(499)));
        let exact = format!("{} b", "a".repeat(498));
        assert_eq!(title_from(&format!("{exact} more words")), exact);
    }

    proptest! {
        #[test]
        fn title_is_the_joined_words_cut_to_500_characters(
            words in proptest::collection::vec("[a-zé€😀]{0,120}", 0..12),
            gaps in proptest::collection::vec("[ \t\n\u{a0}\u{3000}]{1,3}", 12),
        ) {
            let mut content = String::from(&gaps[0]);
            for (word, gap) in words.iter().zip(&gaps[1..]) {
                content.push_str(word);
                content.push_str(gap);
            }
            prop_assert_eq!(title_from(&content), joined_then_cut(&content));
        }
    }
}
