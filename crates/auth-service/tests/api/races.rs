//! A revocation cannot be outrun (PostgreSQL, READ COMMITTED): a refresh or a login that runs
//! while a revoking transaction is open waits for it and then sees its effect. The test holds
//! the revoking statements open on a connection of its own, starts the RPC, waits until the
//! server's transaction is blocked on a lock, and only then commits.

use crate::helpers::*;
use crate::tokens::live_refresh_tokens;
use db_core::Backend;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use tonic::Code;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn raw(app: &TestApp) -> AsyncPgConnection {
    AsyncPgConnection::establish(&app.db.url().expose_url())
        .await
        .unwrap()
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap();
}

/// Waits until some session of the test database waits for a lock (the RPC's transaction
/// behind the one the test holds).
async fn until_blocked(app: &TestApp) {
    let mut watcher = raw(app).await;
    for _ in 0..400 {
        let waiting: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut watcher)
        .await
        .unwrap();
        if waiting.n > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the RPC never waited for the held transaction");
}

/// Runs `statements` in a transaction held open while `rpc` starts and blocks on it, then
/// commits; returns the RPC's result.
async fn held_while<T: Send + 'static>(
    app: &TestApp,
    statements: &[String],
    rpc: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let mut holder = raw(app).await;
    exec(&mut holder, "BEGIN").await;
    for s in statements {
        exec(&mut holder, s).await;
    }
    let task = tokio::spawn(rpc);
    until_blocked(app).await;
    exec(&mut holder, "COMMIT").await;
    task.await.unwrap()
}

fn revoke_tokens_of(username: &str, reason: &str) -> String {
    format!(
        "UPDATE refresh_tokens SET revoked_at = (now() AT TIME ZONE 'UTC'), \
         revoked_reason = '{reason}' WHERE revoked_at IS NULL \
         AND user_id = (SELECT id FROM users WHERE username = '{username}')"
    )
}

/// RevokeToken's statement held open: the refresh waiting behind it mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_behind_a_revocation_mints_nothing() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("rita", "rita-password").await;
    let t = app.login("rita", "rita-password").await.unwrap();
    let mut auth = app.auth("");
    let refresh = held_while(&app, &[revoke_tokens_of("rita", "revoked")], async move {
        auth.token(refresh_grant("codelab-cli", &t.refresh_token))
            .await
    })
    .await;
    expect_err(refresh, Code::Unauthenticated, "INVALID_GRANT");
    assert_eq!(live_refresh_tokens(&app, "rita").await, 0);
}

/// DisableUser's and ChangePassword's statements held open: the refresh waiting behind them
/// mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_behind_a_disable_or_password_change_mints_nothing() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("sam", "sam-password").await;
    app.create_user("tess", "tess-password").await;
    for (username, change, reason) in [
        ("sam", "is_active = false", "user_disabled"),
        ("tess", "password_hash = 'changed'", "password_changed"),
    ] {
        let t = app
            .login(username, &format!("{username}-password"))
            .await
            .unwrap();
        let mut auth = app.auth("");
        let statements = [
            format!("UPDATE users SET {change} WHERE username = '{username}'"),
            revoke_tokens_of(username, reason),
        ];
        let refresh = held_while(&app, &statements, async move {
            auth.token(refresh_grant("codelab-cli", &t.refresh_token))
                .await
        })
        .await;
        expect_err(refresh, Code::Unauthenticated, "INVALID_GRANT");
        assert_eq!(live_refresh_tokens(&app, username).await, 0, "{username}");
    }
}

/// A password login whose password was verified before a disable or a password change
/// committed stores no refresh token: the user is checked again under the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_behind_a_disable_or_password_change_mints_nothing() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("uma", "uma-password").await;
    app.create_user("vic", "vic-password").await;
    for (username, change) in [
        ("uma", "is_active = false"),
        ("vic", "password_hash = 'changed'"),
    ] {
        let mut auth = app.auth("");
        let statements = [format!(
            "UPDATE users SET {change} WHERE username = '{username}'"
        )];
        let password = format!("{username}-password");
        let name = username.to_owned();
        let login = held_while(&app, &statements, async move {
            auth.token(password_grant("codelab-cli", &name, &password))
                .await
        })
        .await;
        expect_err(login, Code::Unauthenticated, "INVALID_GRANT");
        assert_eq!(live_refresh_tokens(&app, username).await, 0, "{username}");
    }
}
