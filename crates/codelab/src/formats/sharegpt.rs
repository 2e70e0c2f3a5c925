//! ShareGPT / FastChat format: `{id, conversations: [{from, value}]}`.
//!
//! `from` → role: `human`, `user` → user; `gpt`, `assistant`, `chatgpt`, `bing`, `bard` →
//! assistant; `system` → system; `tool`, `function` → tool. Exporting writes `human`, `gpt`,
//! `system`, `tool`, except that a `from` the role cannot restore (`function`, `user` …) is kept
//! in the message metadata (`sharegpt_from`) and written back as it was.
//!
//! ShareGPT tool turns carry no call id, which agent-runtime requires of tool messages: they get
//! `sharegpt-turn-<index>`.

use codelab_proto::agent::v1::{Message, Role};
use serde::Serialize;
use serde_json::Value;

use super::{
    Documents, Draft, ExportedConversation, FormatError, RoleNames, SHAREGPT_FROM_KEY, as_object,
    conversation_id, required_array, required_str,
};

pub(super) fn parse(docs: &Documents) -> Result<Vec<Draft>, FormatError> {
    docs.records()
        .into_iter()
        .map(|(location, v)| conversation(&location, v))
        .collect()
}

fn conversation(location: &str, v: &Value) -> Result<Draft, FormatError> {
    let obj = as_object(v, "a ShareGPT conversation", location)?;
    let source_id = conversation_id(obj, location)?;
    let turns = required_array(obj, "conversations", location)?;
    let messages = turns
        .iter()
        .enumerate()
        .map(|(i, t)| turn(t, i, &format!("{location}, conversations[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Draft::new(location, source_id, messages))
}

fn turn(v: &Value, index: usize, location: &str) -> Result<Message, FormatError> {
    let obj = as_object(v, "a turn", location)?;
    let from = required_str(obj, "from", location)?;
    let role = role_from_sharegpt(from).ok_or_else(|| {
        FormatError::new(
            location,
            format!(
                "unknown `from` value `{from}` (expected human, gpt, system, tool or function)"
            ),
        )
    })?;
    let value = required_str(obj, "value", location)?;
    let metadata_json = if CANONICAL_FROM.of(role as i32) == from {
        String::new()
    } else {
        serde_json::json!({ SHAREGPT_FROM_KEY: from }).to_string()
    };
    let tool_call_id = if role == Role::Tool {
        format!("sharegpt-turn-{index}")
    } else {
        String::new()
    };
    Ok(Message {
        role: role as i32,
        content: Some(value.to_owned()),
        tool_call_id,
        metadata_json,
        ..Message::default()
    })
}

/// The role a ShareGPT `from` value stands for, or `None` when it is unknown.
pub fn role_from_sharegpt(from: &str) -> Option<Role> {
    match from {
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" | "chatgpt" | "bing" | "bard" => Some(Role::Assistant),
        "system" => Some(Role::System),
        "tool" | "function" => Some(Role::Tool),
        _ => None,
    }
}

/// The `from` value ShareGPT (FastChat) writes for each role.
const CANONICAL_FROM: RoleNames = RoleNames {
    user: "human",
    assistant: "gpt",
    system: "system",
    tool: "tool",
};

/// A ShareGPT conversation as written by `export`; keys in FastChat's order.
#[derive(Debug, Serialize)]
pub struct ShareGptConversation<'a> {
    /// Conversation id.
    pub id: &'a str,
    /// Turns, oldest first.
    pub conversations: Vec<ShareGptTurn<'a>>,
}

/// One ShareGPT turn.
#[derive(Debug, Serialize)]
pub struct ShareGptTurn<'a> {
    /// `human`, `gpt`, `system`, `tool` (or the original value kept at import).
    pub from: String,
    /// The text (empty for a message that only calls tools: ShareGPT cannot hold tool calls).
    pub value: &'a str,
}

/// A stored conversation in ShareGPT's shape.
pub fn to_sharegpt(c: &ExportedConversation) -> ShareGptConversation<'_> {
    ShareGptConversation {
        id: &c.id,
        conversations: c
            .messages
            .iter()
            .map(|m| ShareGptTurn {
                from: from_of(m),
                value: m.content.as_deref().unwrap_or_default(),
            })
            .collect(),
    }
}

fn from_of(m: &Message) -> String {
    if !m.metadata_json.is_empty()
        && let Ok(Value::Object(meta)) = serde_json::from_str::<Value>(&m.metadata_json)
        && let Some(Value::String(from)) = meta.get(SHAREGPT_FROM_KEY)
    {
        return from.clone();
    }
    CANONICAL_FROM.of(m.role).to_owned()
}
