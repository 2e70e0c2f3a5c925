//! The client-credentials grant (RFC 6749 §4.4).

use crate::error::{Error, OAuthCode, Result};
use crate::model::{Audit, AuditEvent, GrantType, RequestContext, Scopes};

use super::{IssuedTokens, OAuth, TokenRequest};

impl OAuth {
    /// The client-credentials grant: confidential clients only, scopes within the client's.
    pub(super) async fn client_credentials_grant(
        &self,
        request: TokenRequest,
        requested: Scopes,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let client = self
            .client(
                &request.client_id,
                &request.client_secret,
                GrantType::ClientCredentials,
                context,
            )
            .await?;
        if !client.is_confidential || client.client_secret_hash.is_none() {
            return Err(Error::oauth(
                OAuthCode::UnauthorizedClient,
                "only confidential clients may use client_credentials",
            ));
        }
        let allowed = client.allowed_scopes_set();
        if !requested.is_subset(&allowed) {
            return Err(Error::oauth(
                OAuthCode::InvalidScope,
                "requested scope exceeds what the client may ask for",
            ));
        }
        let scope = if requested.is_empty() {
            allowed
        } else {
            requested
        };
        self.store
            .record_audit(
                Audit::new(AuditEvent::ClientCredentials, true, context)
                    .client(client.client_id.clone())
                    .detail("scope", scope.to_string()),
            )
            .await?;
        self.issue(None, &client, scope, None)
    }
}
