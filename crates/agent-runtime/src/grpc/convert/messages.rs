//! Messages and roles: validation of incoming messages (size, roles, tool calls) and the
//! stored message as a proto message.

use super::MAX_NAME_CHARS;
use super::text::{json_object, json_value, no_nul, optional_name, text};
use super::time::{timestamp, to_timestamp};
use crate::error::{Error, Result};
use crate::model::{self, FunctionCall, NewMessage, Role};
use codelab_proto::agent::v1 as pb;

/// A role enum value; `ROLE_UNSPECIFIED` and unknown numbers are refused.
pub fn role(field: &str, value: i32) -> Result<Role> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::User) => Ok(Role::User),
        Ok(pb::Role::Assistant) => Ok(Role::Assistant),
        Ok(pb::Role::System) => Ok(Role::System),
        Ok(pb::Role::Tool) => Ok(Role::Tool),
        _ => Err(Error::invalid(
            field,
            "must be ROLE_USER, ROLE_ASSISTANT, ROLE_SYSTEM or ROLE_TOOL",
        )),
    }
}

/// A role filter: `ROLE_UNSPECIFIED` means all roles.
pub fn role_filter(field: &str, value: i32) -> Result<Option<Role>> {
    if value == pb::Role::Unspecified as i32 {
        Ok(None)
    } else {
        role(field, value).map(Some)
    }
}

/// A model role as the proto enum.
pub fn role_to_proto(role: Role) -> pb::Role {
    match role {
        Role::User => pb::Role::User,
        Role::Assistant => pb::Role::Assistant,
        Role::System => pb::Role::System,
        Role::Tool => pb::Role::Tool,
    }
}

/// Checks the size of one incoming message (`messages[index]`): content, tool calls (id,
/// type, name, arguments) and metadata together, in bytes, at most `max_bytes`
/// (`AGENT_RUNTIME__LIMITS__MAX_MESSAGE_BYTES`). Over it: [`Error::MessageTooLarge`] naming the
/// largest of the three parts (`messages[i].content`, `messages[i].tool_calls`,
/// `messages[i].metadata_json`).
pub fn message_size(index: usize, m: &pb::Message, max_bytes: usize) -> Result<()> {
    let content = m.content.as_deref().map_or(0, str::len);
    let tool_calls: usize = m
        .tool_calls
        .iter()
        .map(|c| c.id.len() + c.r#type.len() + c.name.len() + c.arguments_json.len())
        .sum();
    let metadata = m.metadata_json.len();
    let size = content + tool_calls + metadata;
    if size <= max_bytes {
        return Ok(());
    }
    let largest = [
        (content, "content"),
        (tool_calls, "tool_calls"),
        (metadata, "metadata_json"),
    ]
    .into_iter()
    .max_by_key(|(n, _)| *n)
    .map_or("content", |(_, f)| f);
    Err(Error::MessageTooLarge {
        field: format!("messages[{index}].{largest}"),
        size_bytes: size,
        limit_bytes: max_bytes,
    })
}

/// Validates one incoming message (`messages[index]`) of at most `max_bytes` (see
/// [`message_size`]) and counts its tokens when the client sent 0.
pub fn message(index: usize, m: pb::Message, max_bytes: usize) -> Result<NewMessage> {
    // Size first: nothing else (JSON parsing, token counting) runs on an oversized message.
    message_size(index, &m, max_bytes)?;
    let at = |f: &str| format!("messages[{index}].{f}");
    let role = role(&at("role"), m.role)?;
    if let Some(content) = &m.content {
        no_nul(&at("content"), content)?;
    }
    if m.token_count < 0 {
        return Err(Error::invalid(at("token_count"), "must not be negative"));
    }
    let mut tool_calls = Vec::with_capacity(m.tool_calls.len());
    for (j, call) in m.tool_calls.into_iter().enumerate() {
        let cf = |f: &str| format!("messages[{index}].tool_calls[{j}].{f}");
        if call.id.is_empty() {
            return Err(Error::invalid(cf("id"), "is required"));
        }
        if call.name.is_empty() {
            return Err(Error::invalid(cf("name"), "is required"));
        }
        json_value(&cf("arguments_json"), &call.arguments_json)?;
        tool_calls.push(model::ToolCall {
            id: text(&cf("id"), &call.id, MAX_NAME_CHARS)?,
            kind: if call.r#type.is_empty() {
                "function".to_owned()
            } else {
                text(&cf("type"), &call.r#type, 64)?
            },
            function: FunctionCall {
                name: text(&cf("name"), &call.name, MAX_NAME_CHARS)?,
                arguments: call.arguments_json,
            },
        });
    }
    if m.content.is_none() && tool_calls.is_empty() {
        return Err(Error::invalid(
            at("content"),
            "is required unless tool_calls are present",
        ));
    }
    if role != Role::Assistant && !tool_calls.is_empty() {
        return Err(Error::invalid(
            at("tool_calls"),
            "are only allowed on ROLE_ASSISTANT messages",
        ));
    }
    let tool_call_id = optional_name(&at("tool_call_id"), &m.tool_call_id)?;
    if role == Role::Tool && tool_call_id.is_none() {
        return Err(Error::invalid(
            at("tool_call_id"),
            "is required for ROLE_TOOL messages",
        ));
    }
    Ok(NewMessage {
        role,
        content: m.content,
        name: optional_name(&at("name"), &m.name)?,
        tool_call_id,
        tool_calls,
        token_count: m.token_count,
        metadata_json: json_object(&at("metadata_json"), &m.metadata_json)?,
        timestamp: timestamp(&at("timestamp"), m.timestamp.as_ref())?,
    })
}

/// Validates a batch of incoming messages: at most `max` of them, each at most
/// `max_message_bytes` (see [`message_size`]). The first bad one fails the whole batch.
pub fn messages(
    list: Vec<pb::Message>,
    max: usize,
    max_message_bytes: usize,
) -> Result<Vec<NewMessage>> {
    if list.len() > max {
        return Err(Error::invalid(
            "messages",
            format!("at most {max} messages per request"),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, m)| message(i, m, max_message_bytes))
        .collect()
}

/// A stored message as a proto message.
pub fn message_to_proto(m: model::Message) -> pb::Message {
    pb::Message {
        seq: m.seq,
        role: role_to_proto(m.role) as i32,
        content: m.content,
        name: m.name.unwrap_or_default(),
        tool_call_id: m.tool_call_id.unwrap_or_default(),
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(|c| pb::ToolCall {
                id: c.id,
                r#type: c.kind,
                name: c.function.name,
                arguments_json: c.function.arguments,
            })
            .collect(),
        token_count: m.token_count,
        metadata_json: m.metadata_json.unwrap_or_default(),
        timestamp: Some(to_timestamp(m.timestamp)),
    }
}
