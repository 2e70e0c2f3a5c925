//! Verifying a JWT against a [`KeySet`]: the JOSE header, the key it names, the signature and
//! the registered claims.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AuthError, truncate};
use crate::jwks::{KeySet, VerifyingKey};

/// Longest bearer token accepted, in bytes. Verifiers refuse longer tokens before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The JOSE header of a token (RFC 7515 §4.1), as far as verification looks at it. Header
/// parameters that carry or point at keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// `alg`, one of the accepted asymmetric algorithms.
    pub alg: Algorithm,
    /// `kid`, if any.
    pub kid: Option<String>,
}

impl TokenHeader {
    /// Parses the header of a compact JWS `header.claims.signature`. Refused: anything but three
    /// segments, a header that is not base64url JSON with a string `alg`, a `crit` parameter
    /// (RFC 7515 §4.1.11), and every `alg` but RS256/384/512, PS256/384/512, ES256/384 and
    /// EdDSA — `none`, `HS*` and unknown names (RFC 8725 §3.1: an explicit allow-list).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] saying which check failed.
    pub fn parse(token: &str) -> Result<TokenHeader, AuthError> {
        /// The JOSE header fields looked at.
        #[derive(Deserialize)]
        struct RawHeader {
            alg: String,
            #[serde(default)]
            kid: Option<String>,
            #[serde(default)]
            crit: Option<Value>,
        }
        let malformed = || {
            AuthError::InvalidToken(
                "not a JWT (expected three base64url segments: header.claims.signature)".to_owned(),
            )
        };
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header.as_bytes())
            .map_err(|_| malformed())?;
        let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| {
            AuthError::InvalidToken("JOSE header is not valid JSON with a string `alg`".to_owned())
        })?;
        if raw.crit.is_some() {
            return Err(AuthError::InvalidToken(
                "`crit` header parameter is not supported (RFC 7515 §4.1.11)".to_owned(),
            ));
        }
        let alg = accepted_algorithm(&raw.alg).ok_or_else(|| {
            AuthError::InvalidToken(format!(
                "algorithm {:?} is not accepted; only RS*, PS*, ES256/384 and EdDSA signatures are (RFC 8725 §3.1)",
                truncate(&raw.alg)
            ))
        })?;
        Ok(TokenHeader { alg, kid: raw.kid })
    }
}

/// The asymmetric JWS algorithm named `name`, or `None` (for `none`, `HS*`, unknown).
fn accepted_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

impl KeySet {
    /// The key that must have signed a token with `header`: the one with its `kid`; without a
    /// `kid`, the set's only key. The key, not the token, decides the algorithm (RFC 8725
    /// §3.1), so the header's `alg` must equal the key's.
    ///
    /// # Errors
    /// [`AuthError::UnknownKey`] (the truncated kid) when no key has the `kid`;
    /// [`AuthError::InvalidToken`] when there is no `kid` and the set does not hold exactly one
    /// key, or the algorithms differ.
    pub fn key_for(&self, header: &TokenHeader) -> Result<&VerifyingKey, AuthError> {
        let key = match header.kid.as_deref() {
            Some(kid) => self
                .find(kid)
                .ok_or_else(|| AuthError::UnknownKey(truncate(kid)))?,
            None => match self.keys() {
                [only] => only,
                many => {
                    return Err(AuthError::InvalidToken(format!(
                        "token header has no `kid` and the JWK Set holds {} keys",
                        many.len()
                    )));
                }
            },
        };
        if header.alg != key.alg {
            return Err(AuthError::InvalidToken(format!(
                "token algorithm {:?} does not match the key's algorithm {:?}",
                header.alg, key.alg
            )));
        }
        Ok(key)
    }
}

/// What a verifier requires of a token's registered claims (RFC 7519 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The exact `iss` required.
    pub issuer: String,
    /// A value `aud` (a string or an array) must contain.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Rules {
    /// Checks the signature of `token` with `key` (in `key`'s algorithm) and its claims: `exp`
    /// required and not in the past, `nbf` (if present) not in the future, both with
    /// [`Rules::leeway_secs`]; `iss` equal to [`Rules::issuer`]; `aud` containing
    /// [`Rules::audience`]; `sub` present. Returns the claims as `T`.
    ///
    /// # Errors
    /// [`AuthError::Expired`], [`AuthError::NotYetValid`], [`AuthError::WrongIssuer`],
    /// [`AuthError::WrongAudience`]; [`AuthError::InvalidToken`] for everything else (a bad
    /// signature, a missing claim, claims that are not a `T`).
    pub fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        key: &VerifyingKey,
    ) -> Result<T, AuthError> {
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        jsonwebtoken::decode::<T>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(map_jwt_error)
    }
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidToken(format!("missing required claim `{claim}`"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidToken(format!("claim `{claim}` has an invalid format"))
        }
        ErrorKind::InvalidSignature => {
            AuthError::InvalidToken("signature verification failed".to_owned())
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => {
            AuthError::InvalidToken("algorithm not accepted for this key".to_owned())
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => AuthError::InvalidToken(
            "malformed JWT (claims must be a base64url JSON object)".to_owned(),
        ),
        _ => AuthError::InvalidToken("token rejected by the verifier".to_owned()),
    }
}
