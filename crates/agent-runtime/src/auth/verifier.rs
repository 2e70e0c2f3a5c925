//! [`Verifier`]: one token checked against the cached keys, per the rules of [`crate::auth`].

use std::sync::Arc;

use access_token::{AuthError, MAX_TOKEN_BYTES, Principal, Rules, TokenHeader, token_digest};
use serde_json::{Map, Value};

use super::refresh::RefreshingKeys;

/// The claim rules and the refreshing key cache of an enabled authenticator.
pub(super) struct Verifier {
    pub(super) rules: Rules,
    pub(super) keys: Arc<RefreshingKeys>,
}

impl Verifier {
    /// Verifies `token`: a remembered token while still in its time bounds; otherwise its
    /// header, the key its `kid` names (refetching the set once for an unknown `kid`), the
    /// signature, the claims and the principal they make, which is then remembered.
    pub(super) async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken(format!(
                "token longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let cache = self.keys.cache();
        let digest = token_digest(token);
        if let Some(principal) = cache.remembered(&digest, self.rules.leeway_secs) {
            return Ok(principal);
        }
        let header = TokenHeader::parse(token)?;

        let mut keys = cache.snapshot();
        self.keys.maybe_refresh_in_background(&keys);
        if let Some(kid) = header.kid.as_deref()
            && keys.keys.find(kid).is_none()
        {
            self.keys.refetch_for_unknown_kid(keys.generation).await;
            keys = cache.snapshot();
        }
        let key = keys.keys.key_for(&header)?;
        let claims: Map<String, Value> = self.rules.decode(token, key)?;
        let principal = Principal::from_claims(&claims)?;
        if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
            let nbf = claims.get("nbf").and_then(Value::as_i64);
            cache.remember(keys.generation, digest, principal.clone(), exp, nbf);
        }
        Ok(principal)
    }
}
