//! Issuing the access token (and passing on the refresh token) of a successful grant.

use crate::error::Result;
use crate::keys::AccessClaims;
use crate::model::Scopes;
use crate::store::{ClientRecord, UserRecord};

use super::{IssuedTokens, OAuth};

impl OAuth {
    /// Signs the access token of a grant for `user` (none: the client itself) and `client`.
    pub(super) fn issue(
        &self,
        user: Option<&UserRecord>,
        client: &ClientRecord,
        scope: Scopes,
        refresh_token: Option<String>,
    ) -> Result<IssuedTokens> {
        let iat = chrono::Utc::now().timestamp();
        let lifetime = client.access_token_lifetime_secs;
        let claims = AccessClaims {
            iss: self.keys.issuer().to_owned(),
            sub: user.map_or_else(|| client.client_id.clone(), |u| u.user_id.clone()),
            aud: self.keys.audience().to_owned(),
            exp: iat + lifetime,
            iat,
            nbf: iat,
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            token_type: "access".to_owned(),
            username: user.map(|u| u.username.clone()),
        };
        Ok(IssuedTokens {
            access_token: self.keys.sign(&claims)?,
            expires_in: lifetime,
            refresh_token,
            scope,
        })
    }
}
