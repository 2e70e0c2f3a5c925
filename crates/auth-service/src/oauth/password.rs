//! The password grant (RFC 6749 §4.3).

use crate::error::{Error, OAuthCode, Result};
use crate::model::{Audit, AuditEvent, GrantType, RequestContext, Scopes};
use crate::store::{ClientRecord, NewRefreshToken, UserRecord};
use secrecy::{ExposeSecret as _, SecretString};

use super::{
    IssuedTokens, MAX_SECRET_BYTES, MAX_USERNAME_CHARS, OAuth, TokenRequest, random_token,
    sha256_hex,
};

impl OAuth {
    /// The password grant: the client, then the username and address lockout, then the
    /// password; a success starts a refresh-token family when the client may refresh.
    pub(super) async fn password_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let username = request.username.trim().to_lowercase();
        if username.is_empty() || request.password.expose_secret().is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "username and password are required",
            ));
        }
        if username.chars().count() > MAX_USERNAME_CHARS
            || request.password.expose_secret().len() > MAX_SECRET_BYTES
        {
            // Longer than any stored username or password could be: cannot match.
            return Err(Error::bad_credentials());
        }
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::Password,
                context,
            )
            .await?;
        if !requested.is_subset(&client.allowed_scopes_set()) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds what the client may ask for",
            ));
        }

        // Reserve a slot on the address and on the username before any password is checked.
        let ip_key = context.ip.as_ref().map(|ip| format!("ip:{ip}"));
        let mut ip_attempt = None;
        if let Some(key) = &ip_key {
            let attempt = self
                .store
                .reserve_attempt(key.clone(), self.lockout.window_secs)
                .await?;
            self.check_lock(key, attempt, self.lockout.max_failures_per_ip)
                .await?;
            ip_attempt = Some(attempt);
        }
        let user_key = format!("user:{username}");
        let user_attempt = self
            .store
            .reserve_attempt(user_key.clone(), self.lockout.window_secs)
            .await?;
        if let Err(locked) = self
            .check_lock(&user_key, user_attempt, self.lockout.max_failures_per_user)
            .await
        {
            // Refused without a password check: not a guess the address made, so the address
            // gets its slot back (many people behind one NAT retrying a locked account must
            // not lock the address for everyone else).
            if let Some(key) = ip_key {
                self.store.release_attempt(key).await?;
            }
            return Err(locked);
        }

        let user = self.store.user_by_username(username.clone()).await?;
        let (verified, reason) = match &user {
            None => {
                let like = self.store.timing_sample(username.clone()).await?;
                self.passwords
                    .verify_unknown_user(&request.password, like)
                    .await?;
                (None, "unknown user")
            }
            Some(u) => {
                let v = self
                    .passwords
                    .verify(&request.password, &u.password_hash)
                    .await?;
                if !v.ok {
                    (None, "wrong password")
                } else if !u.is_active {
                    (None, "user disabled")
                } else {
                    (Some(v), "")
                }
            }
        };
        let (Some(verified), Some(user)) = (verified, user.clone()) else {
            let audit = Audit::new(AuditEvent::LoginFailed, false, context)
                .user(user.as_ref().map(|u| u.id), username.clone())
                .client(client.client_id.clone())
                .detail("reason", reason);
            self.store.record_audit(audit).await?;
            if user_attempt.failures >= self.lockout.max_failures_per_user {
                self.lock(&user_key, &username, context).await?;
            }
            if let (Some(key), Some(attempt)) = (&ip_key, ip_attempt)
                && attempt.failures >= self.lockout.max_failures_per_ip
            {
                self.lock(key, &username, context).await?;
            }
            return Err(Error::bad_credentials());
        };

        // Success: the username's count starts again, the address gets its slot back.
        self.store.clear_attempts(user_key).await?;
        if let Some(key) = ip_key {
            self.store.release_attempt(key).await?;
        }
        let scope = grantable(&requested, &client, &user)?;
        let refresh = client.allows(GrantType::RefreshToken).then(random_token);
        let audit = Audit::new(AuditEvent::LoginSuccess, true, context)
            .user(Some(user.id), user.username.clone())
            .client(client.client_id.clone())
            .detail("scope", scope.to_string());
        // Re-checks, under the user's row lock, that the user is still active and still has
        // the hash just verified: a disable or password change committed meanwhile wins.
        self.store
            .complete_login(
                user.id,
                user.password_hash.clone(),
                refresh.as_ref().map(|t| NewRefreshToken {
                    token_hash: sha256_hex(t),
                    user_id: user.id,
                    client_id: client.client_id.clone(),
                    scope: scope.clone(),
                    lifetime_secs: client.refresh_token_lifetime_secs,
                }),
                audit,
            )
            .await?;
        if verified.needs_rehash {
            self.spawn_rehash(&user, &request.password);
        }
        self.issue(Some(&user), &client, scope, refresh)
    }

    fn spawn_rehash(&self, user: &UserRecord, password: &SecretString) {
        let (store, passwords) = (self.store.clone(), self.passwords.clone());
        let (id, old) = (user.id, user.password_hash.clone());
        let password = SecretString::from(password.expose_secret().to_owned());
        tokio::spawn(async move {
            match passwords.hash(&password).await {
                Ok(new) => {
                    if let Err(e) = store.rehash_password(id, old, new).await {
                        tracing::warn!(error = %e, "storing a rehashed password failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rehashing a password failed"),
            }
        });
    }
}

/// Scopes a password login gets: the requested ones (or all the client may have), narrowed to
/// the user's (RFC 6749 §3.3 lets the server issue fewer than asked).
fn grantable(requested: &Scopes, client: &ClientRecord, user: &UserRecord) -> Result<Scopes> {
    let base = if requested.is_empty() {
        client.allowed_scopes_set()
    } else {
        requested.clone()
    };
    let scope = base.intersection(&Scopes::from_stored(&user.scopes));
    if scope.is_empty() {
        return Err(Error::oauth(
            OAuthCode::InvalidScope,
            "the user holds none of the requested scopes",
        ));
    }
    Ok(scope)
}
