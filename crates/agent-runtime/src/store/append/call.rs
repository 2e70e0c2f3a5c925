//! One AppendMessages call as the writers take it: built on the caller's task, numbered and
//! answered by a writer.

use super::Appended;
use crate::error::{Error, Result};
use crate::model::{Access, NewMessage, Role};
use crate::store::bump::{BumpSession, BumpTarget};
use crate::store::rows::{Counters, NewMessageRow, SessionRow};
use crate::store::title::title_from;
use chrono::NaiveDateTime;
use db_core::timestamp::DbTimestamp;
use tokio::sync::oneshot;

/// What the caller of one AppendMessages gets.
pub(super) type Outcome = Result<Appended>;

/// One call with what its session update needs — counter deltas, the title an untitled session
/// takes — and its message rows, built by the caller before the call is queued, so the append
/// writer (the serial resource) only stamps and writes them. Until the session is reserved, a
/// row's `session_db_id` is 0 and its `seq` is its distance from the call's last message (n - k
/// for the k-th of n; what `BumpAndInsert` binds). A message sent without a timestamp takes
/// its batch's (see [`Call::stamp`]): every call of one batch, and every message of a session,
/// is stamped in commit order.
pub(super) struct Call {
    /// Who calls: only their own session is written, unless they are an admin.
    pub(super) access: Access,
    /// The session's public id.
    pub(super) session_id: String,
    /// Create the session (owned by the caller) when it does not exist.
    pub(super) create_if_missing: bool,
    /// The session cap (`SessionLimits::max_session_messages`); a call never holds more.
    max_messages: i64,
    /// What the call adds to the session's counters.
    pub(super) delta: Counters,
    /// The title an untitled session takes: the first user message's.
    title: String,
    /// The messages, in order.
    pub(super) rows: Vec<NewMessageRow>,
    /// Positions in `rows` of the messages sent without a timestamp.
    untimed: Vec<usize>,
    /// Where the outcome goes.
    reply: oneshot::Sender<Outcome>,
}

impl Call {
    /// Builds the call's counters, title and rows (on the caller's task), and the receiver its
    /// outcome arrives on.
    ///
    /// # Errors
    /// `Internal` when tool calls cannot be serialised.
    pub(super) fn new(
        access: Access,
        session_id: String,
        new: Vec<NewMessage>,
        create_if_missing: bool,
        max_messages: i64,
    ) -> Result<(Call, oneshot::Receiver<Outcome>)> {
        let mut delta = Counters::default();
        for m in &new {
            delta.add(m.role, m.token_count, 1);
        }
        let title = new
            .iter()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.as_deref())
            .map(title_from)
            .unwrap_or_default();
        let untimed = (new.iter().enumerate())
            .filter_map(|(i, m)| m.timestamp.is_none().then_some(i))
            .collect();
        let n = new.len() as i64;
        // Overwritten by `stamp` for each message without a timestamp of its own.
        let unset = NaiveDateTime::default();
        let rows = new
            .into_iter()
            .zip(1..)
            .map(|(m, k)| NewMessageRow::from_new(0, n - k, m, unset))
            .collect::<Result<Vec<_>>>()?;
        let (reply, outcome) = oneshot::channel();
        let call = Call {
            access,
            session_id,
            create_if_missing,
            max_messages,
            delta,
            title,
            rows,
            untimed,
            reply,
        };
        Ok((call, outcome))
    }

    /// Gives `at`, the batch's timestamp, to every message sent without one.
    pub(super) fn stamp(&mut self, at: NaiveDateTime) {
        for &i in &self.untimed {
            self.rows[i].timestamp = DbTimestamp(at);
        }
    }

    /// The counter UPDATE of this call on `target`, `RETURNING` the row.
    pub(super) fn bump<'a>(&'a self, target: BumpTarget<'a>, at: NaiveDateTime) -> BumpSession<'a> {
        BumpSession {
            target,
            delta: self.delta,
            title: &self.title,
            at: DbTimestamp(at),
            last_ts: self.rows.last().map(|row| row.timestamp),
            count_at_most: self.max_messages - self.delta.count,
            returning: true,
        }
    }

    /// The counter UPDATE of this call on its session as the caller may write it: live, and
    /// the caller's own unless they are an admin.
    pub(super) fn live_bump(&self, at: NaiveDateTime) -> BumpSession<'_> {
        self.bump(BumpTarget::live(&self.access, &self.session_id), at)
    }

    /// Gives the rows their final `session_db_id` and `seq` from `updated`, the session row
    /// after this call's counter UPDATE (its `message_count` is the call's last `seq`), and
    /// returns the call's outcome.
    pub(super) fn number_from(&mut self, updated: SessionRow) -> Appended {
        let count = self.delta.count;
        let first_seq = updated.message_count - count + 1;
        for (row, seq) in self.rows.iter_mut().zip(first_seq..) {
            row.session_db_id = updated.id;
            row.seq = seq;
        }
        appended(updated, count)
    }

    /// Puts the rows back as [`Call::new`] built them (`session_db_id` 0, `seq` the distance
    /// from the last message), after a failed attempt gave them a session's numbers, so the
    /// call can be tried again.
    pub(super) fn reset(&mut self) {
        let n = self.rows.len() as i64;
        for (row, k) in self.rows.iter_mut().zip(1..) {
            row.session_db_id = 0;
            row.seq = n - k;
        }
    }

    /// The error of a call whose counter UPDATE by row id matched nothing, given the session's
    /// `message_count` read afterwards (`None`: the row is gone): that UPDATE checks nothing
    /// else, so a session still there had no room left for the call's messages.
    pub(super) fn no_room(&self, message_count: Option<i64>) -> Error {
        match message_count {
            Some(message_count) => Error::SessionTooLarge {
                session_id: self.session_id.clone(),
                messages: message_count + self.delta.count,
                limit: self.max_messages,
            },
            None => Error::session_not_found(&self.session_id),
        }
    }

    /// Hands the caller its outcome (a caller that has gone away is not waited for).
    pub(super) fn answer(self, outcome: Outcome) {
        let _ = self.reply.send(outcome);
    }
}

/// The outcome of a call of `count` messages whose counter UPDATE returned `updated` (the
/// session after the append: its `message_count` is the call's last `seq`).
pub(super) fn appended(updated: SessionRow, count: i64) -> Appended {
    Appended {
        first_seq: updated.message_count - count + 1,
        last_seq: updated.message_count,
        session: updated.into_session(),
    }
}
