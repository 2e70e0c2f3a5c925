//! The session-counter UPDATE that every append and pop runs, as a statement both backends
//! keep prepared, and PostgreSQL's whole append as one statement.
//!
//! Diesel never caches the prepared statement of an `UPDATE` built with its DSL (a changeset
//! may turn out empty at run time, so `UpdateStatement` marks itself unsafe to cache). On the
//! append path that means SQLite parses and plans the statement on every call, and PostgreSQL
//! pays an extra round trip (Parse/Describe) plus planning on every call. [`BumpSession`]
//! writes the same statement by hand with a fixed text per [`BumpTarget`] variant, and
//! [`Shaped`] gives each text a type of its own, so diesel's statement cache keeps it on both
//! backends, found by type without building the text. [`BumpSession::returning_row`] and
//! [`BumpSession::execute_blocking`] run it.
//!
//! The SQL is hand-written in `update_session.sql` and `append_in_one_statement.sql`, next to
//! this file: each `?` there is one bound value, bound in order by the `walk_ast` below.

use super::rows::{Counters, NewMessageRow, SessionRow};
use crate::schema::sessions;
use db_core::sql_types::{Json, JsonText};
use db_core::timestamp::DbTimestamp;
use db_core::{BlockingConn, Conn};
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{OptionalExtension, QueryResult};

/// The counter UPDATE up to its `WHERE`: nine `?`, bound in order to the six counter deltas
/// (`message_count`, `total_tokens`, user, assistant, system, tool), `last_activity`,
/// `last_message_at` and the title an untitled session takes.
const UPDATE_SESSION: &str = include_str!("update_session.sql");

/// [`BumpAndInsert`]: `{update}` is the [`BumpSession`] with `RETURNING`, `{messages}` one
/// [`MESSAGE_FROM_UPDATE`] per message joined by `UNION ALL`, `{columns}` [`COLUMNS`].
const APPEND_IN_ONE_STATEMENT: &str = include_str!("append_in_one_statement.sql");

/// One message of [`BumpAndInsert`], its `session_db_id` and `seq` taken from the updated
/// session `s`; the `?` are bound in order to the distance from the call's last message, role,
/// content, name, tool_call_id, tool_calls, token_count, metadata_json and timestamp.
const MESSAGE_FROM_UPDATE: &str = "SELECT s.id, s.message_count - ?, ?, ?, ?, ?, ?, ?, ?, ? FROM s";

/// Hand-written SQL pushed piece by piece: [`Pieces::push`] pushes the text up to its next `?`
/// (or to its end), and the caller then binds that `?`'s value.
struct Pieces(std::str::Split<'static, char>);

impl Pieces {
    fn of(sql: &'static str) -> Pieces {
        Pieces(sql.trim_end().split('?'))
    }

    fn push<DB: Backend>(&mut self, out: &mut AstPass<'_, '_, DB>) {
        if let Some(piece) = self.0.next() {
            out.push_sql(piece);
        }
    }
}

/// Which session row a [`BumpSession`] updates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BumpTarget<'a> {
    /// The not soft-deleted session with this public `session_id`, whoever owns it (admin
    /// callers).
    Live(&'a str),
    /// The not soft-deleted session with this public `session_id`, only when `owner` is the
    /// given subject.
    LiveOwnedBy {
        /// The public session id.
        session_id: &'a str,
        /// The caller's subject.
        owner: &'a str,
    },
    /// The session row with this database id, deleted or not (the caller has checked it).
    Row(i64),
}

impl<'a> BumpTarget<'a> {
    /// The live session `session_id` as `access` may write it: any owner's for an admin,
    /// otherwise only the caller's own.
    pub(crate) fn live(access: &'a crate::model::Access, session_id: &'a str) -> BumpTarget<'a> {
        if access.admin {
            BumpTarget::Live(session_id)
        } else {
            BumpTarget::LiveOwnedBy {
                session_id,
                owner: &access.subject,
            }
        }
    }
}

