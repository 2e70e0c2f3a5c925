//! Test support (feature `testing`):
//!
//! - [`pki`]: a throwaway certificate authority ([`TestPki`]);
//! - [`server`]: a service served on `127.0.0.1` in the test's runtime ([`TestServer`]),
//!   reached once its health service answers, and the clients' `authorization` metadata
//!   ([`Bearer`]);
//! - [`admin`]: a DatabaseAdmin client and the checks both services' admin tests share.

pub mod admin;
pub mod pki;
pub mod server;

pub use admin::{
    AdminClient, admin_client, assert_backup_verifies, assert_migrations_current,
    assert_no_schema_drift, dry_run_cleanup, restore_needs_force, table_rows,
};
pub use pki::{Issued, TestPki};
pub use server::{Bearer, Shutdown, TestServer, bearer, connect, error_reason};
