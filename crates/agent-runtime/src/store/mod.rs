//! The conversation store: every read and write of agent-runtime's database.
//!
//! Each operation is one function of [`Store`], runs as one transaction (detached from the
//! caller, so a client hanging up cannot leave it half done), and is written once for both
//! backends through `db_core::transaction!` and the shared statements of `queries`.
//! Functions take and return the plain types of [`crate::model`]. AppendMessages, the hot
//! path, has a body per backend for the calls whose session can take them (`append`).
//!
//! Invariants kept here:
//! - a session's messages have `seq` 1..=`message_count` with no gap;
//! - the counters on `sessions` (`message_count`, `total_tokens`, per-role counts,
//!   `last_message_at`) always equal what a scan of `messages` would give;
//! - every write on a session first updates its row, which serialises writers of one session
//!   on PostgreSQL (row lock) as SQLite's `BEGIN IMMEDIATE` does for the whole database.

mod agents;
mod append;
mod approvals;
mod bump;
mod fork;
mod limits;
mod messages_ops;
mod paging;
mod queries;
mod retention;
mod rows;
mod sessions_ops;
mod title;

pub use agents::SwitchRequest;
pub use append::Appended;
pub use limits::SessionLimits;
pub use messages_ops::{MessagePage, MessageQuery, PagePosition, Saved};
pub use retention::CleanupBatch;
pub use sessions_ops::{SessionCursor, SessionPage, SessionQuery};

use db_core::Pool;

/// The conversation store over one database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Group commit of appends; its writers start with the first append.
    appends: append::AppendQueue,
    /// Bounds on whole-session work.
    limits: SessionLimits,
}

impl Store {
    /// A store over `pool` (already migrated) with the default [`SessionLimits`]. Starts
    /// nothing: the group-commit writers of appends (one thread on SQLite, whose writers are
    /// serialised anyway; a few tasks on PostgreSQL) start with the first append, inside its
    /// tokio runtime.
    pub fn new(pool: Pool) -> Store {
        Store {
            appends: append::AppendQueue::new(pool.clone()),
            pool,
            limits: SessionLimits::default(),
        }
    }

    /// The same store with `limits` instead.
    pub fn with_limits(mut self, limits: SessionLimits) -> Store {
        self.limits = limits;
        self
    }
}
