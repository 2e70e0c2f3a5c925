//! OpenAI chat format: `{role, content, name?, tool_calls?, tool_call_id?}` messages.

use codelab_proto::agent::v1::{Message, Role, ToolCall};
use serde::Serialize;
use serde_json::Value;

use super::{
    Documents, Draft, ExportedConversation, FormatError, RoleNames, as_object, conversation_id,
    kind, optional_str, required_array, required_str,
};

pub(super) fn parse(docs: &Documents) -> Result<Vec<Draft>, FormatError> {
    // A top-level array of messages is one conversation.
    if let Documents::Array(items) = docs
        && items
            .first()
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key("role"))
    {
        let messages = messages(items, "the file, message at index")?;
        return Ok(vec![Draft::new("the file", None, messages)]);
    }
    docs.records()
        .into_iter()
        .map(|(location, v)| conversation_draft(&location, v))
        .collect()
}

fn conversation_draft(location: &str, v: &Value) -> Result<Draft, FormatError> {
    let (source_id, items) = match v {
        Value::Array(items) => (None, items),
        Value::Object(o) => {
            let id = conversation_id(o, location)?;
            (id, required_array(o, "messages", location)?)
        }
        other => {
            return Err(FormatError::new(
                location,
                format!(
                    "expected a conversation (an array of messages or an object with `messages`), \
                     found {}",
                    kind(other)
                ),
            ));
        }
    };
    let messages = messages(items, &format!("{location}, messages"))?;
    Ok(Draft::new(location, source_id, messages))
}

fn messages(items: &[Value], location: &str) -> Result<Vec<Message>, FormatError> {
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let loc = if location.ends_with("index") {
                format!("{location} {i}")
            } else {
                format!("{location}[{i}]")
            };
            message_from_openai(m, &loc)
        })
        .collect()
}

/// Converts one OpenAI chat message into an agent-runtime message.
///
/// `location` prefixes errors (`line 3, messages[1]`).
///
/// # Errors
/// When `role` is missing or not one of user, assistant, system, tool; `content` is neither a
/// string nor null (or missing without `tool_calls`); a tool message has no `tool_call_id`; or
/// a tool call lacks `function.name`.
pub fn message_from_openai(v: &Value, location: &str) -> Result<Message, FormatError> {
    let obj = as_object(v, "a message", location)?;
    let role_name = required_str(obj, "role", location)?;
    let role = role_from_openai(role_name).ok_or_else(|| {
        FormatError::new(
            location,
            format!("unknown role `{role_name}` (expected user, assistant, system or tool)"),
        )
    })?;
    let content = match obj.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(_)) => {
            return Err(FormatError::new(
                location,
                "field `content` is an array of content parts, which is not supported: give the \
                 text as a string",
            ));
        }
        Some(other) => {
            return Err(FormatError::new(
                location,
                format!(
                    "field `content` must be a string or null, found {}",
                    kind(other)
                ),
            ));
        }
    };
    let tool_calls = match obj.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(i, c)| tool_call(c, &format!("{location}, tool_calls[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(FormatError::new(
                location,
                format!("field `tool_calls` must be an array, found {}", kind(other)),
            ));
        }
    };
    if role != Role::Assistant && !tool_calls.is_empty() {
        return Err(FormatError::new(
            location,
            format!("field `tool_calls` is only allowed on role `assistant`, not `{role_name}`"),
        ));
    }
    if content.is_none() && tool_calls.is_empty() {
        return Err(FormatError::new(
            location,
            "missing field `content` (required unless `tool_calls` is present)",
        ));
    }
    let tool_call_id = optional_str(obj, "tool_call_id", location)?.unwrap_or_default();
    if role == Role::Tool && tool_call_id.is_empty() {
        return Err(FormatError::new(
            location,
            "missing field `tool_call_id` (required for role `tool`)",
        ));
    }
    Ok(Message {
        role: role as i32,
        content,
        name: optional_str(obj, "name", location)?
            .unwrap_or_default()
            .to_owned(),
        tool_call_id: tool_call_id.to_owned(),
        tool_calls,
        ..Message::default()
    })
}

fn tool_call(v: &Value, location: &str) -> Result<ToolCall, FormatError> {
    let obj = as_object(v, "a tool call", location)?;
    let function = match obj.get("function") {
        Some(f) => as_object(f, "a `function`", location)?,
        None => return Err(FormatError::new(location, "missing field `function`")),
    };
    let arguments_json = match function.get("arguments") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Some producers write the arguments as an object: keep them as JSON text.
        Some(other) => other.to_string(),
    };
    if !arguments_json.trim().is_empty()
        && let Err(e) = serde_json::from_str::<Value>(&arguments_json)
    {
        return Err(FormatError::new(
            format!("{location}, function"),
            format!("field `arguments` is not valid JSON text: {e}"),
        ));
    }
    Ok(ToolCall {
        id: required_str(obj, "id", location)?.to_owned(),
        r#type: optional_str(obj, "type", location)?
            .unwrap_or_default()
            .to_owned(),
        name: required_str(function, "name", &format!("{location}, function"))?.to_owned(),
        arguments_json,
    })
}

fn role_from_openai(role: &str) -> Option<Role> {
    match role {
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        "system" => Some(Role::System),
        "tool" => Some(Role::Tool),
        _ => None,
    }
}

/// How OpenAI names the roles.
const ROLES: RoleNames = RoleNames {
    user: "user",
    assistant: "assistant",
    system: "system",
    tool: "tool",
};

/// An OpenAI chat message as written by `export`; keys in OpenAI's order.
#[derive(Debug, Serialize)]
pub struct OpenAiMessage<'a> {
    /// `user`, `assistant`, `system` or `tool`.
    pub role: &'static str,
    /// The text; `null` for an assistant message that only calls tools.
    pub content: Option<&'a str>,
    /// Participant name, when set.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
    /// Tool calls of an assistant message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCall<'a>>,
    /// The call a tool message answers.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub tool_call_id: &'a str,
}

/// A tool call in OpenAI's shape: `{id, type, function: {name, arguments}}`.
#[derive(Debug, Serialize)]
pub struct OpenAiToolCall<'a> {
    /// Call id.
    pub id: &'a str,
    /// Always `function` unless the stored call says otherwise.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The function and its JSON-text arguments.
    pub function: OpenAiFunction<'a>,
}

/// The `function` of an [`OpenAiToolCall`].
#[derive(Debug, Serialize)]
pub struct OpenAiFunction<'a> {
    /// Function (tool) name.
    pub name: &'a str,
    /// Arguments as JSON text.
    pub arguments: &'a str,
}

/// A conversation in the several-conversations form: `{"id", "messages"}`.
#[derive(Debug, Serialize)]
pub(crate) struct OpenAiConversation<'a> {
    id: &'a str,
    messages: Vec<OpenAiMessage<'a>>,
}

pub(crate) fn conversation(c: &ExportedConversation) -> OpenAiConversation<'_> {
    OpenAiConversation {
        id: &c.id,
        messages: c.messages.iter().map(to_openai).collect(),
    }
}

/// An agent-runtime message in OpenAI's shape.
pub fn to_openai(m: &Message) -> OpenAiMessage<'_> {
    OpenAiMessage {
        role: ROLES.of(m.role),
        content: m.content.as_deref(),
        name: &m.name,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| OpenAiToolCall {
                id: &c.id,
                kind: if c.r#type.is_empty() {
                    "function"
                } else {
                    &c.r#type
                },
                function: OpenAiFunction {
                    name: &c.name,
                    arguments: &c.arguments_json,
                },
            })
            .collect(),
        tool_call_id: &m.tool_call_id,
    }
}
