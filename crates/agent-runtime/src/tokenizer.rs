//! Token counting with OpenAI's `cl100k_base` encoding (tiktoken-rs, vocabulary embedded in the
//! crate). The vocabulary is loaded on first use — about 100 ms and 10 MB, once per process —
//! not at start, so an idle service stays small and starts fast.
//!
//! Counting costs about 0.5 s of CPU per MiB of text, so it never runs on tokio's async
//! workers: [`Counter`] runs it on the blocking pool, at most one request per core at a time,
//! so RPCs that count nothing (reads, health) never wait behind it. A request's counting work
//! is bounded by the per-message and per-request size limits checked before it.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::Error;
use crate::model::NewMessage;

/// Counts the tokens of messages sent without a count, off the async workers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Counter {
    /// One permit per request counting at a time.
    permits: Arc<Semaphore>,
}

impl Counter {
    /// A counter running at most `concurrency` requests' counting at once (at least one).
    pub fn new(concurrency: usize) -> Counter {
        Counter {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// A counter sized to the machine: one request per available core.
    pub fn per_core() -> Counter {
        Counter::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// `messages` with every `token_count` of 0 replaced by [`count_message`]; the others are
    /// kept as sent. Returns at once when nothing needs counting; otherwise waits for a
    /// permit and counts on tokio's blocking pool.
    ///
    /// # Errors
    /// [`Error::Internal`] when the counting task panicked or the runtime is shutting down.
    pub async fn fill_missing(
        &self,
        mut messages: Vec<NewMessage>,
    ) -> Result<Vec<NewMessage>, Error> {
        if messages.iter().all(|m| m.token_count != 0) {
            return Ok(messages);
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(format!("token counting: {e}")))?;
        tokio::task::spawn_blocking(move || {
            for message in messages.iter_mut().filter(|m| m.token_count == 0) {
                message.token_count = count_message(message);
            }
            drop(permit);
            messages
        })
        .await
        .map_err(|e| Error::Internal(format!("token counting: {e}")))
    }
}

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
        let counted = Counter::new(1)
            .fill_missing(vec![uncounted(text.clone())])
            .await
            .unwrap();
        let during = ticks.load(Ordering::Relaxed);
        ticker.abort();
        assert_eq!(counted[0].token_count as usize, count_text(&text));
        assert!(
            during > 0,
            "the runtime's only thread was blocked while counting"
        );
    }

    #[tokio::test]
    async fn messages_with_a_count_are_not_counted_again() {
        let mut sent = uncounted("hello world".into());
        sent.token_count = 7;
        let out = Counter::new(1).fill_missing(vec![sent]).await.unwrap();
        assert_eq!(out[0].token_count, 7);
    }

    #[test]
    fn counts_like_openai() {
        // Reference values from OpenAI's tiktoken for cl100k_base.
        assert_eq!(count_text("hello world"), 2);
        assert_eq!(count_text(""), 0);
        assert_eq!(count_text("tiktoken is great!"), 6);
    }
}
