//! Conversation file formats: detection, parsing into agent-runtime messages, and writing back.
//!
//! | format | shape | one conversation is |
//! |---|---|---|
//! | `openai` | JSON array of messages `{role, content, name?, tool_calls?, tool_call_id?}` | the whole array |
//! | `openai` | JSON array of message arrays or of `{"id"?, "messages": [...]}` | each element |
//! | `openai-jsonl` | one message array or `{"id"?, "messages": [...]}` per line | each line |
//! | `sharegpt` | JSON array (or JSON Lines) of `{id, conversations: [{from, value}]}` | each element |
//! | `mt-bench` | JSON Lines: questions `{question_id, category, turns}` or answers `{question_id, model_id, choices: [{turns}]}` | each line |
//!
//! Every format is written back by `export`: `openai`, `openai-jsonl`, `sharegpt` (FastChat's
//! key order and indentation) and `mt-bench` (each line as it was imported: the fields the
//! conversation model does not hold are kept in the session metadata, see `mtbench.rs`).
//!
//! Parsing never touches the network: a whole file is checked before anything is imported, and
//! every error names where it is (`line 3`, `index 7`, `messages[2]`) and which field is wrong.
//!
//! Session ids: the conversation's own id (ShareGPT `id`, OpenAI `"id"`) with characters outside
//! `[A-Za-z0-9._:-]` replaced by `_`, after the optional prefix, cut to 128 characters;
//! `mtbench-q<question_id>` / `mtbench-a<question_id>` for MT-Bench; a fresh UUIDv7 otherwise.
//! The original id is kept in the session metadata (`import.source_id`) and is what `export`
//! writes back, so a round trip is exact even when the id had to be changed.

mod export;
mod ids;
mod mtbench;
mod openai;
mod python_json;
mod sharegpt;

use std::fmt;

use codelab_proto::agent::v1::{Message, Role};
use serde_json::{Map, Value};

pub use export::{ExportedConversation, write_export};
pub use ids::{is_session_id_char, sanitize_id};
pub use mtbench::LAYOUT_KEY as MT_BENCH_LAYOUT_KEY;
pub use openai::{OpenAiMessage, OpenAiToolCall, message_from_openai, to_openai};
pub use sharegpt::{ShareGptConversation, ShareGptTurn, role_from_sharegpt, to_sharegpt};

/// Most characters a session id may have (API contract).
pub const MAX_SESSION_ID_LEN: usize = 128;

/// Key of the message metadata that keeps a ShareGPT `from` value the role alone cannot restore
/// (`function`, `user`, `chatgpt` …).
pub const SHAREGPT_FROM_KEY: &str = "sharegpt_from";

/// Format of a file to import, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// Detect from the extension (`.json`, `.jsonl`) and the shape of the first record.
    Auto,
    /// OpenAI chat messages in one JSON document.
    Openai,
    /// OpenAI chat messages, one conversation per line.
    OpenaiJsonl,
    /// ShareGPT / FastChat `{id, conversations: [{from, value}]}`.
    Sharegpt,
    /// MT-Bench questions or reference answers (JSON Lines).
    MtBench,
}

/// Format to export conversations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// OpenAI chat messages (one session: a message array; several: `[{id, messages}]`).
    Openai,
    /// One `{"id", "messages"}` object per line.
    OpenaiJsonl,
    /// ShareGPT: a JSON array of `{id, conversations: [{from, value}]}`.
    Sharegpt,
    /// MT-Bench JSON Lines: one question or answer record per session, restored as imported
    /// (fields, key order, Python's `json.dumps` layout).
    MtBench,
}

/// The format a file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// OpenAI chat, one JSON document.
    Openai,
    /// OpenAI chat, JSON Lines.
    OpenaiJsonl,
    /// ShareGPT.
    Sharegpt,
    /// MT-Bench questions and/or reference answers.
    MtBench,
}

impl fmt::Display for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Detected::Openai => "openai",
            Detected::OpenaiJsonl => "openai-jsonl",
            Detected::Sharegpt => "sharegpt",
            Detected::MtBench => "mt-bench",
        })
    }
}

/// A file that cannot be imported: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Where in the file: `line 3, messages[1]`, `index 0, conversations[2]`, `the file`.
    pub location: String,
    /// What is wrong, naming the field: ``missing field `role` ``.
    pub message: String,
}

