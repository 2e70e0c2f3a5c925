//! Brute-force protection: per-username and per-address limits, counted atomically.

use crate::backend_tests;
use crate::fixtures::*;
use crate::helpers::*;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    parallel_wrong_passwords_count_exactly_the_limit,
    address_limit_spans_usernames,
    unknown_user_and_wrong_password_look_the_same,
    lockout_ends_and_success_resets_the_count,
    a_direct_clients_forwarded_for_is_ignored,
    behind_a_proxy_the_rightmost_entry_counts,
    wrong_current_passwords_count_toward_the_lockout,
    refusals_of_a_locked_username_do_not_count_against_the_address,
    an_administrator_unlocks_a_username,
    many_correct_logins_at_once_never_lock_the_username,
);

async fn parallel_wrong_passwords_count_exactly_the_limit(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    app.create_user("grace", "grace-password").await;
    // Twenty guesses at once, each from its own address, so only the username limit (5) applies.
    let guess = password_grant("codelab-cli", "grace", "wrong-guess");
    let (wrong, locked) = twenty_parallel_guesses(&app, "10.0.0", guess).await;
    assert_eq!(wrong, 5, "exactly the limit is checked");
    assert_eq!(locked, 15);
    assert_eq!(app.audit("login_failed").await.len(), 5);
    assert!(!app.audit("lockout").await.is_empty());
    // Locked: even the right password is refused, with a retry delay.
    let status = expect_err(
        app.auth_from("10.9.9.9")
            .token(password_grant("codelab-cli", "grace", "grace-password"))
            .await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    assert_retry_after_the_lockout(&status);
    // Other users are not affected.
    app.login("admin", ADMIN_PASSWORD)
        .await
        .expect("admin unaffected");
}

async fn address_limit_spans_usernames(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    ten_unknown_user_logins(&app, |_| "203.0.113.7".to_owned()).await;
    assert_admin_locked_out_from(&app, "203.0.113.7").await;
    app.auth_from("203.0.113.8")
        .token(password_grant("codelab-cli", "admin", ADMIN_PASSWORD))
        .await
        .expect("another address may log in");
}

async fn unknown_user_and_wrong_password_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unknown = app
        .login("no-such-user", "some-password")
        .await
        .unwrap_err();
    let wrong = app.login("admin", "wrong-password").await.unwrap_err();
    assert_eq!(unknown.code(), wrong.code());
    assert_eq!(unknown.message(), wrong.message());
    use tonic_types::StatusExt as _;
    let (a, b) = (unknown.get_error_details(), wrong.get_error_details());
    let (a, b) = (a.error_info().unwrap(), b.error_info().unwrap());
    assert_eq!((&a.reason, &a.metadata), (&b.reason, &b.metadata));
}

async fn lockout_ends_and_success_resets_the_count(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.lockout.lockout_secs = 1).await;
    app.create_user("heidi", "heidi-password").await;
    wrong_logins(&app, "heidi", 4).await;
    app.login("heidi", "heidi-password")
        .await
        .expect("4 failures do not lock");
    wrong_logins(&app, "heidi", 4).await;
    app.login("heidi", "heidi-password")
        .await
        .expect("a success reset the username count");
    for _ in 0..5 {
        let _ = app.login("heidi", "wrong").await;
    }
    expect_err(
        app.login("heidi", "heidi-password").await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.login("heidi", "heidi-password")
        .await
        .expect("the lockout ended");
}

/// Under the default (no trusted proxy) a client that writes its own `x-forwarded-for` is
/// still counted by its TCP address: a fresh made-up address per guess gains nothing.
async fn a_direct_clients_forwarded_for_is_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    ten_unknown_user_logins(&app, |i| format!("198.51.100.{}", i + 1)).await;
    assert_admin_locked_out_from(&app, "198.51.100.99").await;
    let failed = failed_logins_all_from(&app, "127.0.0.1").await;
    assert_eq!(failed.len(), 10);
}

/// Behind one trusted proxy the rightmost entry (written by that proxy) is the client; what
/// the client put to its left does not change the count.
async fn behind_a_proxy_the_rightmost_entry_counts(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    ten_unknown_user_logins(&app, |i| format!("198.51.100.{}, 203.0.113.7", i + 1)).await;
    assert_admin_locked_out_from(&app, "198.51.100.99, 203.0.113.7").await;
    app.auth_from("198.51.100.1, 203.0.113.8")
        .token(password_grant("codelab-cli", "admin", ADMIN_PASSWORD))
        .await
        .expect("another proxy-written address may log in");
    failed_logins_all_from(&app, "203.0.113.7").await;
}

