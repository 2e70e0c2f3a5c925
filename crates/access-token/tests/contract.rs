//! The shared contract: scope names, what a principal may do, and the error reasons.
#![allow(missing_docs)]

use std::collections::BTreeSet;

use access_token::{AuthError, Principal, Scope};

#[test]
fn scope_names_round_trip_and_unknown_names_are_none() {
    for scope in Scope::ALL {
        assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        assert_eq!(scope.to_string(), scope.as_str());
    }
    assert_eq!(Scope::Read.as_str(), "api:read");
    assert_eq!(Scope::Write.as_str(), "api:write");
    assert_eq!(Scope::Admin.as_str(), "api:admin");
    for junk in ["", "API:READ", "api:read ", "openid", "read"] {
        assert_eq!(Scope::parse(junk), None, "{junk:?}");
    }
}

#[test]
fn dev_principal_has_all_scopes() {
    let dev = Principal::dev();
    assert_eq!(dev.subject, "dev");
    assert_eq!(dev.client_id, None);
    assert_eq!(dev.scopes, Scope::ALL.into_iter().collect());
    assert!(dev.is_admin());
}

#[test]
fn admin_implies_read_and_write_but_not_the_reverse() {
    let p = |scopes: &[Scope]| Principal {
        subject: "s".into(),
        client_id: None,
        scopes: scopes.iter().copied().collect(),
    };
    let admin = p(&[Scope::Admin]);
    assert!(admin.has(Scope::Read) && admin.has(Scope::Write) && admin.is_admin());
    let rw = p(&[Scope::Read, Scope::Write]);
    assert!(rw.has(Scope::Read) && rw.has(Scope::Write));
    assert!(!rw.has(Scope::Admin) && !rw.is_admin());
    let read = p(&[Scope::Read]);
    assert!(!read.has(Scope::Write));
}

#[test]
fn require_reports_the_missing_scope() {
    let reader = Principal {
        subject: "s".into(),
        client_id: None,
        scopes: [Scope::Read].into_iter().collect(),
    };
    assert!(reader.require(Scope::Read).is_ok());
    let err = reader.require(Scope::Write).unwrap_err();
    assert!(
        matches!(err, AuthError::MissingScope(Scope::Write)),
        "{err:?}"
    );
    assert!(err.is_permission_denied());
    assert_eq!(err.reason(), "MISSING_SCOPE");
    assert!(matches!(
        reader.require(Scope::Admin),
        Err(AuthError::MissingScope(Scope::Admin))
    ));
}

#[test]
fn error_reasons_are_distinct_upper_snake_and_mapped() {
    let all = [
        AuthError::MissingToken,
        AuthError::MalformedHeader,
        AuthError::InvalidToken("x".into()),
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::UnknownKey("k".into()),
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::WrongTokenType("refresh".into()),
        AuthError::MissingScope(Scope::Write),
        AuthError::JwksUnavailable("down".into()),
        AuthError::Config("c".into()),
    ];
    let reasons: BTreeSet<&str> = all.iter().map(AuthError::reason).collect();
    assert_eq!(reasons.len(), all.len());
    for reason in &reasons {
        assert!(
            reason.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "{reason}"
        );
    }
    assert_eq!(AuthError::Expired.reason(), "TOKEN_EXPIRED");
    for err in &all {
        assert_eq!(
            err.is_permission_denied(),
            matches!(err, AuthError::MissingScope(_))
        );
        assert_eq!(
            err.is_unavailable(),
            matches!(err, AuthError::JwksUnavailable(_))
        );
    }
}
