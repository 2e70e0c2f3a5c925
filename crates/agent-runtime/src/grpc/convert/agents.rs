//! Agent contexts, switches and old clients' history entries.

use super::ids::agent_name;
use super::text::{free_text, json_object};
use super::time::{timestamp, to_timestamp};
use crate::error::Result;
use crate::model::{self, AgentHistoryEntry};
use codelab_proto::agent::v1 as pb;

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
