//! Group commit: the queue of waiting calls, the writers that drain it, and what one batch
//! does (see the steps in [`super`]).

use super::call::{Call, Outcome};
use super::{Appended, postgres, sequential, sqlite};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;
use db_core::timestamp::now;
use db_core::{Backend, Pool};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most AppendMessages calls coalesced into one transaction.
const MAX_BATCH_JOBS: usize = 128;
/// Most messages in one coalesced transaction.
const MAX_BATCH_MESSAGES: usize = 4_096;

/// Group-commit writers on PostgreSQL: each runs one coalesced transaction at a time on its own
/// connection, so commits of different batches still overlap (PostgreSQL shares their WAL
/// flushes), while each batch pays BEGIN/COMMIT once for all its calls. Four measured 7 %
/// faster than two with 8 clients and 2 % slower with 32 (BENCHMARKS.md).
const POSTGRES_APPEND_WRITERS: usize = 4;

/// Group commit of appends.
///
/// Writers own the appends: each takes every call waiting in the queue (up to
/// [`MAX_BATCH_JOBS`] calls or [`MAX_BATCH_MESSAGES`] messages) and writes them together — one
/// BEGIN, per call one UPDATE and its INSERTs, one commit and fsync — and only then answers
/// each caller. Under load the batch grows by itself; an idle service commits each call alone,
/// with no added delay. Durability is unchanged: nobody is answered before the commit that
/// holds their messages.
///
/// On SQLite the one writer is a thread of its own (a long-lived task on tokio's blocking
/// pool) that runs every statement of a batch on that thread (its connections come from
/// [`Pool::get_inline`]), fsync included, so no tokio worker is ever blocked by a commit and
/// the callers it answers can run on any worker at once. On PostgreSQL the writers are
/// [`POSTGRES_APPEND_WRITERS`] tokio tasks: each batch updates its sessions in `session_id`
/// order, so two batches touching the same sessions wait for each other instead of
/// deadlocking.
///
/// The writers start with the first append, not with the queue: a store that never appends
/// (`codelab db cleanup`) starts nothing. They stop when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct AppendQueue {
    pool: Pool,
    /// The writers' queue, once the first append has started them.
    tx: Arc<OnceLock<mpsc::Sender<Call>>>,
}

impl AppendQueue {
    /// A queue whose writers will append over `pool` (already migrated). Starts nothing.
    pub(crate) fn new(pool: Pool) -> AppendQueue {
        AppendQueue {
            pool,
            tx: Arc::default(),
        }
    }

    /// Queues `call`, starting the writers if this is the first append, and waits for its
    /// durable outcome on `outcome`.
    ///
    /// # Errors
    /// The call's own (see [`Store::append_messages`](crate::store::Store::append_messages));
    /// `Unavailable` once the writers have stopped; `Internal` when a writer dropped the call
    /// (it panicked).
    pub(super) async fn submit(
        &self,
        call: Call,
        outcome: oneshot::Receiver<Outcome>,
    ) -> Result<Appended> {
        let tx = self.tx.get_or_init(|| start_writers(self.pool.clone()));
        tx.send(call)
            .await
            .map_err(|_| Error::Unavailable("append writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| Error::Internal("append writer dropped a request".into()))?
    }
}

/// Starts the writers over `pool` and returns the queue they drain; they stop once every
/// sender is gone. Called inside a tokio runtime (by the first append).
fn start_writers(pool: Pool) -> mpsc::Sender<Call> {
    let (tx, rx) = mpsc::channel::<Call>(4 * MAX_BATCH_JOBS);
    match pool.backend() {
        Backend::Sqlite => spawn_sqlite_writer(pool, rx),
        Backend::Postgres => spawn_postgres_writers(pool, rx),
    }
    tx
}

/// The one SQLite writer, a thread of its own (see [`AppendQueue`]). A panic fails the calls
/// of its batch not yet answered (their callers see `Internal`), and the writer goes on with
/// the next batch.
fn spawn_sqlite_writer(pool: Pool, mut rx: mpsc::Receiver<Call>) {
    let runtime = tokio::runtime::Handle::current();
    // Ends when every queue handle is gone; the runtime's shutdown waits for it.
    drop(tokio::task::spawn_blocking(move || {
        while let Some(first) = rx.blocking_recv() {
            let batch = fill_batch(first, &mut rx);
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(write_batch(&pool, batch))
            }));
            if written.is_err() {
                tracing::error!(
                    "append writer panicked; the calls of its batch not yet answered failed"
                );
            }
        }
    }));
}

/// The PostgreSQL writers: [`POSTGRES_APPEND_WRITERS`] tasks taking batches from one queue.
fn spawn_postgres_writers(pool: Pool, rx: mpsc::Receiver<Call>) {
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..POSTGRES_APPEND_WRITERS {
        let rx = rx.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&rx).await {
                write_batch(&pool, batch).await;
            }
        });
    }
}

