//! Valid tokens, and the `authorization` metadata that carries them.

use super::support::*;

#[tokio::test]
async fn valid_rs256_token_yields_the_principal() {
    let auth = auth().await;
    let claims = claims_with("scope", json!("openid api:read api:bogus  api:write"));
    let p = auth.verify(&rs256(&claims)).await.unwrap();
    assert_eq!(p.subject, "user-1");
    assert_eq!(p.client_id.as_deref(), Some("codelab-cli"));
    assert_eq!(p.scopes, [Scope::Read, Scope::Write].into_iter().collect());
    assert!(!p.is_admin());
}

#[tokio::test]
async fn valid_es256_token_is_accepted() {
    let token = sign(Algorithm::ES256, Some("ec-1"), EC1_KEY, &claims());
    let p = auth().await.verify(&token).await.unwrap();
    assert_eq!(p.subject, "user-1");
}

#[tokio::test]
async fn valid_eddsa_token_is_accepted() {
    let token = sign(
        Algorithm::EdDSA,
        Some("ed-1"),
        ED1_KEY,
        &claims_with("scope", json!("api:admin")),
    );
    let p = auth().await.verify(&token).await.unwrap();
    assert!(p.is_admin() && p.has(Scope::Write));
}

#[tokio::test]
async fn absent_optional_claims_give_no_client_and_no_scopes() {
    let mut c = claims_without("scope");
    c.as_object_mut().unwrap().remove("client_id");
    let p = auth().await.verify(&rs256(&c)).await.unwrap();
    assert_eq!(p.client_id, None);
    assert!(p.scopes.is_empty());
    assert!(matches!(
        p.require(Scope::Read),
        Err(AuthError::MissingScope(Scope::Read))
    ));
}

#[tokio::test]
async fn authenticate_reads_a_bearer_token_case_insensitively() {
    let auth = auth().await;
    let token = rs256(&claims());
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER  {token} "),
    ] {
        let p = auth.authenticate(&bearer(&value)).await.unwrap();
        assert_eq!(p.subject, "user-1");
    }
}

#[tokio::test]
async fn authenticate_without_metadata_is_missing_token() {
    let err = auth()
        .await
        .authenticate(&MetadataMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::MissingToken), "{err:?}");
    assert_eq!(err.reason(), "MISSING_TOKEN");
}

#[tokio::test]
async fn authenticate_rejects_other_schemes_and_malformed_values() {
    let auth = auth().await;
    let token = rs256(&claims());
    for value in [
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        token.clone(),
        format!("Token {token}"),
        format!("Bearer {token} extra"),
    ] {
        let err = auth.authenticate(&bearer(&value)).await.unwrap_err();
        assert!(
            matches!(err, AuthError::MalformedHeader),
            "{value:?}: {err:?}"
        );
    }
    let mut twice = bearer(&format!("Bearer {token}"));
    twice.append(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    let err = auth.authenticate(&twice).await.unwrap_err();
    assert!(matches!(err, AuthError::MalformedHeader), "{err:?}");
}

#[tokio::test]
async fn disabled_authenticator_yields_dev_for_everyone() {
    let auth = Authenticator::disabled();
    assert!(auth.is_disabled());
    assert_eq!(
        auth.authenticate(&MetadataMap::new()).await.unwrap(),
        Principal::dev()
    );
    assert_eq!(auth.verify("garbage").await.unwrap(), Principal::dev());
    assert!(!auth_with(&config(), JWKS).await.is_disabled());
}
