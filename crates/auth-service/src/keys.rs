//! Signing keys and access tokens.
//!
//! Keys live in the database (`signing_keys`), so every replica signs with the same newest key
//! and publishes the same JWK Set (RFC 7517). Access tokens are JWTs (RFC 7519) signed RS256
//! (RSA-2048, RFC 7518 §3.3) with the key's `kid` in the header. Rotation stores a new key and
//! keeps the old one published until every token it signed has expired (longest client access
//! lifetime + key reload period + leeway). Each replica reloads the keys every
//! `key_refresh_secs` and immediately after its own rotation; between those, a token with a
//! `kid` it does not know and every JWK Set request reload them too, at most once per
//! [`ON_DEMAND_RELOAD_INTERVAL`], so a replica never refuses or hides another replica's fresh
//! key (verifiers refetch the JWK Set on an unknown `kid`, RFC 7517 §4.5 / OpenID Connect
//! Core §10.1.1).
//!
//! Private keys are stored sealed under the key-encryption key ([`crate::kek`]); only the
//! signing key is opened, in memory, when the keys are loaded.
//!
//! The claims ([`AccessClaims`]) and the checks of a token's signature and registered claims
//! are the `access_token` crate's, which agent-runtime verifies with too.

use crate::error::{Error, Result};
use crate::kek::Keks;
use crate::model::{Audit, AuditEvent, RequestContext};
use crate::store::{KeyRecord, NewKey, Reseal, Store};
pub use access_token::AccessClaims;
use access_token::{AuthError, KeySet, MAX_TOKEN_BYTES, Rules, VerifyingKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use db_core::timestamp::now;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use secrecy::{ExposeSecret as _, SecretString};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Shortest time between two on-demand key reloads (unknown `kid`, JWK Set request): bounds
/// the database queries a flood of made-up `kid`s or JWK Set requests can cause.
pub const ON_DEMAND_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Longest an on-demand reload may take before the loaded keys answer instead.
pub const ON_DEMAND_RELOAD_TIMEOUT: Duration = Duration::from_secs(2);

/// RSA modulus size of generated keys, bits (RFC 7518 §3.3: at least 2048).
pub const RSA_BITS: usize = 2048;

struct Signing {
    kid: String,
    key: EncodingKey,
}

struct KeyState {
    signing: Signing,
    verifying: KeySet,
    jwks_json: String,
    kids: Vec<String>,
}

/// The current signing key, the published keys and token signing/verification. Cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    store: Store,
    keks: Keks,
    /// Issuer, audience and leeway of the tokens signed and verified.
    rules: Rules,
    refresh: Duration,
    state: Arc<RwLock<Arc<KeyState>>>,
    /// When the keys were last read from the database. Held across an on-demand reload, so
    /// concurrent callers wait for that one instead of each querying.
    loaded_at: Arc<tokio::sync::Mutex<Instant>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.rules.issuer)
            .field("kids", &self.state().kids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the published keys, generating and storing the first key (sealed under `keks`)
    /// when there is none. Run [`Store::seal_signing_keys`] first: a stored key that does not
    /// open under `keks` fails here as `Internal`.
    ///
    /// # Errors
    /// Database errors; `Internal` when a stored key does not open or parse, or generation
    /// fails.
    pub async fn load(
        store: Store,
        keks: Keks,
        issuer: String,
        audience: String,
        leeway_secs: u64,
        refresh: Duration,
    ) -> Result<KeyRing> {
        let mut records = store.published_keys().await?;
        if !records.iter().any(|k| k.retired_at.is_none()) {
            let key = generate_key(&keks).await?;
            let kid = key.kid.clone();
            if store.insert_first_key(key).await? {
                tracing::info!(%kid, "generated the first signing key");
            }
            records = store.published_keys().await?;
        }
        let state = build_state(&records, &keks)?;
        Ok(KeyRing {
            store,
            keks,
            rules: Rules {
                issuer,
                audience,
                leeway_secs,
            },
            refresh,
            state: Arc::new(RwLock::new(Arc::new(state))),
            loaded_at: Arc::new(tokio::sync::Mutex::new(Instant::now())),
        })
    }

    fn state(&self) -> Arc<KeyState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reloads the keys from the database (another replica may have rotated).
    ///
    /// # Errors
    /// Database errors; `Internal` for an unparsable stored key (the old keys stay in use).
    pub async fn reload(&self) -> Result<()> {
        let mut loaded_at = self.loaded_at.lock().await;
        self.reload_locked(&mut loaded_at).await
    }

    async fn reload_locked(&self, loaded_at: &mut Instant) -> Result<()> {
        let started = Instant::now();
        let mut records = self.store.published_keys().await?;
        if records
            .iter()
            .any(|k| crate::kek::is_plaintext(&k.private_key_pem))
        {
            // A backup made before envelope encryption was restored: seal it as at start.
            let sealed = self
                .store
                .seal_signing_keys(&self.keks, Reseal::Plaintext)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            tracing::warn!(kids = ?sealed.rewritten, "sealed plaintext signing keys");
            records = self.store.published_keys().await?;
        }
        if !records.iter().any(|k| k.retired_at.is_none()) {
            return Err(Error::Internal("no signing key in the database".to_owned()));
        }
        let state = build_state(&records, &self.keks)?;
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state);
        *loaded_at = started;
        Ok(())
    }

    /// Reloads the keys unless they were read less than [`ON_DEMAND_RELOAD_INTERVAL`] ago
    /// (by anyone); a failed reload is logged and the loaded keys stay in use.
    pub async fn reload_if_stale(&self) {
        let mut loaded_at = self.loaded_at.lock().await;
        if loaded_at.elapsed() < ON_DEMAND_RELOAD_INTERVAL {
            return;
        }
        // Bounded: while the database is slow or down, the loaded keys answer promptly.
        let reloaded =
            tokio::time::timeout(ON_DEMAND_RELOAD_TIMEOUT, self.reload_locked(&mut loaded_at))
                .await;
        let error = match reloaded {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {} ms",
                ON_DEMAND_RELOAD_TIMEOUT.as_millis()
            ),
        };
        // Try again only after the interval: an outage must not turn every request into a
        // query.
        *loaded_at = Instant::now();
        tracing::warn!(
            error,
            "reloading signing keys failed; keeping the loaded ones"
        );
    }

    /// The JWK Set after [`KeyRing::reload_if_stale`]: a verifier that asks because it met an
    /// unknown `kid` gets a key another replica published a moment ago.
    pub async fn current_jwks_json(&self) -> String {
        self.reload_if_stale().await;
        self.jwks_json()
    }

    /// Reloads every `key_refresh_secs` for ever; run it in a task and abort it to stop.
    pub async fn reload_periodically(self) {
        let mut ticker = tokio::time::interval(self.refresh);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "reloading signing keys failed; keeping the loaded ones");
            }
        }
    }

    /// Makes a freshly generated key the signing key; the previous ones stay published until
    /// their last token has expired. Returns the new `kid` and every published `kid`.
    ///
    /// # Errors
    /// Database errors; `Internal` when generation fails.
    pub async fn rotate(
        &self,
        context: &RequestContext,
        actor: &str,
    ) -> Result<(String, Vec<String>)> {
        let key = generate_key(&self.keks).await?;
        let kid = key.kid.clone();
        let lifetime = self.store.max_access_token_lifetime().await?.max(900);
        let keep = lifetime + self.refresh.as_secs() as i64 + self.rules.leeway_secs as i64 + 60;
        let publish_until = now() + chrono::Duration::seconds(keep);
        let audit = Audit::new(AuditEvent::SigningKeyRotated, true, context)
            .detail("kid", kid.clone())
            .detail("by", actor.to_owned());
        self.store.rotate_key(key, publish_until, audit).await?;
        self.reload().await?;
        tracing::info!(%kid, "signing key rotated");
        Ok((kid, self.state().kids.clone()))
    }

    /// The JWK Set document, `{"keys":[…]}`, newest key first.
    pub fn jwks_json(&self) -> String {
        self.state().jwks_json.clone()
    }

    /// Signs `claims` with the current key (`kid` in the header).
    ///
    /// # Errors
    /// `Internal` if signing fails (not expected).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let state = self.state();
        claims
            .sign_rs256(&state.signing.kid, &state.signing.key)
            .map_err(|e| Error::Internal(format!("signing an access token: {e}")))
    }

    /// Issuer of the tokens.
    pub fn issuer(&self) -> &str {
        &self.rules.issuer
    }

    /// Audience of the tokens.
    pub fn audience(&self) -> &str {
        &self.rules.audience
    }

    /// Verifies one of this service's access tokens: RS256 only, a published `kid`, `iss`,
    /// `aud`, `exp`/`nbf` with the configured leeway, `type` = `access`. A `kid` not in the
    /// loaded keys makes the ring reload from the database first (at most once per
    /// [`ON_DEMAND_RELOAD_INTERVAL`]): another replica may have just rotated.
    ///
    /// # Errors
    /// `Unauthenticated` (`INVALID_TOKEN`, `TOKEN_EXPIRED`, `UNKNOWN_KEY`, `WRONG_TOKEN_TYPE`)
    /// saying what is wrong, never echoing the token.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims> {
        let invalid =
            |reason: &'static str, message: String| Error::Unauthenticated { reason, message };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("INVALID_TOKEN", "token too long".to_owned()));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("INVALID_TOKEN", "malformed token".to_owned()))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid(
                "INVALID_TOKEN",
                format!("algorithm {:?} is not accepted", header.alg),
            ));
        }
        let kid = header.kid.unwrap_or_default();
        let mut state = self.state();
        if state.verifying.find(&kid).is_none() && !kid.is_empty() && kid.len() <= 128 {
            self.reload_if_stale().await;
            state = self.state();
        }
        let key = state
            .verifying
            .find(&kid)
            .ok_or_else(|| invalid("UNKNOWN_KEY", "token signed with an unknown key".to_owned()))?;
        let claims: AccessClaims = self.rules.decode(token, key).map_err(|e| match e {
            AuthError::Expired => invalid("TOKEN_EXPIRED", "token expired".to_owned()),
            AuthError::NotYetValid => {
                invalid("TOKEN_NOT_YET_VALID", "token not yet valid".to_owned())
            }
            AuthError::WrongIssuer => invalid("WRONG_ISSUER", "wrong issuer".to_owned()),
            AuthError::WrongAudience => invalid("WRONG_AUDIENCE", "wrong audience".to_owned()),
            _ => invalid("INVALID_TOKEN", "invalid token".to_owned()),
        })?;
        if !claims.is_access() {
            return Err(invalid(
                "WRONG_TOKEN_TYPE",
                "not an access token".to_owned(),
            ));
        }
        Ok(claims)
    }
}

