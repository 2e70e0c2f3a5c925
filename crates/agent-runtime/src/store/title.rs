//! The title a session takes from its first user message.

/// Most characters (Unicode scalar values) in a title taken from a message.
const TITLE_MAX_CHARS: usize = 500;

/// The title a session gets from its first user message: its words (split on Unicode white
/// space) joined by single spaces, cut after [`TITLE_MAX_CHARS`] characters; one line.
///
/// Reads `content` only as far as the title reaches, so its cost does not grow with the
/// message: AppendMessages computes it for every call, before knowing whether the session
/// already has a title.
pub(crate) fn title_from(content: &str) -> String {
    let mut title = String::with_capacity(content.len().min(4 * TITLE_MAX_CHARS));
    let mut left = TITLE_MAX_CHARS;
    for word in content.split_whitespace() {
        if !title.is_empty() {
            if left == 0 {
                break;
            }
            title.push(' ');
            left -= 1;
        }
        let chars = word.chars().count();
        if chars > left {
            // Longer than what is left: cut it, and the title is full.
            let end = word.char_indices().nth(left).map_or(word.len(), |(i, _)| i);
            title.push_str(&word[..end]);
            break;
        }
        title.push_str(word);
        left -= chars;
    }
    title
}

#[cfg(test)]
mod tests {
    use super::{TITLE_MAX_CHARS, title_from};
    use proptest::prelude::*;

    /// The definition `title_from` must match: every word joined, then cut.
    fn joined_then_cut(content: &str) -> String {
        let line = content.split_whitespace().collect::<Vec<_>>().join(" ");
        line.chars().take(TITLE_MAX_CHARS).collect()
    }

    #[test]
    fn titles_are_one_line_of_at_most_500_characters() {
        assert_eq!(
            title_from("  Fix the\n\tbuild  please "),
            "Fix the build please"
        );
        assert_eq!(title_from(" \n\t "), "");
        let long = "é".repeat(600);
        assert_eq!(title_from(&long), "é".repeat(500));
        // A space that falls on the 500th character is kept, as the cut of the joined line.
        let words = format!("{} tail", "a".repeat(499));
        assert_eq!(title_from(&words), format!("{} ", "a".repeat(499)));
        let exact = format!("{} b", "a".repeat(498));
        assert_eq!(title_from(&format!("{exact} more words")), exact);
    }

    proptest! {
        #[test]
        fn title_is_the_joined_words_cut_to_500_characters(
            words in proptest::collection::vec("[a-zé€😀]{0,120}", 0..12),
            gaps in proptest::collection::vec("[ \t\n\u{a0}\u{3000}]{1,3}", 12),
        ) {
            let mut content = String::from(&gaps[0]);
            for (word, gap) in words.iter().zip(&gaps[1..]) {
                content.push_str(word);
                content.push_str(gap);
            }
            prop_assert_eq!(title_from(&content), joined_then_cut(&content));
        }
    }
}
