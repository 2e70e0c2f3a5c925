//! Token counting with OpenAI's `cl100k_base` encoding (tiktoken-rs, vocabulary embedded in the
//! crate). The vocabulary is loaded on first use — about 100 ms and 10 MB, once per process —
//! not at start, so an idle service stays small and starts fast.

use crate::model::NewMessage;

/// Tokens of `text` in `cl100k_base`, special tokens included.
pub fn count_text(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// Tokens a message costs: its content, its name, and each tool call's name and arguments.
/// Saturates at `i32::MAX`.
pub fn count_message(message: &NewMessage) -> i32 {
    let mut total = message.content.as_deref().map_or(0, count_text);
    total += message.name.as_deref().map_or(0, count_text);
    for call in &message.tool_calls {
        total += count_text(&call.function.name) + count_text(&call.function.arguments);
    }
    i32::try_from(total).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_openai() {
        // Reference values from OpenAI's tiktoken for cl100k_base.
        assert_eq!(count_text("hello world"), 2);
        assert_eq!(count_text(""), 0);
        assert_eq!(count_text("tiktoken is great!"), 6);
    }
}
