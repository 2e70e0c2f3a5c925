//! The refresh-token grant (RFC 6749 §6): rotation, reuse detection, narrowed scopes.

use crate::error::{Error, OAuthCode, Result};
use crate::model::{GrantType, RequestContext, Scopes};
use crate::store::RefreshOutcome;
use secrecy::{ExposeSecret as _, SecretString};

use super::{IssuedTokens, MAX_REFRESH_TOKEN_BYTES, OAuth, TokenRequest, random_token};

impl OAuth {
    /// The refresh grant: the client, then one atomic rotation of the presented token; a
    /// reused token revokes its whole family.
    pub(super) async fn refresh_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let presented = request.refresh_token.expose_secret();
        if presented.is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "refresh_token is required",
            ));
        }
        if presented.len() > MAX_REFRESH_TOKEN_BYTES {
            return Err(Error::oauth(
                OAuthCode::InvalidGrant,
                "invalid refresh token",
            ));
        }
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::RefreshToken,
                context,
            )
            .await?;
        let outcome = self
            .store
            .rotate_refresh(
                SecretString::from(presented.to_owned()),
                client.client_id.clone(),
                random_token(),
                (!requested.is_empty()).then(|| requested.clone()),
                self.refresh_grace_secs,
                context.clone(),
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated {
                refresh_token,
                user,
                client,
                scope,
            } => {
                let wanted = if requested.is_empty() {
                    scope
                } else {
                    requested
                };
                let scope = wanted
                    .intersection(&Scopes::from_stored(&user.scopes))
                    .intersection(&client.allowed_scopes_set());
                if scope.is_empty() {
                    return Err(Error::oauth(
                        OAuthCode::InvalidScope,
                        "none of the refresh token's scopes is still granted",
                    ));
                }
                self.issue(Some(&user), &client, scope, Some(refresh_token))
            }
            RefreshOutcome::ScopeExceeded => Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds the refresh token's",
            )),
            RefreshOutcome::Invalid(reason) => {
                tracing::info!(reason, "refresh refused");
                Err(Error::oauth(
                    OAuthCode::InvalidGrant,
                    "invalid refresh token",
                ))
            }
            RefreshOutcome::Reuse { family_id, revoked } => {
                tracing::warn!(%family_id, revoked, "refresh token reuse: family revoked");
                Err(Error::oauth(
                    OAuthCode::InvalidGrant,
                    "refresh token was already used; every token of this login is revoked",
                ))
            }
        }
    }
}
