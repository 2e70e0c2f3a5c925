//! [`Caller`]: who calls an RPC, from their access token; [`Requester`]: who asks to revoke or
//! introspect a token.

use crate::error::{Error, Result};
use crate::model::Scopes;
use crate::store::ClientRecord;

use super::OAuth;

/// The authenticated caller of an RPC (from its access token).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `sub` claim.
    pub sub: String,
    /// Username, for user tokens.
    pub username: Option<String>,
    /// Client the token was issued to.
    pub client_id: String,
    /// Scopes of the token.
    pub scopes: Scopes,
}

impl Caller {
    /// Whether the token carries `api:admin`.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(access_token::Scope::Admin.as_str())
    }

    /// Who, for audit details: the username, else the client.
    pub fn name(&self) -> String {
        self.username
            .clone()
            .unwrap_or_else(|| format!("client:{}", self.client_id))
    }
}

/// Who asks to revoke or introspect a token: the holder of an access token, or a client that
/// authenticated itself (RFC 7009 §2.1, RFC 7662 §2.1; [`OAuth::authenticate_client`]).
#[derive(Debug, Clone)]
pub enum Requester {
    /// A bearer: its own tokens, or every token with api:admin.
    Bearer(Caller),
    /// An authenticated client: revokes the tokens issued to it; introspects every token
    /// when it is confidential.
    Client(ClientRecord),
}

impl Requester {
    /// Who, for audit details: the caller's name, or `client:<client_id>`.
    pub fn name(&self) -> String {
        match self {
            Requester::Bearer(caller) => caller.name(),
            Requester::Client(client) => format!("client:{}", client.client_id),
        }
    }
}

impl OAuth {
    /// The caller of an RPC from its bearer token: the token must verify, and its user (or
    /// client, for client_credentials tokens) must still exist and be active.
    ///
    /// # Errors
    /// `Unauthenticated`.
    pub async fn caller(&self, token: &str) -> Result<Caller> {
        let claims = self.keys.verify(token).await?;
        let gone = || Error::Unauthenticated {
            reason: "ACCOUNT_DISABLED",
            message: "the token's account is disabled or deleted".to_owned(),
        };
        if claims.username.is_some() {
            match self.store.user_by_id(claims.sub.clone()).await? {
                Some(u) if u.is_active => {}
                _ => return Err(gone()),
            }
        } else {
            match self.store.client(claims.client_id.clone()).await? {
                Some(c) if c.is_active => {}
                _ => return Err(gone()),
            }
        }
        Ok(Caller {
            sub: claims.sub,
            username: claims.username,
            client_id: claims.client_id,
            scopes: Scopes::from_stored(&claims.scope),
        })
    }
}
