//! Token counting for messages sent without a count, in the encoding chosen by
//! `AGENT_RUNTIME__TOKENIZER` ([`Encoding`]: OpenAI's `cl100k_base` by default, `o200k_base`
//! for the GPT-4o family, or `none`).
//!
//! Counts come from `bpe-openai` (GitHub's linear-time byte-pair encoder): the same counts as
//! OpenAI's tiktoken on every message of `testdata/conversations/` (tested against
//! `tiktoken-rs`), about 40 ms of CPU per MiB of real text and at most about 15 ms per MiB of
//! adversarial input (one character repeated). Text is counted as ordinary text, as message
//! content is: a literal `<|endoftext|>` in a message is counted as the characters it is, not
//! as one special token. The vocabulary is embedded in the binary and loaded on first use
//! (about 30 ms), not at start.
//!
//! Counting costs CPU in proportion to the text, so it never runs on tokio's async workers:
//! [`Counter`] runs it on the blocking pool, at most one request per core at a time, so RPCs
//! that count nothing (reads, health) never wait behind it. A request's counting work is
//! bounded by the per-message and per-request size limits checked before it.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::Error;
use crate::model::NewMessage;

/// The token encoding messages sent without a count are counted in
/// (`AGENT_RUNTIME__TOKENIZER`). Source: OpenAI's tiktoken encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum Encoding {
    /// `cl100k_base`: GPT-4, GPT-3.5-turbo and the text-embedding-3 models (default).
    #[default]
    #[serde(rename = "cl100k_base")]
    Cl100kBase,
    /// `o200k_base`: the GPT-4o family, o1, o3 and o4.
    #[serde(rename = "o200k_base")]
    O200kBase,
    /// No counting: a message sent without a count is stored with 0 tokens.
    #[serde(rename = "none")]
    None,
}

impl Encoding {
    /// The name as configured and reported in `SessionStats.token_encoding`: `cl100k_base`,
    /// `o200k_base` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
            Encoding::None => "none",
        }
    }

    /// Tokens of `text` as ordinary text; 0 for [`Encoding::None`]. Linear in `text`'s length.
    pub fn count_text(self, text: &str) -> usize {
        match self {
            Encoding::Cl100kBase => bpe_openai::cl100k_base().count(text),
            Encoding::O200kBase => bpe_openai::o200k_base().count(text),
            Encoding::None => 0,
        }
    }

    /// Tokens a message costs: its content, its name, and each tool call's name and
    /// arguments. Saturates at `i32::MAX`.
    pub fn count_message(self, message: &NewMessage) -> i32 {
        let mut total = message.content.as_deref().map_or(0, |t| self.count_text(t));
        total += message.name.as_deref().map_or(0, |t| self.count_text(t));
        for call in &message.tool_calls {
            total +=
                self.count_text(&call.function.name) + self.count_text(&call.function.arguments);
        }
        i32::try_from(total).unwrap_or(i32::MAX)
    }
}

/// Counts the tokens of messages sent without a count, off the async workers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Counter {
    /// The encoding counted in.
    encoding: Encoding,
    /// One permit per request counting at a time.
    permits: Arc<Semaphore>,
}