/// ChangePassword's current password is guarded like a login: each wrong one is counted for
/// the username and audited, the limit locks the username for logins too.
async fn wrong_current_passwords_count_toward_the_lockout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("ivan", "ivan-password").await;
    let token = app
        .login("ivan", "ivan-password")
        .await
        .unwrap()
        .access_token;
    let change = |current: &str| codelab_proto::auth::v1::ChangePasswordRequest {
        user_id: String::new(),
        current_password: current.into(),
        new_password: "ivan-new-password".into(),
    };
    for i in 0..5 {
        let e = app
            .users(&token)
            .change_password(change(&format!("guess-{i}")))
            .await;
        let status = expect_err(e, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert!(status.message().contains("current_password"), "{status:?}");
    }
    let failed = app.audit("password_change_failed").await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|e| !e.success
        && e.username.as_deref() == Some("ivan")
        && e.details["reason"] == "wrong current password"));
    assert_eq!(app.audit("lockout").await.len(), 1);
    // Locked: neither the right current password nor a login gets through.
    expect_err(
        app.users(&token)
            .change_password(change("ivan-password"))
            .await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    expect_err(
        app.login("ivan", "ivan-password").await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    assert_eq!(app.audit("password_change_failed").await.len(), 6);
    assert!(app.audit("password_changed").await.is_empty());
}

/// An attempt refused because its username is locked checks no password, so it does not use
/// up its address's allowance: others behind the same address can still log in.
async fn refusals_of_a_locked_username_do_not_count_against_the_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("judy", "judy-password").await;
    wrong_logins(&app, "judy", 5).await;
    // Far more refused attempts than the address limit (10) allows failures.
    for _ in 0..12 {
        expect_err(
            app.login("judy", "judy-password").await,
            Code::ResourceExhausted,
            "TOO_MANY_ATTEMPTS",
        );
    }
    app.login("admin", ADMIN_PASSWORD)
        .await
        .expect("the address is not locked by refusals");
    // Real failures still count against the address: 5 so far, 5 more lock it.
    for i in 0..5 {
        expect_err(
            app.login(&format!("nobody{i}"), "whatever").await,
            Code::Unauthenticated,
            "INVALID_GRANT",
        );
    }
    expect_err(
        app.login("admin", ADMIN_PASSWORD).await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
}

async fn an_administrator_unlocks_a_username(backend: Backend) {
    use codelab_proto::auth::v1::UnlockUserRequest;
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("kim", "kim-password").await;
    let kim = app.login("kim", "kim-password").await.unwrap().access_token;
    for _ in 0..5 {
        let _ = app.login("kim", "wrong").await;
    }
    expect_err(
        app.login("kim", "kim-password").await,
        Code::ResourceExhausted,
        "TOO_MANY_ATTEMPTS",
    );
    // Only administrators, and the user must be named.
    expect_err(
        app.users(&kim)
            .unlock_user(UnlockUserRequest {
                user_id: user.user_id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "MISSING_SCOPE",
    );
    let admin = app.admin().await;
    let e = expect_err(
        app.users(&admin)
            .unlock_user(UnlockUserRequest::default())
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(e.message().contains("user_id"), "{e:?}");
    expect_err(
        app.users(&admin)
            .unlock_user(UnlockUserRequest {
                user_id: "no-such-user".into(),
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );

    let unlocked = app
        .users(&admin)
        .unlock_user(UnlockUserRequest {
            user_id: user.user_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unlocked.was_locked);
    assert_eq!(
        unlocked.cleared_failures, 6,
        "5 failures and the refused attempt"
    );
    let audit = app.audit("user_unlocked").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].username.as_deref(), Some("kim"));
    assert_eq!(audit[0].details["by"], "admin");
    assert_eq!(audit[0].details["was_locked"], true);
    app.login("kim", "kim-password")
        .await
        .expect("unlocked: the right password works again");
    // Nothing to unlock any more.
    let again = app
        .users(&admin)
        .unlock_user(UnlockUserRequest {
            user_id: user.user_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.was_locked);
    assert_eq!(again.cleared_failures, 0);
}

async fn many_correct_logins_at_once_never_lock_the_username(backend: Backend) {
    let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
    app.create_user("grace", "grace-password").await;
    // Three waves of twenty logins at once, each from its own address: more in flight than
    // the username limit (5) allows checks.
    let login = password_grant("codelab-cli", "grace", "grace-password");
    let (mut ok, mut busy) = (0, 0);
    for wave in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut auth = app.auth_from(&format!("10.7.{wave}.{}", i + 1));
            let login = login.clone();
            tasks.push(tokio::spawn(async move { auth.token(login).await }));
        }
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(status) => {
                    // Refused while others are checked: retry in a second, never a lockout.
                    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    use tonic_types::StatusExt as _;
                    let delay = status.get_error_details().retry_info().unwrap().retry_delay;
                    assert_eq!(delay, Some(std::time::Duration::from_secs(1)), "{status:?}");
                    busy += 1;
                }
            }
        }
    }
    assert!(
        ok >= 3,
        "at least one login of each wave succeeds ({ok} ok, {busy} busy)"
    );
    assert!(
        app.audit("lockout").await.is_empty(),
        "{ok} ok, {busy} busy"
    );
    assert!(app.audit("login_failed").await.is_empty());
    app.login("grace", "grace-password")
        .await
        .expect("the username is not locked");
}