/// `UPDATE sessions` adding `delta` to the counters, setting `last_activity = at` and
/// `last_message_at = last_ts`, giving an untitled session `title`, and, when `returning` is
/// set, `RETURNING` every column (in schema order, so the row loads as
/// [`SessionRow`](super::SessionRow)). Matches no row when the target does not exist, is
/// soft-deleted (`Live*`), belongs to someone else (`LiveOwnedBy`) or has no room left
/// (`count_at_most`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BumpSession<'a> {
    /// The row to update.
    pub target: BumpTarget<'a>,
    /// Added to `message_count`, `total_tokens` and the per-role counts (negative for a pop).
    pub delta: Counters,
    /// Replaces the title only when it is empty.
    pub title: &'a str,
    /// The new `last_activity`.
    pub at: DbTimestamp,
    /// The new `last_message_at` (`None` once the session has no message).
    pub last_ts: Option<DbTimestamp>,
    /// The UPDATE matches only a row whose `message_count` is at most this: the session cap
    /// minus the messages added (`i64::MAX` for no cap). A session with no room left matches
    /// nothing, like an absent one, and the caller finds out which it was.
    pub count_at_most: i64,
    /// Ends the statement with `RETURNING` every column; when `false`, run it with `execute`
    /// (rows updated: 1, or 0 when the target matches nothing) and read the row back.
    ///
    /// SQLite's append writer sets `false`. SQLite implements `RETURNING` as a trigger that
    /// stages the returned rows in a temporary b-tree, and the trigger makes the UPDATE a
    /// multi-write statement, so inside a transaction it also keeps a statement journal: a
    /// 4 KiB copy of every page the UPDATE changes (the session row's page and the pages of its
    /// four `last_activity` indexes). The same one-row UPDATE without `RETURNING` needs neither.
    /// Source: <https://www.sqlite.org/lang_returning.html> ("Internal processing"); sqlite3.c,
    /// `sqlite3BeginWriteOperation` and `usesStmtJournal`.
    pub returning: bool,
}

/// Every column of `sessions` in schema order (checked by a test against
/// `sessions::all_columns`), the order [`SessionRow`](super::SessionRow) loads them in.
const COLUMNS: &str = "id, session_id, owner, title, description, metadata_json, created_at, \
    last_activity, is_active, deleted_at, message_count, total_tokens, user_messages, \
    assistant_messages, system_messages, tool_messages, last_message_at";

impl<DB> QueryFragment<DB> for BumpSession<'_>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text> + HasSqlType<Timestamp>,
    DB: HasSqlType<Nullable<Timestamp>>,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
    DbTimestamp: ToSql<Timestamp, DB>,
    Option<DbTimestamp>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let d = &self.delta;
        let mut sql = Pieces::of(UPDATE_SESSION);
        for delta in [
            &d.count,
            &d.tokens,
            &d.user,
            &d.assistant,
            &d.system,
            &d.tool,
        ] {
            sql.push(&mut out);
            out.push_bind_param::<BigInt, _>(delta)?;
        }
        sql.push(&mut out);
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        sql.push(&mut out);
        out.push_bind_param::<Nullable<Timestamp>, _>(&self.last_ts)?;
        sql.push(&mut out);
        out.push_bind_param::<Text, _>(self.title)?;
        sql.push(&mut out);
        out.push_sql(" WHERE ");
        match &self.target {
            BumpTarget::Live(id) => {
                out.push_sql("session_id = ");
                out.push_bind_param::<Text, _>(*id)?;
                out.push_sql(" AND deleted_at IS NULL");
            }
            BumpTarget::LiveOwnedBy { session_id, owner } => {
                out.push_sql("session_id = ");
                out.push_bind_param::<Text, _>(*session_id)?;
                out.push_sql(" AND deleted_at IS NULL AND owner = ");
                out.push_bind_param::<Text, _>(*owner)?;
            }
            BumpTarget::Row(id) => {
                out.push_sql("id = ");
                out.push_bind_param::<BigInt, _>(id)?;
            }
        }
        out.push_sql(" AND message_count <= ");
        out.push_bind_param::<BigInt, _>(&self.count_at_most)?;
        if self.returning {
            out.push_sql(" RETURNING ");
            out.push_sql(COLUMNS);
        }
        Ok(())
    }
}

