//! The migration engine: status, up (to the latest or a target), rollback, redo, checksums and
//! the one-migrator-at-a-time lock.
//!
//! Each service keeps diesel_cli-layout migrations (`<version>_<name>/up.sql`, `down.sql`) in
//! `migrations/postgres` and `migrations/sqlite` and lists them once with [`migration_set!`](crate::migration_set!),
//! which embeds the files. The engine adds what diesel lacks (see `reference/anchors.md` §1):
//!
//! - **Ledger.** Applied versions are recorded in diesel's own `__diesel_schema_migrations`
//!   (so the `diesel` CLI keeps working on the same database) and, with the sha256 of each
//!   applied `up.sql`, in `__codelab_migrations`. Line endings are normalised before hashing
//!   (`\r\n` → `\n`, trailing whitespace of the file ignored), so a checkout with CRLF does not
//!   count as a change.
//! - **Modified migrations are a loud error.** An applied migration whose file now hashes
//!   differently stops `migrate`, `rollback`, `redo` and [`run_pending`] (so a service refuses
//!   to start) with [`DbError::Migration`](crate::DbError::Migration) naming the version and both hashes. Rows applied
//!   before checksums were recorded are `Unverified` (a warning) and adopted on the next run.
//! - **Lock.** Every operation runs on ONE dedicated connection: PostgreSQL takes
//!   `pg_advisory_lock(<hash of the set's name>)` on it, SQLite a `BEGIN EXCLUSIVE`
//!   transaction; the applied list is read only after the lock is held, so two replicas starting
//!   together never apply a migration twice.
//! - **Transactions.** One transaction per migration (a SAVEPOINT inside the exclusive
//!   transaction on SQLite): a failing migration leaves the ones before it applied.
//! - **Rollback to a target** reverts, newest first, every applied migration newer than the
//!   target; the target itself stays applied (sqlx semantics).

mod apply;
mod ledger;
mod set;
mod status;

pub use apply::{RollbackTarget, check, migrate, redo, rollback, run_pending};
pub(crate) use ledger::{LEDGER_DDL, apply_sql, read_ledger};
pub(crate) use set::hex;
pub use set::{Migration, MigrationSet, check_listed, checksum};
pub(crate) use status::status_on;
pub use status::{MigrationState, MigrationStatus, StatusReport, status};

#[cfg(test)]
mod tests;
