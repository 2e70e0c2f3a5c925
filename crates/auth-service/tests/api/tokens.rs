//! The token endpoint: grants, refresh rotation and reuse detection, revocation, introspection.

use crate::backend_tests;
use crate::fixtures::*;
use crate::helpers::*;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    password_grant_issues_jwt_and_refresh_token,
    refresh_rotates_and_reuse_revokes_the_family,
    retry_within_grace_gets_the_same_successor,
    revoke_ends_the_family,
    introspection_reports_only_what_the_caller_may_know,
    client_credentials_grant,
    grant_errors_carry_rfc_codes,
    bcrypt_users_sign_in_and_are_upgraded,
    disabled_user_loses_refresh_and_access,
    a_family_ends_at_its_clients_absolute_lifetime,
    weaker_argon2_hashes_are_upgraded_on_login,
);

async fn password_grant_issues_jwt_and_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.login("Admin", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, 900);
    assert_eq!(t.scope, "api:admin api:read api:write");
    assert_eq!(t.refresh_token.len(), 43);
    let c = claims(&t.access_token);
    assert_eq!(c["iss"], "https://auth.codelab.local");
    assert_eq!(c["aud"], "codelab-api");
    assert_eq!(c["type"], "access");
    assert_eq!(c["client_id"], "codelab-cli");
    assert_eq!(c["username"], "admin");
    assert_eq!(c["scope"], "api:admin api:read api:write");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    let me = app
        .users(&t.access_token)
        .get_current_user(pb::GetCurrentUserRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c["sub"], me.user_id.as_str());
    assert!(me.last_login_at.is_some());
    let header = jsonwebtoken::decode_header(&t.access_token).unwrap();
    let jwks = app
        .auth("")
        .get_jwks(pb::GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(jwks.keys_json.contains(&header.kid.unwrap()));
    assert_eq!(app.audit("login_success").await.len(), 1);
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.refresh_grace_secs = 0).await;
    let first = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    // Another login of the same user is another family and must survive the reuse below.
    let other = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let second = refresh(&app, "codelab-cli", &first.refresh_token)
        .await
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let reuse = refresh(&app, "codelab-cli", &first.refresh_token).await;
    let status = expect_err(reuse, Code::Unauthenticated, "INVALID_GRANT");
    assert!(status.message().starts_with("invalid_grant"));
    // The whole family is revoked: the legitimate successor too.
    let successor = refresh(&app, "codelab-cli", &second.refresh_token).await;
    expect_err(successor, Code::Unauthenticated, "INVALID_GRANT");
    let events = app.audit("refresh_token_reuse").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].username.as_deref(), Some("admin"));
    refresh(&app, "codelab-cli", &other.refresh_token)
        .await
        .expect("another family is untouched");
}

/// RFC 9700 §4.14.2: a retry inside the grace window (a client that lost the response) gets
/// the same successor, never a second live branch of the family; once that successor has been
/// used, presenting its parent again is reuse and ends the family.
async fn retry_within_grace_gets_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    // The first use and two retries, all at once.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let mut auth = app.auth("");
        let token = first.refresh_token.clone();
        tasks.push(tokio::spawn(async move {
            auth.token(refresh_grant("codelab-cli", &token))
                .await
                .map(|r| r.into_inner().refresh_token)
        }));
    }
    let mut successors = std::collections::BTreeSet::new();
    for t in tasks {
        successors.insert(t.await.unwrap().expect("a retry within the grace window"));
    }
    assert_eq!(successors.len(), 1, "one successor, however often retried");
    let successor = successors.pop_first().unwrap();
    assert_eq!(live_refresh_tokens(&app, "admin").await, 1);
    let again = refresh(&app, "codelab-cli", &first.refresh_token)
        .await
        .expect("a later retry within the window");
    assert_eq!(again.refresh_token, successor);
    assert!(app.audit("refresh_token_reuse").await.is_empty());
    // The successor is used: the parent coming back now is reuse, and the family ends.
    let next = refresh(&app, "codelab-cli", &successor).await.unwrap();
    let reuse = refresh(&app, "codelab-cli", &first.refresh_token).await;
    expect_err(reuse, Code::Unauthenticated, "INVALID_GRANT");
    assert_eq!(app.audit("refresh_token_reuse").await.len(), 1);
    let ended = refresh(&app, "codelab-cli", &next.refresh_token).await;
    expect_err(ended, Code::Unauthenticated, "INVALID_GRANT");
    assert_eq!(live_refresh_tokens(&app, "admin").await, 0);
    // A refresh token only works for the client it was issued to.
    let login = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let wrong = refresh(&app, "codelab-flutter-app", &login.refresh_token).await;
    expect_err(wrong, Code::Unauthenticated, "INVALID_GRANT");
}

