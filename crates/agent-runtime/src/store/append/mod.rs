//! AppendMessages, the hot path, from the call to the commit.
//!
//! 1. [`Store::append_messages`] builds the call on the caller's task ([`Call`]: its message
//!    rows, counter deltas and title) and queues it, then waits for its outcome.
//! 2. [`queue`] coalesces the calls waiting at that moment into one batch and writes it (group
//!    commit): on SQLite one writer, a thread of its own; on PostgreSQL four writer tasks.
//! 3. First every call whose session exists, is live, is the caller's and has room is appended
//!    in one transaction, with each backend's own body: [`sqlite`] (synchronous Diesel on the
//!    writer's thread: per call one UPDATE and a read of the row, then the INSERTs) or
//!    [`postgres`] (per call one statement that updates and inserts, pipelined). Their callers
//!    are answered after that commit.
//! 4. The calls it left — a session to create, or an error to name (absent, soft-deleted,
//!    someone else's, full) — follow in a second transaction, one after another, the same code
//!    on both backends: [`sequential`].
//! 5. When a transaction fails on a statement, nothing of it was committed, and its calls run
//!    again one by one, so only the call that caused the error sees it ([`queue`]).
//!
//! Nobody is answered before the commit that holds their messages.

mod call;
mod postgres;
mod queue;
mod sequential;
mod sqlite;

pub(crate) use queue::AppendQueue;

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Access, NewMessage, Session};
use call::Call;

/// What AppendMessages stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// `seq` of the first appended message.
    pub first_seq: i64,
    /// `seq` of the last appended message (= the session's new `message_count`).
    pub last_seq: i64,
    /// The session after the append.
    pub session: Session,
}

impl Store {
    /// Appends `new` to the session in one transaction; creates the session (owned by the
    /// caller) first when `create_if_missing` and it does not exist. Messages get consecutive
    /// `seq` numbers after the current last one; `last_activity` moves to now; an empty title
    /// becomes the first user message's first 500 characters. Answers only once the commit is
    /// durable.
    ///
    /// Concurrent calls are coalesced into one transaction and one commit (group commit, see
    /// [`AppendQueue`]); each caller still gets its own outcome, and a caller's error does not
    /// affect the others: when a statement of the shared transaction fails, its calls are run
    /// again one by one, so only the call that caused the error sees it.
    ///
    /// # Errors
    /// `NotFound` (absent without `create_if_missing`, or another user's); `FailedPrecondition`
    /// (`SESSION_DELETED`); `SessionTooLarge` when the session would pass
    /// [`SessionLimits::max_session_messages`](super::SessionLimits); `Unavailable`. Nothing is
    /// written on error.
    pub async fn append_messages(
        &self,
        access: Access,
        session_id: String,
        new: Vec<NewMessage>,
        create_if_missing: bool,
    ) -> Result<Appended> {
        let max_messages = self.limits.max_session_messages;
        if new.len() as i64 > max_messages {
            // Refused before anything is queued: no session is created for it either.
            return Err(Error::SessionTooLarge {
                session_id,
                messages: new.len() as i64,
                limit: max_messages,
            });
        }
        let (call, outcome) = Call::new(access, session_id, new, create_if_missing, max_messages)?;
        self.appends.submit(call, outcome).await
    }
}
