//! Retention: purging sessions soft-deleted long ago and soft-deleting idle ones, at once or in
//! bounded batches.

use super::Store;
use super::queries::purge_sessions;
use crate::error::{Error, Result};
use crate::model::CleanupReport;
use crate::schema::sessions;
use chrono::Duration;
use db_core::timestamp::now;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

impl Store {
    /// Retention: purges sessions soft-deleted more than `purge_deleted_days` ago, then
    /// soft-deletes live sessions idle more than `inactive_hours`. A zero skips that step;
    /// `dry_run` only counts. Covers every owner (the edge requires `api:admin`).
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn cleanup_sessions(
        &self,
        inactive_hours: i64,
        purge_deleted_days: i64,
        dry_run: bool,
    ) -> Result<CleanupReport> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let mut conn = pool.get().await?;
            let at = now();
            let idle_cutoff = at - Duration::hours(inactive_hours);
            let purge_cutoff = at - Duration::days(purge_deleted_days);
            db_core::transaction!(conn, |c| {
                let mut report = CleanupReport::default();
                if purge_deleted_days > 0 {
                    let doomed = sessions::table.filter(sessions::deleted_at.lt(purge_cutoff));
                    report.purged = if dry_run {
                        doomed.count().get_result(c).await?
                    } else {
                        let ids: Vec<i64> = doomed.select(sessions::id).load(c).await?;
                        purge_sessions(c, &ids).await? as i64
                    };
                }
                if inactive_hours > 0 {
                    let idle = sessions::table
                        .filter(sessions::deleted_at.is_null())
                        .filter(sessions::last_activity.lt(idle_cutoff));
                    report.soft_deleted = if dry_run {
                        idle.count().get_result(c).await?
                    } else {
                        diesel::update(idle)
                            .set((
                                sessions::deleted_at.eq(Some(at)),
                                sessions::is_active.eq(false),
                            ))
                            .execute(c)
                            .await? as i64
                    };
                }
                Ok::<_, Error>(report)
            })
        })
        .await
    }

    /// One batch of retention: like [`Store::cleanup_sessions`] with `dry_run = false`, but
    /// each step (purge, then soft delete) is its own transaction and touches at most
    /// `batch.sessions` sessions; the purge also stops before its sessions' messages (their
    /// `message_count`) sum past `batch.messages`. So a cleanup holds the write lock one bounded
    /// batch at a time; only a session longer than `batch.messages` is purged alone in one
    /// longer step. Call it until it returns zeros.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn cleanup_sessions_batch(
        &self,
        inactive_hours: i64,
        purge_deleted_days: i64,
        batch: CleanupBatch,
    ) -> Result<CleanupReport> {
        let pool = self.pool.clone();
        db_core::detach(async move {
            let at = now();
            let idle_cutoff = at - Duration::hours(inactive_hours);
            let purge_cutoff = at - Duration::days(purge_deleted_days);
            let mut report = CleanupReport::default();
            if purge_deleted_days > 0 {
                let mut conn = pool.get().await?;
                report.purged = db_core::transaction!(conn, |c| {
                    let due: Vec<(i64, i64)> = sessions::table
                        .filter(sessions::deleted_at.lt(purge_cutoff))
                        .select((sessions::id, sessions::message_count))
                        .limit(batch.sessions)
                        .load(c)
                        .await?;
                    let ids = batch.purge_prefix(&due);
                    Ok::<_, Error>(purge_sessions(c, &ids).await? as i64)
                })?;
            }
            if inactive_hours > 0 {
                let mut conn = pool.get().await?;
                report.soft_deleted = db_core::transaction!(conn, |c| {
                    let ids: Vec<i64> = sessions::table
                        .filter(sessions::deleted_at.is_null())
                        .filter(sessions::last_activity.lt(idle_cutoff))
                        .select(sessions::id)
                        .limit(batch.sessions)
                        .load(c)
                        .await?;
                    let n = diesel::update(sessions::table.filter(sessions::id.eq_any(ids)))
                        .set((
                            sessions::deleted_at.eq(Some(at)),
                            sessions::is_active.eq(false),
                        ))
                        .execute(c)
                        .await?;
                    Ok::<_, Error>(n as i64)
                })?;
            }
            Ok(report)
        })
        .await
    }
}

/// How much one step of [`Store::cleanup_sessions_batch`] may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupBatch {
    /// Sessions per step (purged or soft-deleted); at least 1.
    pub sessions: i64,
    /// Messages per purge step, summed over its sessions' `message_count`; a session longer
    /// than this is purged alone.
    pub messages: i64,
}

impl CleanupBatch {
    /// 500 sessions or 20,000 messages per step. Purging takes about 3.6 µs a message on
    /// SQLite (BENCHMARKS.md: a 700k-message session in 2.5 s), so a full purge step holds the
    /// write lock for about 70 ms.
    pub const DEFAULT: CleanupBatch = CleanupBatch {
        sessions: 500,
        messages: 20_000,
    };

    /// The ids of the longest prefix of `due` (`(id, message_count)` pairs) whose messages fit
    /// in `self.messages`, and always at least the first, so every step makes progress.
    fn purge_prefix(&self, due: &[(i64, i64)]) -> Vec<i64> {
        let mut total = 0_i64;
        due.iter()
            .enumerate()
            .take_while(|(i, (_, count))| {
                total = total.saturating_add((*count).max(0));
                *i == 0 || total <= self.messages
            })
            .map(|(_, (id, _))| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::CleanupBatch;

    #[test]
    fn a_purge_step_stops_at_its_message_budget_but_always_takes_one() {
        let batch = CleanupBatch {
            sessions: 500,
            messages: 10,
        };
        assert_eq!(batch.purge_prefix(&[]), Vec::<i64>::new());
        assert_eq!(batch.purge_prefix(&[(1, 50), (2, 1)]), vec![1]);
        assert_eq!(batch.purge_prefix(&[(1, 4), (2, 6), (3, 1)]), vec![1, 2]);
        assert_eq!(
            batch.purge_prefix(&[(1, 0), (2, 0), (3, 10)]),
            vec![1, 2, 3]
        );
        assert_eq!(batch.purge_prefix(&[(1, 3), (2, i64::MAX)]), vec![1]);
    }
}
