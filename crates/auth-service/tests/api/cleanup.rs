//! Retention cleanup of the auth database.

use crate::backend_tests;
use crate::helpers::*;
use auth_service::schema::{audit_logs, refresh_tokens};
use auth_service::store::{Cleaned, Retention, Store};
use db_core::Backend;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

backend_tests!(cleanup_removes_only_what_is_past_retention);

async fn cleanup_removes_only_what_is_past_retention(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let _fresh = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    let _ = app.login("admin", "wrong-password").await;
    let pool = db_core::Pool::connect(app.db.url(), &db_core::PoolConfig::default())
        .await
        .unwrap();
    let long_ago = db_core::timestamp::now() - chrono::Duration::days(400);
    let old_hash = auth_service::oauth::sha256_hex(&old.refresh_token);
    let mut conn = pool.get().await.unwrap();
    db_core::with_connection!(conn, |c| {
        diesel::update(refresh_tokens::table.filter(refresh_tokens::token_hash.eq(&old_hash)))
            .set(refresh_tokens::expires_at.eq(long_ago))
            .execute(c)
            .await
            .unwrap();
        diesel::update(audit_logs::table.filter(audit_logs::event_type.eq("login_failed")))
            .set(audit_logs::created_at.eq(long_ago))
            .execute(c)
            .await
            .unwrap();
    });
    drop(conn);
    let store = Store::new(pool);
    let expected = Cleaned {
        refresh_tokens: 1,
        login_attempts: 0,
        audit_logs: 1,
    };
    assert_eq!(
        store.cleanup(Retention::default(), true).await.unwrap(),
        expected
    );
    assert_eq!(
        store.cleanup(Retention::default(), true).await.unwrap(),
        expected,
        "a dry run removes nothing"
    );
    assert_eq!(
        store.cleanup(Retention::default(), false).await.unwrap(),
        expected
    );
    assert_eq!(
        store.cleanup(Retention::default(), false).await.unwrap(),
        Cleaned::default()
    );
    assert!(app.audit("login_failed").await.is_empty());
    assert_eq!(app.audit("login_success").await.len(), 2);
    let refresh = app
        .auth("")
        .token(refresh_grant("codelab-cli", &old.refresh_token))
        .await;
    expect_err(refresh, tonic::Code::Unauthenticated, "INVALID_GRANT");
}
