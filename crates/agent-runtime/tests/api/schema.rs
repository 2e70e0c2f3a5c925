//! `src/schema.rs` matches both backends' migrations.

use agent_runtime::schema::*;
use db_core::Backend;
use db_core::testing::TestDb;
use db_core::testing::diesel_columns;
use diesel::prelude::*;
use std::collections::BTreeSet;

async fn database_columns(db: &TestDb, table: &str) -> BTreeSet<String> {
    let pool = db_core::Pool::connect(db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    db_core::migrate::run_pending(&pool, &agent_runtime::migrations::MIGRATIONS)
        .await
        .unwrap();
    db_core::testing::database_columns(&pool, table).await
}

async fn schema_matches_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let expected = [
        (
            "sessions",
            diesel_columns(sessions::table.select(sessions::all_columns)),
        ),
        (
            "messages",
            diesel_columns(messages::table.select(messages::all_columns)),
        ),
        (
            "agent_contexts",
            diesel_columns(agent_contexts::table.select(agent_contexts::all_columns)),
        ),
        (
            "agent_switches",
            diesel_columns(agent_switches::table.select(agent_switches::all_columns)),
        ),
        (
            "pending_approvals",
            diesel_columns(pending_approvals::table.select(pending_approvals::all_columns)),
        ),
    ];
    for (table, columns) in expected {
        assert_eq!(
            database_columns(&db, table).await,
            columns,
            "{backend} table {table}"
        );
    }
}

/// Every migration up, down and up again gives the same schema, with no drift.
async fn migrations_go_down_and_up_again(backend: Backend) {
    let up = db_core::testing::assert_migrations_round_trip(
        backend,
        &agent_runtime::migrations::MIGRATIONS,
    )
    .await;
    assert_eq!(up.tables.len(), 5);
}

crate::backend_tests!(schema_matches_migrations, migrations_go_down_and_up_again);

/// The first migration's version, before the role CHECK became four equalities.
const FIRST: &str = "20261121000000";
/// The migration that made the role CHECK four equalities.
const ROLE_CHECK: &str = "20261204000000";

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Rows of a one-column text query, read on a plain SQLite connection.
fn lines(c: &mut diesel::sqlite::SqliteConnection, sql: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    let rows: Vec<Line> = diesel::sql_query(sql).load(c).unwrap();
    rows.into_iter().map(|r| r.line).collect()
}

#[derive(diesel::QueryableByName)]
struct Instruction {
    #[diesel(sql_type = diesel::sql_types::Text)]
    opcode: String,
}

/// Whether the INSERT of a message builds a temporary b-tree (`OpenEphemeral` in its program).
fn insert_builds_a_btree(c: &mut diesel::sqlite::SqliteConnection) -> bool {
    use diesel::RunQueryDsl;
    let program: Vec<Instruction> = diesel::sql_query(
        "EXPLAIN INSERT INTO messages (session_db_id, seq, role, timestamp) \
         VALUES (1, 99, 'user', 'x')",
    )
    .load(c)
    .unwrap();
    assert!(!program.is_empty(), "EXPLAIN lists the program");
    program.iter().any(|i| i.opcode == "OpenEphemeral")
}

/// Inserts message `seq` of session 1 with `role`; `Err` with SQLite's message when refused.
fn insert_message(
    c: &mut diesel::sqlite::SqliteConnection,
    seq: i64,
    role: &str,
) -> Result<(), String> {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "INSERT INTO messages (session_db_id, seq, role, content, timestamp) \
         VALUES (1, {seq}, '{role}', 'm{seq}', '2026-12-04 00:00:00')"
    ))
    .execute(c)
    .map(drop)
    .map_err(|e| e.to_string())
}

/// A database of the first schema, holding messages, is upgraded in place: the table's text
/// changes, no row is rewritten or lost, the database checks clean, an unknown role is still
/// refused, the INSERT no longer builds a temporary b-tree, and the migration goes back down to
/// the first text.
#[tokio::test]
async fn sqlite_role_check_upgrade_edits_the_table_in_place() {
    use db_core::migrate::{self, RollbackTarget};
    use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};
    let set = &agent_runtime::migrations::MIGRATIONS;
    let db = TestDb::new(Backend::Sqlite).await;
    migrate::migrate(db.url(), set, Some(FIRST)).await.unwrap();
    let path = db.url().sqlite_path().unwrap().to_str().unwrap().to_owned();
    // Opened before the upgrade: it must see the new text without reconnecting.
    let mut c = SqliteConnection::establish(&path).unwrap();
    diesel::sql_query(
        "INSERT INTO sessions (session_id, owner, created_at, last_activity) \
         VALUES ('s', 'alice', '2026-12-04 00:00:00', '2026-12-04 00:00:00')",
    )
    .execute(&mut c)
    .unwrap();
    for (seq, role) in (1..).zip(["user", "assistant", "system", "tool"]) {
        insert_message(&mut c, seq, role).unwrap();
    }
    assert!(insert_builds_a_btree(&mut c), "the first schema's CHECK");
    let table_sql = "SELECT sql AS line FROM sqlite_schema WHERE name = 'messages'";
    let before = lines(&mut c, table_sql);

    assert_eq!(
        migrate::migrate(db.url(), set, Some(ROLE_CHECK))
            .await
            .unwrap(),
        [ROLE_CHECK]
    );
    let after = lines(&mut c, table_sql);
    assert!(
        after[0].contains(
            "CHECK (role = 'user' OR role = 'assistant' OR role = 'system' OR role = 'tool')"
        ) && !after[0].contains(" IN ("),
        "{after:?}"
    );
    assert_eq!(
        after[0].replace(
            "role = 'user' OR role = 'assistant' OR role = 'system' OR role = 'tool'",
            "role IN ('user', 'assistant', 'system', 'tool')"
        ),
        before[0],
        "nothing else of the table changed"
    );
    assert_eq!(
        lines(
            &mut c,
            "SELECT integrity_check AS line FROM pragma_integrity_check"
        ),
        ["ok"]
    );
    assert!(
        lines(
            &mut c,
            "SELECT \"table\" AS line FROM pragma_foreign_key_check"
        )
        .is_empty()
    );
    assert_eq!(
        lines(
            &mut c,
            "SELECT group_concat(role, ',') AS line FROM (SELECT role FROM messages ORDER BY seq)"
        ),
        ["user,assistant,system,tool"]
    );
    assert!(!insert_builds_a_btree(&mut c), "the upgraded CHECK");
    let refused = insert_message(&mut c, 5, "bogus").unwrap_err();
    assert!(
        refused.contains("CHECK constraint failed: valid_role"),
        "{refused}"
    );
    insert_message(&mut c, 5, "tool").unwrap();
    assert!(
        lines(
            &mut c,
            "SELECT name AS line FROM sqlite_schema WHERE name LIKE '__codelab_schema%'"
        )
        .is_empty(),
        "the helper table is gone"
    );
    assert!(
        db_core::admin::drift(db.url(), set)
            .await
            .unwrap()
            .is_empty()
    );

    migrate::rollback(db.url(), set, RollbackTarget::Steps(1))
        .await
        .unwrap();
    assert_eq!(lines(&mut c, table_sql), before);
    assert!(insert_builds_a_btree(&mut c));
    assert!(insert_message(&mut c, 6, "bogus").is_err());
    assert_eq!(
        lines(
            &mut c,
            "SELECT integrity_check AS line FROM pragma_integrity_check"
        ),
        ["ok"]
    );
}
