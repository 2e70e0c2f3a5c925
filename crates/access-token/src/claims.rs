//! [`AccessClaims`]: the claims of an access token auth-service issues, and how it signs them.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The `type` claim of every access token. Refresh tokens are opaque, and verifiers refuse
/// any other type.
pub const ACCESS_TYPE: &str = "access";

/// The JOSE `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an access token issued by auth-service. Serialized as a JSON object with these
/// member names in this order (`type` for [`AccessClaims::token_type`]; `username` left out
/// when `None`): tokens signed before and after this type existed carry the same JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id, or the client id for client_credentials tokens.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Unique token id (UUIDv7).
    pub jti: String,
    /// Client the token was issued to (RFC 8693 §4.3).
    pub client_id: String,
    /// Space-separated scopes (RFC 8693 §4.2).
    pub scope: String,
    /// Always [`ACCESS_TYPE`].
    #[serde(rename = "type")]
    pub token_type: String,
    /// Username, for display (absent for client_credentials tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl AccessClaims {
    /// Whether `type` is [`ACCESS_TYPE`].
    pub fn is_access(&self) -> bool {
        self.token_type == ACCESS_TYPE
    }

    /// The compact JWS of these claims signed RS256 with `key`, header
    /// `{"typ":"at+jwt","alg":"RS256","kid":<kid>}`.
    ///
    /// # Errors
    /// jsonwebtoken's error when signing fails (a key that is not RSA).
    pub fn sign_rs256(
        &self,
        kid: &str,
        key: &EncodingKey,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        jsonwebtoken::encode(&header, self, key)
    }
}
