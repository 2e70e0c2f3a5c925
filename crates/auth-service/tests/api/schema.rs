//! `src/schema.rs` matches both backends' migrations, and the migrations go down and up again.

use auth_service::schema::*;
use db_core::Backend;
use db_core::testing::{TestDb, database_columns, diesel_columns};
use diesel::prelude::*;

async fn schema_matches_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let pool = db_core::Pool::connect(db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    let applied = db_core::migrate::run_pending(&pool, &auth_service::migrations::MIGRATIONS)
        .await
        .unwrap();
    assert_eq!(applied.len(), 2, "{applied:?}");
    let expected = [
        (
            "users",
            diesel_columns(users::table.select(users::all_columns)),
        ),
        (
            "oauth_clients",
            diesel_columns(oauth_clients::table.select(oauth_clients::all_columns)),
        ),
        (
            "refresh_tokens",
            diesel_columns(refresh_tokens::table.select(refresh_tokens::all_columns)),
        ),
        (
            "signing_keys",
            diesel_columns(signing_keys::table.select(signing_keys::all_columns)),
        ),
        (
            "audit_logs",
            diesel_columns(audit_logs::table.select(audit_logs::all_columns)),
        ),
        (
            "login_attempts",
            diesel_columns(login_attempts::table.select(login_attempts::all_columns)),
        ),
    ];
    for (table, columns) in expected {
        assert!(!columns.is_empty());
        assert_eq!(
            database_columns(&pool, table).await,
            columns,
            "{backend} table {table}"
        );
    }
}

/// Every migration up, down and up again gives the same schema (tables, columns, types,
/// nullability, indexes, foreign keys), with no drift; down leaves no table behind.
async fn migrations_go_down_and_up_again(backend: Backend) {
    let up = db_core::testing::assert_migrations_round_trip(
        backend,
        &auth_service::migrations::MIGRATIONS,
    )
    .await;
    assert_eq!(
        up.tables.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "audit_logs",
            "login_attempts",
            "oauth_clients",
            "refresh_tokens",
            "signing_keys",
            "users"
        ]
    );
}

crate::backend_tests!(schema_matches_migrations, migrations_go_down_and_up_again);
