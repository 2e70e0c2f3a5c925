//! Validation of requests and conversion between prost types and [`crate::model`].
//!
//! Every rule of API.md is checked here, before the store is called, and a violation names
//! the field by its path in the request (`messages[3].tool_calls[0].arguments_json`).
//!
//! No text the store keeps may hold U+0000 (NUL), neither as a character of a text field nor,
//! in a JSON field, as a character of a string or key once decoded (`"\u0000"`): PostgreSQL
//! refuses both in `TEXT` and `JSONB`, so the rule is checked here, the same on both backends,
//! and the request is refused with `INVALID_ARGUMENT` naming the field before any write.

use crate::error::{Error, Result};
use crate::model::{self, AgentHistoryEntry, ApprovalStatus, FunctionCall, NewMessage, Role};
use chrono::{DateTime, Utc};
use codelab_proto::agent::v1 as pb;

/// AIP-158 default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// AIP-158 largest page size; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// Longest session id.
pub const MAX_SESSION_ID_LEN: usize = 128;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest name-like field (message name, tool_call_id, tool names, call ids), in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest agent name.
pub const MAX_AGENT_CHARS: usize = 64;

/// AIP-158 page size: 0 → 50, above 1000 → 1000, negative → `INVALID_ARGUMENT`.
pub fn page_size(field: &str, requested: i32) -> Result<i64> {
    match requested {
        n if n < 0 => Err(Error::invalid(field, "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

/// A session id: 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn session_id(field: &str, id: &str) -> Result<String> {
    if id.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if id.len() > MAX_SESSION_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(Error::invalid(
            field,
            "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        ));
    }
    Ok(id.to_owned())
}

/// A session id for a new session: the given one validated, or a fresh UUIDv7.
pub fn new_session_id(field: &str, id: &str) -> Result<String> {
    if id.is_empty() {
        Ok(uuid::Uuid::now_v7().to_string())
    } else {
        session_id(field, id)
    }
}

/// An agent name: 1–64 characters of `[a-z0-9_-]` (API.md).
pub fn agent_name(field: &str, name: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > MAX_AGENT_CHARS
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(
            field,
            "must be 1-64 characters of a-z, 0-9, '_' or '-'",
        ));
    }
    Ok(name.to_owned())
}

/// What a field holding U+0000 is told.
const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// Refuses `value` when it holds U+0000 (see the module documentation).
pub fn no_nul(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        Err(Error::invalid(field, NUL_REFUSED))
    } else {
        Ok(())
    }
}

/// Whether any string or key of `value`, decoded, holds U+0000.
fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    // Iterative, so a deeply nested document cannot exhaust the stack (serde_json already
    // refuses nesting deeper than 128 while parsing).
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                for (k, v) in map {
                    if k.contains('\0') {
                        return true;
                    }
                    pending.push(v);
                }
            }
            _ => {}
        }
    }
    false
}

/// Parses a JSON field, refusing invalid JSON and (escaped) NUL characters.
fn parse_json(field: &str, text: &str) -> Result<serde_json::Value> {
    let value = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| Error::invalid(field, format!("is not valid JSON: {e}")))?;
    if json_has_nul(&value) {
        return Err(Error::invalid(
            field,
            "must not contain the NUL character (U+0000), escaped (\\u0000) or not",
        ));
    }
    Ok(value)
}

/// A JSON object field: empty → `None`; otherwise it must parse as a JSON object without NUL.
pub fn json_object(field: &str, text: &str) -> Result<Option<String>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match parse_json(field, text)? {
        serde_json::Value::Object(_) => Ok(Some(text.to_owned())),
        _ => Err(Error::invalid(field, "must be a JSON object")),
    }
}

/// A JSON value field (any JSON type): empty → `None`; otherwise it must parse, without NUL.
pub fn json_value(field: &str, text: &str) -> Result<Option<String>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_json(field, text).map(|_| Some(text.to_owned()))
}

/// A free-text field without length bound of its own (the request and message size limits
/// bound it): refused only when it holds U+0000.
pub fn free_text(field: &str, value: String) -> Result<String> {
    no_nul(field, &value)?;
    Ok(value)
}

