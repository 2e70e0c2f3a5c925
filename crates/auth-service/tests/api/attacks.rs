//! Tokens that must not be accepted, and inputs that must not hurt.

use crate::backend_tests;
use crate::helpers::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use serde_json::json;
use tonic::Code;

backend_tests!(
    forged_and_misused_tokens_are_refused,
    oversized_fields_are_refused,
    one_address_is_rate_limited_others_are_not,
    a_spoofed_forwarded_for_does_not_escape_the_rate_limit
);

/// Without trusted proxies (the default) the limit keys on the TCP peer, whatever
/// `x-forwarded-for` the client writes.
async fn a_spoofed_forwarded_for_does_not_escape_the_rate_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.rate_limit = auth_service::config::RateLimitSettings {
            requests_per_second: 1,
            burst: 3,
        };
    })
    .await;
    for i in 0..3 {
        app.auth_from(&format!("198.51.100.{i}"))
            .get_jwks(pb::GetJwksRequest {})
            .await
            .unwrap();
    }
    expect_err(
        app.auth_from("198.51.100.200")
            .get_jwks(pb::GetJwksRequest {})
            .await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    app.shutdown().await;
}

async fn one_address_is_rate_limited_others_are_not(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |c| {
        c.rate_limit = auth_service::config::RateLimitSettings {
            requests_per_second: 1,
            burst: 3,
        };
    })
    .await;
    let mut noisy = app.auth_from("203.0.113.7");
    for _ in 0..3 {
        noisy.get_jwks(pb::GetJwksRequest {}).await.unwrap();
    }
    let refused = expect_err(
        noisy.get_jwks(pb::GetJwksRequest {}).await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    use tonic_types::StatusExt as _;
    let delay = refused
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    assert!(delay <= std::time::Duration::from_secs(1), "{delay:?}");
    // Logins from that address are refused too, before any password is checked.
    expect_err(
        noisy
            .token(password_grant(
                "codelab-flutter-app",
                "admin",
                ADMIN_PASSWORD,
            ))
            .await,
        Code::ResourceExhausted,
        "RATE_LIMITED",
    );
    // Another address is unaffected.
    app.auth_from("203.0.113.8")
        .token(password_grant(
            "codelab-flutter-app",
            "admin",
            ADMIN_PASSWORD,
        ))
        .await
        .unwrap();
    app.shutdown().await;
}

/// Signs `claims` with the service's own current key (read from its database and opened with
/// the test KEK), `kid` set.
async fn sign_with_service_key(app: &TestApp, claims: serde_json::Value) -> String {
    let keys = crate::fixtures::store(app)
        .await
        .published_keys()
        .await
        .unwrap();
    let key = &keys[0];
    // The database alone does not give the key: it is sealed under the KEK.
    assert!(jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes()).is_err());
    let keks = auth_service::kek::Keks::parse(
        &secrecy::SecretString::from(TEST_KEK),
        auth_service::kek::KEK_ENV,
    )
    .unwrap();
    let pem = keks.open(&key.kid, &key.private_key_pem).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(
            secrecy::ExposeSecret::expose_secret(&pem).as_bytes(),
        )
        .unwrap(),
    )
    .unwrap()
}

