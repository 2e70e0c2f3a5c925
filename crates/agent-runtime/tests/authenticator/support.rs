//! What the tests of [`crate::auth`] share: the fixture keys, an in-memory key source,
//! token signing and claims builders.

pub(super) use std::sync::atomic::{AtomicUsize, Ordering};
pub(super) use std::sync::{Arc, Mutex};
pub(super) use std::time::{Duration, Instant};

pub(super) use base64::Engine as _;
pub(super) use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub(super) use futures::future::BoxFuture;
pub(super) use jsonwebtoken::jwk::JwkSet;
pub(super) use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
pub(super) use serde_json::{Value, json};
pub(super) use tonic::metadata::{MetadataMap, MetadataValue};

pub(super) use crate::auth::*;

// TEST-ONLY keys, see tests/fixtures/README.md.
pub(super) const RSA1_KEY: &str = include_str!("../../../tests/fixtures/rsa-1.key.pem");
pub(super) const RSA1_PUB: &str = include_str!("../../../tests/fixtures/rsa-1.pub.pem");
pub(super) const RSA1_JWK: &str = include_str!("../../../tests/fixtures/rsa-1.jwk.json");
pub(super) const RSA2_KEY: &str = include_str!("../../../tests/fixtures/rsa-2.key.pem");
pub(super) const RSA2_JWK: &str = include_str!("../../../tests/fixtures/rsa-2.jwk.json");
pub(super) const EC1_KEY: &str = include_str!("../../../tests/fixtures/ec-1.key.pem");
pub(super) const EC1_JWK: &str = include_str!("../../../tests/fixtures/ec-1.jwk.json");
pub(super) const ED1_KEY: &str = include_str!("../../../tests/fixtures/ed-1.key.pem");
pub(super) const ED1_JWK: &str = include_str!("../../../tests/fixtures/ed-1.jwk.json");
pub(super) const JWKS: &str = include_str!("../../../tests/fixtures/jwks.json");

pub(super) const ISS: &str = "https://auth.codelab.local";
pub(super) const AUD: &str = "codelab-api";

/// A swappable in-memory JWK Set source that counts fetches.
pub(super) struct TestSource {
    state: Mutex<Result<String, String>>,
    fetches: AtomicUsize,
    delay: Duration,
}

impl TestSource {
    pub(super) fn new(json: &str) -> Arc<TestSource> {
        TestSource::slow(json, Duration::ZERO)
    }
    pub(super) fn slow(json: &str, delay: Duration) -> Arc<TestSource> {
        Arc::new(TestSource {
            state: Mutex::new(Ok(json.to_owned())),
            fetches: AtomicUsize::new(0),
            delay,
        })
    }
    pub(super) fn failing(msg: &str) -> Arc<TestSource> {
        let source = TestSource::new("");
        source.fail(msg);
        source
    }
    pub(super) fn serve(&self, json: &str) {
        *self.state.lock().unwrap() = Ok(json.to_owned());
    }
    pub(super) fn fail(&self, msg: &str) {
        *self.state.lock().unwrap() = Err(msg.to_owned());
    }
    pub(super) fn fetches(&self) -> usize {
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

pub(super) fn jwks_of(jwks: &[&str]) -> String {
    let keys: Vec<&str> = jwks.iter().map(|k| k.trim()).collect();
    format!("{{\"keys\":[{}]}}", keys.join(","))
}

pub(super) fn edit_jwk(
    jwk: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> String {
    let mut value: Value = serde_json::from_str(jwk).unwrap();
    edit(value.as_object_mut().unwrap());
    value.to_string()
}

pub(super) fn now() -> u64 {
    get_current_timestamp()
}

pub(super) fn claims() -> Value {
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

pub(super) fn claims_with(key: &str, value: Value) -> Value {
    let mut c = claims();
    c[key] = value;
    c
}

pub(super) fn claims_without(key: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(key);
    c
}

pub(super) fn encoding_key(alg: Algorithm, pem: &str) -> EncodingKey {
    match alg.family() {
        jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Ed => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        jsonwebtoken::AlgorithmFamily::Hmac => EncodingKey::from_secret(pem.as_bytes()),
    }
}

pub(super) fn sign_header(header: &Header, pem: &str, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &encoding_key(header.alg, pem)).unwrap()
}

pub(super) fn sign(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    sign_header(&header, pem, claims)
}

pub(super) fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), RSA1_KEY, claims)
}

pub(super) fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

pub(super) fn config() -> AuthConfig {
    AuthConfig {
        startup_wait_secs: 0,
        ..AuthConfig::default()
    }
}

pub(super) async fn auth_with(config: &AuthConfig, jwks: &str) -> Authenticator {
    Authenticator::new(config, TestSource::new(jwks))
        .await
        .unwrap()
}

pub(super) async fn auth() -> Authenticator {
    auth_with(&config(), JWKS).await
}

pub(super) fn bearer(value: &str) -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert("authorization", MetadataValue::try_from(value).unwrap());
    md
}

#[track_caller]
pub(super) fn assert_invalid(result: Result<Principal, AuthError>, needle: &str) {
    match result {
        Err(AuthError::InvalidToken(msg)) => {
            assert!(msg.contains(needle), "expected {needle:?} in {msg:?}")
        }
        other => panic!("expected InvalidToken({needle:?}), got {other:?}"),
    }
}
