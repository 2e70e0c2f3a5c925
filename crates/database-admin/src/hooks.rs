//! [`ServiceHooks`]: what differs per service (who may call, what cleanup removes).

use tonic::{Request, Status};

/// What one service adds to the shared `DatabaseAdmin`.
#[tonic::async_trait]
pub trait ServiceHooks: Send + Sync + 'static {
    /// Checks that the caller of `request` (metadata and extensions of the real request) may
    /// administer the database (scope `api:admin`).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` without a valid token, `PERMISSION_DENIED` without the scope.
    async fn authorize(&self, request: &Request<()>) -> Result<(), Status>;

    /// Applies the database's retention rule with `days` (≥ 1), counting only when `dry_run`
    /// (in short batches otherwise, so the service keeps writing). Returns what was (or would
    /// be) removed, by kind, e.g. `("sessions_purged", 3)`. After a real cleanup the shared
    /// service runs `VACUUM` on a SQLite database.
    ///
    /// # Errors
    /// The service's own status for a database failure.
    async fn cleanup(&self, days: u32, dry_run: bool) -> Result<Vec<(String, u64)>, Status>;
}
