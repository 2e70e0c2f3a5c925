//! Revocation (RFC 7009).

use crate::error::Result;
use crate::model::{Audit, AuditEvent, RequestContext};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Caller, MAX_REFRESH_TOKEN_BYTES, OAuth, sha256_hex};

impl OAuth {
    /// RFC 7009: revokes the family of a refresh token. Access tokens are not revocable (they
    /// are short-lived JWTs verified offline); unknown tokens and other users' tokens (unless
    /// the caller has api:admin) are silently ignored, as §2.2 asks.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn revoke(
        &self,
        token: &SecretString,
        caller: &Caller,
        context: &RequestContext,
    ) -> Result<()> {
        let token = token.expose_secret();
        if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(());
        }
        let owner = if caller.is_admin() {
            None
        } else {
            match self.store.user_by_id(caller.sub.clone()).await? {
                Some(u) => Some(u.id),
                None => return Ok(()),
            }
        };
        let audit = Audit::new(AuditEvent::TokenRevoked, true, context).detail("by", caller.name());
        self.store
            .revoke_family(sha256_hex(token), owner, audit)
            .await?;
        Ok(())
    }
}