impl FormatError {
    pub(crate) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        FormatError {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for FormatError {}

/// One conversation read from a file, ready to be appended to a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Where it is in the file (`index 3`, `line 7`), for messages about it.
    pub location: String,
    /// The id the file gave it, if any (restored by `export`).
    pub source_id: Option<String>,
    /// The session it goes to (see the module doc).
    pub session_id: String,
    /// Session metadata: `import` (format, file, source id) plus format-specific keys.
    pub metadata: Map<String, Value>,
    /// Its messages, oldest first; `seq`, `token_count` and `timestamp` are left to the server.
    pub messages: Vec<Message>,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The format used.
    pub format: Detected,
    /// Every conversation, in file order.
    pub conversations: Vec<Conversation>,
}

/// A conversation before its session id is chosen.
#[derive(Debug)]
pub(crate) struct Draft {
    pub location: String,
    pub source_id: Option<String>,
    /// Fixed session id (MT-Bench) that the prefix goes in front of.
    pub fixed_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub messages: Vec<Message>,
}

impl Draft {
    /// A conversation found at `location` with the file's own id (if any) and no extra metadata.
    pub(crate) fn new(location: &str, source_id: Option<String>, messages: Vec<Message>) -> Draft {
        Draft {
            location: location.to_owned(),
            source_id,
            fixed_id: None,
            metadata: Map::new(),
            messages,
        }
    }
}

/// Parses `text`, the content of a file named `file_name` (only its extension and name are
/// used), in `format`, giving session ids that start with `prefix`.
///
/// # Errors
/// [`FormatError`] naming the line or index and the field: invalid JSON, an unknown shape, a
/// message without `role` or with an unknown one, two conversations with the same session id,
/// or a prefix with characters not allowed in a session id.
pub fn parse(
    text: &str,
    file_name: &str,
    format: ImportFormat,
    prefix: Option<&str>,
) -> Result<Parsed, FormatError> {
    let prefix = prefix.unwrap_or_default();
    if let Some(bad) = prefix.chars().find(|c| !is_session_id_char(*c)) {
        return Err(FormatError::new(
            "--session-prefix",
            format!("character {bad:?} is not allowed in a session id ([A-Za-z0-9._:-])"),
        ));
    }
    if prefix.len() >= MAX_SESSION_ID_LEN {
        return Err(FormatError::new(
            "--session-prefix",
            format!("longer than {} characters", MAX_SESSION_ID_LEN - 1),
        ));
    }
    let docs = documents(text, file_name, format)?;
    let format = match format {
        ImportFormat::Auto => detect(&docs)?,
        ImportFormat::Openai => Detected::Openai,
        ImportFormat::OpenaiJsonl => Detected::OpenaiJsonl,
        ImportFormat::Sharegpt => Detected::Sharegpt,
        ImportFormat::MtBench => Detected::MtBench,
    };
    let drafts = match format {
        Detected::Openai | Detected::OpenaiJsonl => openai::parse(&docs)?,
        Detected::Sharegpt => sharegpt::parse(&docs)?,
        Detected::MtBench => mtbench::parse(&docs)?,
    };
    let file = std::path::Path::new(file_name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let conversations = ids::assign_session_ids(drafts, prefix, format, &file)?;
    Ok(Parsed {
        format,
        conversations,
    })
}

/// The records of a file: elements of a top-level JSON array, or lines of JSON Lines.
#[derive(Debug)]
pub(crate) enum Documents {
    /// A JSON document whose top level is an array.
    Array(Vec<Value>),
    /// JSON Lines: (1-based line number, value, the line's text), blank lines skipped. The
    /// text is kept for what `Value` loses: the key order (MT-Bench export restores it).
    Lines(Vec<(usize, Value, String)>),
}

impl Documents {
    /// Records with their location (`index 3` / `line 4`).
    pub(crate) fn records(&self) -> Vec<(String, &Value)> {
        match self {
            Documents::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("index {i}"), v))
                .collect(),
            Documents::Lines(lines) => lines
                .iter()
                .map(|(n, v, _)| (format!("line {n}"), v))
                .collect(),
        }
    }

    fn first(&self) -> Option<(String, &Value)> {
        self.records().into_iter().next()
    }
}

fn documents(text: &str, file_name: &str, format: ImportFormat) -> Result<Documents, FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(FormatError::new("the file", "is empty"));
    }
    let ext = std::path::Path::new(file_name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let lines = match format {
        ImportFormat::OpenaiJsonl | ImportFormat::MtBench => true,
        ImportFormat::Openai => false,
        ImportFormat::Auto | ImportFormat::Sharegpt => match ext.as_str() {
            "jsonl" | "ndjson" => true,
            "json" => false,
            _ => !trimmed.starts_with('['),
        },
    };
    if lines {
        return json_lines(text);
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FormatError::new("the file", format!("is not valid JSON: {e}")))?;
    match value {
        Value::Array(items) => Ok(Documents::Array(items)),
        other => {
            let hint = if other.is_object() {
                " (one conversation per line is JSON Lines: name the file .jsonl or use --format \
                 openai-jsonl)"
            } else {
                ""
            };
            Err(FormatError::new(
                "the file",
                format!(
                    "expected a JSON array at the top level, found {}{hint}",
                    kind(&other)
                ),
            ))
        }
    }
}