/// A bounded free-text field, without U+0000.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String> {
    no_nul(field, value)?;
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An optional bounded name: empty → `None`.
fn optional_name(field: &str, value: &str) -> Result<Option<String>> {
    if value.is_empty() {
        Ok(None)
    } else {
        text(field, value, MAX_NAME_CHARS).map(Some)
    }
}

/// A timestamp field: unset → `None`; out of range → `INVALID_ARGUMENT`.
pub fn timestamp(
    field: &str,
    ts: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>> {
    let Some(ts) = ts else { return Ok(None) };
    u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .map(Some)
        .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
}

/// Clock skew allowed between a client and this service on times a client reports.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Refuses a client-reported time later than now plus [`MAX_CLOCK_SKEW`] (a session whose
/// `last_activity` lies in the future would stay first in every listing and never be cleaned
/// up as inactive).
pub fn not_in_future(field: &str, at: Option<DateTime<Utc>>) -> Result<()> {
    match at {
        Some(at) if at > Utc::now() + MAX_CLOCK_SKEW => Err(Error::invalid(
            field,
            format!(
                "must not be later than now plus {} minutes of clock skew",
                MAX_CLOCK_SKEW.num_minutes()
            ),
        )),
        _ => Ok(()),
    }
}

/// A `DateTime<Utc>` as a protobuf timestamp.
pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

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

/// A session as a proto message.
pub fn session_to_proto(s: model::Session) -> pb::Session {
    pb::Session {
        session_id: s.session_id,
        owner: s.owner,
        title: s.title,
        description: s.description,
        metadata_json: s.metadata_json.unwrap_or_default(),
        created_at: Some(to_timestamp(s.created_at)),
        last_activity: Some(to_timestamp(s.last_activity)),
        is_active: s.is_active,
        deleted_at: s.deleted_at.map(to_timestamp),
        message_count: s.message_count,
    }
}

/// An agent context as a proto message.
pub fn context_to_proto(c: model::AgentContext) -> pb::AgentContext {
    pb::AgentContext {
        session_id: c.session_id,
        current_agent: c.current_agent,
        switch_count: c.switch_count,
        created_at: Some(to_timestamp(c.created_at)),
        updated_at: Some(to_timestamp(c.updated_at)),
        metadata_json: c.metadata_json.unwrap_or_default(),
    }
}

/// An agent switch as a proto message.
pub fn switch_to_proto(s: model::AgentSwitch) -> pb::AgentSwitch {
    pb::AgentSwitch {
        id: s.id,
        from_agent: s.from_agent.unwrap_or_default(),
        to_agent: s.to_agent,
        reason: s.reason.unwrap_or_default(),
        metadata_json: s.metadata_json.unwrap_or_default(),
        switched_at: Some(to_timestamp(s.switched_at)),
    }
}

/// An agent switch as an old client's history entry.
pub fn switch_to_history(s: model::AgentSwitch) -> pb::AgentHistoryEntry {
    pb::AgentHistoryEntry {
        from_agent: s.from_agent.unwrap_or_default(),
        to_agent: s.to_agent,
        reason: s.reason.unwrap_or_default(),
        timestamp: Some(to_timestamp(s.switched_at)),
        metadata_json: s.metadata_json.unwrap_or_default(),
    }
}

/// Validates an old client's history entry (`agent_history[index]`).
pub fn history_entry(index: usize, e: pb::AgentHistoryEntry) -> Result<AgentHistoryEntry> {
    let at = |f: &str| format!("agent_history[{index}].{f}");
    Ok(AgentHistoryEntry {
        from_agent: if e.from_agent.is_empty() {
            None
        } else {
            Some(agent_name(&at("from_agent"), &e.from_agent)?)
        },
        to_agent: agent_name(&at("to_agent"), &e.to_agent)?,
        reason: if e.reason.is_empty() {
            None
        } else {
            Some(free_text(&at("reason"), e.reason)?)
        },
        timestamp: timestamp(&at("timestamp"), e.timestamp.as_ref())?,
        metadata_json: json_object(&at("metadata_json"), &e.metadata_json)?,
    })
}

/// An approval status filter: unspecified means all.
pub fn approval_filter(field: &str, value: i32) -> Result<Option<ApprovalStatus>> {
    match pb::ApprovalStatus::try_from(value) {
        Ok(pb::ApprovalStatus::Unspecified) => Ok(None),
        Ok(pb::ApprovalStatus::Pending) => Ok(Some(ApprovalStatus::Pending)),
        Ok(pb::ApprovalStatus::Approved) => Ok(Some(ApprovalStatus::Approved)),
        Ok(pb::ApprovalStatus::Rejected) => Ok(Some(ApprovalStatus::Rejected)),
        Err(_) => Err(Error::invalid(field, "is not a known ApprovalStatus")),
    }
}

/// A decision: only approved or rejected.
pub fn decision(field: &str, value: i32) -> Result<ApprovalStatus> {
    match pb::ApprovalStatus::try_from(value) {
        Ok(pb::ApprovalStatus::Approved) => Ok(ApprovalStatus::Approved),
        Ok(pb::ApprovalStatus::Rejected) => Ok(ApprovalStatus::Rejected),
        _ => Err(Error::invalid(
            field,
            "must be APPROVAL_STATUS_APPROVED or APPROVAL_STATUS_REJECTED",
        )),
    }
}

/// An approval as a proto message.
pub fn approval_to_proto(a: model::PendingApproval) -> pb::PendingApproval {
    let status = match a.status {
        ApprovalStatus::Pending => pb::ApprovalStatus::Pending,
        ApprovalStatus::Approved => pb::ApprovalStatus::Approved,
        ApprovalStatus::Rejected => pb::ApprovalStatus::Rejected,
    };
    pb::PendingApproval {
        approval_id: a.approval_id,
        session_id: a.session_id,
        call_id: a.call_id,
        tool_name: a.tool_name,
        arguments_json: a.arguments_json.unwrap_or_default(),
        reason: a.reason,
        status: status as i32,
        created_at: Some(to_timestamp(a.created_at)),
        resolved_at: a.resolved_at.map(to_timestamp),
        resolved_by: a.resolved_by.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1024 * 1024;

    fn msg(role: pb::Role) -> pb::Message {
        pb::Message {
            role: role as i32,
            content: Some("hi".into()),
            ..Default::default()
        }
    }

    #[test]
    fn page_size_rules() {
        assert_eq!(page_size("page_size", 0).unwrap(), 50);
        assert_eq!(page_size("page_size", 5000).unwrap(), 1000);
        assert_eq!(page_size("page_size", 7).unwrap(), 7);
        assert!(page_size("page_size", -1).is_err());
    }

    #[test]
    fn session_ids() {
        assert!(session_id("session_id", "identity_0").is_ok());
        assert!(session_id("session_id", "").is_err());
        assert!(session_id("session_id", "a b").is_err());
        assert!(session_id("session_id", &"x".repeat(129)).is_err());
        assert_eq!(new_session_id("session_id", "").unwrap().len(), 36);
    }

    #[test]
    fn agent_names() {
        assert!(agent_name("to_agent", "coder").is_ok());
        assert!(agent_name("to_agent", "Coder").is_err());
        assert!(agent_name("to_agent", "").is_err());
        assert!(agent_name("to_agent", &"a".repeat(65)).is_err());
    }

    #[test]
    fn message_rules_name_the_field() {
        let field = |r: Result<NewMessage>| match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        assert_eq!(
            field(message(0, msg(pb::Role::Unspecified), MAX)),
            "messages[0].role"
        );
        let mut m = msg(pb::Role::User);
        m.content = None;
        assert_eq!(field(message(1, m, MAX)), "messages[1].content");
        assert_eq!(
            field(message(2, msg(pb::Role::Tool), MAX)),
            "messages[2].tool_call_id"
        );
        let mut m = msg(pb::Role::User);
        m.metadata_json = "[1]".into();
        assert_eq!(field(message(0, m, MAX)), "messages[0].metadata_json");
        let mut m = msg(pb::Role::Assistant);
        m.tool_calls.push(pb::ToolCall {
            id: "c".into(),
            r#type: String::new(),
            name: "f".into(),
            arguments_json: "{oops".into(),
        });
        assert_eq!(
            field(message(0, m, MAX)),
            "messages[0].tool_calls[0].arguments_json"
        );
    }

    #[test]
    fn nul_is_refused_in_every_text_and_json_field_naming_it() {
        let field = |r: Result<NewMessage>| match r {
            Err(Error::InvalidArgument { field, description }) => {
                assert!(description.contains("U+0000"), "{description}");
                field
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        let mut m = msg(pb::Role::User);
        m.content = Some("a\0b".into());
        assert_eq!(field(message(3, m, MAX)), "messages[3].content");
        let mut m = msg(pb::Role::User);
        m.name = "n\0".into();
        assert_eq!(field(message(0, m, MAX)), "messages[0].name");
        let mut m = msg(pb::Role::Tool);
        m.tool_call_id = "\0".into();
        assert_eq!(field(message(0, m, MAX)), "messages[0].tool_call_id");
        let mut m = msg(pb::Role::User);
        m.metadata_json = r#"{"k":"x\u0000y"}"#.into();
        assert_eq!(field(message(1, m, MAX)), "messages[1].metadata_json");
        let mut m = msg(pb::Role::User);
        m.metadata_json = r#"{"\u0000":1}"#.into();
        assert_eq!(field(message(1, m, MAX)), "messages[1].metadata_json");
        for (id, kind, name, arguments, expected) in [
            ("c\0", "", "f", "{}", "id"),
            ("c", "fn\0", "f", "{}", "type"),
            ("c", "", "f\0", "{}", "name"),
            ("c", "", "f", r#"{"a":["\u0000"]}"#, "arguments_json"),
        ] {
            let mut m = msg(pb::Role::Assistant);
            m.tool_calls.push(pb::ToolCall {
                id: id.into(),
                r#type: kind.into(),
                name: name.into(),
                arguments_json: arguments.into(),
            });
            assert_eq!(
                field(message(2, m, MAX)),
                format!("messages[2].tool_calls[0].{expected}")
            );
        }
        // An escaped backslash before `u0000` is text, not NUL.
        let mut m = msg(pb::Role::User);
        m.metadata_json = r#"{"k":"\\u0000"}"#.into();
        assert!(message(0, m, MAX).is_ok());
        assert!(text("title", "a\0", 10).is_err());
        assert!(free_text("reason", "\0".into()).is_err());
        assert!(json_value("arguments_json", r#""\u0000""#).is_err());
        let entry = pb::AgentHistoryEntry {
            to_agent: "coder".into(),
            reason: "why\0".into(),
            ..Default::default()
        };
        match history_entry(4, entry) {
            Err(Error::InvalidArgument { field, .. }) => {
                assert_eq!(field, "agent_history[4].reason")
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn message_size_counts_content_tool_calls_and_metadata() {
        let mut m = msg(pb::Role::Assistant);
        m.content = Some("x".repeat(60));
        m.metadata_json = format!("{{\"k\":\"{}\"}}", "m".repeat(20));
        m.tool_calls.push(pb::ToolCall {
            id: "c".into(),
            r#type: "function".into(),
            name: "f".into(),
            arguments_json: "a".repeat(10),
        });
        let size = 60 + 28 + (1 + 8 + 1 + 10);
        assert!(message_size(0, &m, size).is_ok());
        match message(4, m.clone(), size - 1) {
            Err(Error::MessageTooLarge {
                field,
                size_bytes,
                limit_bytes,
            }) => {
                assert_eq!(field, "messages[4].content");
                assert_eq!((size_bytes, limit_bytes), (size, size - 1));
            }
            other => panic!("expected MessageTooLarge, got {other:?}"),
        }
        m.content = Some(String::new());
        m.tool_calls[0].arguments_json = "a".repeat(100);
        match message_size(0, &m, 50) {
            Err(Error::MessageTooLarge { field, .. }) => {
                assert_eq!(field, "messages[0].tool_calls")
            }
            other => panic!("expected MessageTooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tokens_are_counted_when_zero_and_kept_otherwise() {
        let counter = crate::tokenizer::Counter::new(crate::tokenizer::Encoding::Cl100kBase, 1);
        let sent = message(0, msg(pb::Role::User), MAX).unwrap();
        assert_eq!(sent.token_count, 0, "validation counts nothing");
        let mut m = msg(pb::Role::User);
        m.token_count = 42;
        let kept = message(1, m, MAX).unwrap();
        let counted = counter.fill_missing(vec![sent, kept]).await.unwrap();
        assert_eq!(counted[0].token_count, 1);
        assert_eq!(counted[1].token_count, 42);
    }

    #[test]
    fn timestamps_round_trip_and_reject_garbage() {
        let ts = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_000,
        };
        let t = timestamp("t", Some(&ts)).unwrap().unwrap();
        assert_eq!(to_timestamp(t), ts);
        assert!(
            timestamp(
                "t",
                Some(&prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1
                })
            )
            .is_err()
        );
        assert!(
            timestamp(
                "t",
                Some(&prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0
                })
            )
            .is_err()
        );
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        /// JSON-ish text: valid objects, valid non-objects, and broken fragments.
        fn json_text() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("{}".to_owned()),
                "\\{\"[a-z]{1,8}\": (\"[^\"\\\\]{0,20}\"|[0-9]{1,6}|null|true)\\}",
                "\\PC{0,60}",
                Just("[1,2".to_owned()),
                Just("{\"a\": {\"b\": [1, {\"c\": null}]}}".to_owned()),
            ]
        }

        fn tool_call() -> impl Strategy<Value = pb::ToolCall> {
            ("\\PC{0,40}", "\\PC{0,10}", "\\PC{0,80}", json_text()).prop_map(
                |(id, kind, name, arguments_json)| pb::ToolCall {
                    id,
                    r#type: kind,
                    name,
                    arguments_json,
                },
            )
        }

        fn message() -> impl Strategy<Value = pb::Message> {
            (
                -2i32..8,
                proptest::option::of("\\PC{0,200}"),
                "\\PC{0,80}",
                "\\PC{0,80}",
                proptest::collection::vec(tool_call(), 0..4),
                any::<i32>(),
                json_text(),
                proptest::option::of((any::<i64>(), any::<i32>())),
            )
                .prop_map(
                    |(
                        role,
                        content,
                        name,
                        tool_call_id,
                        tool_calls,
                        token_count,
                        metadata_json,
                        ts,
                    )| {
                        pb::Message {
                            seq: 0,
                            role,
                            content,
                            name,
                            tool_call_id,
                            tool_calls,
                            token_count,
                            metadata_json,
                            timestamp: ts
                                .map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                        }
                    },
                )
        }

        proptest! {
            // 3,000 cases in every test run; `PROPTEST_CASES=N` runs N instead (longer runs).
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000),
            ))]

            /// Any message a client can encode is accepted or refused with INVALID_ARGUMENT
            /// naming a field of `messages[i]`; never a panic, never a half-valid message.
            #[test]
            fn any_message_is_validated_without_panicking(m in message(), i in 0usize..5) {
                match super::super::message(i, m, 1024 * 1024) {
                    Ok(new) => {
                        prop_assert!(new.content.is_some() || !new.tool_calls.is_empty());
                        prop_assert!(!new.content.unwrap_or_default().contains('\0'));
                        if let Some(meta) = &new.metadata_json {
                            let parsed: serde_json::Value = serde_json::from_str(meta).unwrap();
                            prop_assert!(parsed.is_object());
                        }
                        prop_assert!(new.token_count >= 0);
                    }
                    Err(Error::InvalidArgument { field, .. }) => {
                        prop_assert!(field.starts_with(&format!("messages[{i}]")), "{field}");
                    }
                    Err(other) => prop_assert!(false, "unexpected error {other:?}"),
                }
            }

            /// Ids and names of any text: validated, never a panic.
            #[test]
            fn ids_and_names_never_panic(s in "\\PC{0,300}", n in any::<i32>()) {
                let _ = session_id("session_id", &s);
                let _ = new_session_id("new_session_id", &s);
                let _ = agent_name("agent_name", &s);
                let _ = json_object("metadata_json", &s);
                let _ = json_value("value", &s);
                let _ = page_size("page_size", n);
                let _ = role("role", n);
                let _ = decision("decision", n);
            }
        }
    }
}
