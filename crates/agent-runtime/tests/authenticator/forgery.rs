//! Malformed and forged tokens, and algorithm confusion (RFC 8725 §2.1, §3.1).

use super::support::*;

#[tokio::test]
async fn garbage_tokens_are_invalid() {
    let auth = auth().await;
    let header = b64(&json!({"alg": "RS256", "kid": "rsa-1"}));
    for token in [
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
        String::new(),
        "..".to_owned(),
        format!("{header}.e30.sig.extra.parts"), // JWE-shaped
        format!("{}.e30.c2ln", b64(&json!("just a string"))),
        format!("{header}.!!!.c2ln"),
    ] {
        let err = auth.verify(&token).await.unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidToken(_)),
            "{token:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn oversized_token_is_rejected_before_parsing() {
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_invalid(auth().await.verify(&token).await, "longer than");
}

#[tokio::test]
async fn tampered_claims_fail_the_signature_check() {
    let token = rs256(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims_with("scope", json!("api:admin"))),
        parts[2]
    );
    assert_invalid(auth().await.verify(&forged).await, "signature");
}

#[tokio::test]
async fn signature_by_another_key_under_a_known_kid_is_rejected() {
    let token = sign(Algorithm::RS256, Some("rsa-1"), RSA2_KEY, &claims());
    assert_invalid(auth().await.verify(&token).await, "signature");
}

#[tokio::test]
async fn key_embedded_in_the_header_is_ignored() {
    // The attacker ships its own public key in `jwk` (RFC 7515 §4.1.3).
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".to_owned());
    header.jwk = Some(serde_json::from_str(RSA2_JWK).unwrap());
    let token = sign_header(&header, RSA2_KEY, &claims());
    assert_invalid(auth().await.verify(&token).await, "signature");
}

#[tokio::test]
async fn crit_header_is_rejected() {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".to_owned());
    header.crit = Some(vec!["exp".to_owned()]);
    let token = sign_header(&header, RSA1_KEY, &claims());
    assert_invalid(auth().await.verify(&token).await, "crit");
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let auth = auth().await;
    for alg in ["none", "None", "NONE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT", "kid": "rsa-1"}));
        for sig in ["", "c2ln"] {
            let token = format!("{header}.{}.{sig}", b64(&claims()));
            assert_invalid(auth.verify(&token).await, "not accepted");
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let auth = auth().await;
    // The classic key-confusion attack: HMAC "secret" = the verifier's
    // public key in some encoding.
    let n = serde_json::from_str::<Value>(RSA1_JWK).unwrap()["n"]
        .as_str()
        .unwrap()
        .to_owned();
    for secret in [
        RSA1_PUB,
        RSA1_PUB.trim(),
        RSA1_JWK,
        RSA1_JWK.trim(),
        n.as_str(),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = sign(alg, Some("rsa-1"), secret, &claims());
            assert_invalid(auth.verify(&token).await, "not accepted");
        }
    }
}

#[tokio::test]
async fn symmetric_oct_keys_in_the_set_are_never_used() {
    let oct =
        r#"{"kty":"oct","kid":"hmac-1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}"#;
    // A set with only an oct key has no usable key at all.
    let err = Authenticator::new(&config(), TestSource::new(&jwks_of(&[oct])))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
    // Next to usable keys it is skipped, and HS256 under its kid is refused.
    let auth = auth_with(&config(), &jwks_of(&[RSA1_JWK, oct])).await;
    let token = sign(
        Algorithm::HS256,
        Some("hmac-1"),
        "secret-secret-secret-secret",
        &claims(),
    );
    assert!(auth.verify(&token).await.is_err());
}

#[tokio::test]
async fn header_alg_must_equal_the_jwk_alg() {
    let auth = auth().await;
    // Same RSA key, different RSA algorithm than the JWK declares (RS256).
    let ps256 = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
    assert_invalid(auth.verify(&ps256).await, "does not match");
    // EC signature naming the RSA key.
    let es256 = sign(Algorithm::ES256, Some("rsa-1"), EC1_KEY, &claims());
    assert_invalid(auth.verify(&es256).await, "does not match");
    // EdDSA signature naming the EC key.
    let eddsa = sign(Algorithm::EdDSA, Some("ec-1"), ED1_KEY, &claims());
    assert_invalid(auth.verify(&eddsa).await, "does not match");
}

#[tokio::test]
async fn jwk_alg_decides_the_algorithm() {
    let ps_jwk = edit_jwk(RSA1_JWK, |j| {
        j.insert("alg".into(), json!("PS256"));
    });
    let auth = auth_with(&config(), &jwks_of(&[&ps_jwk])).await;
    let ps256 = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
    assert!(auth.verify(&ps256).await.is_ok());
    assert_invalid(auth.verify(&rs256(&claims())).await, "does not match");
}

#[tokio::test]
async fn jwk_without_alg_implies_it_from_the_key_type() {
    let no_alg = |jwk: &str| {
        edit_jwk(jwk, |j| {
            j.remove("alg");
        })
    };
    let auth = auth_with(
        &config(),
        &jwks_of(&[&no_alg(RSA1_JWK), &no_alg(EC1_JWK), &no_alg(ED1_JWK)]),
    )
    .await;
    assert!(auth.verify(&rs256(&claims())).await.is_ok());
    let es = sign(Algorithm::ES256, Some("ec-1"), EC1_KEY, &claims());
    assert!(auth.verify(&es).await.is_ok());
    let ed = sign(Algorithm::EdDSA, Some("ed-1"), ED1_KEY, &claims());
    assert!(auth.verify(&ed).await.is_ok());
    // RSA without alg means RS256 only.
    let ps = sign(Algorithm::PS256, Some("rsa-1"), RSA1_KEY, &claims());
    assert_invalid(auth.verify(&ps).await, "does not match");
}

#[tokio::test]
async fn unusable_jwks_are_skipped() {
    let wrong_alg = edit_jwk(RSA1_JWK, |j| {
        j.insert("kid".into(), json!("wrong-alg"));
        j.insert("alg".into(), json!("ES256"));
    });
    let enc = edit_jwk(RSA1_JWK, |j| {
        j.insert("kid".into(), json!("enc"));
        j.insert("use".into(), json!("enc"));
    });
    let no_verify = edit_jwk(RSA1_JWK, |j| {
        j.insert("kid".into(), json!("no-verify"));
        j.insert("key_ops".into(), json!(["encrypt"]));
    });
    let auth = auth_with(
        &config(),
        &jwks_of(&[EC1_JWK, &wrong_alg, &enc, &no_verify]),
    )
    .await;
    for kid in ["wrong-alg", "enc", "no-verify"] {
        let token = sign(Algorithm::RS256, Some(kid), RSA1_KEY, &claims());
        let err = auth.verify(&token).await.unwrap_err();
        assert!(
            matches!(&err, AuthError::UnknownKey(k) if k == kid),
            "{kid}: {err:?}"
        );
    }
    // An RSA key below 2048 bits is not usable either.
    let small = edit_jwk(RSA1_JWK, |j| {
        j.insert("n".into(), json!(URL_SAFE_NO_PAD.encode([0xC5u8; 128])));
    });
    let err = Authenticator::new(&config(), TestSource::new(&jwks_of(&[&small])))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::JwksUnavailable(_)), "{err:?}");
}
