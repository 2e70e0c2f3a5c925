//! The audit log.

use super::Store;
use crate::error::Result;
use crate::model::Audit;
use crate::schema::audit_logs;
use chrono::{DateTime, NaiveDateTime, Utc};
use db_core::sql_types::JsonText;
use db_core::timestamp::utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// A stored audit entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// `login_failed`, `refresh_token_reuse`, … (see [`crate::model::AuditEvent`]).
    pub event_type: String,
    /// Internal id of the user concerned, if any (NULL once the user is deleted).
    pub user_db_id: Option<i64>,
    /// Username concerned.
    pub username: Option<String>,
    /// Client concerned.
    pub client_id: Option<String>,
    /// Request address.
    pub ip_address: Option<String>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Extra facts (JSON object).
    pub details: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

type Row = (
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    JsonText,
    NaiveDateTime,
);

impl Store {
    /// Writes one audit entry on its own.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn record_audit(&self, audit: Audit) -> Result<()> {
        write_op!(self, |c| {
            audit!(c, audit);
            Ok(())
        })
    }

    /// The newest `limit` entries, newest first, of `event_type` when given.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn recent_audit(
        &self,
        event_type: Option<String>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        read_op!(self, |c| {
            let mut q = audit_logs::table
                .select((
                    audit_logs::event_type,
                    audit_logs::user_id,
                    audit_logs::username,
                    audit_logs::client_id,
                    audit_logs::ip_address,
                    audit_logs::success,
                    audit_logs::details,
                    audit_logs::created_at,
                ))
                .order(audit_logs::id.desc())
                .limit(limit)
                .into_boxed();
            if let Some(event) = event_type {
                q = q.filter(audit_logs::event_type.eq(event));
            }
            let rows: Vec<Row> = q.load(c).await?;
            Ok(rows
                .into_iter()
                .map(|r| AuditEntry {
                    event_type: r.0,
                    user_db_id: r.1,
                    username: r.2,
                    client_id: r.3,
                    ip_address: r.4,
                    success: r.5,
                    details: serde_json::from_str(&r.6.0).unwrap_or(serde_json::Value::Null),
                    created_at: utc(r.7),
                })
                .collect())
        })
    }
}
