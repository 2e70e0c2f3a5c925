//! agent-runtime's embedded migrations, one set per backend (diesel_cli layout under
//! `migrations/postgres` and `migrations/sqlite`).
//!
//! Adding a migration: create the folder in both backends (`diesel migration generate` works)
//! and add its name to the list below; a test fails when a folder is not listed.

use db_core::migrate::MigrationSet;

/// The migrations of the `agent_runtime` database, oldest first.
pub static MIGRATIONS: MigrationSet = db_core::migration_set!(
    "agent_runtime",
    [
        "2026-11-21-000000_conversation_store",
        "2026-12-04-000000_role_check_as_equalities",
        "2026-12-07-000000_approval_requester",
    ]
);

service_kit::every_migration_folder_is_listed!(MIGRATIONS);
