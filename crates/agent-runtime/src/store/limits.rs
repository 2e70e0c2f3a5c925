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

    /// Adds one chunk of a whole read, `rows` read after key `after` with `LIMIT`
    /// [`READ_CHUNK`], to `out`: spends each row's bytes, moves `after` to its key. Returns
    /// whether the chunk was full, so that another may follow.
    ///
    /// # Errors
    /// [`Error::ResponseTooLarge`] as soon as the budget is passed; a row that does not convert.
    pub(crate) fn take_chunk<R: ChunkRow>(
        &mut self,
        rows: Vec<R>,
        after: &mut i64,
        out: &mut Vec<R::Item>,
    ) -> crate::error::Result<bool> {
        let read = rows.len() as i64;
        for row in rows {
            self.spend(row.answer_bytes())?;
            *after = row.key();
            out.push(row.into_item()?);
        }
        Ok(read >= READ_CHUNK)
    }
}

/// A row of a whole read taken [`READ_CHUNK`] rows at a time ([`ResponseBudget::take_chunk`]).
pub(crate) trait ChunkRow {
    /// What the answer holds for the row.
    type Item;
    /// The keyset key the next chunk reads after (`seq`, `id`).
    fn key(&self) -> i64;
    /// Bytes the row adds to the answer.
    fn answer_bytes(&self) -> usize;
    /// The row as the answer holds it.
    ///
    /// # Errors
    /// A stored value that does not convert (`Internal`).
    fn into_item(self) -> crate::error::Result<Self::Item>;
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
