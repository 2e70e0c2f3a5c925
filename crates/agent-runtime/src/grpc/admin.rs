//! agent-runtime's part of `codelab.admin.v1.DatabaseAdmin` (the shared service is
//! [`database_admin`]): only `api:admin` callers, and the retention rule of conversations.

use crate::auth::Scope;
use crate::grpc::Shared;
use crate::model::CleanupReport;
use crate::store::CleanupBatch;
use tonic::{Request, Status};

/// The [`database_admin::ServiceHooks`] of agent-runtime.
#[derive(Debug, Clone)]
pub struct AdminHooks {
    shared: Shared,
}

impl AdminHooks {
    /// Hooks over the service's authentication and store.
    pub fn new(shared: Shared) -> AdminHooks {
        AdminHooks { shared }
    }

    /// Retention: sessions soft-deleted more than `days` ago are purged, sessions idle more
    /// than `days` are soft-deleted; when not a dry run, in [`CleanupBatch::DEFAULT`] steps
    /// (500 sessions, and at most 20,000 purged messages, per transaction), so a cleanup holds
    /// the write lock one bounded step at a time; only a session longer than that is purged
    /// alone in one longer step. The shared `CleanupData` then runs `VACUUM` on SQLite.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn cleanup_sessions(
        &self,
        days: u32,
        dry_run: bool,
    ) -> crate::error::Result<CleanupReport> {
        let days = i64::from(days.max(1));
        let store = &self.shared.store;
        if dry_run {
            return store.cleanup_sessions(days * 24, days, true).await;
        }
        let mut total = CleanupReport::default();
        loop {
            let step = store
                .cleanup_sessions_batch(days * 24, days, CleanupBatch::DEFAULT)
                .await?;
            total.purged += step.purged;
            total.soft_deleted += step.soft_deleted;
            if step.purged == 0 && step.soft_deleted == 0 {
                return Ok(total);
            }
        }
    }
}

#[tonic::async_trait]
impl database_admin::ServiceHooks for AdminHooks {
    async fn authorize(&self, request: &Request<()>) -> Result<(), Status> {
        self.shared
            .caller(request, Scope::Admin)
            .await
            .map(|_| ())
            .map_err(Status::from)
    }

    async fn cleanup(&self, days: u32, dry_run: bool) -> Result<Vec<(String, u64)>, Status> {
        let report = self
            .cleanup_sessions(days, dry_run)
            .await
            .map_err(Status::from)?;
        Ok(service_kit::admin::removed([
            ("sessions_purged", report.purged),
            ("sessions_soft_deleted", report.soft_deleted),
        ]))
    }
}
