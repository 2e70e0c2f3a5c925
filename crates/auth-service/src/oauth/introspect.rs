//! Introspection (RFC 7662).

use crate::error::{Error, OAuthCode, Result};
use db_core::timestamp::{now, utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Introspection, MAX_REFRESH_TOKEN_BYTES, OAuth, Requester, sha256_hex};

/// Longest token worth looking at, bytes: larger ones are inactive without a check.
pub const MAX_INTROSPECTED_BYTES: usize = 16 * 1024;

impl OAuth {
    /// RFC 7662: what `token` is, for a requester allowed to know. A confidential client (the
    /// resource server's case) and an api:admin bearer learn about every token; any other
    /// bearer only about its own, and everything else is `active: false`.
    ///
    /// # Errors
    /// `invalid_client` when the requester is a public client (it has no credentials to
    /// prove it is a resource server); database errors.
    pub async fn introspect(
        &self,
        token: &SecretString,
        requester: &Requester,
    ) -> Result<Introspection> {
        // `None`: every token is visible; `Some(sub)`: only that subject's.
        let only_of = match requester {
            Requester::Client(client) if client.client_secret_hash.is_none() => {
                return Err(Error::oauth(
                    OAuthCode::InvalidClient,
                    "introspection requires a confidential client",
                ));
            }
            Requester::Client(_) => None,
            Requester::Bearer(caller) if caller.is_admin() => None,
            Requester::Bearer(caller) => Some(caller.sub.as_str()),
        };
        let token = token.expose_secret();
        let inactive = Introspection::default();
        if token.is_empty() || token.len() > MAX_INTROSPECTED_BYTES {
            return Ok(inactive);
        }
        if token.split('.').count() == 3 {
            let Ok(claims) = self.keys.verify(token).await else {
                return Ok(inactive);
            };
            if only_of.is_some_and(|sub| sub != claims.sub) {
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
        if only_of.is_some_and(|sub| sub != user.user_id) {
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