async fn forged_and_misused_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let good = claims(&login.access_token);
    let now = chrono::Utc::now().timestamp();
    let with = |patch: serde_json::Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let call = |token: String| {
        let mut users = app.users(&token);
        async move {
            users
                .get_current_user(pb::GetCurrentUserRequest {})
                .await
                .map(|_| ())
        }
    };
    // The control: a token signed the same way with the real claims is accepted.
    call(sign_with_service_key(&app, good.clone()).await)
        .await
        .expect("control token");

    expect_err(
        call(String::new()).await,
        Code::Unauthenticated,
        "MISSING_TOKEN",
    );
    expect_err(
        call("garbage".into()).await,
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );
    let expired = sign_with_service_key(
        &app,
        with(json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})),
    )
    .await;
    expect_err(call(expired).await, Code::Unauthenticated, "TOKEN_EXPIRED");
    let future =
        sign_with_service_key(&app, with(json!({"nbf": now + 3600, "exp": now + 7200}))).await;
    expect_err(
        call(future).await,
        Code::Unauthenticated,
        "TOKEN_NOT_YET_VALID",
    );
    let iss = sign_with_service_key(&app, with(json!({"iss": "https://evil.example"}))).await;
    expect_err(call(iss).await, Code::Unauthenticated, "WRONG_ISSUER");
    let aud = sign_with_service_key(&app, with(json!({"aud": "other-api"}))).await;
    expect_err(call(aud).await, Code::Unauthenticated, "WRONG_AUDIENCE");
    let refresh_type = sign_with_service_key(&app, with(json!({"type": "refresh"}))).await;
    expect_err(
        call(refresh_type).await,
        Code::Unauthenticated,
        "WRONG_TOKEN_TYPE",
    );
    // The opaque refresh token presented as an access token.
    expect_err(
        call(login.refresh_token.clone()).await,
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );
    // alg: none, with the real claims.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    expect_err(
        call(format!("{header}.{payload}.")).await,
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );
    // HS256 "signed" with the public key as the HMAC secret (algorithm confusion).
    let jwks = app
        .auth("")
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys_json;
    let kid = jsonwebtoken::decode_header(&login.access_token)
        .unwrap()
        .kid;
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = kid;
    let confused = jsonwebtoken::encode(
        &hs,
        &good,
        &jsonwebtoken::EncodingKey::from_secret(jwks.as_bytes()),
    )
    .unwrap();
    expect_err(call(confused).await, Code::Unauthenticated, "INVALID_TOKEN");
    // A kid this service never published.
    let mut parts: Vec<String> = login.access_token.split('.').map(str::to_owned).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"no-such-kid"}"#);
    expect_err(
        call(parts.join(".")).await,
        Code::Unauthenticated,
        "UNKNOWN_KEY",
    );
    // A tampered payload under the real signature.
    let mut parts: Vec<String> = login.access_token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(
        with(json!({"scope": "api:admin api:read api:write", "sub": "someone-else"})).to_string(),
    );
    expect_err(
        call(parts.join(".")).await,
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );
    // Several authorization values, or another scheme.
    let mut req = tonic::Request::new(pb::GetCurrentUserRequest {});
    req.metadata_mut().insert(
        "authorization",
        format!("Basic {}", login.access_token).parse().unwrap(),
    );
    let status = pb::user_service_client::UserServiceClient::new(app.channel.clone())
        .get_current_user(req)
        .await;
    expect_err(status, Code::Unauthenticated, "MALFORMED_AUTHORIZATION");
}

async fn oversized_fields_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Longer than any username or password can be: the generic answer, fast, nothing stored.
    let long_user = app.login(&"u".repeat(10_000), "password").await;
    expect_err(long_user, Code::Unauthenticated, "INVALID_GRANT");
    let long_password = app.login("admin", &"p".repeat(2_000)).await;
    expect_err(long_password, Code::Unauthenticated, "INVALID_GRANT");
    // Beyond the request size limit (64 KiB): refused by the transport, server keeps serving.
    let huge = app.login("admin", &"p".repeat(100_000)).await.unwrap_err();
    assert!(
        matches!(huge.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{huge:?}"
    );
    let long_refresh = app
        .auth("")
        .token(refresh_grant("codelab-cli", &"r".repeat(5_000)))
        .await;
    expect_err(long_refresh, Code::Unauthenticated, "INVALID_GRANT");
    app.login("admin", ADMIN_PASSWORD)
        .await
        .expect("still serving, admin not locked by oversized input");
    assert!(
        app.audit("login_failed").await.is_empty(),
        "oversized input is not an attempt"
    );
}
