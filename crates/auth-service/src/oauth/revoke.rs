//! Revocation (RFC 7009).

use crate::error::Result;
use crate::model::{Audit, AuditEvent, RequestContext};
use crate::store::FamilyOwner;
use secrecy::{ExposeSecret as _, SecretString};

use super::{MAX_REFRESH_TOKEN_BYTES, OAuth, Requester, sha256_hex};

impl OAuth {
    /// RFC 7009: revokes the family of a refresh token. Access tokens are not revocable (they
    /// are short-lived JWTs verified offline). A client revokes the tokens issued to it
    /// (§2.1), a bearer its own (every token with api:admin); unknown tokens and tokens the
    /// requester does not hold are silently ignored, as §2.2 asks.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn revoke(
        &self,
        token: &SecretString,
        requester: &Requester,
        context: &RequestContext,
    ) -> Result<()> {
        let token = token.expose_secret();
        if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(());
        }
        let owner = match requester {
            Requester::Client(client) => FamilyOwner::Client(client.client_id.clone()),
            Requester::Bearer(caller) if caller.is_admin() => FamilyOwner::Any,
            Requester::Bearer(caller) => match self.store.user_by_id(caller.sub.clone()).await? {
                Some(u) => FamilyOwner::User(u.id),
                None => return Ok(()),
            },
        };
        let audit =
            Audit::new(AuditEvent::TokenRevoked, true, context).detail("by", requester.name());
        self.store
            .revoke_family(sha256_hex(token), owner, audit)
            .await?;
        Ok(())
    }
}