/// The next batch: waits for one call, then takes whatever else is already queued. `None`
/// once every queue handle is gone.
async fn next_batch(rx: &Mutex<mpsc::Receiver<Call>>) -> Option<Vec<Call>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    Some(fill_batch(first, &mut rx))
}

/// `first` and whatever else is already queued on `rx`, up to [`MAX_BATCH_JOBS`] calls or
/// [`MAX_BATCH_MESSAGES`] messages.
fn fill_batch(first: Call, rx: &mut mpsc::Receiver<Call>) -> Vec<Call> {
    let mut messages = first.rows.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_JOBS && messages < MAX_BATCH_MESSAGES {
        match rx.try_recv() {
            Ok(next) => {
                messages += next.rows.len();
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    batch
}

/// Writes one batch and answers each of its calls: first the calls whose session can take
/// them, then, in a second transaction, the rest (see [`super`]).
async fn write_batch(pool: &Pool, mut calls: Vec<Call>) {
    // Sessions are updated in `session_id` order, so two batches touching the same sessions
    // wait for each other instead of deadlocking.
    calls.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let at = now();
    for call in &mut calls {
        call.stamp(at);
    }
    let outcomes = isolated(pool, Step::Existing, &mut calls, at).await;
    let mut rest = Vec::new();
    for (call, outcome) in calls.into_iter().zip(outcomes) {
        match outcome {
            Some(outcome) => call.answer(outcome),
            None => rest.push(call),
        }
    }
    if rest.is_empty() {
        return;
    }
    let outcomes = isolated(pool, Step::OneByOne, &mut rest, at).await;
    for (call, outcome) in rest.into_iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| Err(Error::Internal("append left a call".into())));
        call.answer(outcome);
    }
}

/// One transaction of a batch.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Every call whose session exists, is live, is the caller's and has room; the others are
    /// left (`None`) and write nothing.
    Existing,
    /// Every call, one after another, creating sessions where asked.
    OneByOne,
}

impl Step {
    /// Runs this step on `calls` in one transaction: one outcome per call, in order (`None`:
    /// left for the next step). `Err` when the transaction failed and nothing was committed.
    /// The SQLite body takes the calls and gives them back; if it could not run at all they
    /// are gone, with the error.
    async fn run(
        self,
        pool: &Pool,
        calls: &mut Vec<Call>,
        at: NaiveDateTime,
    ) -> Result<Vec<Option<Outcome>>> {
        match (self, pool.backend()) {
            (Step::Existing, Backend::Sqlite) => sqlite::append_existing(pool, calls, at).await,
            (Step::Existing, Backend::Postgres) => postgres::append_existing(pool, calls, at).await,
            (Step::OneByOne, _) => {
                // On SQLite this runs on the writer's thread: every statement at once, there.
                let mut conn = pool.get_inline().await?;
                let outcomes = db_core::transaction!(conn, |c| {
                    sequential::append_one_by_one(c, calls, at).await
                })?;
                Ok(outcomes.into_iter().map(Some).collect())
            }
        }
    }
}

/// Runs `step` on `calls` together; when that fails with a statement error (see
/// [`is_statement_error`]), nothing was committed and each call runs the step again alone, in
/// a transaction of its own, so only the call that caused the error fails. One outcome per
/// call still in `calls`, in order (`None`: left for the next step).
async fn isolated(
    pool: &Pool,
    step: Step,
    calls: &mut Vec<Call>,
    at: NaiveDateTime,
) -> Vec<Option<Outcome>> {
    let err = match step.run(pool, calls, at).await {
        Ok(outcomes) => return outcomes,
        Err(e) => e,
    };
    match calls.len() {
        // Gone with the work that failed: their callers see their reply dropped.
        0 => return Vec::new(),
        1 => return vec![Some(Err(err))],
        _ => {}
    }
    if !is_statement_error(&err) {
        return calls.iter().map(|_| Some(Err(err.replicate()))).collect();
    }
    tracing::warn!(error = %err, calls = calls.len(), "append transaction failed; running its calls one by one");
    let mut outcomes = Vec::with_capacity(calls.len());
    for call in std::mem::take(calls) {
        let mut one = vec![call];
        one[0].reset();
        let outcome = match step.run(pool, &mut one, at).await {
            Ok(mut done) => done
                .pop()
                .unwrap_or_else(|| Some(Err(Error::Internal("append produced no outcome".into())))),
            Err(e) => Some(Err(e)),
        };
        if let Some(call) = one.pop() {
            calls.push(call);
            outcomes.push(outcome);
        }
    }
    outcomes
}

/// Whether `e` is a statement's error (a value or constraint the database refused, a bug)
/// rather than an outage: a shared transaction that failed with it is run again call by call,
/// so the one call that caused it fails alone. An outage fails the batch without retry
/// (retrying each call would wait for the database once per call).
fn is_statement_error(e: &Error) -> bool {
    matches!(e, Error::Internal(_))
}
