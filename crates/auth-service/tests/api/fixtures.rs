//! What several test files share beyond the server and its clients: the database behind a
//! server, users written straight to it, and the steps of the lockout tests.

use crate::helpers::*;
use auth_service::store::{AuditEntry, Store};
use codelab_proto::auth::v1 as pb;
use tonic::{Code, Status};

/// A pool over `app`'s database, beside the server's own.
pub async fn pool(app: &TestApp) -> db_core::Pool {
    db_core::Pool::connect(app.db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap()
}

/// The store over `app`'s database, to read and write beside the server.
pub async fn store(app: &TestApp) -> Store {
    Store::new(pool(app).await)
}

/// Exchanges refresh token `token` of client `client_id` (refresh_token grant).
pub async fn refresh(
    app: &TestApp,
    client_id: &str,
    token: &str,
) -> Result<pb::TokenResponse, Status> {
    app.auth("")
        .token(refresh_grant(client_id, token))
        .await
        .map(tonic::Response::into_inner)
}

/// A client_credentials grant of client `client_id` with secret `secret`.
pub fn credentials(client_id: &str, secret: &str) -> pb::TokenRequest {
    pb::TokenRequest {
        grant_type: "client_credentials".into(),
        client_id: client_id.into(),
        client_secret: secret.into(),
        ..Default::default()
    }
}

/// Writes user `username` (scopes api:read, verified, no email) with the stored hash
/// `password_hash` straight into `store`, as an import from another system would.
pub async fn insert_user_with_hash(store: &Store, username: &str, password_hash: &str) {
    use auth_service::model::{Audit, AuditEvent, NewUser, Scopes};
    let user = NewUser {
        username: username.into(),
        email: None,
        password_hash: password_hash.into(),
        scopes: Scopes::parse("api:read").unwrap(),
        is_verified: true,
    };
    let audit = Audit::new(AuditEvent::UserCreated, true, &Default::default());
    store.create_user(user, audit).await.unwrap();
}

/// Reads the stored password hash of `username` until `done` holds for it, at most `tries`
/// times 50 ms apart (a login rehashes in the background); returns the last one read.
pub async fn poll_password_hash(
    store: &Store,
    username: &str,
    tries: usize,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut hash = String::new();
    for _ in 0..tries {
        hash = store
            .user_by_username(username.into())
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        if done(&hash) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    hash
}

/// Sends `guess` twenty times at once, the `i`th from address `<prefix>.<i + 1>`, none of
/// which may succeed. Returns how many were refused as wrong (UNAUTHENTICATED) and how many
/// as locked (RESOURCE_EXHAUSTED); any other answer panics.
pub async fn twenty_parallel_guesses(
    app: &TestApp,
    prefix: &str,
    guess: pb::TokenRequest,
) -> (usize, usize) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut auth = app.auth_from(&format!("{prefix}.{}", i + 1));
        let guess = guess.clone();
        tasks.push(tokio::spawn(
            async move { auth.token(guess).await.map(|_| ()) },
        ));
    }
    let (mut wrong, mut locked) = (0, 0);
    for t in tasks {
        let status = t.await.unwrap().expect_err("no guess can succeed");
        match status.code() {
            Code::Unauthenticated => wrong += 1,
            Code::ResourceExhausted => locked += 1,
            other => panic!("unexpected {other:?}: {status:?}"),
        }
    }
    (wrong, locked)
}

/// Asserts that the refusal `status` of a locked login tells the client to retry after the
/// lockout (900 s by default), less the little time already passed.
#[track_caller]
pub fn assert_retry_after_the_lockout(status: &Status) {
    use tonic_types::StatusExt as _;
    let delay = status
        .get_error_details()
        .retry_info()
        .unwrap()
        .retry_delay
        .unwrap();
    assert!(delay.as_secs() > 800 && delay.as_secs() <= 900, "{delay:?}");
}

/// Ten password logins of unknown users (`nobody0` … `nobody9`), the `i`th from
/// `address(i)`, each refused as INVALID_GRANT: the address limit.
pub async fn ten_unknown_user_logins(app: &TestApp, address: impl Fn(usize) -> String) {
    for i in 0..10 {
        let e = app
            .auth_from(&address(i))
            .token(password_grant(
                "codelab-cli",
                &format!("nobody{i}"),
                "whatever",
            ))
            .await;
        expect_err(e, Code::Unauthenticated, "INVALID_GRANT");
    }
}

/// Asserts the admin's right password, sent from `address`, is refused as
/// TOO_MANY_ATTEMPTS.
pub async fn assert_admin_locked_out_from(app: &TestApp, address: &str) {
    expect_err(
        app.auth_from(address)
            .token(password_grant("codelab-cli", "admin", ADMIN_PASSWORD))
            .await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
}

/// The `login_failed` audit entries, after asserting there are some and each was recorded for
/// address `ip`.
pub async fn failed_logins_all_from(app: &TestApp, ip: &str) -> Vec<AuditEntry> {
    let failed = app.audit("login_failed").await;
    assert!(
        !failed.is_empty() && failed.iter().all(|e| e.ip_address.as_deref() == Some(ip)),
        "{failed:?}"
    );
    failed
}

/// `n` logins of `username` with a wrong password, each refused as INVALID_GRANT.
pub async fn wrong_logins(app: &TestApp, username: &str, n: usize) {
    for _ in 0..n {
        expect_err(
            app.login(username, "wrong").await,
            Code::Unauthenticated,
            "INVALID_GRANT",
        );
    }
}
