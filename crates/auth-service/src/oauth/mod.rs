//! The token endpoint and its companions: grants (RFC 6749 §4.3, §4.4, §6), revocation
//! (RFC 7009), introspection (RFC 7662), with the lockout and audit rules of this service.
//!
//! Nothing here knows gRPC: the edge converts requests into [`TokenRequest`] and the answers
//! back.
//!
//! One file per grant (`password`, `refresh`, `client_credentials`), with what they share:
//! client authentication (`client`), the lockout (`lockout`) and issuing (`issue`); the
//! caller of an RPC (`caller`), revocation and introspection.

mod caller;
mod client;
mod client_credentials;
mod introspect;
mod issue;
mod lockout;
mod password;
mod refresh;
mod revoke;
#[cfg(test)]
mod tests;

use crate::config::{Config, LockoutSettings};
use crate::error::{Error, OAuthCode, Result};
use crate::keys::KeyRing;
use crate::model::{GrantType, RequestContext, Scopes};
use crate::passwords::Passwords;
use crate::store::{ClientRecord, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Longest accepted username, characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest accepted password or client secret, bytes (bounds hashing work per request).
pub const MAX_SECRET_BYTES: usize = 1024;
/// Longest accepted refresh token, bytes (ours are 43).
pub const MAX_REFRESH_TOKEN_BYTES: usize = 512;

/// A token request (RFC 6749 §4.3.2, §4.4.2, §6), as received.
#[derive(Debug, Default)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    /// Client identifier.
    pub client_id: String,
    /// Client secret (confidential clients).
    pub client_secret: SecretString,
    /// Password grant.
    pub username: String,
    /// Password grant.
    pub password: SecretString,
    /// Refresh grant.
    pub refresh_token: SecretString,
    /// Space-separated requested scopes.
    pub scope: String,
}

/// What a successful grant returns (RFC 6749 §5.1).
#[derive(Debug)]
pub struct IssuedTokens {
    /// Signed JWT.
    pub access_token: String,
    /// Access-token lifetime, seconds.
    pub expires_in: i64,
    /// Opaque refresh token (not for client_credentials, nor for clients without the
    /// refresh_token grant).
    pub refresh_token: Option<String>,
    /// Scopes granted.
    pub scope: Scopes,
}

/// RFC 7662 §2.2 answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Introspection {
    /// Whether the token is currently usable.
    pub active: bool,
    /// User id, or client id for client_credentials tokens.
    pub sub: String,
    /// Username.
    pub username: String,
    /// Client.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// `access_token` or `refresh_token`.
    pub token_type: String,
}

/// Token issuing and checking. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OAuth {
    store: Store,
    keys: KeyRing,
    passwords: Passwords,
    lockout: LockoutSettings,
    refresh_grace_secs: i64,
}

/// Hex sha256 of a token or secret value: what the database stores of refresh tokens.
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new opaque token: 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl OAuth {
    /// Token logic over `store`, `keys` and `passwords` with `config`'s lockout and grace.
    pub fn new(store: Store, keys: KeyRing, passwords: Passwords, config: &Config) -> OAuth {
        OAuth {
            store,
            keys,
            passwords,
            lockout: config.lockout.clone(),
            refresh_grace_secs: config.refresh_grace_secs,
        }
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Runs the grant named in `request`.
    ///
    /// # Errors
    /// [`Error::OAuth`] with the RFC 6749 §5.2 code; [`Error::Locked`] while the username or
    /// address is locked out; `Unavailable`/`Internal` for outages.
    pub async fn token(
        &self,
        request: TokenRequest,
        context: &RequestContext,
    ) -> Result<IssuedTokens> {
        let grant = match request.grant_type.as_str() {
            "" => return Err(Error::oauth(OAuthCode::InvalidRequest, "grant_type is required")),
            g => GrantType::parse(g).ok_or_else(|| {
                Error::oauth(
                    OAuthCode::UnsupportedGrantType,
                    format!(
                        "grant_type `{}` is not supported; use password, refresh_token or client_credentials",
                        g.chars().take(40).collect::<String>()
                    ),
                )
            })?,
        };
        let requested = Scopes::parse(&request.scope).map_err(|bad| {
            Error::oauth(OAuthCode::InvalidScope, format!("unknown scope `{bad}`"))
        })?;
        if request.client_id.is_empty() {
            return Err(Error::oauth(
                OAuthCode::InvalidRequest,
                "client_id is required",
            ));
        }
        match grant {
            GrantType::Password => self.password_grant(request, requested, context).await,
            GrantType::RefreshToken => self.refresh_grant(request, requested, context).await,
            GrantType::ClientCredentials => {
                self.client_credentials_grant(request, requested, context)
                    .await
            }
        }
    }
}

impl ClientRecord {
    /// The client's allowed scopes as a set.
    pub fn allowed_scopes_set(&self) -> Scopes {
        Scopes::from_stored(&self.allowed_scopes)
    }
}

pub use caller::{Caller, Requester};