/// Refresh tokens of `username` neither rotated nor revoked (nor expired), read straight from
/// the database.
pub async fn live_refresh_tokens(app: &TestApp, username: &str) -> usize {
    use auth_service::schema::{refresh_tokens, users};
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    let pool = pool(app).await;
    let mut conn = pool.get().await.unwrap();
    let at = db_core::timestamp::now();
    let count = refresh_tokens::table
        .inner_join(users::table)
        .filter(users::username.eq(username.to_owned()))
        .filter(refresh_tokens::rotated_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::expires_at.gt(at))
        .count();
    let n: i64 = match &mut conn {
        db_core::DbConn::Postgres(c) => count.get_result(&mut **c).await.unwrap(),
        db_core::DbConn::Sqlite(c, _) => count.get_result(&mut **c).await.unwrap(),
    };
    n as usize
}

async fn revoke_ends_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", "alice-password").await;
    let first = app.login("alice", "alice-password").await.unwrap();
    let second = refresh(&app, "codelab-cli", &first.refresh_token)
        .await
        .unwrap();
    // Bob cannot revoke Alice's token: the call succeeds (RFC 7009 §2.2) and changes nothing.
    app.create_user("bobby", "bobby-password").await;
    let bob = app.login("bobby", "bobby-password").await.unwrap();
    app.auth(&bob.access_token)
        .revoke_token(pb::RevokeTokenRequest {
            token: second.refresh_token.clone(),
            token_type_hint: String::new(),
            ..Default::default()
        })
        .await
        .unwrap();
    let introspect = |token: String| pb::IntrospectTokenRequest {
        token,
        token_type_hint: String::new(),
        ..Default::default()
    };
    let i = app
        .auth(&second.access_token)
        .introspect_token(introspect(second.refresh_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(i.active);
    assert_eq!(i.token_type, "refresh_token");
    app.auth(&second.access_token)
        .revoke_token(pb::RevokeTokenRequest {
            token: second.refresh_token.clone(),
            token_type_hint: "refresh_token".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let after = refresh(&app, "codelab-cli", &second.refresh_token).await;
    expect_err(after, Code::Unauthenticated, "INVALID_GRANT");
    let i = app
        .auth(&second.access_token)
        .introspect_token(introspect(second.refresh_token))
        .await
        .unwrap()
        .into_inner();
    assert!(!i.active);
    assert_eq!(app.audit("token_revoked").await.len(), 1);
    // Unknown tokens revoke "successfully"; a missing bearer does not.
    app.auth(&second.access_token)
        .revoke_token(pb::RevokeTokenRequest {
            token: "no-such-token".into(),
            token_type_hint: String::new(),
            ..Default::default()
        })
        .await
        .unwrap();
    let anonymous = app
        .auth("")
        .revoke_token(pb::RevokeTokenRequest {
            token: "x".into(),
            token_type_hint: String::new(),
            ..Default::default()
        })
        .await;
    expect_err(anonymous, Code::Unauthenticated, "MISSING_TOKEN");
}

async fn introspection_reports_only_what_the_caller_may_know(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.create_user("carol", "carol-password").await;
    let carol_token = app.login("carol", "carol-password").await.unwrap();
    app.create_user("dave1", "dave-password").await;
    let dave = app.login("dave1", "dave-password").await.unwrap();
    let req = |token: &str| pb::IntrospectTokenRequest {
        token: token.into(),
        token_type_hint: String::new(),
        ..Default::default()
    };
    let own = app
        .auth(&carol_token.access_token)
        .introspect_token(req(&carol_token.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(own.active);
    assert_eq!(own.sub, carol.user_id);
    assert_eq!(own.username, "carol");
    assert_eq!(own.client_id, "codelab-cli");
    assert_eq!(own.scope, "api:read api:write");
    assert_eq!(own.token_type, "access_token");
    assert!(own.exp > own.iat);
    let foreign = app
        .auth(&dave.access_token)
        .introspect_token(req(&carol_token.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(foreign, pb::IntrospectTokenResponse::default());
    let admin = app.admin().await;
    let by_admin = app
        .auth(&admin)
        .introspect_token(req(&carol_token.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(by_admin.active);
    let garbage = app
        .auth(&admin)
        .introspect_token(req("a.b.c"))
        .await
        .unwrap()
        .into_inner();
    assert!(!garbage.active);
}

async fn client_credentials_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ok = app
        .auth("")
        .token(pb::TokenRequest {
            scope: "api:read".into(),
            ..credentials("codelab-internal", INTERNAL_SECRET)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.refresh_token.is_empty());
    assert_eq!(ok.scope, "api:read");
    assert_eq!(ok.expires_in, 3600);
    let c = claims(&ok.access_token);
    assert_eq!(c["sub"], "codelab-internal");
    assert!(c.get("username").is_none());
    let wrong = app
        .auth("")
        .token(credentials("codelab-internal", "wrong"))
        .await;
    expect_err(wrong, Code::Unauthenticated, "INVALID_CLIENT");
    let public = app
        .auth("")
        .token(credentials("codelab-flutter-app", ""))
        .await;
    expect_err(public, Code::PermissionDenied, "UNAUTHORIZED_CLIENT");
}

async fn grant_errors_carry_rfc_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let auth = app.auth("");
    let e = auth
        .clone()
        .token(pb::TokenRequest {
            grant_type: "implicit".into(),
            client_id: "codelab-cli".into(),
            ..Default::default()
        })
        .await;
    expect_err(e, Code::InvalidArgument, "UNSUPPORTED_GRANT_TYPE");
    let e = auth.clone().token(pb::TokenRequest::default()).await;
    expect_err(e, Code::InvalidArgument, "INVALID_REQUEST");
    let e = auth
        .clone()
        .token(password_grant("no-such-client", "admin", ADMIN_PASSWORD))
        .await;
    expect_err(e, Code::Unauthenticated, "INVALID_CLIENT");
    let mut req = password_grant("codelab-flutter-app", "admin", ADMIN_PASSWORD);
    req.scope = "api:admin".into();
    let e = auth.clone().token(req).await;
    expect_err(e, Code::InvalidArgument, "INVALID_SCOPE");
    let mut req = password_grant("codelab-cli", "admin", ADMIN_PASSWORD);
    req.scope = "openid".into();
    let e = auth.clone().token(req).await;
    expect_err(e, Code::InvalidArgument, "INVALID_SCOPE");
    // The flutter client's admin login gets the client's scopes only.
    let t = auth
        .clone()
        .token(password_grant(
            "codelab-flutter-app",
            "admin",
            ADMIN_PASSWORD,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.scope, "api:read api:write");
    // A user without api:admin asking for it through the CLI client gets what they hold.
    app.create_user("erin1", "erin-password").await;
    let t = app.login("erin1", "erin-password").await.unwrap();
    assert_eq!(t.scope, "api:read api:write");
    let mut req = password_grant("codelab-cli", "erin1", "erin-password");
    req.scope = "api:admin".into();
    let e = auth.clone().token(req).await;
    expect_err(e, Code::InvalidArgument, "INVALID_SCOPE");
}

async fn bcrypt_users_sign_in_and_are_upgraded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = store(&app).await;
    let hash = bcrypt::hash("imported-password", 4).unwrap();
    insert_user_with_hash(&store, "legacy", &hash).await;
    let t = app.login("legacy", "imported-password").await.unwrap();
    assert_eq!(t.scope, "api:read");
    let argon2 = |hash: &str| hash.starts_with("$argon2id$");
    let upgraded = poll_password_hash(&store, "legacy", 100, argon2).await;
    assert!(argon2(&upgraded), "bcrypt hash was not upgraded");
    app.login("legacy", "imported-password")
        .await
        .expect("the upgraded hash verifies");
    expect_err(
        app.login("legacy", "wrong-password").await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
}

async fn disabled_user_loses_refresh_and_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let frank = app.create_user("frank", "frank-password").await;
    let t = app.login("frank", "frank-password").await.unwrap();
    let admin = app.admin().await;
    let disabled = app
        .users(&admin)
        .disable_user(pb::DisableUserRequest {
            user_id: frank.user_id.clone(),
            enable: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.is_active);
    let refresh = refresh(&app, "codelab-cli", &t.refresh_token).await;
    expect_err(refresh, Code::Unauthenticated, "INVALID_GRANT");
    let login = app.login("frank", "frank-password").await;
    let status = expect_err(login, Code::Unauthenticated, "INVALID_GRANT");
    assert_eq!(
        status.message(),
        "invalid_grant: invalid username or password"
    );
    let me = app
        .users(&t.access_token)
        .get_current_user(pb::GetCurrentUserRequest {})
        .await;
    expect_err(me, Code::Unauthenticated, "ACCOUNT_DISABLED");
    app.users(&admin)
        .disable_user(pb::DisableUserRequest {
            user_id: frank.user_id,
            enable: true,
        })
        .await
        .unwrap();
    app.login("frank", "frank-password")
        .await
        .expect("enabled again");
}

/// Store and the user of the refresh token `token` (read straight from the database).
async fn family_of(app: &TestApp, token: &str) -> auth_service::store::RefreshRecord {
    store(app)
        .await
        .refresh_token(auth_service::oauth::sha256_hex(token))
        .await
        .unwrap()
        .expect("stored refresh token")
        .0
}

/// RFC 9700 §4.14.2: rotation does not extend a login; each family expires at its client's
/// `refresh_token_lifetime_secs` after the login, whatever rotations happened since.
async fn a_family_ends_at_its_clients_absolute_lifetime(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    app.clients(&admin)
        .create_client(pb::CreateClientRequest {
            client_id: "hourly".into(),
            name: "one-hour logins".into(),
            refresh_token_lifetime_secs: 3_600,
            ..Default::default()
        })
        .await
        .unwrap();
    let login = app
        .auth("")
        .token(password_grant("hourly", "admin", ADMIN_PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let first = family_of(&app, &login.refresh_token).await;
    assert_eq!(
        (first.expires_at - first.created_at).num_seconds(),
        3_600,
        "the client's lifetime, not the default 30 days"
    );
    // A rotation keeps the family's expiry.
    let rotated = refresh(&app, "hourly", &login.refresh_token).await.unwrap();
    let second = family_of(&app, &rotated.refresh_token).await;
    assert_eq!(second.family_id, first.family_id);
    assert_eq!(second.expires_at, first.expires_at);

    // The family's time is up (aged in the database): the newest token is refused.
    let pool = pool(&app).await;
    let mut conn = pool.get().await.unwrap();
    let past = db_core::timestamp::now() - chrono::Duration::seconds(1);
    let family = first.family_id.clone();
    let aged = db_core::with_connection!(conn, |c| {
        use auth_service::schema::refresh_tokens::dsl as rt;
        use diesel::prelude::*;
        diesel_async::RunQueryDsl::execute(
            diesel::update(rt::refresh_tokens.filter(rt::family_id.eq(&family)))
                .set(rt::expires_at.eq(past)),
            c,
        )
        .await
        .unwrap()
    });
    assert_eq!(aged, 2);
    let e = expect_err(
        refresh(&app, "hourly", &rotated.refresh_token).await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
    assert!(e.message().starts_with("invalid_grant"), "{e:?}");
    // A login through another client is not affected.
    let other = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    refresh(&app, "codelab-cli", &other.refresh_token)
        .await
        .expect("another family refreshes");
}

/// A hash made with weaker argon2 parameters than configured is replaced, at the next
/// successful login, by one with the configured (OWASP) parameters.
async fn weaker_argon2_hashes_are_upgraded_on_login(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.password = auth_service::passwords::PasswordSettings::default();
    })
    .await;
    let store = store(&app).await;
    let weak = auth_service::passwords::Passwords::new(&fast_passwords())
        .unwrap()
        .hash(&secrecy::SecretString::from("weakly-hashed-pw"))
        .await
        .unwrap();
    assert!(weak.contains("m=1024,t=1,p=1"), "{weak}");
    insert_user_with_hash(&store, "old-params", &weak).await;
    app.login("old-params", "weakly-hashed-pw").await.unwrap();
    let stored = poll_password_hash(&store, "old-params", 200, |h| h != weak).await;
    assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
    assert!(stored.contains("$m=19456,t=2,p=1$"), "rehashed: {stored}");
    app.login("old-params", "weakly-hashed-pw")
        .await
        .expect("the new hash verifies");
}
