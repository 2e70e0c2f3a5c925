//! Session ids of imported conversations: `--prefix` plus the conversation's own id, sanitized
//! to `[A-Za-z0-9._:-]` and cut to [`MAX_SESSION_ID_LEN`], unique in a file.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Conversation, Detected, Draft, FormatError, MAX_SESSION_ID_LEN};

/// The conversations of `drafts` with their session ids and import metadata (`format`, `file`,
/// `source_id`).
///
/// # Errors
/// Two conversations of the file that would get the same session id.
pub(super) fn assign_session_ids(
    drafts: Vec<Draft>,
    prefix: &str,
    format: Detected,
    file: &str,
) -> Result<Vec<Conversation>, FormatError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let base = d
            .fixed_id
            .clone()
            .or_else(|| d.source_id.as_deref().map(sanitize_id));
        let session_id = match base.filter(|b| !b.is_empty()) {
            Some(b) => truncate_id(format!("{prefix}{b}")),
            None => format!("{prefix}{}", uuid::Uuid::now_v7()),
        };
        if let Some(previous) = seen.get(&session_id) {
            return Err(FormatError::new(
                d.location,
                format!(
                    "session id `{session_id}` is already used by the conversation at {previous}; \
                     conversation ids must be unique in a file"
                ),
            ));
        }
        seen.insert(session_id.clone(), d.location.clone());
        let mut import = Map::new();
        import.insert("format".into(), Value::from(format.to_string()));
        if !file.is_empty() {
            import.insert("file".into(), Value::from(file));
        }
        if let Some(id) = &d.source_id {
            import.insert("source_id".into(), Value::from(id.as_str()));
        }
        let mut metadata = Map::new();
        metadata.insert("import".into(), Value::Object(import));
        metadata.extend(d.metadata);
        out.push(Conversation {
            location: d.location,
            source_id: d.source_id,
            session_id,
            metadata,
            messages: d.messages,
        });
    }
    Ok(out)
}

/// Whether `c` may appear in a session id (`[A-Za-z0-9._:-]`).
pub fn is_session_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// `id` with every character outside `[A-Za-z0-9._:-]` replaced by `_`, cut to 128 characters.
pub fn sanitize_id(id: &str) -> String {
    truncate_id(
        id.chars()
            .map(|c| if is_session_id_char(c) { c } else { '_' })
            .collect(),
    )
}

fn truncate_id(mut id: String) -> String {
    // Only ASCII is left after sanitizing, so a byte index is a character index.
    id.truncate(MAX_SESSION_ID_LEN);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_and_truncates() {
        assert_eq!(sanitize_id("identity_0"), "identity_0");
        assert_eq!(sanitize_id("a/b c:d.e-f"), "a_b_c:d.e-f");
        assert_eq!(sanitize_id("é"), "_");
        assert_eq!(sanitize_id(&"x".repeat(300)).len(), MAX_SESSION_ID_LEN);
    }
}
