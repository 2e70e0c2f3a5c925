//! Building an [`Authenticator`]: start-up fetch, settings, configuration.

use super::support::*;

#[tokio::test]
async fn new_fails_without_keys() {
    let err = Authenticator::new(&config(), TestSource::failing("down"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains("down")),
        "{err:?}"
    );
    assert!(err.is_unavailable());
    let err = Authenticator::new(&config(), TestSource::new(r#"{"keys":[]}"#))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
    let err = Authenticator::new(&config(), TestSource::new("not json"))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
    let slow = TestSource::slow(JWKS, Duration::from_millis(500));
    let cfg = AuthConfig {
        jwks_fetch_timeout_ms: 50,
        ..config()
    };
    let err = Authenticator::new(&cfg, slow).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains("timed out")),
        "{err:?}"
    );
}

#[tokio::test]
async fn new_rejects_bad_settings() {
    for cfg in [
        AuthConfig {
            issuer: " ".into(),
            ..config()
        },
        AuthConfig {
            audience: String::new(),
            ..config()
        },
        AuthConfig {
            jwks_fetch_timeout_ms: 0,
            ..config()
        },
    ] {
        let err = Authenticator::new(&cfg, TestSource::new(JWKS))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err:?}");
    }
}

#[tokio::test]
async fn from_config_disabled_yields_dev() {
    let auth = Authenticator::from_config(&AuthConfig {
        disabled: true,
        ..config()
    })
    .await
    .unwrap();
    assert!(auth.is_disabled());
    assert_eq!(
        auth.authenticate(&MetadataMap::new()).await.unwrap(),
        Principal::dev()
    );
}

#[tokio::test]
async fn from_config_without_a_jwks_url_asks_auth_service() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [None, Some(String::new()), Some("  ".to_owned())] {
        let err = Authenticator::from_config(&AuthConfig {
            jwks_url: url.clone(),
            auth_service_url: "ftp://auth.example:50052".into(),
            ..config()
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, AuthError::Config(m) if m.contains(AUTH_SERVICE_URL_ENV)),
            "{err:?}"
        );
        let err = Authenticator::from_config(&AuthConfig {
            jwks_url: url,
            auth_service_url: format!("http://127.0.0.1:{closed}"),
            jwks_fetch_timeout_ms: 500,
            ..config()
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, AuthError::JwksUnavailable(m) if m.contains("GetJwks") && m.contains(&closed.to_string())),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn new_waits_for_a_source_that_comes_up_late() {
    let source = TestSource::failing("connection refused");
    let late = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        late.serve(JWKS);
    });
    let cfg = AuthConfig {
        startup_wait_secs: 10,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    assert!(source.fetches() >= 2, "{}", source.fetches());
    assert!(auth.verify(&rs256(&claims())).await.is_ok());

    // It gives up once the wait is over, with the last error.
    let started = Instant::now();
    let cfg = AuthConfig {
        startup_wait_secs: 1,
        ..config()
    };
    let err = Authenticator::new(&cfg, TestSource::failing("still down"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::JwksUnavailable(m) if m.contains("still down")),
        "{err:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn from_config_with_a_file_url_verifies_tokens() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), JWKS).unwrap();
    let url = format!("file://{}", file.path().display());
    let auth = Authenticator::from_config(&AuthConfig {
        jwks_url: Some(url),
        ..config()
    })
    .await
    .unwrap();
    let p = auth
        .authenticate(&bearer(&format!("Bearer {}", rs256(&claims()))))
        .await
        .unwrap();
    assert_eq!(p.subject, "user-1");
}
