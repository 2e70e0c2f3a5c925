//! Unit tests of the hand-written session statements: their texts, binds and shapes.

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

/// The text and shape of the [`Shaped`] of `value`'s own shape, the pairing
/// [`BumpSession::returning_row`] and [`BumpSession::execute_blocking`] make by target.
fn shaped_sql(value: BumpSession<'_>) -> (String, u8) {
    match value.shape() {
        0 => (sqlite_sql(&Shaped::<0>(value)), 0),
        1 => (sqlite_sql(&Shaped::<1>(value)), 1),
        2 => (sqlite_sql(&Shaped::<2>(value)), 2),
        3 => (sqlite_sql(&Shaped::<3>(value)), 3),
        4 => (sqlite_sql(&Shaped::<4>(value)), 4),
        _ => (sqlite_sql(&Shaped::<5>(value)), 5),
    }
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
            let shaped = shaped_sql(value);
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
