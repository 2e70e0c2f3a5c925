//! Validation of requests and conversion between prost types and [`crate::model`].
//!
//! Every rule of API.md is checked here, before the store is called, and a violation names
//! the field by its path in the request (`messages[3].tool_calls[0].arguments_json`).
//!
//! No text the store keeps may hold U+0000 (NUL), neither as a character of a text field nor,
//! in a JSON field, as a character of a string or key once decoded (`"\u0000"`): PostgreSQL
//! refuses both in `TEXT` and `JSONB`, so the rule is checked here, the same on both backends,
//! and the request is refused with `INVALID_ARGUMENT` naming the field before any write.
//!
//! One file per kind of field: [`ids`] (session ids, agent names, page sizes), [`text`] (bounded
//! text and JSON), [`time`] (timestamps), [`messages`], [`agents`] and [`approvals`]; every
//! function is re-exported here, so handlers call `convert::session_id`, `convert::message`, ….

mod agents;
mod approvals;
mod ids;
mod messages;
mod text;
mod time;

pub use agents::{context_to_proto, history_entry, switch_to_history, switch_to_proto};
pub use approvals::{approval_filter, approval_to_proto, decision};
pub use ids::{agent_name, new_session_id, page_size, session_id, session_to_proto};
pub use messages::{
    message, message_size, message_to_proto, messages, role, role_filter, role_to_proto,
};
pub use text::{free_text, json_object, json_value, no_nul, text};
pub use time::{MAX_CLOCK_SKEW, not_in_future, timestamp, to_timestamp};

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

#[cfg(test)]
mod tests;