impl Counter {
    /// A counter in `encoding` running at most `concurrency` requests' counting at once (at
    /// least one).
    pub fn new(encoding: Encoding, concurrency: usize) -> Counter {
        Counter {
            encoding,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// A counter in `encoding` sized to the machine: one request per available core.
    pub fn per_core(encoding: Encoding) -> Counter {
        Counter::new(
            encoding,
            std::thread::available_parallelism().map_or(1, usize::from),
        )
    }

    /// The encoding this counter counts in.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// `messages` with every `token_count` of 0 replaced by [`Encoding::count_message`]; the
    /// others are kept as sent. Returns at once when nothing needs counting or the encoding is
    /// [`Encoding::None`]; otherwise waits for a permit and counts on tokio's blocking pool.
    ///
    /// # Errors
    /// [`Error::Internal`] when the counting task panicked or the runtime is shutting down.
    pub async fn fill_missing(
        &self,
        mut messages: Vec<NewMessage>,
    ) -> Result<Vec<NewMessage>, Error> {
        if self.encoding == Encoding::None || messages.iter().all(|m| m.token_count != 0) {
            return Ok(messages);
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(format!("token counting: {e}")))?;
        let encoding = self.encoding;
        tokio::task::spawn_blocking(move || {
            for message in messages.iter_mut().filter(|m| m.token_count == 0) {
                message.token_count = encoding.count_message(message);
            }
            drop(permit);
            messages
        })
        .await
        .map_err(|e| Error::Internal(format!("token counting: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn uncounted(content: String) -> NewMessage {
        NewMessage {
            role: crate::model::Role::User,
            content: Some(content),
            name: None,
            tool_call_id: None,
            tool_calls: Vec::new(),
            token_count: 0,
            metadata_json: None,
            timestamp: None,
        }
    }

    /// On a runtime of ONE thread, another task keeps running while a large message is counted:
    /// the counting left the async worker. (Counted inline, the ticker could not run at all
    /// until the count was done.)
    #[tokio::test(flavor = "current_thread")]
    async fn counting_leaves_the_async_worker_free() {
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        tokio::task::yield_now().await;
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(24 * 1024);
        let counted = Counter::new(Encoding::Cl100kBase, 1)
            .fill_missing(vec![uncounted(text.clone())])
            .await
            .unwrap();
        let during = ticks.load(Ordering::Relaxed);
        ticker.abort();
        assert_eq!(
            counted[0].token_count as usize,
            Encoding::Cl100kBase.count_text(&text)
        );
        assert!(
            during > 0,
            "the runtime's only thread was blocked while counting"
        );
    }

    #[tokio::test]
    async fn messages_with_a_count_are_not_counted_again() {
        let mut sent = uncounted("hello world".into());
        sent.token_count = 7;
        let out = Counter::new(Encoding::Cl100kBase, 1)
            .fill_missing(vec![sent])
            .await
            .unwrap();
        assert_eq!(out[0].token_count, 7);
    }

    #[test]
    fn counts_like_openai() {
        // Reference values from OpenAI's tiktoken.
        let cl100k = Encoding::Cl100kBase;
        assert_eq!(cl100k.count_text("hello world"), 2);
        assert_eq!(cl100k.count_text(""), 0);
        assert_eq!(cl100k.count_text("tiktoken is great!"), 6);
        // Special-token text in a message is ordinary text (tiktoken's `encode_ordinary`).
        assert_eq!(cl100k.count_text("<|endoftext|>"), 7);
        let o200k = Encoding::O200kBase;
        assert_eq!(o200k.count_text("hello world"), 2);
        assert_eq!(o200k.count_text("tiktoken is great!"), 6);
        assert_eq!(cl100k.count_text("Привет, мир! 你好，世界"), 14);
        assert_eq!(o200k.count_text("Привет, мир! 你好，世界"), 9);
    }

    #[tokio::test]
    async fn none_stores_zero_and_keeps_sent_counts() {
        let mut sent = uncounted("hello".into());
        sent.token_count = 3;
        let out = Counter::new(Encoding::None, 1)
            .fill_missing(vec![uncounted("hello world".into()), sent])
            .await
            .unwrap();
        assert_eq!((out[0].token_count, out[1].token_count), (0, 3));
    }

    #[test]
    fn names_read_as_configured() {
        for e in [Encoding::Cl100kBase, Encoding::O200kBase, Encoding::None] {
            let read: Encoding = serde_json::from_value(serde_json::json!(e.name())).unwrap();
            assert_eq!(read, e);
        }
        assert!(serde_json::from_value::<Encoding>(serde_json::json!("gpt2")).is_err());
    }
}