impl BumpSession<'_> {
    /// Which of the six SQL texts this statement has: the target variant (`Live` 0,
    /// `LiveOwnedBy` 1, `Row` 2) times two, plus one with `RETURNING`. The text depends on
    /// nothing else; [`Shaped`] carries it in its type.
    pub(crate) fn shape(&self) -> u8 {
        let target = match self.target {
            BumpTarget::Live(_) => 0,
            BumpTarget::LiveOwnedBy { .. } => 1,
            BumpTarget::Row(_) => 2,
        };
        target * 2 + u8::from(self.returning)
    }
}

/// A [`BumpSession`] whose SQL text is fixed by its type: `SHAPE` is
/// [`BumpSession::shape`]. diesel then keys its cached prepared statement by the type
/// (`StatementCacheKey::Type`) and reuses it without building the text and hashing it on every
/// run, as it must for a statement without a static query id (measured at ~15 % of the SQLite
/// append writer's instructions, BENCHMARKS.md). [`BumpSession::returning_row`] and
/// [`BumpSession::execute_blocking`] pick the type from the value's target; `walk_ast` refuses
/// a value of another shape, so a wrong pairing is an error, never another text's cached
/// statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shaped<'a, const SHAPE: u8>(pub BumpSession<'a>);

/// The static query id of [`Shaped`]`<SHAPE>`.
#[derive(Debug)]
pub(crate) struct ShapeId<const SHAPE: u8>;

impl<const SHAPE: u8> QueryId for Shaped<'_, SHAPE> {
    type QueryId = ShapeId<SHAPE>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SHAPE: u8> Query for Shaped<'_, SHAPE> {
    type SqlType = sessions::SqlType;
}

impl<Conn, const SHAPE: u8> diesel::RunQueryDsl<Conn> for Shaped<'_, SHAPE> {}

impl<DB, const SHAPE: u8> QueryFragment<DB> for Shaped<'_, SHAPE>
where
    DB: Backend,
    for<'x> BumpSession<'x>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.0.shape() != SHAPE {
            return Err(diesel::result::Error::QueryBuilderError(
                format!(
                    "session UPDATE of shape {} run as shape {SHAPE}",
                    self.0.shape()
                )
                .into(),
            ));
        }
        self.0.walk_ast(out)
    }
}

impl BumpSession<'_> {
    /// Runs this UPDATE with `RETURNING` on `c` (either backend, inside the caller's
    /// transaction): the updated session row, or `None` when it matched nothing. The
    /// statement comes from diesel's statement cache by type: the [`Shaped`] of its target's
    /// variant (shapes 1, 3, 5, see [`BumpSession::shape`]).
    pub(crate) async fn returning_row(self, c: &mut impl Conn) -> QueryResult<Option<SessionRow>> {
        use diesel_async::RunQueryDsl;
        let bump = BumpSession {
            returning: true,
            ..self
        };
        db_core::on_conn!(c, |c| match bump.target {
            BumpTarget::Live(_) => Shaped::<1>(bump).get_result::<SessionRow>(c).await,
            BumpTarget::LiveOwnedBy { .. } => Shaped::<3>(bump).get_result(c).await,
            BumpTarget::Row(_) => Shaped::<5>(bump).get_result(c).await,
        })
        .optional()
    }

    /// Runs this UPDATE without `RETURNING` on SQLite's synchronous connection (inside the
    /// caller's transaction): the rows updated, 1, or 0 when it matched nothing. From diesel's
    /// statement cache by type (shapes 0, 2, 4).
    pub(crate) fn execute_blocking(self, c: &mut BlockingConn) -> QueryResult<usize> {
        use diesel::RunQueryDsl;
        let bump = BumpSession {
            returning: false,
            ..self
        };
        match bump.target {
            BumpTarget::Live(_) => Shaped::<0>(bump).execute(c),
            BumpTarget::LiveOwnedBy { .. } => Shaped::<2>(bump).execute(c),
            BumpTarget::Row(_) => Shaped::<4>(bump).execute(c),
        }
    }
}

