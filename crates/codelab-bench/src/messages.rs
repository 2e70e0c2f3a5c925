//! The messages a workload sends: synthetic English-like text of a given size, or the texts of
//! a conversation file, cycled.

use std::sync::Arc;

use anyhow::Context as _;
use codelab_proto::agent::v1::{Message, Role};

use crate::MessageOpts;

/// The messages a workload sends: their texts and roles, and the token count they carry.
#[derive(Debug, Clone)]
pub struct MessageSource {
    /// Where texts and roles come from.
    pub texts: Texts,
    /// `token_count` of every message; 0 = counted by the server.
    pub token_count: i32,
}

/// Texts for the messages a workload sends, and the roles they alternate between.
#[derive(Debug, Clone)]
pub enum Texts {
    /// Words filling exactly this many bytes.
    Synthetic(String),
    /// Texts and roles of a real conversation file, cycled.
    Corpus(Arc<Vec<(Role, String)>>),
}

const WORDS: &[&str] = &[
    "the",
    "agent",
    "reads",
    "a",
    "file",
    "and",
    "writes",
    "tests",
    "for",
    "each",
    "function",
    "before",
    "it",
    "changes",
    "any",
    "code",
    "in",
    "this",
    "repository",
    "because",
    "small",
    "steps",
    "are",
    "easier",
    "to",
    "review",
    "than",
    "large",
    "ones",
];

impl MessageSource {
    /// The source chosen by `opts`.
    ///
    /// # Errors
    /// An unreadable or invalid `--messages-from` file, or one without any text.
    pub fn from_opts(opts: &MessageOpts) -> anyhow::Result<MessageSource> {
        let texts = match &opts.messages_from {
            None => MessageSource::synthetic(opts.message_size as usize).texts,
            Some(path) => Texts::Corpus(Arc::new(read_corpus(path)?)),
        };
        Ok(MessageSource {
            texts,
            token_count: opts.token_count,
        })
    }

    /// English-like text of exactly `size` bytes, token counts left to the server.
    pub fn synthetic(size: usize) -> MessageSource {
        let mut text = String::with_capacity(size + 16);
        let mut i = 0;
        while text.len() < size {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(WORDS[i % WORDS.len()]);
            i += 1;
        }
        text.truncate(size);
        MessageSource {
            texts: Texts::Synthetic(text),
            token_count: 0,
        }
    }

    /// Message number `n` (roles alternate user / assistant for synthetic text).
    pub fn message(&self, n: u64) -> Message {
        let (role, content) = match &self.texts {
            Texts::Synthetic(text) => (
                if n.is_multiple_of(2) {
                    Role::User
                } else {
                    Role::Assistant
                },
                text.clone(),
            ),
            Texts::Corpus(corpus) => {
                let (role, text) = &corpus[(n % corpus.len() as u64) as usize];
                (*role, text.clone())
            }
        };
        Message {
            role: role as i32,
            content: Some(content),
            token_count: self.token_count,
            ..Message::default()
        }
    }

    /// Where a message of number `n` for client `client` starts, so clients send different texts.
    pub fn offset(&self, client: usize) -> u64 {
        match &self.texts {
            Texts::Synthetic(_) => 0,
            Texts::Corpus(c) => (client as u64 * 7919) % c.len() as u64,
        }
    }

    /// A short description for reports: `synthetic 256 B` or `corpus of 2000 messages`, with
    /// `, 120 tokens each` when the client sends token counts.
    pub fn describe(&self) -> String {
        let texts = match &self.texts {
            Texts::Synthetic(t) => format!("synthetic {} B", t.len()),
            Texts::Corpus(c) => format!("corpus of {} messages", c.len()),
        };
        match self.token_count {
            0 => texts,
            n => format!("{texts}, {n} tokens each"),
        }
    }
}

/// The user and assistant texts of conversation file `path`, in order.
///
/// # Errors
/// An unreadable or invalid file, or one without any user or assistant text.
fn read_corpus(path: &std::path::Path) -> anyhow::Result<Vec<(Role, String)>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let parsed = codelab::formats::parse(&text, &name, codelab::formats::ImportFormat::Auto, None)
        .with_context(|| format!("{name} is not a conversation file"))?;
    let corpus: Vec<(Role, String)> = parsed
        .conversations
        .into_iter()
        .flat_map(|c| c.messages)
        .filter_map(|m| {
            let role = match Role::try_from(m.role) {
                Ok(Role::User) => Role::User,
                Ok(Role::Assistant) => Role::Assistant,
                // Tool and system messages need context a bench message does not have.
                _ => return None,
            };
            m.content.filter(|c| !c.is_empty()).map(|c| (role, c))
        })
        .collect();
    anyhow::ensure!(!corpus.is_empty(), "{name} has no user or assistant text");
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_messages_have_the_exact_size() {
        for size in [1, 7, 256, 1000] {
            let Texts::Synthetic(t) = MessageSource::synthetic(size).texts else {
                unreachable!()
            };
            assert_eq!(t.len(), size);
        }
        let s = MessageSource::synthetic(16);
        assert_eq!(s.message(0).role, Role::User as i32);
        assert_eq!(s.message(1).role, Role::Assistant as i32);
    }

    #[test]
    fn token_count_is_sent_only_when_given() {
        let opts = MessageOpts {
            message_size: 16,
            messages_from: None,
            token_count: 120,
        };
        let s = MessageSource::from_opts(&opts).unwrap();
        assert_eq!(s.message(3).token_count, 120);
        assert_eq!(s.describe(), "synthetic 16 B, 120 tokens each");
        let server_counts = MessageSource::synthetic(16);
        assert_eq!(server_counts.message(0).token_count, 0);
        assert_eq!(server_counts.describe(), "synthetic 16 B");
    }
}
