//! The claims: time, issuer, audience, subject, type, scope and client.

use super::support::*;

/// The time claim `claim` at `beyond` is refused with an error `refused` accepts; at `within`
/// it is accepted thanks to the leeway (30 s), and refused the same way without leeway.
async fn check_leeway(claim: &str, beyond: u64, within: u64, refused: fn(&AuthError) -> bool) {
    let auth = auth().await;
    let err = refusal(&auth, &claims_with(claim, json!(beyond))).await;
    assert!(refused(&err), "{err:?}");
    let token = rs256(&claims_with(claim, json!(within)));
    assert!(auth.verify(&token).await.is_ok(), "within leeway");
    let err = strict_auth().await.verify(&token).await.unwrap_err();
    assert!(refused(&err), "{err:?}");
}

#[tokio::test]
async fn expired_tokens_are_rejected_beyond_the_leeway() {
    check_leeway("exp", now() - 120, now() - 10, |e| {
        matches!(e, AuthError::Expired)
    })
    .await;
}

#[tokio::test]
async fn a_verified_token_still_expires() {
    let strict = strict_auth().await;
    let short = rs256(&claims_with("exp", json!(now() + 1)));
    let first = strict.verify(&short).await.unwrap();
    // Served from the cache of verified tokens while valid …
    assert_eq!(strict.verify(&short).await.unwrap(), first);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // … and refused once `exp` has passed, cached or not.
    assert!(matches!(
        strict.verify(&short).await,
        Err(AuthError::Expired)
    ));
    // A tampered copy of a cached token is a different token.
    let good = rs256(&claims_with("exp", json!(now() + 600)));
    strict.verify(&good).await.unwrap();
    let at = good.len() - 10;
    let flipped = if &good[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    assert!(strict.verify(&tampered).await.is_err());
}

#[tokio::test]
async fn exp_is_required() {
    assert_invalid(
        auth().await.verify(&rs256(&claims_without("exp"))).await,
        "exp",
    );
    let text = rs256(&claims_with("exp", json!("tomorrow")));
    assert!(auth().await.verify(&text).await.is_err());
}

#[tokio::test]
async fn nbf_in_the_future_is_rejected() {
    check_leeway("nbf", now() + 600, now() + 10, |e| {
        matches!(e, AuthError::NotYetValid)
    })
    .await;
    let past = rs256(&claims_with("nbf", json!(now() - 60)));
    assert!(auth().await.verify(&past).await.is_ok());
}

#[tokio::test]
async fn issuer_must_match() {
    let auth = auth().await;
    let other = claims_with("iss", json!("https://evil.example"));
    assert!(matches!(
        refusal(&auth, &other).await,
        AuthError::WrongIssuer
    ));
    assert_invalid(auth.verify(&rs256(&claims_without("iss"))).await, "iss");
    let custom = auth_with(
        &AuthConfig {
            issuer: "https://other".into(),
            ..config()
        },
        JWKS,
    )
    .await;
    assert!(matches!(
        custom.verify(&rs256(&claims())).await,
        Err(AuthError::WrongIssuer)
    ));
}

#[tokio::test]
async fn audience_must_be_contained() {
    let auth = auth().await;
    let other = claims_with("aud", json!("some-other-api"));
    assert!(matches!(
        refusal(&auth, &other).await,
        AuthError::WrongAudience
    ));
    let arr_without = claims_with("aud", json!(["a", "b"]));
    assert!(matches!(
        refusal(&auth, &arr_without).await,
        AuthError::WrongAudience
    ));
    let arr_with = rs256(&claims_with("aud", json!(["a", AUD])));
    assert!(auth.verify(&arr_with).await.is_ok());
    assert_invalid(auth.verify(&rs256(&claims_without("aud"))).await, "aud");
}

#[tokio::test]
async fn subject_must_be_a_non_empty_string() {
    let auth = auth().await;
    assert_invalid(auth.verify(&rs256(&claims_without("sub"))).await, "sub");
    for bad in [json!(""), json!("   "), json!(42)] {
        let token = rs256(&claims_with("sub", bad.clone()));
        assert_invalid(auth.verify(&token).await, "sub");
    }
}

#[tokio::test]
async fn refresh_token_type_is_rejected() {
    let auth = auth().await;
    let refresh = rs256(&claims_with("type", json!("refresh")));
    let err = auth.verify(&refresh).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::WrongTokenType(t) if t == "refresh"),
        "{err:?}"
    );
    assert_eq!(err.reason(), "WRONG_TOKEN_TYPE");
    let numeric = rs256(&claims_with("type", json!(1)));
    assert!(matches!(
        auth.verify(&numeric).await,
        Err(AuthError::WrongTokenType(_))
    ));
    let access = rs256(&claims_with("type", json!("access")));
    assert!(auth.verify(&access).await.is_ok());
    for untyped in [claims_without("type"), claims_with("type", Value::Null)] {
        assert_invalid(auth.verify(&rs256(&untyped)).await, "type");
    }
}

#[tokio::test]
async fn malformed_scope_or_client_id_claims_are_rejected() {
    let auth = auth().await;
    let scope_array = rs256(&claims_with("scope", json!(["api:admin"])));
    assert_invalid(auth.verify(&scope_array).await, "scope");
    let client_obj = rs256(&claims_with("client_id", json!({"id": 1})));
    assert_invalid(auth.verify(&client_obj).await, "client_id");
}
