//! `codelab.admin.v1.DatabaseAdmin` for one service's own database, shared by agent-runtime
//! and auth-service, and the scheduled backups both run.
//!
//! The work is db-core's admin engine ([`db_core::admin`]); this crate is its gRPC edge:
//! request validation, error → status mapping (one `google.rpc.ErrorInfo` with the serving
//! service's domain, AIP-193), proto conversion, and running the long operations (backup,
//! verify, restore, drift) on the blocking pool so they never stall other RPCs. What differs
//! per service — who may call (scope `api:admin`) and what "cleanup" removes — comes in
//! through [`ServiceHooks`].

mod convert;
mod errors;
mod hooks;
mod ops;
mod schedule;
mod service;
mod settings;

pub use hooks::ServiceHooks;
pub use ops::DatabaseOps;
pub use schedule::{SCHEDULED, scheduled_backups, spawn_scheduled_backups};
pub use service::DatabaseAdminService;
pub use settings::BackupSettings;
