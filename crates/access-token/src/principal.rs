//! [`Principal`]: who is calling, as an access token says.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::claims::ACCESS_TYPE;
use crate::error::{AuthError, truncate};
use crate::scope::Scope;

/// Who is calling: the verified identity carried by an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub` claim (RFC 7519 §4.1.2); never empty.
    pub subject: String,
    /// The token's `client_id` claim (RFC 8693 §4.3), if any: the OAuth
    /// client that obtained the token.
    pub client_id: Option<String>,
    /// Known scopes from the token's `scope` claim (RFC 8693 §4.2); unknown
    /// scope strings are dropped.
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// The local-development caller used when authentication is disabled:
    /// subject `"dev"`, no client id, all scopes.
    pub fn dev() -> Principal {
        Principal {
            subject: "dev".to_owned(),
            client_id: None,
            scopes: Scope::ALL.into_iter().collect(),
        }
    }

    /// Whether the caller holds `scope`. [`Scope::Admin`] implies every
    /// other scope.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Whether the caller holds [`Scope::Admin`].
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    /// `Ok(())` when the caller holds `scope` (see [`Principal::has`]),
    /// otherwise [`AuthError::MissingScope`]`(scope)`.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }

    /// The principal of signature- and time-checked claims, from any issuer (not only
    /// auth-service's [`crate::AccessClaims`]): `sub` a non-empty string; `type` required and
    /// equal to `"access"` (so a refresh token, an ID token or any other token of the issuer
    /// cannot be replayed as an access token); `client_id` an optional string; `scope` an
    /// optional space-separated string whose unknown entries are dropped.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] naming the claim; [`AuthError::WrongTokenType`] with the
    /// (truncated) `type` when it is not `"access"`.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Principal, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.trim().is_empty() => sub.clone(),
            _ => {
                return Err(AuthError::InvalidToken(
                    "`sub` claim must be a non-empty string".to_owned(),
                ));
            }
        };
        // Required: a token without `type` may be another kind of token of the same issuer (an
        // ID token, a refresh token in JWT form) and is never taken for an access token.
        match claims.get("type") {
            None | Some(Value::Null) => {
                return Err(AuthError::InvalidToken(
                    "`type` claim is required and must be \"access\"".to_owned(),
                ));
            }
            Some(Value::String(t)) if t == ACCESS_TYPE => {}
            Some(Value::String(t)) => return Err(AuthError::WrongTokenType(truncate(t))),
            Some(other) => return Err(AuthError::WrongTokenType(truncate(&other.to_string()))),
        }
        let client_id = match claims.get("client_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return Err(AuthError::InvalidToken(
                    "`client_id` claim must be a string".to_owned(),
                ));
            }
        };
        let scopes = match claims.get("scope") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::String(scope)) => {
                scope.split_whitespace().filter_map(Scope::parse).collect()
            }
            Some(_) => {
                return Err(AuthError::InvalidToken(
                    "`scope` claim must be a space-separated string (RFC 8693 §4.2)".to_owned(),
                ));
            }
        };
        Ok(Principal {
            subject,
            client_id,
            scopes,
        })
    }
}
