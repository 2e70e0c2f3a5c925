//! [`AuthConfig`]: defaults and its redacting `Debug`.

use super::support::*;

#[test]
fn debug_redacts_credentials_in_urls() {
    let config = AuthConfig {
        jwks_url: Some(
            "https://reader:s3cret-pw@idp.example/jwks.json?access_token=tok-123".into(),
        ),
        auth_service_url: "https://svc:other-pw@auth.example:50052".into(),
        ..AuthConfig::default()
    };
    let printed = format!("{config:?}");
    for secret in ["s3cret-pw", "tok-123", "other-pw"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(printed.contains("idp.example"), "{printed}");
}

#[test]
fn config_defaults_apply_to_missing_fields() {
    let empty: AuthConfig = serde_json::from_str("{}").unwrap();
    assert!(!empty.disabled);
    assert_eq!(empty.jwks_url, None);
    assert_eq!(empty.auth_service_url, "http://127.0.0.1:50052");
    assert_eq!(empty.startup_wait_secs, 30);
    assert_eq!(empty.issuer, "https://auth.codelab.local");
    assert_eq!(empty.audience, "codelab-api");
    assert_eq!(empty.leeway_secs, 30);
    assert_eq!(empty.jwks_refresh_min_interval_secs, 30);
    assert_eq!(empty.jwks_max_age_secs, 3600);
    assert_eq!(empty.jwks_fetch_timeout_ms, 3000);
    let some: AuthConfig = serde_json::from_str(r#"{"disabled": true, "leeway_secs": 5}"#).unwrap();
    assert!(some.disabled);
    assert_eq!(some.leeway_secs, 5);
    assert_eq!(some.audience, "codelab-api");
}
