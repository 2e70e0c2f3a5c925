//! Failed-login counters (OWASP Authentication Cheat Sheet, "Account lockout").
//!
//! Each attempt *reserves* a slot before the password is checked: one upsert increments the
//! counter of its key (`user:<name>`, `ip:<address>`) and returns the new value, so N parallel
//! guesses get N distinct values and only those within the limit are ever checked — on any
//! number of replicas (GHSA-7h8m-vrxx-vr4m is the race this avoids). A success gives its slot
//! back; an expired window or lockout starts the count again.

use super::Store;
use crate::error::Result;
use crate::model::Audit;
use crate::schema::login_attempts;
use chrono::{Duration, NaiveDateTime};
use db_core::timestamp::now;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

/// A key's counter right after an attempt reserved its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct Attempt {
    /// Attempts counted in the current window, this one included.
    pub failures: i32,
    /// Locked until then (UTC), if locked.
    pub locked_until: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = login_attempts)]
#[diesel(treat_none_as_default_value = false)]
struct NewAttempt {
    attempt_key: String,
    failures: i32,
    window_started_at: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

impl Store {
    /// Counts one attempt for `key` in a window of `window_secs` seconds, in one statement.
    /// The count restarts at 1 when the window has passed or an earlier lockout has ended.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn reserve_attempt(&self, key: String, window_secs: i64) -> Result<Attempt> {
        let mut attempts = self.reserve_attempts(vec![key], window_secs).await?;
        Ok(attempts.pop().expect("one key, one attempt"))
    }

    /// [`Store::reserve_attempt`] for each of `keys`, in one transaction; the attempts in the
    /// order of `keys`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn reserve_attempts(
        &self,
        keys: Vec<String>,
        window_secs: i64,
    ) -> Result<Vec<Attempt>> {
        write_op!(self, |c| {
            let at = now();
            let window_start = at - Duration::seconds(window_secs);
            let mut attempts = Vec::with_capacity(keys.len());
            for key in keys {
                let restart = login_attempts::window_started_at
                    .lt(window_start)
                    .nullable()
                    .or(login_attempts::locked_until.le(at));
                let attempt = diesel::insert_into(login_attempts::table)
                    .values(NewAttempt {
                        attempt_key: key,
                        failures: 1,
                        window_started_at: at,
                        locked_until: None,
                        updated_at: at,
                    })
                    .on_conflict(login_attempts::attempt_key)
                    .do_update()
                    .set((
                        login_attempts::failures.eq(case_when(restart, 1.into_sql::<Integer>())
                            .otherwise(login_attempts::failures + 1)),
                        login_attempts::window_started_at.eq(case_when(
                            restart,
                            at.into_sql::<Timestamp>(),
                        )
                        .otherwise(login_attempts::window_started_at)),
                        login_attempts::locked_until.eq(case_when(
                            restart,
                            None::<NaiveDateTime>.into_sql::<Nullable<Timestamp>>(),
                        )
                        .otherwise(login_attempts::locked_until)),
                        login_attempts::updated_at.eq(at),
                    ))
                    .returning((login_attempts::failures, login_attempts::locked_until))
                    .get_result::<Attempt>(c)
                    .await?;
                attempts.push(attempt);
            }
            Ok(attempts)
        })
    }

    /// After a successful attempt: forgets the counters of `clear` and gives back the slot
    /// reserved on each of `release`, in one transaction.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn settle_attempts(&self, clear: Vec<String>, release: Vec<String>) -> Result<()> {
        write_op!(self, |c| {
            for key in clear {
                diesel::delete(login_attempts::table.find(key))
                    .execute(c)
                    .await?;
            }
            for key in release {
                diesel::update(
                    login_attempts::table
                        .find(key)
                        .filter(login_attempts::failures.gt(0)),
                )
                .set(login_attempts::failures.eq(login_attempts::failures - 1))
                .execute(c)
                .await?;
            }
            Ok(())
        })
    }

    /// Locks `key` until `until` and writes `audit` (a `lockout` event) if it was not locked
    /// already.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn lock_attempts(
        &self,
        key: String,
        until: NaiveDateTime,
        audit: Audit,
    ) -> Result<()> {
        write_op!(self, |c| {
            let n = diesel::update(
                login_attempts::table
                    .find(&key)
                    .filter(login_attempts::locked_until.is_null()),
            )
            .set(login_attempts::locked_until.eq(until))
            .execute(c)
            .await?;
            if n > 0 {
                audit!(c, audit);
            }
            Ok(())
        })
    }

    /// Gives back the slot a successful attempt reserved for `key`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn release_attempt(&self, key: String) -> Result<()> {
        write_op!(self, |c| {
            diesel::update(
                login_attempts::table
                    .find(&key)
                    .filter(login_attempts::failures.gt(0)),
            )
            .set(login_attempts::failures.eq(login_attempts::failures - 1))
            .execute(c)
            .await?;
            Ok(())
        })
    }

    /// Ends the lockout and count of `key` (UserService.UnlockUser) and writes `audit` with
    /// what was cleared (`was_locked`, `cleared_failures`), in one transaction. Returns
    /// whether `key` was locked and how many failures its window held.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn unlock_attempts(&self, key: String, audit: Audit) -> Result<(bool, i32)> {
        write_op!(self, |c| {
            let at = now();
            let removed: Option<Attempt> = diesel::delete(login_attempts::table.find(&key))
                .returning((login_attempts::failures, login_attempts::locked_until))
                .get_result(c)
                .await
                .optional()?;
            let was_locked = removed.and_then(|a| a.locked_until).is_some_and(|u| u > at);
            let cleared = removed.map_or(0, |a| a.failures);
            let audit = audit
                .detail("was_locked", was_locked)
                .detail("cleared_failures", cleared);
            audit!(c, audit);
            Ok((was_locked, cleared))
        })
    }

    /// Forgets the counter of `key` (a successful login resets its username's count).
    ///
    /// # Errors
    /// Database errors only.
    pub async fn clear_attempts(&self, key: String) -> Result<()> {
        write_op!(self, |c| {
            diesel::delete(login_attempts::table.find(&key))
                .execute(c)
                .await?;
            Ok(())
        })
    }
}