fn build_state(records: &[KeyRecord], keks: &Keks) -> Result<KeyState> {
    let current = records
        .iter()
        .find(|k| k.retired_at.is_none())
        .ok_or_else(|| Error::Internal("no signing key".to_owned()))?;
    let pem = keks
        .open(&current.kid, &current.private_key_pem)
        .map_err(|e| Error::Internal(e.0))?;
    let signing = Signing {
        kid: current.kid.clone(),
        key: EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()).map_err(|e| {
            Error::Internal(format!(
                "stored signing key {} does not parse: {e}",
                current.kid
            ))
        })?,
    };
    let mut verifying = Vec::new();
    let mut jwks = Vec::new();
    let mut kids = Vec::new();
    // The signing key first, then the others newest first.
    let ordered = std::iter::once(current).chain(records.iter().filter(|k| k.kid != current.kid));
    for record in ordered {
        let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).map_err(|e| {
            Error::Internal(format!("stored JWK of {} does not parse: {e}", record.kid))
        })?;
        if jwk["n"].as_str().is_none() || jwk["e"].as_str().is_none() {
            return Err(Error::Internal(format!(
                "stored JWK of {} lacks n or e",
                record.kid
            )));
        }
        let mut key = serde_json::from_value::<Jwk>(jwk.clone())
            .map_err(|e| e.to_string())
            .and_then(|jwk| VerifyingKey::from_jwk(&jwk))
            .map_err(|err| {
                Error::Internal(format!("stored JWK of {} is unusable: {err}", record.kid))
            })?;
        // Looked up by the row's kid, whatever the JWK says.
        key.kid = Some(record.kid.clone());
        verifying.push(key);
        jwks.push(jwk);
        kids.push(record.kid.clone());
    }
    Ok(KeyState {
        signing,
        verifying: KeySet::new(verifying),
        jwks_json: serde_json::json!({ "keys": jwks }).to_string(),
        kids,
    })
}

/// Generates an RSA-2048 key (off the async executor) with a `kid` of the form
/// `YYYYMMDD-<8 hex>`, its private part sealed under `keks`.
async fn generate_key(keks: &Keks) -> Result<NewKey> {
    let keks = keks.clone();
    tokio::task::spawn_blocking(move || {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
            .map_err(|e| Error::Internal(format!("RSA key generation: {e}")))?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Internal(format!("PKCS#8 encoding: {e}")))?;
        let pem = SecretString::from(pem.as_str());
        let created_at = now();
        let kid = format!(
            "{}-{}",
            created_at.format("%Y%m%d"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let jwk = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        let sealed = keks.seal(&kid, &pem).map_err(|e| Error::Internal(e.0))?;
        Ok(NewKey {
            kid,
            algorithm: "RS256".to_owned(),
            private_key_pem: sealed,
            public_jwk: jwk.to_string(),
            created_at,
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("key generation task: {e}")))?
}
