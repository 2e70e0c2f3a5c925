//! Identifiers and page sizes: session ids, agent names, AIP-158 page sizes.

use super::time::to_timestamp;
use super::{DEFAULT_PAGE_SIZE, MAX_AGENT_CHARS, MAX_PAGE_SIZE, MAX_SESSION_ID_LEN};
use crate::error::{Error, Result};
use crate::model;
use codelab_proto::agent::v1 as pb;

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
