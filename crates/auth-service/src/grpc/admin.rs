//! auth-service's part of `codelab.admin.v1.DatabaseAdmin` (the shared service is
//! [`database_admin`]): only `api:admin` callers, and the retention rule of the auth database.

use crate::grpc::Shared;
use crate::store::Retention;
use access_token::Scope;
use tonic::{Request, Status};

/// Audit entries are kept at least this many days whatever `CleanupData.days` says: a short
/// retention for tokens must not erase the security trail (`codelab db cleanup auth
/// --audit-days` removes them sooner on purpose).
pub const MIN_AUDIT_DAYS: u32 = 365;

/// Retention batch: rows of each kind deleted per transaction when cleaning up for real (the
/// shared service then runs `VACUUM` on SQLite).
const CLEANUP_BATCH: i64 = 500;

/// The [`database_admin::ServiceHooks`] of auth-service.
#[derive(Debug, Clone)]
pub struct AdminHooks {
    shared: Shared,
}

impl AdminHooks {
    /// Hooks over the service's authentication and store.
    pub fn new(shared: Shared) -> AdminHooks {
        AdminHooks { shared }
    }
}

/// The retention `CleanupData` applies for `days`: refresh tokens expired or revoked and
/// login-attempt counters untouched for `days`, audit entries older than
/// `max(days, MIN_AUDIT_DAYS)`.
pub fn retention(days: u32) -> Retention {
    let days = days.max(1);
    Retention {
        refresh_token_days: i64::from(days),
        login_attempt_days: i64::from(days),
        audit_days: i64::from(days.max(MIN_AUDIT_DAYS)),
    }
}

#[tonic::async_trait]
impl database_admin::ServiceHooks for AdminHooks {
    async fn authorize(&self, request: &Request<()>) -> Result<(), Status> {
        self.shared
            .caller_with(request, Scope::Admin)
            .await
            .map(|_| ())
            .map_err(Status::from)
    }

    async fn cleanup(&self, days: u32, dry_run: bool) -> Result<Vec<(String, u64)>, Status> {
        let store = &self.shared.store;
        let cleaned = if dry_run {
            store.cleanup(retention(days), true).await
        } else {
            store
                .cleanup_in_batches(retention(days), CLEANUP_BATCH)
                .await
        }
        .map_err(Status::from)?;
        Ok(service_kit::admin::removed([
            ("refresh_tokens", cleaned.refresh_tokens),
            ("login_attempts", cleaned.login_attempts),
            ("audit_logs", cleaned.audit_logs),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_entries_outlive_short_retentions() {
        let r = retention(7);
        assert_eq!(
            (r.refresh_token_days, r.login_attempt_days, r.audit_days),
            (7, 7, 365)
        );
        assert_eq!(retention(400).audit_days, 400);
        assert_eq!(retention(0).refresh_token_days, 1);
    }
}
