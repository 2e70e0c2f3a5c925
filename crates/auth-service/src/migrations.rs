//! auth-service's embedded migrations, one set per backend (diesel_cli layout under
//! `migrations/postgres` and `migrations/sqlite`).
//!
//! Adding a migration: create the folder in both backends (`diesel migration generate` works)
//! and add its name to the list below; a test fails when a folder is not listed.

use db_core::migrate::MigrationSet;

/// The migrations of the `auth` database, oldest first.
pub static MIGRATIONS: MigrationSet = db_core::migration_set!(
    "auth",
    [
        "2026-11-22-000000_auth_store",
        "2026-12-07-120000_refresh_successor",
    ]
);

service_kit::every_migration_folder_is_listed!(MIGRATIONS);
