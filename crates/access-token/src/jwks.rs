//! JWK Sets (RFC 7517 §5): parsing, and the keys of a set that may verify access tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::error::AuthError;

/// Largest JWK Set document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Smallest RSA modulus accepted in a JWK, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Parses a JWK Set document (RFC 7517 §5: `{"keys": [...]}`), at most
/// [`MAX_JWKS_BYTES`]. Individual keys that do not parse are skipped with a
/// warning (RFC 7517 §5 lets implementations ignore keys they do not
/// understand); a document that is not a JWK Set is
/// [`AuthError::JwksUnavailable`].
pub fn parse_jwk_set(bytes: &[u8]) -> Result<JwkSet, AuthError> {
    #[derive(Deserialize)]
    struct RawJwkSet {
        keys: Vec<Value>,
    }
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(AuthError::JwksUnavailable(format!(
            "JWK Set larger than {MAX_JWKS_BYTES} bytes"
        )));
    }
    let raw: RawJwkSet = serde_json::from_slice(bytes)
        .map_err(|e| AuthError::JwksUnavailable(format!("not a JWK Set (RFC 7517 §5): {e}")))?;
    let mut keys = Vec::with_capacity(raw.keys.len());
    for (index, value) in raw.keys.into_iter().enumerate() {
        match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => keys.push(jwk),
            Err(error) => tracing::warn!(index, %error, "skipping unparsable JWK in JWK Set"),
        }
    }
    Ok(JwkSet { keys })
}

/// A JWK accepted for verification, with the one algorithm it verifies.
pub struct VerifyingKey {
    /// The JWK's `kid`, if any.
    pub kid: Option<String>,
    /// Fixed by the key, never by a token (RFC 8725 §3.1): the JWK's `alg`, or the one its
    /// key type implies.
    pub alg: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

impl VerifyingKey {
    /// The key of `jwk` when it may verify signatures: `use` (if present) `sig`, `key_ops` (if
    /// present) with `verify`, an asymmetric key type — RSA of at least [`MIN_RSA_BITS`]
    /// (RS256/384/512, PS256/384/512; RS256 when `alg` is absent), EC P-256 (ES256), EC P-384
    /// (ES384) or OKP Ed25519 (EdDSA) — and an `alg`, if present, that fits the key type.
    /// Symmetric (`oct`) keys are never accepted (RFC 8725 §2.1, §3.1).
    ///
    /// # Errors
    /// Why the key is unusable, in words.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, String> {
        let alg = jwk_algorithm(jwk)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key material: {e}"))?;
        Ok(VerifyingKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        })
    }
}

/// The single algorithm a JWK may verify, or why it is unusable.
fn jwk_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err("`use` is not \"sig\"".to_owned());
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("`key_ops` does not include \"verify\"".to_owned());
    }
    // (algorithms this key type can verify, the one implied when `alg` is absent)
    let (compatible, implied): (&[Algorithm], Algorithm) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD
                .decode(rsa.n.as_bytes())
                .map_err(|_| "RSA `n` is not base64url".to_owned())?;
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bits = (n.len() - first) * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits, below {MIN_RSA_BITS} (RFC 7518 §3.3)"
                ));
            }
            (RSA_ALGS, Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => (&[Algorithm::ES256], Algorithm::ES256),
            EllipticCurve::P384 => (&[Algorithm::ES384], Algorithm::ES384),
            _ => return Err(format!("unsupported EC curve {:?}", ec.curve)),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => (&[Algorithm::EdDSA], Algorithm::EdDSA),
            _ => return Err(format!("unsupported OKP curve {:?}", okp.curve)),
        },
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "symmetric (`oct`) keys are never accepted (RFC 8725 §2.1, §3.1)".to_owned(),
            );
        }
        _ => return Err("unsupported key type".to_owned()),
    };
    match jwk.common.key_algorithm {
        None => Ok(implied),
        Some(key_alg) => Algorithm::try_from(key_alg)
            .ok()
            .filter(|alg| compatible.contains(alg))
            .ok_or_else(|| format!("`alg` {key_alg:?} does not fit the key type")),
    }
}

/// The keys of a JWK Set that may verify access tokens (see [`VerifyingKey::from_jwk`]).
#[derive(Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// The usable keys of `set`; the others are skipped with a warning naming `origin` (where
    /// the set came from) and the reason. Of several keys with one `kid` the first wins.
    pub fn from_jwk_set(set: &JwkSet, origin: &str) -> KeySet {
        let mut keys: Vec<VerifyingKey> = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            let key = match VerifyingKey::from_jwk(jwk) {
                Ok(key) => key,
                Err(why) => {
                    tracing::warn!(jwks = origin, kid = ?kid, "skipping JWK: {why}");
                    continue;
                }
            };
            if let Some(id) = &kid
                && keys.iter().any(|k| k.kid.as_deref() == Some(id))
            {
                tracing::warn!(jwks = origin, kid = %id, "skipping JWK: duplicate kid (first one wins)");
                continue;
            }
            keys.push(key);
        }
        KeySet { keys }
    }

    /// A set of exactly `keys`.
    pub fn new(keys: Vec<VerifyingKey>) -> KeySet {
        KeySet { keys }
    }

    /// The key with `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Every key, in the set's order.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}