fn json_lines(text: &str) -> Result<Documents, FormatError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = if n == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let mut message = format!("is not valid JSON: {e}");
            if n == 1 && serde_json::from_str::<Value>(text).is_ok() {
                message.push_str(
                    " (the whole file is one JSON document, not JSON Lines: name it .json or use \
                     --format openai / sharegpt)",
                );
            }
            FormatError::new(format!("line {n}"), message)
        })?;
        out.push((n, value, line.to_owned()));
    }
    Ok(Documents::Lines(out))
}

fn detect(docs: &Documents) -> Result<Detected, FormatError> {
    let Some((location, first)) = docs.first() else {
        // An empty array: nothing to import, whatever the format.
        return Ok(Detected::Openai);
    };
    let lines = matches!(docs, Documents::Lines(_));
    let detected = match first {
        Value::Object(o) if o.contains_key("conversations") => Some(Detected::Sharegpt),
        Value::Object(o) if o.contains_key("question_id") => Some(Detected::MtBench),
        Value::Object(o) if o.contains_key("messages") || (!lines && o.contains_key("role")) => {
            Some(if lines {
                Detected::OpenaiJsonl
            } else {
                Detected::Openai
            })
        }
        Value::Array(_) => Some(if lines {
            Detected::OpenaiJsonl
        } else {
            Detected::Openai
        }),
        _ => None,
    };
    detected.ok_or_else(|| {
        FormatError::new(
            location,
            format!(
                "cannot tell the format of {}: expected an OpenAI message (`role`), a \
                 conversation (`messages` or ShareGPT `conversations`) or an MT-Bench record \
                 (`question_id`); choose one with --format",
                kind(first)
            ),
        )
    })
}

/// The names a file format writes for agent-runtime's roles.
pub(crate) struct RoleNames {
    /// [`Role::User`], and an unknown role.
    pub user: &'static str,
    /// [`Role::Assistant`].
    pub assistant: &'static str,
    /// [`Role::System`].
    pub system: &'static str,
    /// [`Role::Tool`].
    pub tool: &'static str,
}

impl RoleNames {
    /// The name of `role` (a [`Role`] value); the user's name for an unknown or unset one.
    pub(crate) fn of(&self, role: i32) -> &'static str {
        match Role::try_from(role).unwrap_or(Role::Unspecified) {
            Role::Assistant => self.assistant,
            Role::System => self.system,
            Role::Tool => self.tool,
            Role::User | Role::Unspecified => self.user,
        }
    }
}

/// The conversation id of `obj`: field `id`, a string or a number; `None` when absent or null.
///
/// # Errors
/// An `id` of another type.
pub(crate) fn conversation_id(
    obj: &Map<String, Value>,
    location: &str,
) -> Result<Option<String>, FormatError> {
    match obj.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(FormatError::new(
            location,
            format!(
                "field `id` must be a string or a number, found {}",
                kind(other)
            ),
        )),
    }
}

/// Field `key` of `obj`, which must be an array.
///
/// # Errors
/// A missing field, or one of another type.
pub(crate) fn required_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    location: &str,
) -> Result<&'a Vec<Value>, FormatError> {
    match obj.get(key) {
        Some(Value::Array(items)) => Ok(items),
        None => Err(FormatError::new(location, format!("missing field `{key}`"))),
        Some(other) => Err(FormatError::new(
            location,
            format!("field `{key}` must be an array, found {}", kind(other)),
        )),
    }
}

/// "an object", "a string" …: what a JSON value is, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required string field of `obj`.
pub(crate) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    location: &str,
) -> Result<&'a str, FormatError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        None => Err(FormatError::new(
            location,
            format!("missing field `{field}`"),
        )),
        Some(other) => Err(FormatError::new(
            location,
            format!("field `{field}` must be a string, found {}", kind(other)),
        )),
    }
}

/// An optional string field of `obj` (absent and `null` are both `None`).
pub(crate) fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    location: &str,
) -> Result<Option<&'a str>, FormatError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(FormatError::new(
            location,
            format!("field `{field}` must be a string, found {}", kind(other)),
        )),
    }
}

/// `v` as an object, or an error saying what it is instead.
pub(crate) fn as_object<'a>(
    v: &'a Value,
    what: &str,
    location: &str,
) -> Result<&'a Map<String, Value>, FormatError> {
    v.as_object().ok_or_else(|| {
        FormatError::new(
            location,
            format!("expected {what} object, found {}", kind(v)),
        )
    })
}
