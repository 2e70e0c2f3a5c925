//! The login lockout: attempts counted per username, client and address, and the
//! current-password check of a password change.

use crate::error::{Error, Result};
use crate::model::{Audit, AuditEvent, RequestContext};
use crate::store::{Attempt, UserRecord};
use db_core::timestamp::now;
use secrecy::{ExposeSecret as _, SecretString};
use std::time::Duration;

use super::{MAX_SECRET_BYTES, OAuth};

/// The retry delay of an attempt refused because `limit` attempts on its key are in flight.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

impl OAuth {
    /// Refuses an attempt whose key is locked (its slot stays counted), or that arrives while
    /// more than `limit` attempts hold slots on the key.
    ///
    /// The second case refuses without a check and without locking, for [`BUSY_RETRY`], and
    /// gives the slot back: the attempts in flight are at most `limit` password checks, and
    /// the limit-th of them to fail locks the key, so guesses are bounded as before; but
    /// correct logins of one username, many at once (a gateway, a script), are never taken
    /// for guesses and never lock it.
    pub(super) async fn check_lock(&self, key: &str, attempt: Attempt, limit: i32) -> Result<()> {
        let at = now();
        if let Some(until) = attempt.locked_until
            && until > at
        {
            let left = (until - at).num_milliseconds().max(1000) as u64;
            return Err(Error::Locked {
                retry_after: Duration::from_millis(left),
            });
        }
        if attempt.failures > limit {
            // `limit` attempts are being checked (or have failed, and the last of them is
            // locking the key): wait for them rather than lock. The count restarts after a
            // lockout ends, so a lock never hides here.
            self.store.release_attempt(key.to_owned()).await?;
            return Err(Error::Locked {
                retry_after: BUSY_RETRY,
            });
        }
        Ok(())
    }

    pub(super) async fn lock(
        &self,
        key: &str,
        username: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let until = now() + chrono::Duration::seconds(self.lockout.lockout_secs);
        let audit = Audit::new(AuditEvent::Lockout, false, context)
            .detail("key", key.split(':').next().unwrap_or(""))
            .detail("lockout_secs", self.lockout.lockout_secs);
        let audit = match key.strip_prefix("client:") {
            Some(client) => audit.client(client.to_owned()),
            None => audit.user(None, username.to_owned()),
        };
        tracing::warn!(kind = key.split(':').next().unwrap_or(""), "login lockout");
        self.store.lock_attempts(key.to_owned(), until, audit).await
    }

    /// Checks `current`, the password a user gives to change their own (UserService
    /// ChangePassword), under the same username lockout as the password grant (OWASP
    /// Authentication Cheat Sheet, "Change password feature": re-authenticate; "Account
    /// lockout"): the attempt reserves a slot on `user:<username>` first, a wrong password
    /// counts as a failure, is audited (`password_change_failed`) and locks the username at
    /// the limit; a right one resets the count as a login does.
    ///
    /// # Errors
    /// [`Error::Locked`] while the username is locked out; `InvalidArgument` naming
    /// `current_password` when it does not match; database errors.
    pub async fn check_current_password(
        &self,
        user: &UserRecord,
        current: &SecretString,
        context: &RequestContext,
    ) -> Result<()> {
        let username = user.username.to_lowercase();
        let key = format!("user:{username}");
        let attempt = self
            .store
            .reserve_attempt(key.clone(), self.lockout.window_secs)
            .await?;
        let failed = |reason: &str| {
            Audit::new(AuditEvent::PasswordChangeFailed, false, context)
                .user(Some(user.id), user.username.clone())
                .detail("reason", reason)
        };
        if let Err(locked) = self
            .check_lock(&key, attempt, self.lockout.max_failures_per_user)
            .await
        {
            self.store.record_audit(failed("locked out")).await?;
            return Err(locked);
        }
        if current.expose_secret().len() > MAX_SECRET_BYTES
            || !self
                .passwords
                .verify(current, &user.password_hash)
                .await?
                .ok
        {
            self.store
                .record_audit(failed("wrong current password"))
                .await?;
            if attempt.failures >= self.lockout.max_failures_per_user {
                self.lock(&key, &username, context).await?;
            }
            return Err(Error::invalid("current_password", "does not match"));
        }
        self.store.clear_attempts(key).await
    }
}
