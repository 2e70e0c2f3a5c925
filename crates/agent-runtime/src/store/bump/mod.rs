//! The session-counter UPDATE that every append and pop runs, as a statement both backends
//! keep prepared.
//!
//! Diesel never caches the prepared statement of an `UPDATE` built with its DSL (a changeset
//! may turn out empty at run time, so `UpdateStatement` marks itself unsafe to cache). On the
//! append path that means SQLite parses and plans the statement on every call, and PostgreSQL
//! pays an extra round trip (Parse/Describe) plus planning on every call. [`BumpSession`]
//! writes the same statement by hand with a fixed text per [`BumpTarget`] variant, and
//! [`Shaped`] (through [`with_shape!`]) gives each text a type of its own, so diesel's
//! statement cache keeps it on both backends, found by type without building the text.

use super::{Counters, NewMessageRow};
use crate::schema::sessions;
use db_core::sql_types::{Json, JsonText};
use db_core::timestamp::DbTimestamp;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

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
        out.push_sql("UPDATE sessions SET message_count = message_count + ");
        out.push_bind_param::<BigInt, _>(&d.count)?;
        out.push_sql(", total_tokens = total_tokens + ");
        out.push_bind_param::<BigInt, _>(&d.tokens)?;
        out.push_sql(", user_messages = user_messages + ");
        out.push_bind_param::<BigInt, _>(&d.user)?;
        out.push_sql(", assistant_messages = assistant_messages + ");
        out.push_bind_param::<BigInt, _>(&d.assistant)?;
        out.push_sql(", system_messages = system_messages + ");
        out.push_bind_param::<BigInt, _>(&d.system)?;
        out.push_sql(", tool_messages = tool_messages + ");
        out.push_bind_param::<BigInt, _>(&d.tool)?;
        out.push_sql(", last_activity = ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(", last_message_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&self.last_ts)?;
        out.push_sql(", title = CASE WHEN title = '' THEN ");
        out.push_bind_param::<Text, _>(self.title)?;
        out.push_sql(" ELSE title END WHERE ");
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

/// Makes `$statement` a query that returns a `sessions` row and runs with `RunQueryDsl`, cached
/// by its SQL text (diesel's `StatementCacheKey::Sql`: no static query id), so each distinct
/// text keeps one prepared statement per connection.
macro_rules! session_statement {
    ($statement:ident) => {
        impl QueryId for $statement<'_> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl Query for $statement<'_> {
            type SqlType = sessions::SqlType;
        }

        impl<Conn> RunQueryDsl<Conn> for $statement<'_> {}
    };
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
/// append writer's instructions, BENCHMARKS.md). Build it with [`with_shape!`], which picks the
/// type from the value; `walk_ast` refuses a value of another shape, so a wrong pairing is an
/// error, never another text's cached statement.
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

impl<Conn, const SHAPE: u8> RunQueryDsl<Conn> for Shaped<'_, SHAPE> {}

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

/// Evaluates `$run` with `$q` bound to `$bump` (a [`BumpSession`]) as the [`Shaped`] of its
/// own shape, so the statement runs from diesel's statement cache by type. `$run` is expanded
/// once per shape and may `.await`.
macro_rules! with_shape {
    ($bump:expr, |$q:ident| $run:expr) => {{
        let bump: $crate::store::bump::BumpSession<'_> = $bump;
        // 5 last: `shape` has no other value, and `Shaped` refuses a mismatch anyway.
        $crate::store::bump::with_shape!(@arms bump, $q, $run, [0, 1, 2, 3, 4], 5)
    }};
    (@arms $bump:ident, $q:ident, $run:expr, [$($shape:literal),*], $last:literal) => {
        match $bump.shape() {
            $($shape => {
                let $q = $crate::store::bump::Shaped::<$shape>($bump);
                $run
            })*
            _ => {
                let $q = $crate::store::bump::Shaped::<$last>($bump);
                $run
            }
        }
    };
}
pub(crate) use with_shape;

/// One job's whole append as one statement, for PostgreSQL: the [`BumpSession`] UPDATE in a
/// data-modifying `WITH`, and the INSERT of the job's messages taking `session_db_id` and `seq`
/// from the row that UPDATE returns. Atomic without an explicit transaction, so a lone append
/// costs one round trip; inside a transaction several of them pipeline. Returns the updated
/// session row, or no row (having inserted nothing) when the UPDATE matched nothing.
///
/// SQLite has no data-modifying `WITH`: never run this there (the SQLite append runs
/// [`BumpSession`] and single-row INSERTs, inline in one synchronous transaction, instead).
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
        out.push_sql("WITH s AS (");
        self.bump.walk_ast(out.reborrow())?;
        out.push_sql(
            "), m AS (INSERT INTO messages (session_db_id, seq, role, content, name, \
            tool_call_id, tool_calls, token_count, metadata_json, timestamp) ",
        );
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            out.push_sql("SELECT s.id, s.message_count - ");
            out.push_bind_param::<BigInt, _>(&row.seq)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(row.role)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.content)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.name)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.tool_call_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Json>, _>(&row.tool_calls)?;
            out.push_sql(", ");
            out.push_bind_param::<Integer, _>(&row.token_count)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Json>, _>(&row.metadata_json)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&row.timestamp)?;
            out.push_sql(" FROM s");
        }
        out.push_sql(") SELECT ");
        out.push_sql(COLUMNS);
        out.push_sql(" FROM s");
        Ok(())
    }
}