/// One job's whole append as one statement, for PostgreSQL: the [`BumpSession`] UPDATE in a
/// data-modifying `WITH`, and the INSERT of the job's messages taking `session_db_id` and `seq`
/// from the row that UPDATE returns. Atomic without an explicit transaction, so a lone append
/// costs one round trip; inside a transaction several of them pipeline. Returns the updated
/// session row, or no row (having inserted nothing) when the UPDATE matched nothing.
///
/// SQLite has no data-modifying `WITH`: never run this there (the SQLite append runs
/// [`BumpSession`] and single-row INSERTs in one synchronous transaction instead).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BumpAndInsert<'a> {
    /// The counter UPDATE; `bump.delta.count` must equal `rows.len()`.
    pub bump: BumpSession<'a>,
    /// The job's messages in order. `session_db_id` is ignored (taken from the updated
    /// session); `seq` must hold the message's distance from the job's last one (n - k for the
    /// k-th of n), and the stored `seq` is the updated `message_count` minus it.
    pub rows: &'a [NewMessageRow],
}

impl<DB> QueryFragment<DB> for BumpAndInsert<'_>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text> + HasSqlType<Timestamp>,
    DB: HasSqlType<Nullable<Timestamp>> + HasSqlType<Nullable<Text>> + HasSqlType<Integer>,
    DB: HasSqlType<Nullable<Json>>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    str: ToSql<Text, DB>,
    DbTimestamp: ToSql<Timestamp, DB>,
    Option<DbTimestamp>: ToSql<Nullable<Timestamp>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<JsonText>: ToSql<Nullable<Json>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.bump.returning {
            return Err(diesel::result::Error::QueryBuilderError(
                "BumpAndInsert needs the UPDATE's RETURNING row".into(),
            ));
        }
        let (before_update, rest) = split_at_marker(APPEND_IN_ONE_STATEMENT, "{update}")?;
        let (before_messages, rest) = split_at_marker(rest, "{messages}")?;
        let (before_columns, after_columns) = split_at_marker(rest, "{columns}")?;
        out.push_sql(before_update);
        self.bump.walk_ast(out.reborrow())?;
        out.push_sql(before_messages);
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            let mut sql = Pieces::of(MESSAGE_FROM_UPDATE);
            sql.push(&mut out);
            out.push_bind_param::<BigInt, _>(&row.seq)?;
            sql.push(&mut out);
            out.push_bind_param::<Text, _>(row.role)?;
            for text in [&row.content, &row.name, &row.tool_call_id] {
                sql.push(&mut out);
                out.push_bind_param::<Nullable<Text>, _>(text)?;
            }
            sql.push(&mut out);
            out.push_bind_param::<Nullable<Json>, _>(&row.tool_calls)?;
            sql.push(&mut out);
            out.push_bind_param::<Integer, _>(&row.token_count)?;
            sql.push(&mut out);
            out.push_bind_param::<Nullable<Json>, _>(&row.metadata_json)?;
            sql.push(&mut out);
            out.push_bind_param::<Timestamp, _>(&row.timestamp)?;
            sql.push(&mut out);
        }
        out.push_sql(before_columns);
        out.push_sql(COLUMNS);
        out.push_sql(after_columns.trim_end());
        Ok(())
    }
}

/// `sql` cut around `marker`: the text before it and the text after it.
fn split_at_marker<'a>(sql: &'a str, marker: &str) -> QueryResult<(&'a str, &'a str)> {
    sql.split_once(marker).ok_or_else(|| {
        diesel::result::Error::QueryBuilderError(format!("no {marker} in the SQL template").into())
    })
}

// Cached by its SQL text (diesel's `StatementCacheKey::Sql`, no static query id): one prepared
// statement per target variant and message count.
impl QueryId for BumpAndInsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for BumpAndInsert<'_> {
    type SqlType = sessions::SqlType;
}

impl<Conn> diesel::RunQueryDsl<Conn> for BumpAndInsert<'_> {}

#[cfg(test)]
mod tests;
