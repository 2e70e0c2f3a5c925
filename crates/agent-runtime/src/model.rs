//! Plain Rust types of the conversation store: what the store takes and returns.
//!
//! Invariant: no prost or tonic type appears here; the `grpc` module converts at the edge.

use chrono::{DateTime, Utc};

/// Who wrote a message (OpenAI chat roles). Stored as lowercase text with a CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The person.
    User,
    /// The model.
    Assistant,
    /// Instructions to the model.
    System,
    /// A tool's result, answering an assistant's tool call.
    Tool,
}

impl Role {
    /// Every role, in counter order.
    pub const ALL: [Role; 4] = [Role::User, Role::Assistant, Role::System, Role::Tool];

    /// The stored spelling: `user`, `assistant`, `system`, `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }

    /// Parses the stored spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A function call requested by an assistant message (OpenAI `tool_calls[]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// Id that the answering `tool` message names in `tool_call_id`.
    pub id: String,
    /// Call type, `function` unless the client says otherwise.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionCall,
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionCall {
    /// Function (tool) name.
    pub name: String,
    /// Arguments as JSON text, verbatim.
    pub arguments: String,
}

/// A message to store. `token_count` is final (the edge counted it when the client sent 0).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Author role.
    pub role: Role,
    /// Text; `None` only when `tool_calls` is non-empty.
    pub content: Option<String>,
    /// Optional participant name.
    pub name: Option<String>,
    /// For `tool` messages: the call answered.
    pub tool_call_id: Option<String>,
    /// Calls requested by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens (cl100k_base).
    pub token_count: i32,
    /// JSON object text, validated at the edge.
    pub metadata_json: Option<String>,
    /// Client-given time; the store uses its clock when `None`.
    pub timestamp: Option<DateTime<Utc>>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Position in the session: 1, 2, 3 … with no gaps.
    pub seq: i64,
    /// Author role.
    pub role: Role,
    /// Text.
    pub content: Option<String>,
    /// Participant name.
    pub name: Option<String>,
    /// Answered call, for `tool` messages.
    pub tool_call_id: Option<String>,
    /// Requested calls.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens (cl100k_base).
    pub token_count: i32,
    /// JSON object text (PostgreSQL returns it normalised).
    pub metadata_json: Option<String>,
    /// When the message was written (UTC, microseconds).
    pub timestamp: DateTime<Utc>,
}

/// A conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Public id.
    pub session_id: String,
    /// `sub` of the creator.
    pub owner: String,
    /// Title, at most 500 characters.
    pub title: String,
    /// Free text.
    pub description: String,
    /// JSON object text.
    pub metadata_json: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last write.
    pub last_activity: DateTime<Utc>,
    /// False once soft-deleted.
    pub is_active: bool,
    /// Soft-delete time (AIP-164).
    pub deleted_at: Option<DateTime<Utc>>,
    /// Messages stored (= highest `seq`).
    pub message_count: i64,
}

/// Counters of a session, maintained on every write.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStats {
    /// The session.
    pub session: Session,
    /// Sum of `token_count` over the session's messages.
    pub total_tokens: i64,
    /// Message count per role (all four roles present, zero included).
    pub messages_by_role: Vec<(Role, i64)>,
    /// Timestamp of the last message, `None` when empty.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// Fields of a new session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSession {
    /// Public id (validated at the edge).
    pub session_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// JSON object text.
    pub metadata_json: Option<String>,
}

/// Which agent is in charge of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentContext {
    /// The session.
    pub session_id: String,
    /// Current agent name.
    pub current_agent: String,
    /// Switches recorded.
    pub switch_count: i32,
    /// First switch.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// JSON object text.
    pub metadata_json: Option<String>,
}

/// One hand-over between agents.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSwitch {
    /// Row id; newer switches have larger ids.
    pub id: i64,
    /// Previous agent, `None` for the first.
    pub from_agent: Option<String>,
    /// New agent.
    pub to_agent: String,
    /// Why.
    pub reason: Option<String>,
    /// JSON object text.
    pub metadata_json: Option<String>,
    /// When.
    pub switched_at: DateTime<Utc>,
}

/// An entry of an old client's `agent_history` snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentHistoryEntry {
    /// Previous agent, `None` for the first.
    pub from_agent: Option<String>,
    /// New agent.
    pub to_agent: String,
    /// Why.
    pub reason: Option<String>,
    /// When; now if `None`.
    pub timestamp: Option<DateTime<Utc>>,
    /// JSON object text.
    pub metadata_json: Option<String>,
}

/// State of a tool approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// Waiting for a person.
    Pending,
    /// Allowed.
    Approved,
    /// Refused.
    Rejected,
}

impl ApprovalStatus {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A tool call waiting for (or given) a person's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    /// Public id (UUIDv7).
    pub approval_id: String,
    /// The session.
    pub session_id: String,
    /// The tool call id.
    pub call_id: String,
    /// Tool name.
    pub tool_name: String,
    /// Arguments, JSON text.
    pub arguments_json: Option<String>,
    /// Why approval is needed.
    pub reason: String,
    /// Current state.
    pub status: ApprovalStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Decision time.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `sub` of who decided.
    pub resolved_by: Option<String>,
}

/// Fields of a new approval request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// The tool call id (unique per session).
    pub call_id: String,
    /// Tool name.
    pub tool_name: String,
    /// Arguments, JSON text.
    pub arguments_json: Option<String>,
    /// Why approval is needed.
    pub reason: String,
}

/// Whose sessions a caller may see: its own, or every one (`api:admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The caller's `sub`; owner of the sessions it creates.
    pub subject: String,
    /// Sees and changes every session.
    pub admin: bool,
}

/// What a retention run did (or would do, in a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupReport {
    /// Sessions soft-deleted for inactivity.
    pub soft_deleted: i64,
    /// Soft-deleted sessions removed for good.
    pub purged: i64,
}
