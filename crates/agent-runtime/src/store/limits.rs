//! Bounds on whole-session work: how many messages a session holds, how many bytes one
//! whole-session answer carries, and how many rows a whole-session read holds at once.

use crate::error::Error;

/// Rows read per query when a whole session (or a whole switch history) is read or compared:
/// keyset pages on `seq` (or `id`), so memory holds one page beyond what is kept.
pub(crate) const READ_CHUNK: i64 = 100;

/// The bytes one whole-session answer may still carry ([`SessionLimits::max_response_bytes`]).
pub(crate) struct ResponseBudget {
    used: usize,
    limit: usize,
    /// What the client should use instead, e.g. `page with ListMessages`.
    page_with: &'static str,
}

impl ResponseBudget {
    /// A budget of `limit` bytes, of which `used` are already spent.
    pub(crate) fn new(limit: usize, used: usize, page_with: &'static str) -> Self {
        ResponseBudget {
            used,
            limit,
            page_with,
        }
    }

    /// Spends `bytes`; [`Error::ResponseTooLarge`] once the total passes the limit.
    pub(crate) fn spend(&mut self, bytes: usize) -> crate::error::Result<()> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(Error::ResponseTooLarge {
                limit_bytes: self.limit,
                page_with: self.page_with,
            });
        }
        Ok(())
    }
}

/// Bounds on whole-session work (`AGENT_RUNTIME__LIMITS__MAX_SESSION_MESSAGES` and
/// `…__MAX_RESPONSE_BYTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most messages one session holds: an append or snapshot beyond it is refused with
    /// [`Error::SessionTooLarge`] and writes nothing.
    pub max_session_messages: i64,
    /// Most bytes of text and JSON (content, name, tool call id, tool calls, metadata; for
    /// switches agent names, reason and metadata) one LoadSession or LoadAgentContext answer
    /// carries; beyond it [`Error::ResponseTooLarge`]. The store stops reading as soon as the
    /// budget is passed, so a read holds at most the budget plus one [`READ_CHUNK`] of rows.
    pub max_response_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_session_messages: 100_000,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}
