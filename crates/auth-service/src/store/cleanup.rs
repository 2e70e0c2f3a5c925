//! Retention: what the auth database no longer needs.

use super::Store;
use crate::error::Result;
use crate::schema::{audit_logs, login_attempts, refresh_tokens};
use chrono::Duration;
use db_core::timestamp::now;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// How long to keep what (days).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Refresh tokens expired or revoked more than this many days ago are removed (the original
    /// service kept 7).
    pub refresh_token_days: i64,
    /// Login-attempt counters untouched for this many days are removed.
    pub login_attempt_days: i64,
    /// Audit entries older than this many days are removed.
    pub audit_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            refresh_token_days: 7,
            login_attempt_days: 1,
            audit_days: 365,
        }
    }
}

/// Rows removed (or that would be removed, for a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Refresh tokens.
    pub refresh_tokens: i64,
    /// Login-attempt counters.
    pub login_attempts: i64,
    /// Audit entries.
    pub audit_logs: i64,
}

impl Store {
    /// Counts (`dry_run`) or deletes, in one transaction, the rows past `retention`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn cleanup(&self, retention: Retention, dry_run: bool) -> Result<Cleaned> {
        write_op!(self, |c| {
            let at = now();
            let token_cutoff = at - Duration::days(retention.refresh_token_days);
            let attempt_cutoff = at - Duration::days(retention.login_attempt_days);
            let audit_cutoff = at - Duration::days(retention.audit_days);
            let old_tokens = refresh_tokens::table.filter(
                refresh_tokens::expires_at
                    .lt(token_cutoff)
                    .or(refresh_tokens::revoked_at
                        .lt(token_cutoff)
                        .assume_not_null()),
            );
            let old_attempts =
                login_attempts::table.filter(login_attempts::updated_at.lt(attempt_cutoff));
            let old_audit = audit_logs::table.filter(audit_logs::created_at.lt(audit_cutoff));
            if dry_run {
                return Ok(Cleaned {
                    refresh_tokens: old_tokens.count().get_result(c).await?,
                    login_attempts: old_attempts.count().get_result(c).await?,
                    audit_logs: old_audit.count().get_result(c).await?,
                });
            }
            Ok(Cleaned {
                refresh_tokens: diesel::delete(old_tokens).execute(c).await? as i64,
                login_attempts: diesel::delete(old_attempts).execute(c).await? as i64,
                audit_logs: diesel::delete(old_audit).execute(c).await? as i64,
            })
        })
    }

    /// Deletes at most `batch` (≥ 1) rows of each kind past `retention`, in one short
    /// transaction, and returns how many went. Call it until it returns [`Cleaned::default`]:
    /// a large cleanup then never holds the write lock for long (on SQLite, logins and token
    /// refreshes wait for it), as agent-runtime's session cleanup does.
    ///
    /// # Errors
    /// Database errors only; the batches before the failing one stay deleted.
    pub async fn cleanup_batch(&self, retention: Retention, batch: i64) -> Result<Cleaned> {
        let batch = batch.max(1);
        write_op!(self, |c| {
            let at = now();
            let token_cutoff = at - Duration::days(retention.refresh_token_days);
            let attempt_cutoff = at - Duration::days(retention.login_attempt_days);
            let audit_cutoff = at - Duration::days(retention.audit_days);
            // The keys of one batch, then one DELETE by key (at most `batch` bind values).
            let tokens: Vec<i64> = refresh_tokens::table
                .select(refresh_tokens::id)
                .filter(
                    refresh_tokens::expires_at
                        .lt(token_cutoff)
                        .or(refresh_tokens::revoked_at
                            .lt(token_cutoff)
                            .assume_not_null()),
                )
                .order(refresh_tokens::id)
                .limit(batch)
                .load(c)
                .await?;
            let attempts: Vec<String> = login_attempts::table
                .select(login_attempts::attempt_key)
                .filter(login_attempts::updated_at.lt(attempt_cutoff))
                .order(login_attempts::attempt_key)
                .limit(batch)
                .load(c)
                .await?;
            let audit: Vec<i64> = audit_logs::table
                .select(audit_logs::id)
                .filter(audit_logs::created_at.lt(audit_cutoff))
                .order(audit_logs::id)
                .limit(batch)
                .load(c)
                .await?;
            Ok(Cleaned {
                refresh_tokens: diesel::delete(
                    refresh_tokens::table.filter(refresh_tokens::id.eq_any(tokens)),
                )
                .execute(c)
                .await? as i64,
                login_attempts: diesel::delete(
                    login_attempts::table.filter(login_attempts::attempt_key.eq_any(attempts)),
                )
                .execute(c)
                .await? as i64,
                audit_logs: diesel::delete(audit_logs::table.filter(audit_logs::id.eq_any(audit)))
                    .execute(c)
                    .await? as i64,
            })
        })
    }

    /// Deletes everything past `retention` in batches of `batch` rows of each kind
    /// ([`Store::cleanup_batch`] until nothing is left); returns the totals.
    ///
    /// # Errors
    /// Database errors only; the batches before the failing one stay deleted.
    pub async fn cleanup_in_batches(&self, retention: Retention, batch: i64) -> Result<Cleaned> {
        let mut total = Cleaned::default();
        loop {
            let step = self.cleanup_batch(retention, batch).await?;
            if step == Cleaned::default() {
                return Ok(total);
            }
            total.refresh_tokens += step.refresh_tokens;
            total.login_attempts += step.login_attempts;
            total.audit_logs += step.audit_logs;
        }
    }
}
