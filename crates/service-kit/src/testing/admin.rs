//! `codelab.admin.v1.DatabaseAdmin` from a test: a client carrying a bearer token, and the
//! checks both services' admin tests end with.

use super::server::{Bearer, bearer};
use codelab_proto::admin::v1 as pb;
use codelab_proto::admin::v1::database_admin_client::DatabaseAdminClient;
use std::collections::HashMap;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A DatabaseAdmin client whose calls carry a bearer token.
pub type AdminClient = DatabaseAdminClient<InterceptedService<Channel, Bearer>>;

/// A DatabaseAdmin client over `channel` sending `token` (none when empty).
pub fn admin_client(channel: &Channel, token: &str) -> AdminClient {
    DatabaseAdminClient::with_interceptor(channel.clone(), bearer(token))
}

/// `CleanupData` for `days` without `dry_run`, which must default to a dry run; returns what
/// it would remove.
///
/// # Panics
/// When the call fails or was not a dry run.
pub async fn dry_run_cleanup(admin: &mut AdminClient, days: u32) -> HashMap<String, u64> {
    let cleanup = admin
        .cleanup_data(pb::CleanupDataRequest {
            days,
            dry_run: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(cleanup.dry_run);
    cleanup.removed
}

/// Asserts `CheckSchemaDrift` finds the live schema equal to the migrations'.
///
/// # Panics
/// When the call fails or drift is found.
pub async fn assert_no_schema_drift(admin: &mut AdminClient) {
    let drift = admin
        .check_schema_drift(pb::CheckSchemaDriftRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!drift.drift_found, "{:?}", drift.differences);
}