// One cached text per target variant and message count.
session_statement!(BumpAndInsert);

#[cfg(test)]
mod tests {
    use super::*;
    use db_core::testing::{diesel_column_order, sqlite_sql};
    use diesel::prelude::*;

    /// The hand-written column list names the columns of `sessions::all_columns` in schema
    /// order, the order `SessionRow` loads them in.
    #[test]
    fn returning_lists_every_column_in_schema_order() {
        let columns = diesel_column_order(sessions::table.select(sessions::all_columns));
        let listed: Vec<&str> = COLUMNS.split(", ").collect();
        assert_eq!(columns, listed);
    }

    /// A counter UPDATE of `target` with zero deltas and title `t`, `RETURNING` the row.
    fn bump(target: BumpTarget<'_>) -> BumpSession<'_> {
        BumpSession {
            target,
            delta: Counters::default(),
            title: "t",
            at: DbTimestamp::default(),
            last_ts: None,
            count_at_most: i64::MAX,
            returning: true,
        }
    }

    /// Each target variant has its own text, and every value is a bind parameter.
    #[test]
    fn each_target_has_its_own_text_with_binds() {
        let live = sqlite_sql(&bump(BumpTarget::Live("s")));
        let owned = sqlite_sql(&bump(BumpTarget::LiveOwnedBy {
            session_id: "s",
            owner: "o",
        }));
        let row = sqlite_sql(&bump(BumpTarget::Row(7)));
        assert!(
            live.ends_with(&format!(
                "WHERE session_id = ? AND deleted_at IS NULL AND message_count <= ? RETURNING \
                 {COLUMNS}"
            )),
            "{live}"
        );
        assert!(
            owned.contains(
                "WHERE session_id = ? AND deleted_at IS NULL AND owner = ? AND message_count <= ? \
                 RETURNING"
            ),
            "{owned}"
        );
        assert!(
            row.contains(" WHERE id = ? AND message_count <= ? RETURNING"),
            "{row}"
        );
        assert_eq!(
            [&live, &owned, &row].map(|s| s.matches('?').count()),
            [11, 12, 11]
        );
        assert!(
            !live.contains("'s'") && !row.contains('7'),
            "values must be binds"
        );
    }

    /// One target of each variant.
    const TARGETS: [BumpTarget<'static>; 3] = [
        BumpTarget::Live("s"),
        BumpTarget::LiveOwnedBy {
            session_id: "s",
            owner: "o",
        },
        BumpTarget::Row(7),
    ];

    /// Without `RETURNING` the statement is the same text cut where `RETURNING` began; the
    /// one-statement append refuses an UPDATE without it.
    #[test]
    fn without_returning_the_update_is_the_same_text_cut_before_it() {
        for target in TARGETS {
            let with = bump(target);
            let without = BumpSession {
                returning: false,
                ..with
            };
            let (with, without) = (sqlite_sql(&with), sqlite_sql(&without));
            assert!(!without.contains("RETURNING"), "{without}");
            assert_eq!(with, format!("{without} RETURNING {COLUMNS}"));
        }
        let statement = BumpAndInsert {
            bump: BumpSession {
                returning: false,
                ..bump(BumpTarget::Live("s"))
            },
            rows: &[],
        };
        // Building its SQL fails (`sqlite_sql` panics on a query builder error).
        let built = std::panic::catch_unwind(|| sqlite_sql(&statement));
        assert!(built.is_err(), "built {:?}", built.ok());
    }

    /// Every shape names one text: the six (target, RETURNING) pairs get six shapes, each
    /// [`Shaped`] builds exactly its value's text and has a static query id of its own, and a
    /// value run under another shape is refused instead of reusing that shape's statement.
    #[test]
    fn each_shape_has_one_text_and_its_own_static_id() {
        use diesel::query_builder::QueryId;
        use std::any::TypeId;
        let mut seen = Vec::new();
        for target in TARGETS {
            for returning in [false, true] {
                let value = BumpSession {
                    returning,
                    ..bump(target)
                };
                let text = sqlite_sql(&value);
                let shaped = with_shape!(value, |q| (sqlite_sql(&q), q.0.shape()));
                assert_eq!(shaped, (text.clone(), value.shape()));
                seen.push((value.shape(), text));
            }
        }
        let shapes: Vec<u8> = seen.iter().map(|(shape, _)| *shape).collect();
        assert_eq!(shapes, [0, 1, 2, 3, 4, 5]);
        let texts: std::collections::BTreeSet<&String> = seen.iter().map(|(_, t)| t).collect();
        assert_eq!(texts.len(), 6, "six distinct texts");
        let ids = [
            Shaped::<0>::query_id(),
            Shaped::<1>::query_id(),
            Shaped::<2>::query_id(),
            Shaped::<3>::query_id(),
            Shaped::<4>::query_id(),
            Shaped::<5>::query_id(),
        ];
        assert!(ids.iter().all(Option::is_some), "{ids:?}");
        let distinct: std::collections::BTreeSet<Option<TypeId>> = ids.into_iter().collect();
        assert_eq!(distinct.len(), 6);

        let row = bump(BumpTarget::Row(7));
        let mismatched = Shaped::<0>(row);
        let built = std::panic::catch_unwind(|| sqlite_sql(&mismatched));
        assert!(built.is_err(), "built {:?}", built.ok());
    }

    /// The one-statement append updates the session first and inserts one SELECT per message
    /// from the row the UPDATE returned, every value bound.
    #[test]
    fn bump_and_insert_inserts_from_the_updated_row() {
        let row = |seq| NewMessageRow {
            session_db_id: 0,
            seq,
            role: "user",
            content: Some("hello".into()),
            name: None,
            tool_call_id: None,
            tool_calls: None,
            token_count: 3,
            metadata_json: None,
            timestamp: DbTimestamp::default(),
        };
        let rows = [row(1), row(0)];
        let statement = BumpAndInsert {
            bump: bump(BumpTarget::Live("s")),
            rows: &rows,
        };
        let sql = sqlite_sql(&statement);
        assert!(sql.starts_with("WITH s AS (UPDATE sessions SET "), "{sql}");
        assert!(sql.contains(" RETURNING id, session_id,"), "{sql}");
        assert!(
            sql.contains("), m AS (INSERT INTO messages (session_db_id, seq, role,"),
            "{sql}"
        );
        assert_eq!(
            sql.matches("SELECT s.id, s.message_count - ?").count(),
            2,
            "{sql}"
        );
        assert_eq!(sql.matches(" UNION ALL ").count(), 1, "{sql}");
        assert!(
            sql.ends_with(&format!(") SELECT {COLUMNS} FROM s")),
            "{sql}"
        );
        assert_eq!(sql.matches('?').count(), 11 + 2 * 9, "{sql}");
        assert!(!sql.contains("hello"), "values must be binds");
    }
}
