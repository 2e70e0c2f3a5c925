//! Key selection and refetching: unknown kids, rate limits, failures, stale sets.

use super::support::*;

#[tokio::test]
async fn token_without_kid_needs_exactly_one_usable_key() {
    let es = sign(Algorithm::ES256, None, EC1_KEY, &claims());
    let single = auth_with(&config(), &jwks_of(&[EC1_JWK])).await;
    assert!(single.verify(&es).await.is_ok());
    assert_invalid(auth().await.verify(&es).await, "no `kid`");
}

#[tokio::test]
async fn unknown_kid_refetches_and_finds_a_rotated_key() {
    let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
    let auth = Authenticator::new(&config(), source.clone()).await.unwrap();
    assert_eq!(source.fetches(), 1);
    source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
    let token = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
    assert!(auth.verify(&token).await.is_ok());
    assert_eq!(source.fetches(), 2);
    // Cached now: neither this nor known kids fetch again.
    assert!(auth.verify(&token).await.is_ok());
    assert!(auth.verify(&rs256(&claims())).await.is_ok());
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn unknown_kid_refetches_are_rate_limited() {
    let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
    let auth = Authenticator::new(&config(), source.clone()).await.unwrap(); // 30 s interval
    let t1 = sign(Algorithm::RS256, Some("nope-1"), RSA2_KEY, &claims());
    let t2 = sign(Algorithm::RS256, Some("nope-2"), RSA2_KEY, &claims());
    assert!(matches!(auth.verify(&t1).await, Err(AuthError::UnknownKey(k)) if k == "nope-1"));
    assert_eq!(source.fetches(), 2);
    assert!(matches!(
        auth.verify(&t2).await,
        Err(AuthError::UnknownKey(_))
    ));
    assert_eq!(
        source.fetches(),
        2,
        "second unknown kid within the interval must not refetch"
    );
    // Even a key that did appear is not picked up until the interval passes.
    source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
    let t3 = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
    assert!(matches!(
        auth.verify(&t3).await,
        Err(AuthError::UnknownKey(_))
    ));
    assert_eq!(source.fetches(), 2);

    // Control: with no interval every unknown kid refetches.
    let source = TestSource::new(&jwks_of(&[RSA1_JWK]));
    let cfg = AuthConfig {
        jwks_refresh_min_interval_secs: 0,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    assert!(auth.verify(&t1).await.is_err());
    assert!(auth.verify(&t2).await.is_err());
    assert_eq!(source.fetches(), 3);
}

#[tokio::test]
async fn concurrent_unknown_kid_callers_share_one_fetch() {
    let source = TestSource::slow(&jwks_of(&[RSA1_JWK]), Duration::from_millis(200));
    // No rate limit, so only the single-flight logic can prevent extra fetches.
    let cfg = AuthConfig {
        jwks_refresh_min_interval_secs: 0,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    source.serve(&jwks_of(&[RSA1_JWK, RSA2_JWK]));
    let token = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
    let results = futures::future::join_all((0..8).map(|_| auth.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn failed_refetch_keeps_the_cached_keys() {
    let source = TestSource::new(JWKS);
    let cfg = AuthConfig {
        jwks_refresh_min_interval_secs: 0,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    source.fail("connection refused");
    let unknown = sign(Algorithm::RS256, Some("rsa-2"), RSA2_KEY, &claims());
    let err = auth.verify(&unknown).await.unwrap_err();
    assert!(matches!(err, AuthError::UnknownKey(_)), "{err:?}");
    assert_eq!(source.fetches(), 2);
    assert!(auth.verify(&rs256(&claims())).await.is_ok());
    // A refetch yielding no usable key does not wipe the cache either.
    source.serve(r#"{"keys":[]}"#);
    assert!(matches!(
        auth.verify(&unknown).await,
        Err(AuthError::UnknownKey(_))
    ));
    assert_eq!(source.fetches(), 3);
    assert!(auth.verify(&rs256(&claims())).await.is_ok());
}

#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background() {
    let source = TestSource::new(JWKS);
    let cfg = AuthConfig {
        jwks_max_age_secs: 0,
        jwks_refresh_min_interval_secs: 0,
        ..config()
    };
    let auth = Authenticator::new(&cfg, source.clone()).await.unwrap();
    // rsa-1 is revoked at the source; the stale cache still serves this call.
    source.serve(&jwks_of(&[EC1_JWK]));
    assert!(auth.verify(&rs256(&claims())).await.is_ok());
    for _ in 0..100 {
        if source.fetches() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(source.fetches() >= 2, "no background refresh");
    // Let the refreshed set land, then rsa-1 is gone.
    let mut rejected = false;
    for _ in 0..100 {
        if matches!(
            auth.verify(&rs256(&claims())).await,
            Err(AuthError::UnknownKey(_))
        ) {
            rejected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rejected, "revoked key still accepted after refresh");
}
