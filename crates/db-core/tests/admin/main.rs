//! Migration and admin engine tests on real databases (a fresh SQLite file or PostgreSQL
//! database per test), over a small fixture schema in `tests/migrations`.
#![allow(missing_docs)]

mod backups;
mod fuzz;
mod limits;
mod migrations;
mod owner_only;
mod pool;
mod tls;
mod tls_cluster;

use db_core::admin::backup::{self, BackupOptions, Compression};
use db_core::admin::{self, NoProgress};
use db_core::migrate::MigrationSet;
use db_core::{Backend, DbUrl, Pool, PoolConfig};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use std::path::Path;

pub static SET: MigrationSet = db_core::migration_set!(
    "library",
    root = "tests/migrations",
    [
        "2026-01-01-000000_create_authors",
        "2026-01-02-000000_create_books",
        "2026-01-03-000000_add_isbn",
    ]
);

pub const V1: &str = "20260101000000";
pub const V2: &str = "20260102000000";
pub const V3: &str = "20260103000000";

pub use db_core::backend_tests;

pub async fn exec(url: &DbUrl, sql: &str) {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(c, sql)
            .await
            .unwrap()
    });
}

pub async fn try_exec(url: &DbUrl, sql: &str) -> Result<(), String> {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel_async::SimpleAsyncConnection::batch_execute(c, sql)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Inserts a known data set: ids with gaps, NULLs, booleans, timestamps, JSON, floats, quotes.
pub async fn seed(url: &DbUrl) {
    exec(
        url,
        "INSERT INTO authors (id, name, active, born_at, meta) VALUES \
         (1, 'Ann O''Neil', TRUE, '2020-01-02 03:04:05.123456', '{\"tags\":[\"a\",\"b\"],\"n\":1}'), \
         (5, 'Bo \"quoted\" \\ back', FALSE, NULL, NULL), \
         (7, 'Ünïcødé ✓', TRUE, '1999-12-31 23:59:59', '[]'); \
         INSERT INTO books (id, author_id, title, price, isbn) VALUES \
         (10, 1, 'First', 12.5, 'isbn-1'), (11, 1, 'Second\nline', NULL, NULL), \
         (40, 7, 'Third', 0.1, 'isbn-3');",
    )
    .await;
}

#[derive(QueryableByName, Debug, PartialEq)]
pub struct AuthorRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<Text>)]
    born_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    meta: Option<String>,
}

#[derive(QueryableByName, Debug, PartialEq)]
pub struct BookRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    author_id: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Double>)]
    price: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    isbn: Option<String>,
}

/// Every row, normalised so both backends print the same: timestamps to microseconds, JSON
/// parsed.
pub async fn dump(
    url: &DbUrl,
) -> (
    Vec<(i64, String, bool, Option<String>, Option<serde_json::Value>)>,
    Vec<BookRow>,
) {
    let pool = Pool::connect(url, &PoolConfig::default()).await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let born = match url.backend() {
        Backend::Sqlite => "born_at",
        Backend::Postgres => "born_at::text",
    };
    let authors_sql = format!(
        "SELECT id, name, active, CAST({born} AS TEXT) AS born_at, CAST(meta AS TEXT) AS meta FROM authors ORDER BY id"
    );
    let (authors, books): (Vec<AuthorRow>, Vec<BookRow>) = db_core::with_connection!(conn, |c| {
        let a = diesel::sql_query(&authors_sql).load(c).await.unwrap();
        let b =
            diesel::sql_query("SELECT id, author_id, title, price, isbn FROM books ORDER BY id")
                .load(c)
                .await
                .unwrap();
        (a, b)
    });
    let authors = authors
        .into_iter()
        .map(|a| {
            let born = a.born_at.map(|t| {
                let t = chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f").unwrap();
                t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            });
            let meta = a.meta.map(|m| serde_json::from_str(&m).unwrap());
            (a.id, a.name, a.active, born, meta)
        })
        .collect();
    (authors, books)
}

pub async fn backup_to(url: &DbUrl, dir: &Path, compression: Compression) -> backup::BackupInfo {
    backup::backup(
        url,
        &SET,
        BackupOptions {
            dir,
            label: None,
            compression,
            progress: &NoProgress,
        },
    )
    .await
    .unwrap()
}

pub async fn counts(url: &DbUrl) -> Vec<(String, u64)> {
    admin::stats("library", url, &SET)
        .await
        .unwrap()
        .tables
        .into_iter()
        .map(|t| (t.name, t.rows))
        .collect()
}
