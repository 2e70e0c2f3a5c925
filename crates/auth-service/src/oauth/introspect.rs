//! Introspection (RFC 7662).

use crate::error::Result;
use db_core::timestamp::{now, utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Caller, Introspection, MAX_REFRESH_TOKEN_BYTES, OAuth, sha256_hex};

impl OAuth {
    /// RFC 7662: what `token` is, for a caller allowed to know. Callers without api:admin only
    /// learn about their own tokens; everything else is `active: false`.
    ///
    /// # Errors
    /// Database errors only.
    pub async fn introspect(&self, token: &SecretString, caller: &Caller) -> Result<Introspection> {
        let token = token.expose_secret();
        let inactive = Introspection::default();
        if token.is_empty() || token.len() > 16 * 1024 {
            return Ok(inactive);
        }
        if token.split('.').count() == 3 {
            let Ok(claims) = self.keys.verify(token).await else {
                return Ok(inactive);
            };
            if !caller.is_admin() && claims.sub != caller.sub {
                return Ok(inactive);
            }
            let still_active = if claims.username.is_some() {
                self.store
                    .user_by_id(claims.sub.clone())
                    .await?
                    .is_some_and(|u| u.is_active)
            } else {
                self.store
                    .client(claims.client_id.clone())
                    .await?
                    .is_some_and(|c| c.is_active)
            };
            if !still_active {
                return Ok(inactive);
            }
            return Ok(Introspection {
                active: true,
                sub: claims.sub,
                username: claims.username.unwrap_or_default(),
                client_id: claims.client_id,
                scope: claims.scope,
                exp: claims.exp,
                iat: claims.iat,
                token_type: "access_token".to_owned(),
            });
        }
        if token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(inactive);
        }
        let Some((refresh, user)) = self.store.refresh_token(sha256_hex(token)).await? else {
            return Ok(inactive);
        };
        if !caller.is_admin() && user.user_id != caller.sub {
            return Ok(inactive);
        }
        let at = now();
        let rotated_long_ago = refresh
            .rotated_at
            .is_some_and(|r| at - r > chrono::Duration::seconds(self.refresh_grace_secs));
        if refresh.revoked_at.is_some()
            || refresh.expires_at <= at
            || rotated_long_ago
            || !user.is_active
        {
            return Ok(inactive);
        }
        Ok(Introspection {
            active: true,
            sub: user.user_id,
            username: user.username,
            client_id: refresh.client_id,
            scope: refresh.scope,
            exp: utc(refresh.expires_at).timestamp(),
            iat: utc(refresh.created_at).timestamp(),
            token_type: "refresh_token".to_owned(),
        })
    }
}
