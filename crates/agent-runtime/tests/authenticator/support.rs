//! What the tests of `agent_runtime::auth` share: the fixture keys, an in-memory key source,
//! token signing and claims builders.

pub use std::sync::atomic::{AtomicUsize, Ordering};
pub use std::sync::{Arc, Mutex};
pub use std::time::{Duration, Instant};

pub use base64::Engine as _;
pub use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use futures::future::BoxFuture;
pub use jsonwebtoken::jwk::JwkSet;
pub use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
pub use serde_json::{Value, json};
pub use tonic::metadata::{MetadataMap, MetadataValue};

pub use agent_runtime::auth::*;

// TEST-ONLY keys, see tests/fixtures/README.md.
pub const RSA1_KEY: &str = include_str!("../fixtures/rsa-1.key.pem");
pub const RSA1_PUB: &str = include_str!("../fixtures/rsa-1.pub.pem");
pub const RSA1_JWK: &str = include_str!("../fixtures/rsa-1.jwk.json");
pub const RSA2_KEY: &str = include_str!("../fixtures/rsa-2.key.pem");
pub const RSA2_JWK: &str = include_str!("../fixtures/rsa-2.jwk.json");
pub const EC1_KEY: &str = include_str!("../fixtures/ec-1.key.pem");
pub const EC1_JWK: &str = include_str!("../fixtures/ec-1.jwk.json");
pub const ED1_KEY: &str = include_str!("../fixtures/ed-1.key.pem");
pub const ED1_JWK: &str = include_str!("../fixtures/ed-1.jwk.json");
pub const JWKS: &str = include_str!("../fixtures/jwks.json");

pub const ISS: &str = "https://auth.codelab.local";
pub const AUD: &str = "codelab-api";

/// A swappable in-memory JWK Set source that counts fetches.
pub struct TestSource {
    state: Mutex<Result<String, String>>,
    fetches: AtomicUsize,
    delay: Duration,
}

impl TestSource {
    pub fn new(json: &str) -> Arc<TestSource> {
        TestSource::slow(json, Duration::ZERO)
    }
    pub fn slow(json: &str, delay: Duration) -> Arc<TestSource> {
        Arc::new(TestSource {
            state: Mutex::new(Ok(json.to_owned())),
            fetches: AtomicUsize::new(0),
            delay,
        })
    }
    pub fn failing(msg: &str) -> Arc<TestSource> {
        let source = TestSource::new("");
        source.fail(msg);
        source
    }
    pub fn serve(&self, json: &str) {
        *self.state.lock().unwrap() = Ok(json.to_owned());
    }
    pub fn fail(&self, msg: &str) {
        *self.state.lock().unwrap() = Err(msg.to_owned());
    }
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl JwksSource for TestSource {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let state = self.state.lock().unwrap().clone();
            match state {
                Ok(json) => parse_jwk_set(json.as_bytes()),
                Err(msg) => Err(AuthError::JwksUnavailable(msg)),
            }
        })
    }
    fn describe(&self) -> String {
        "test://jwks".to_owned()
    }
}

pub fn jwks_of(jwks: &[&str]) -> String {
    let keys: Vec<&str> = jwks.iter().map(|k| k.trim()).collect();
    format!("{{\"keys\":[{}]}}", keys.join(","))
}

pub fn edit_jwk(jwk: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut value: Value = serde_json::from_str(jwk).unwrap();
    edit(value.as_object_mut().unwrap());
    value.to_string()
}

pub fn now() -> u64 {
    get_current_timestamp()
}

pub fn claims() -> Value {
    json!({
        "sub": "user-1",
        "iss": ISS,
        "aud": AUD,
        "iat": now(),
        "exp": now() + 300,
        "scope": "api:read api:write",
        "client_id": "codelab-cli",
        "type": "access",
    })
}

pub fn claims_with(key: &str, value: Value) -> Value {
    let mut c = claims();
    c[key] = value;
    c
}

pub fn claims_without(key: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

pub fn encoding_key(alg: Algorithm, pem: &str) -> EncodingKey {
    match alg.family() {
        jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Hmac => EncodingKey::from_secret(pem.as_bytes()),
    }
}

pub fn sign_header(header: &Header, pem: &str, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &encoding_key(header.alg, pem)).unwrap()
}

pub fn sign(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    sign_header(&header, pem, claims)
}

pub fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), RSA1_KEY, claims)
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

pub fn config() -> AuthConfig {
    AuthConfig {
        startup_wait_secs: 0,
        ..AuthConfig::default()
    }
}

pub async fn auth_with(config: &AuthConfig, jwks: &str) -> Authenticator {
    Authenticator::new(config, TestSource::new(jwks))
        .await
        .unwrap()
}

pub async fn auth() -> Authenticator {
    auth_with(&config(), JWKS).await
}

/// An authenticator over the fixture keys that allows no clock leeway.
pub async fn strict_auth() -> Authenticator {
    let no_leeway = AuthConfig {
        leeway_secs: 0,
        ..config()
    };
    auth_with(&no_leeway, JWKS).await
}

/// The error `auth` refuses `claims` with, signed by rsa-1.
pub async fn refusal(auth: &Authenticator, claims: &Value) -> AuthError {
    auth.verify(&rs256(claims)).await.unwrap_err()
}

pub fn bearer(value: &str) -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert("authorization", MetadataValue::try_from(value).unwrap());
    md
}

#[track_caller]
pub fn assert_invalid(result: Result<Principal, AuthError>, needle: &str) {
    match result {
        Err(AuthError::InvalidToken(msg)) => {
            assert!(msg.contains(needle), "expected {needle:?} in {msg:?}")
        }
        other => panic!("expected InvalidToken({needle:?}), got {other:?}"),
    }
}
