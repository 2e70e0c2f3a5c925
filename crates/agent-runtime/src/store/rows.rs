//! The rows of `sessions` and `messages` as the store reads and writes them, and what turns
//! them into the plain types of [`crate::model`].

use crate::error::{Error, Result};
use crate::model::{Access, Message, NewSession, Role, Session, ToolCall};
use crate::schema::{messages, sessions};
use chrono::NaiveDateTime;
use db_core::sql_types::JsonText;
use db_core::timestamp::{DbTimestamp, naive, utc};
use diesel::prelude::*;

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

    /// How many of the session's messages have `role`.
    pub(crate) fn role_count(&self, role: Role) -> i64 {
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

impl super::limits::ChunkRow for MessageRow {
    type Item = Message;

    fn key(&self) -> i64 {
        self.seq
    }

    /// Bytes of text and JSON this message carries (see [`SessionLimits::max_response_bytes`]).
    fn answer_bytes(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
        let json = |j: &Option<JsonText>| j.as_ref().map_or(0, |j| j.0.len());
        self.role.len()
            + text(&self.content)
            + text(&self.name)
            + text(&self.tool_call_id)
            + json(&self.tool_calls)
            + json(&self.metadata_json)
    }

    fn into_item(self) -> Result<Message> {
        self.into_message()
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

/// A new session row: the session an id, an owner and the request's fields give, with no
/// message yet.
#[derive(Insertable)]
#[diesel(table_name = sessions)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewSessionRow {
    pub(crate) session_id: String,
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
    /// An empty session `new` owned by `owner`, created and last active at `at`.
    pub(crate) fn empty(new: NewSession, owner: String, at: NaiveDateTime) -> NewSessionRow {
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
