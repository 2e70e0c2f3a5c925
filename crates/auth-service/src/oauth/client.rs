//! Client authentication (RFC 6749 §2.3), with client secrets counted like password guesses.

use crate::error::{Error, OAuthCode, Result};
use crate::model::{Audit, AuditEvent, GrantType, RequestContext};
use crate::store::ClientRecord;
use secrecy::{ExposeSecret as _, SecretString};

use super::OAuth;

impl OAuth {
    /// Authenticates the client (RFC 6749 §2.3) and checks it may use `grant`.
    ///
    /// # Errors
    /// As [`OAuth::authenticate_client`]; `unauthorized_client` when the client may not use
    /// `grant`.
    pub(super) async fn client(
        &self,
        client_id: &str,
        secret: &SecretString,
        grant: GrantType,
        context: &RequestContext,
    ) -> Result<ClientRecord> {
        let client = self.authenticate_client(client_id, secret, context).await?;
        if !client.allows(grant) {
            return Err(Error::oauth(
                OAuthCode::UnauthorizedClient,
                format!("client may not use the {} grant", grant.as_str()),
            ));
        }
        Ok(client)
    }

    /// Authenticates client `client_id` (RFC 6749 §2.3): a confidential client by its
    /// secret, a public client by its id alone (with an empty `secret`). Used by the token
    /// endpoint, revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1).
    ///
    /// A presented secret is counted like a password guess (OWASP Authentication Cheat Sheet,
    /// "Account lockout"): before it is checked, the attempt reserves a slot on
    /// `client:<client_id>` (limit `max_failures_per_user`) and on the address (`ip:…`,
    /// shared with logins); a wrong secret, or a secret for an unknown client, counts as a
    /// failure and locks the key at the limit; a locked client is refused without checking
    /// anything, until the lockout ends or its secret is rotated. Secrets in the SHA-256 form
    /// cost no hashing ([`crate::client_secrets`]); an older argon2 hash of a long secret is
    /// replaced by that form on a successful check.
    ///
    /// # Errors
    /// `invalid_client` for an unknown, inactive or wrongly authenticated client (without
    /// saying which), or an id over 64 bytes or a secret over [`super::MAX_SECRET_BYTES`];
    /// [`Error::Locked`] while the client or address is locked out; database errors.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &SecretString,
        context: &RequestContext,
    ) -> Result<ClientRecord> {
        let failed = || Error::oauth(OAuthCode::InvalidClient, "client authentication failed");
        if client_id.is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "client_id is required",
            ));
        }
        if client_id.len() > 64 || secret.expose_secret().len() > super::MAX_SECRET_BYTES {
            return Err(failed());
        }
        let presented = !secret.expose_secret().is_empty();
        let client = self.store.client(client_id.to_owned()).await?;
        let stored = client.as_ref().and_then(|c| c.client_secret_hash.clone());
        if presented && (client.is_none() || stored.is_some()) {
            let verified = self
                .counted_client_secret(client_id, secret, stored.as_deref(), context)
                .await?;
            if let (Some(client), Some(stored)) = (&client, &stored)
                && verified.needs_rehash
            {
                let new = self.passwords.hash_client_secret(secret).await?;
                self.store
                    .rehash_client_secret(client.client_id.clone(), stored.clone(), new)
                    .await?;
            }
        }
        let Some(client) = client else {
            return Err(failed());
        };
        if stored.is_some() && !presented {
            return Err(failed());
        }
        if !client.is_active {
            return Err(failed());
        }
        Ok(client)
    }

    /// Checks a presented client secret against `stored` (`None`: unknown client, never
    /// matches) under the client and address lockout; `Ok` only when it matches.
    async fn counted_client_secret(
        &self,
        client_id: &str,
        secret: &SecretString,
        stored: Option<&str>,
        context: &RequestContext,
    ) -> Result<crate::passwords::Verified> {
        let client_key = format!("client:{client_id}");
        let ip_key = context.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let mut keys = vec![client_key.clone()];
        keys.extend(ip_key.clone());
        let attempts = self
            .store
            .reserve_attempts(keys, self.lockout.window_secs)
            .await?;
        let limits = [
            self.lockout.max_failures_per_user,
            self.lockout.max_failures_per_ip,
        ];
        // As for logins: the address first, then the client; a refusal without a check gives
        // the other key its slot back (it was not a guess at it).
        if let (Some(key), Some(attempt)) = (&ip_key, attempts.get(1))
            && let Err(locked) = self.check_lock(key, *attempt, limits[1]).await
        {
            self.store.release_attempt(client_key).await?;
            return Err(locked);
        }
        if let Err(locked) = self.check_lock(&client_key, attempts[0], limits[0]).await {
            if let Some(key) = &ip_key {
                self.store.release_attempt(key.clone()).await?;
            }
            return Err(locked);
        }
        let verified = match stored {
            Some(stored) => self.passwords.verify_client_secret(secret, stored).await?,
            None => crate::passwords::Verified {
                ok: false,
                needs_rehash: false,
            },
        };
        if verified.ok {
            self.store
                .settle_attempts(vec![client_key], ip_key.into_iter().collect())
                .await?;
            return Ok(verified);
        }
        let reason = if stored.is_some() {
            "wrong client secret"
        } else {
            "unknown client"
        };
        self.store
            .record_audit(
                Audit::new(AuditEvent::ClientAuthFailed, false, context)
                    .client(client_id.chars().take(64).collect::<String>())
                    .detail("reason", reason),
            )
            .await?;
        if attempts[0].failures >= limits[0] {
            self.lock(&client_key, "", context).await?;
        }
        if let (Some(key), Some(attempt)) = (&ip_key, attempts.get(1))
            && attempt.failures >= limits[1]
        {
            self.lock(key, "", context).await?;
        }
        Err(Error::oauth(
            OAuthCode::InvalidClient,
            "client authentication failed",
        ))
    }
}
