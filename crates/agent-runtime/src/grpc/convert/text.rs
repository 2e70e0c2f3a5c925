//! Text and JSON fields: bounded lengths, JSON shape, and no U+0000 (see the module above).

use super::MAX_NAME_CHARS;
use crate::error::{Error, Result};

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
pub(super) fn optional_name(field: &str, value: &str) -> Result<Option<String>> {
    if value.is_empty() {
        Ok(None)
    } else {
        text(field, value, MAX_NAME_CHARS).map(Some)
    }
}
