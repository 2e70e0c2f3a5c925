//! UserService.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::auth::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    admin_creates_and_lists_users,
    bad_user_fields_are_named_and_nothing_is_written,
    users_see_only_themselves,
    change_password_revokes_sessions,
    registration_is_closed_unless_configured,
    delete_user_ends_logins,
    changing_ones_own_email_needs_the_current_password,
    registration_refuses_an_email_in_use,
);

fn new_user(username: &str, email: &str, password: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        username: username.into(),
        email: email.into(),
        password: password.into(),
        scopes: String::new(),
    }
}

async fn admin_creates_and_lists_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let mut users = app.users(&admin);
    let ivan = users
        .create_user(new_user("Ivan", "Ivan@Example.org", "ivan-password"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ivan.username, "ivan");
    assert_eq!(ivan.email, "ivan@example.org");
    assert_eq!(ivan.scopes, "api:read api:write");
    assert!(ivan.is_active && !ivan.is_verified);
    let dup = users
        .create_user(new_user("IVAN", "other@example.org", "ivan-password"))
        .await;
    expect_err(dup, Code::AlreadyExists, "USER_ALREADY_EXISTS");
    let dup = users
        .create_user(new_user("ivan2", "ivan@example.org", "ivan-password"))
        .await;
    expect_err(dup, Code::AlreadyExists, "EMAIL_ALREADY_EXISTS");
    for i in 0..3 {
        users
            .create_user(new_user(&format!("user{i}"), "", "user-password"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = users
            .list_users(pb::ListUsersRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 5);
        seen.extend(page.users.into_iter().map(|u| u.username));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["admin", "ivan", "user0", "user1", "user2"]);
    let bad = users
        .list_users(pb::ListUsersRequest {
            page_size: 2,
            page_token: "garbage!".into(),
        })
        .await;
    expect_err(bad, Code::InvalidArgument, "INVALID_ARGUMENT");
    let updated = users
        .update_user(pb::UpdateUserRequest {
            user_id: ivan.user_id.clone(),
            email: None,
            scopes: Some("api:read".into()),
            is_verified: Some(true),
            current_password: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.scopes, "api:read");
    assert!(updated.is_verified);
    let t = app.login("ivan", "ivan-password").await.unwrap();
    assert_eq!(t.scope, "api:read");
    assert_eq!(app.audit("user_created").await.len(), 5);
}

async fn bad_user_fields_are_named_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let mut users = app.users(&admin);
    let cases = [
        (new_user("ab", "", "long-password"), "username"),
        (new_user(&"x".repeat(1000), "", "long-password"), "username"),
        (new_user("jo hn", "", "long-password"), "username"),
        (new_user("judy", "not-an-email", "long-password"), "email"),
        (new_user("judy", "", "short"), "password"),
        (new_user("judy", "", &"p".repeat(5000)), "password"),
        (
            pb::CreateUserRequest {
                scopes: "api:root".into(),
                ..new_user("judy", "", "long-password")
            },
            "scopes",
        ),
    ];
    for (req, field) in cases {
        let status = expect_err(
            users.create_user(req).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        use tonic_types::StatusExt as _;
        let details = status.get_error_details();
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            field
        );
    }
    let page = users
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_size, 1, "only the seeded admin exists");
}

async fn users_see_only_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_user("karl", "karl-password").await;
    let b = app.create_user("lena", "lena-password").await;
    let karl = app
        .login("karl", "karl-password")
        .await
        .unwrap()
        .access_token;
    let mut users = app.users(&karl);
    let me = users
        .get_user(pb::GetUserRequest {
            user_id: a.user_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.username, "karl");
    let other = users
        .get_user(pb::GetUserRequest {
            user_id: b.user_id.clone(),
        })
        .await;
    expect_err(other, Code::NotFound, "USER_NOT_FOUND");
    let list = users.list_users(pb::ListUsersRequest::default()).await;
    expect_err(list, Code::PermissionDenied, "MISSING_SCOPE");
    let escalate = users
        .update_user(pb::UpdateUserRequest {
            user_id: a.user_id.clone(),
            email: None,
            scopes: Some("api:admin api:read api:write".into()),
            is_verified: None,
            current_password: String::new(),
        })
        .await;
    expect_err(escalate, Code::PermissionDenied, "MISSING_SCOPE");
    let touch_other = users
        .update_user(pb::UpdateUserRequest {
            user_id: b.user_id.clone(),
            email: Some("x@example.org".into()),
            scopes: None,
            is_verified: None,
            current_password: String::new(),
        })
        .await;
    expect_err(touch_other, Code::NotFound, "USER_NOT_FOUND");
    let mine = users
        .update_user(pb::UpdateUserRequest {
            user_id: String::new(),
            email: Some("karl@example.net".into()),
            scopes: None,
            is_verified: None,
            current_password: "karl-password".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.email, "karl@example.net");
    let disable = users
        .disable_user(pb::DisableUserRequest {
            user_id: b.user_id,
            enable: false,
        })
        .await;
    expect_err(disable, Code::PermissionDenied, "MISSING_SCOPE");
}

async fn change_password_revokes_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("mia01", "old-password").await;
    let t = app.login("mia01", "old-password").await.unwrap();
    let mut users = app.users(&t.access_token);
    let wrong = users
        .change_password(pb::ChangePasswordRequest {
            user_id: String::new(),
            current_password: "not-it".into(),
            new_password: "new-password".into(),
        })
        .await;
    expect_err(wrong, Code::InvalidArgument, "INVALID_ARGUMENT");
    let changed = users
        .change_password(pb::ChangePasswordRequest {
            user_id: String::new(),
            current_password: "old-password".into(),
            new_password: "new-password".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.revoked_refresh_tokens, 1);
    let refresh = app
        .auth("")
        .token(refresh_grant("codelab-cli", &t.refresh_token))
        .await;
    expect_err(refresh, Code::Unauthenticated, "INVALID_GRANT");
    expect_err(
        app.login("mia01", "old-password").await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
    app.login("mia01", "new-password")
        .await
        .expect("new password");
    assert_eq!(app.audit("password_changed").await.len(), 1);
}

async fn registration_is_closed_unless_configured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = app
        .users("")
        .create_user(new_user("nina1", "", "nina-password"))
        .await;
    expect_err(anonymous, Code::Unauthenticated, "MISSING_TOKEN");
    app.create_user("omar1", "omar-password").await;
    let omar = app
        .login("omar1", "omar-password")
        .await
        .unwrap()
        .access_token;
    let by_user = app
        .users(&omar)
        .create_user(new_user("nina1", "", "nina-password"))
        .await;
    expect_err(by_user, Code::PermissionDenied, "MISSING_SCOPE");
    drop(app);

    let open = TestApp::spawn_with(backend, |c| c.allow_registration = true).await;
    let nina = open
        .users("")
        .create_user(new_user("nina1", "", "nina-password"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nina.scopes, "api:read api:write");
    let escalate = open
        .users("")
        .create_user(pb::CreateUserRequest {
            scopes: "api:admin".into(),
            ..new_user("paul1", "", "paul-password")
        })
        .await;
    expect_err(escalate, Code::PermissionDenied, "MISSING_SCOPE");
    open.login("nina1", "nina-password")
        .await
        .expect("registered user logs in");
}

async fn delete_user_ends_logins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let quinn = app.create_user("quinn", "quinn-password").await;
    let t = app.login("quinn", "quinn-password").await.unwrap();
    let admin = app.admin().await;
    let me = app
        .users(&admin)
        .get_current_user(pb::GetCurrentUserRequest {})
        .await
        .unwrap()
        .into_inner();
    let self_delete = app
        .users(&admin)
        .delete_user(pb::DeleteUserRequest {
            user_id: me.user_id,
        })
        .await;
    expect_err(self_delete, Code::FailedPrecondition, "CANNOT_TARGET_SELF");
    app.users(&admin)
        .delete_user(pb::DeleteUserRequest {
            user_id: quinn.user_id.clone(),
        })
        .await
        .unwrap();
    expect_err(
        app.login("quinn", "quinn-password").await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
    expect_err(
        app.auth("")
            .token(refresh_grant("codelab-cli", &t.refresh_token))
            .await,
        Code::Unauthenticated,
        "INVALID_GRANT",
    );
    let again = app
        .users(&admin)
        .delete_user(pb::DeleteUserRequest {
            user_id: quinn.user_id,
        })
        .await;
    expect_err(again, Code::NotFound, "USER_NOT_FOUND");
    let deleted = app.audit("user_deleted").await;
    assert_eq!(deleted[0].username.as_deref(), Some("quinn"));
}

fn new_email(user_id: &str, email: &str, current_password: &str) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user_id: user_id.into(),
        email: Some(email.into()),
        scopes: None,
        is_verified: None,
        current_password: current_password.into(),
    }
}

/// A stolen access token cannot move an account to another address: changing one's own email
/// re-authenticates (counted like a login); an administrator changing another user's does not.
async fn changing_ones_own_email_needs_the_current_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mia = app.create_user("mia", "mia-password").await;
    let token = app.login("mia", "mia-password").await.unwrap().access_token;
    let mut users = app.users(&token);
    let missing = users
        .update_user(new_email("", "thief@example.net", ""))
        .await;
    let status = expect_err(missing, Code::InvalidArgument, "INVALID_ARGUMENT");
    use tonic_types::StatusExt as _;
    assert_eq!(
        status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "current_password"
    );
    let wrong = users
        .update_user(new_email("", "thief@example.net", "not-her-password"))
        .await;
    expect_err(wrong, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(app.audit("password_change_failed").await.len(), 1);
    let me = users
        .get_current_user(pb::GetCurrentUserRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.email, "mia@example.org", "nothing changed");
    // The same email again is no change and needs nothing.
    users
        .update_user(new_email("", "mia@example.org", ""))
        .await
        .expect("unchanged email");
    let moved = users
        .update_user(new_email(&mia.user_id, "mia@example.net", "mia-password"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.email, "mia@example.net");
    // An administrator changes another user's email without it.
    let admin = app.admin().await;
    let by_admin = app
        .users(&admin)
        .update_user(new_email(&mia.user_id, "mia@example.com", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.email, "mia@example.com");
}

async fn registration_refuses_an_email_in_use(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.allow_registration = true).await;
    app.create_user("nina", "nina-password").await;
    let taken = app
        .users("")
        .create_user(new_user("nina2", "NINA@example.org", "long-password"))
        .await;
    expect_err(taken, Code::AlreadyExists, "EMAIL_ALREADY_EXISTS");
    let token = app
        .login("nina", "nina-password")
        .await
        .unwrap()
        .access_token;
    app.users("")
        .create_user(new_user("olga", "olga@example.org", "long-password"))
        .await
        .expect("a free email");
    let clash = app
        .users(&token)
        .update_user(new_email("", "olga@example.org", "nina-password"))
        .await;
    expect_err(clash, Code::AlreadyExists, "EMAIL_ALREADY_EXISTS");
}
