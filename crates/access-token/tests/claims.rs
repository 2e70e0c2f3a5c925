//! Access-token claims: the JSON auth-service has always signed, and bearer parsing.
#![allow(missing_docs)]

use access_token::bearer::{bearer_token, from_authorization};
use access_token::{ACCESS_TYPE, AccessClaims, AuthError};

fn claims(username: Option<&str>) -> AccessClaims {
    AccessClaims {
        iss: "https://auth.codelab.local".to_owned(),
        sub: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned(),
        aud: "codelab-api".to_owned(),
        exp: 1_700_000_900,
        iat: 1_700_000_000,
        nbf: 1_700_000_000,
        jti: "0190a1b2-0000-7000-8000-000000000001".to_owned(),
        client_id: "codelab-cli".to_owned(),
        scope: "api:read api:write".to_owned(),
        token_type: ACCESS_TYPE.to_owned(),
        username: username.map(str::to_owned),
    }
}

#[test]
fn claims_serialize_to_the_json_tokens_have_always_carried() {
    assert_eq!(
        serde_json::to_string(&claims(Some("alice"))).unwrap(),
        r#"{"iss":"https://auth.codelab.local","sub":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","aud":"codelab-api","exp":1700000900,"iat":1700000000,"nbf":1700000000,"jti":"0190a1b2-0000-7000-8000-000000000001","client_id":"codelab-cli","scope":"api:read api:write","type":"access","username":"alice"}"#
    );
    // client_credentials tokens carry no username at all.
    let service = serde_json::to_string(&claims(None)).unwrap();
    assert!(!service.contains("username"), "{service}");
    assert!(service.ends_with(r#""type":"access"}"#), "{service}");
    let back: AccessClaims = serde_json::from_str(&service).unwrap();
    assert_eq!(back, claims(None));
    assert!(back.is_access());
}

#[test]
fn bearer_values_are_parsed_as_rfc_6750_says() {
    for value in [
        "Bearer abc.def.ghi",
        "bearer abc.def.ghi",
        "BEARER  abc.def.ghi ",
    ] {
        assert_eq!(bearer_token(value), Some("abc.def.ghi"), "{value:?}");
    }
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "abc",
        "Bearer a b",
        "Token a",
    ] {
        assert_eq!(bearer_token(value), None, "{value:?}");
    }
    let one: &[u8] = b"Bearer t.o.k";
    assert_eq!(from_authorization([one]).unwrap(), "t.o.k");
    assert!(matches!(
        from_authorization(std::iter::empty::<&[u8]>()),
        Err(AuthError::MissingToken)
    ));
    assert!(matches!(
        from_authorization([one, one]),
        Err(AuthError::MalformedHeader)
    ));
    let non_ascii: &[u8] = "Bearer tök".as_bytes();
    assert!(matches!(
        from_authorization([non_ascii]),
        Err(AuthError::MalformedHeader)
    ));
}
