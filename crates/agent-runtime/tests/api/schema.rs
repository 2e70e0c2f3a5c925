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
